"""Inference speed of pse_tae on CPU (objects/s) against a random forest's predict of the same objects.

Issue 19: pixel sets of S = 32 pixels, T = 24 dates, C = 10 channels; goal ≥ 2,000 objects/s on 2 CPU
cores. The random forest (300 trees, as in docs/deep.md) predicts the flattened object mean series
(T·C = 240 features) of the same objects. Also the training time of one epoch of pse_tae.

    python benchmarks/deep.py                 # 4,000 objects, threads 1 and 2, median of 3
    python benchmarks/deep.py --objects 1000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_time(fn, repeat: int) -> tuple[float, float]:
    """Median (wall seconds, CPU seconds of this process) of ``repeat`` calls: on a shared machine the CPU time
    tells the cost, the wall time what the load left of it."""
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return float(np.median(times)), float(np.median(cpu))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=4000)
    parser.add_argument("--train", type=int, default=500, help="objects of the (1-epoch) fit")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/deep.json")
    args = parser.parse_args(argv)
    from sklearn.ensemble import RandomForestClassifier

    from antares.deep.data import SensorSeries
    from antares.models.registry import make_estimator

    S, T, C = 32, 24, 10
    rng = np.random.default_rng(0)
    days = np.arange(T) * 15 + 5
    y_train = rng.integers(0, 5, args.train)
    train = SensorSeries(rng.normal(size=(args.train, T, C, S)).astype(np.float32) + y_train[:, None, None, None],
                         days, [f"b{i}" for i in range(C)])
    objects = SensorSeries(rng.normal(size=(args.objects, T, C, S)).astype(np.float32), days, train.channels)
    rows = []
    for threads in (1, 2):
        model = make_estimator("pse_tae", {"epochs": 1, "validation": 0.0, "n_jobs": threads}, seed=0)
        epoch = median_time(lambda: model.fit({"s2": train}, y_train), 1)
        deep = median_time(lambda: model.predict_proba({"s2": objects}), args.repeat)
        rf = RandomForestClassifier(300, n_jobs=threads, random_state=0).fit(train.values.mean(3).reshape(args.train, -1),
                                                                             y_train)
        flat = objects.values.mean(3).reshape(args.objects, -1)
        forest = median_time(lambda: rf.predict_proba(flat), args.repeat)
        rows.append({"threads": threads, "pse_tae_objects_per_s": round(args.objects / deep[0]),
                     "rf_objects_per_s": round(args.objects / forest[0]),
                     "ratio_pse_tae_to_rf": round(forest[0] / deep[0], 3),
                     "pse_tae_objects_per_cpu_s": round(args.objects / deep[1]),
                     "rf_objects_per_cpu_s": round(args.objects / forest[1]),
                     "pse_tae_epoch_s_per_1000_objects": round(1000 * epoch[0] / args.train, 3),
                     "pse_tae_epoch_cpu_s_per_1000_objects": round(1000 * epoch[1] / args.train, 3),
                     "goal_2000_objects_per_s": "MET" if args.objects / deep[0] >= 2000 else "MISSED"})
        print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"S": S, "T": T, "C": C, "objects": args.objects, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
