"""Inference speed of pse_tae on CPU (objects/s) against a random forest's predict of the same objects.

Issue 19: pixel sets of S = 32 pixels, T = 24 dates, C = 10 channels; goal >= 2,000 objects/s on 2 CPU
cores. Measured in one run, per torch thread count (1 and 2), medians of ``--repeat``:

- ``forward``: the model's forward pass alone (the inference copy of the network, on normalised
  tensors, batches of ``PREDICT_BATCH``);
- ``predict_proba``: :meth:`TemporalClassifier.predict_proba` (per-batch normalisation + forward);
- ``full``: what ``model_predict_object`` does with a tile's pixels once they are read: the pixel-set
  draw of every object (:func:`antares.deep.pixelsets.draw_pixel_sets`, objects of 8 to 120 pixels)
  and :func:`antares.pipeline.predict_pixelsets.classify_sets` (probabilities, class, confidence,
  entropy). Not timed: reading the cube and writing the rows (``benchmarks/predict.py`` measures
  ``copy_predictions`` writing 1 M rows);
- ``before``: the prediction path before issue 19's optimisation, in the same run: the trained network
  itself (BatchNorm, dropout modules in eval mode) under ``torch.no_grad`` in batches of 1,024, the
  whole set normalised at once, and the PSE's pooling by ``torch.var`` (patched back in);
- ``rf``: a 300-tree random forest (as in docs/deep.md) predicting the flattened object mean series
  (T·C = 240 features) of the same objects (``predict_proba``).

Wall and CPU seconds (this process) are both reported: the machine is shared, the CPU-time rates are the
cost, the wall-clock rates what the load left of it; the 1-minute load average is recorded around each
measurement. Also the training time of one pse_tae epoch, and (``--batches``) predict_proba's rate per batch
size on one thread.

    python benchmarks/deep.py                  # 4,000 objects, threads 1 and 2, median of 3
    python benchmarks/deep.py --objects 1000 --repeat 3 --batches 2,8,32,128,1024
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def median_time(fn, repeat: int) -> dict:
    """Median wall and CPU seconds of ``repeat`` calls (after one untimed warm-up) and the load averages seen."""
    fn()
    wall, cpu, load = [], [], [os.getloadavg()[0]]
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        load.append(os.getloadavg()[0])
    return {"wall": float(np.median(wall)), "cpu": float(np.median(cpu)), "load": [round(x, 2) for x in load]}


def rates(n: int, t: dict) -> dict:
    return {"objects_per_s": round(n / t["wall"]), "objects_per_cpu_s": round(n / t["cpu"]), "load_1min": t["load"]}


def old_path(model, sets: dict) -> np.ndarray:
    """The prediction path before the optimisation (the code of predict_proba until 2026-12-03)."""
    import torch

    import antares.deep.layers as layers
    from antares.deep.classifier import _normalise

    _, inputs = model._arrange(sets)
    xs = [torch.from_numpy(_normalise(s.values, i["mean"], i["std"])) for s, i in zip(inputs, model.config["inputs"])]
    days = [torch.from_numpy(s.days.astype(np.float32)) for s in inputs]
    pool = layers.mean_std_pool
    layers.mean_std_pool = lambda h, dim: (h.mean(dim=dim), torch.sqrt(h.var(dim=dim, unbiased=False) + 1e-6))
    try:
        model._net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(xs[0]), 1024):
                out.append(model._net.probabilities([x[start:start + 1024] for x in xs], days))
    finally:
        layers.mean_std_pool = pool
    return torch.cat(out).double().numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=4000)
    parser.add_argument("--train", type=int, default=500, help="objects of the (1-epoch) fit")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--batches", default="", help="batch sizes of predict_proba to compare (one thread)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/deep.json")
    args = parser.parse_args(argv)
    import torch
    from sklearn.ensemble import RandomForestClassifier

    from antares.deep.classifier import PREDICT_BATCH, _normalise
    from antares.deep.data import SensorSeries
    from antares.deep.pixelsets import draw_pixel_sets
    from antares.models.registry import make_estimator
    from antares.pipeline.fit_pixelsets import SERIES
    from antares.pipeline.predict_pixelsets import classify_sets

    S, T, C, n = 32, 24, 10, args.objects
    rng = np.random.default_rng(0)
    days = np.arange(T) * 15 + 5
    channels = [f"b{i}" for i in range(C)]
    y_train = rng.integers(0, 5, args.train)
    train = SensorSeries(rng.normal(size=(args.train, T, C, S)).astype(np.float32) + y_train[:, None, None, None],
                         days, channels)
    # a tile's pixels: objects of 8 to 120 pixels (fewer than S: drawn with replacement), 1 % NaN
    sizes = rng.integers(8, 121, n)
    index = np.repeat(np.arange(n), sizes)
    pixels = (rng.normal(size=(T, C, len(index))) + rng.integers(0, 5, n)[index]).astype(np.float32)
    pixels[rng.random(pixels.shape) < 0.01] = np.nan
    objects = SensorSeries(draw_pixel_sets(index, pixels, n, S, seed=0)[0], days, channels)
    flat = np.nan_to_num(np.nanmean(objects.values, axis=3).reshape(n, -1))
    rows = []
    for threads in (int(t) for t in args.threads.split(",") if t):
        torch.set_num_threads(threads)
        model = make_estimator("pse_tae", {"epochs": 1, "validation": 0.0, "n_jobs": threads}, seed=0)
        epoch = median_time(lambda: model.fit({SERIES: train}, y_train), 1)
        fast = model.predict_proba({SERIES: objects})
        before = old_path(model, {SERIES: objects})
        same = bool(np.array_equal(fast.argmax(1), before.argmax(1)))
        difference = float(np.abs(fast - before).max())
        net, info = model._inference_net(), model.config["inputs"][0]
        x = torch.from_numpy(_normalise(objects.values, info["mean"], info["std"]))
        d = [torch.from_numpy(days.astype(np.float32))]

        def forward():
            with torch.inference_mode():
                for start in range(0, n, PREDICT_BATCH):
                    net.probabilities([x[start:start + PREDICT_BATCH]], d)

        def full():
            sets, _ = draw_pixel_sets(index, pixels, n, S, seed=0)
            classify_sets(model, np.arange(n), sets, days, channels)

        rf = RandomForestClassifier(300, n_jobs=threads, random_state=0).fit(
            np.nanmean(train.values, axis=3).reshape(args.train, -1), y_train)
        timed = {"forward": median_time(forward, args.repeat),
                 "predict_proba": median_time(lambda: model.predict_proba({SERIES: objects}), args.repeat),
                 "full": median_time(full, args.repeat),
                 "before": median_time(lambda: old_path(model, {SERIES: objects}), args.repeat),
                 "rf": median_time(lambda: rf.predict_proba(flat), args.repeat)}
        row = {"threads": threads, **{k: rates(n, t) for k, t in timed.items()},
               "ratio_full_to_rf_wall": round(timed["rf"]["wall"] / timed["full"]["wall"], 3),
               "ratio_full_to_rf_cpu": round(timed["rf"]["cpu"] / timed["full"]["cpu"], 3),
               "speedup_predict_proba_vs_before_cpu": round(timed["before"]["cpu"] / timed["predict_proba"]["cpu"], 2),
               "speedup_predict_proba_vs_before_wall": round(timed["before"]["wall"] / timed["predict_proba"]["wall"], 2),
               "same_classes_as_before": same, "max_probability_difference_vs_before": difference,
               "pse_tae_epoch_s_per_1000_objects": round(1000 * epoch["wall"] / args.train, 3),
               "pse_tae_epoch_cpu_s_per_1000_objects": round(1000 * epoch["cpu"] / args.train, 3),
               "goal_2000_objects_per_s_full_wall": "MET" if n / timed["full"]["wall"] >= 2000 else "MISSED"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    batches = {}
    if args.batches:
        model = make_estimator("pse_tae", {"epochs": 1, "validation": 0.0, "n_jobs": 1}, seed=0).fit({SERIES: train}, y_train)
        for size in (int(b) for b in args.batches.split(",")):
            t = median_time(lambda: model.predict_proba({SERIES: objects}, batch_size=size), args.repeat)
            batches[size] = rates(n, t)
            print(json.dumps({"batch_size": size, **batches[size]}), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/deep.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cores": os.cpu_count(), "torch": torch.__version__, "S": S, "T": T, "C": C, "objects": n,
        "predict_batch": PREDICT_BATCH, "rows": rows, "batch_sizes_1_thread": batches}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
