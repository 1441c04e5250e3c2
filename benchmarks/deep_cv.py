"""Cross-validated accuracy of RF, TempCNN, L-TAE and PSE-TAE with S2, S1 and S1+S2 fusion on a sample table.

Protocol (issue 19): the WorldCereal public extractions (``test_public_extractions.parquet``),
classes of ``sampling_label`` with at least 9 samples (481 samples, 6 classes), repeated stratified
5-fold cross-validation (3 repeats, seeds 0, 1, 2), overall accuracy, Cohen's kappa and macro-F1 as
mean ± sd over the 15 folds. Pixel sets of one pixel (points). The random forest (300 trees) takes the
flattened gap-filled series; the deep models train with early stopping on 20 % of each training fold.

Usage::

    python benchmarks/deep_cv.py                       # every configuration, results in benchmarks/results/deep_cv.json
    python benchmarks/deep_cv.py --only rf:s2 ltae:s1,s2:decision --repeats 1
    python benchmarks/deep_cv.py --epochs 60 --patience 8

A script, not a test: it takes minutes on 2 CPU cores (one torch thread per fit).
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

DATA = ROOT.parent / "shared/data/worldcereal-belgium/original/test_public_extractions.parquet"
CONFIGS = ["rf:s2", "rf:s1", "rf:s1,s2",
           "tempcnn:s2", "tempcnn:s1", "tempcnn:s1,s2:early", "tempcnn:s1,s2:decision",
           "ltae:s2", "ltae:s1", "ltae:s1,s2:early", "ltae:s1,s2:pse", "ltae:s1,s2:tsa", "ltae:s1,s2:decision",
           "pse_tae:s2", "pse_tae:s1", "pse_tae:s1,s2:early", "pse_tae:s1,s2:pse", "pse_tae:s1,s2:tsa",
           "pse_tae:s1,s2:decision"]


def flatten(sets: dict) -> np.ndarray:
    """(N, sum T·C) float64: every sensor's series, NaN (no value at any date) as the column mean."""
    x = np.concatenate([s.values[..., 0].reshape(len(s), -1) for s in sets.values()], axis=1).astype(np.float64)
    means = np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=0)
    return np.where(np.isfinite(x), x, np.nan_to_num(means)[None, :])


def fold_scores(truth, predicted) -> dict:
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    return {"oa": accuracy_score(truth, predicted), "kappa": cohen_kappa_score(truth, predicted),
            "f1": f1_score(truth, predicted, average="macro")}


def run_config(config: str, table, codes, repeats: int, folds: int, epochs: int, patience: int,
               extra: dict | None = None) -> dict:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold

    from antares.models.registry import make_estimator

    parts = config.split(":")
    model, sensors, fusion = parts[0], parts[1].split(","), (parts[2] if len(parts) > 2 else "early")
    sets = table.select(sensors)
    scores, started, epochs_run = [], time.monotonic(), []
    for repeat in range(repeats):
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=repeat).split(codes, codes):
            if model == "rf":
                x = flatten(sets)
                rf = RandomForestClassifier(300, random_state=repeat, n_jobs=1).fit(x[train], codes[train])
                predicted = rf.predict(x[test])
            else:
                est = make_estimator(model, {"epochs": epochs, "patience": patience, "fusion": fusion,
                                                    **(extra or {})}, seed=repeat)
                est.fit({k: v.take(train) for k, v in sets.items()}, codes[train])
                predicted = est.predict({k: v.take(test) for k, v in sets.items()})
                epochs_run.append(len(est.history_))
            scores.append(fold_scores(codes[test], predicted))
    out = {"config": config, "params": extra or {}, "folds": len(scores), "seconds": round(time.monotonic() - started, 1)}
    for key in ("oa", "kappa", "f1"):
        values = np.array([s[key] for s in scores])
        out[key] = [round(float(values.mean()), 4), round(float(values.std(ddof=1)), 4)]
    if epochs_run:
        out["epochs_mean"] = round(float(np.mean(epochs_run)), 1)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--only", nargs="*", default=None, help="configurations MODEL:SENSORS[:FUSION]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--deep-repeats", type=int, default=None, help="repeats of the deep models (default --repeats)")
    parser.add_argument("--extra", nargs="*", default=[], metavar="K=V", help="parameters of the deep models")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/deep_cv.json")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"{args.data} not found; pass --data.", file=sys.stderr)
        return 1
    from antares.deep.table import read_table

    from antares.models.registry import parse_params

    extra = parse_params("ltae", args.extra)
    table = read_table(args.data, "sampling_label", min_samples=9)
    names = sorted(set(table.labels))
    codes = np.searchsorted(names, table.labels)
    print(f"{len(codes)} samples, classes: " + ", ".join(f"{n} {int((table.labels == n).sum())}" for n in names))
    results = []
    for config in args.only or CONFIGS:
        deep = not config.startswith("rf:")
        repeats = args.deep_repeats if deep and args.deep_repeats else args.repeats
        result = run_config(config, table, codes, repeats, args.folds, args.epochs, args.patience, extra)
        results.append(result)
        print(f"{config:26s} OA {result['oa'][0]:.3f} ± {result['oa'][1]:.3f}  kappa {result['kappa'][0]:.3f} ± "
              f"{result['kappa'][1]:.3f}  macro-F1 {result['f1'][0]:.3f} ± {result['f1'][1]:.3f}  "
              f"({result['seconds']} s{', %s epochs' % result['epochs_mean'] if 'epochs_mean' in result else ''})",
              flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"samples": len(codes), "repeats": args.repeats,
                                        "deep_repeats": args.deep_repeats or args.repeats, "folds": args.folds,
                                        "epochs": args.epochs, "patience": args.patience, "results": results},
                                       indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
