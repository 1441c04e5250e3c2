"""TempCNN and L-TAE on the 68-date NDVI series of the Slovenia land-use polygons against a random forest, spatially
blocked cross-validation.

Data: ``../shared/data/eolearn-slovenia`` (eo-learn's TestEOPatch: a 1 km² patch, 100 × 101 pixels of about
10 m in EPSG:32633; 68 dates from 2015-07-11 to 2017-12-22, NDVI and the s2cloudless cloud mask CLM per date;
88 land-use polygons). Protocol:

- NDVI with clouds masked (``CLM == 1`` → no value), read with rasterio from the GeoTIFFs (the files the cube
  indexes; read directly here to keep the script to seconds of I/O).
- Polygons with ``LULC_ID > 0`` and at least one pixel centre inside (rasterio ``rasterize``); classes with at
  least ``--min-polygons`` such polygons.
- Each pixel's series gap-filled by linear interpolation in time (:func:`antares.deep.data.fill_gaps`); days
  since 2015-01-01 as the dates.
- L-TAE on pixel sets of ``--set-size`` pixels per polygon (:func:`antares.deep.pixelsets.draw_pixel_sets`,
  with replacement for smaller polygons); TempCNN on the polygon mean series (the same sets, as the model takes
  them); random forests (300 trees) on (a) 13 summary features of the polygon mean series (mean, sd, min, max,
  10/25/50/75/90th percentiles, mean per calendar quarter) and (b) the flattened 68-date mean series.
- Spatially blocked cross-validation: polygons grouped by the ``--block`` m square block of their centroid
  (:func:`antares.sampling.spatial_blocks`), scikit-learn's ``StratifiedGroupKFold`` (``--folds``, repeats with
  seeds 0..``--repeats``-1); the deep models' early stopping uses a blocked split of the training fold too.
  OA, Cohen's kappa and macro-F1 (over the classes of the test fold's truth and predictions), mean ± sd.

Usage::

    python benchmarks/deep_slovenia.py                 # results in benchmarks/results/deep_slovenia.json

A script, not a test (minutes on 2 CPU cores, one torch thread).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared/data/eolearn-slovenia"
CONFIGS = ["rf_summary", "rf_series", "tempcnn", "ltae"]


def read_series(folder: Path):
    """(NDVI (T, H, W) float64 with clouds as NaN, days (T,) datetime64[D], acquisitions, transform, shape).

    Acquisitions on the same day are averaged over their cloud-free values (the patch has two on one day).
    """
    import rasterio

    files = sorted((folder / "geotiff" / "timeseries").glob("*_NDVI.tif"))
    dates, stack = [], []
    transform = shape = None
    for path in files:
        with rasterio.open(path) as src:
            ndvi = src.read(1).astype(np.float64)
            transform, shape = src.transform, (src.height, src.width)
            if src.nodata is not None and not np.isnan(src.nodata):
                ndvi[ndvi == src.nodata] = np.nan
        with rasterio.open(str(path).replace("_NDVI.tif", "_CLM.tif")) as src:
            cloud = src.read(1) == 1
        stack.append(np.where(cloud, np.nan, ndvi))
        dates.append(np.datetime64(re.match(r"(\d{4}-\d{2}-\d{2})", path.name).group(1), "D"))
    stack, dates = np.stack(stack), np.array(dates)
    days = np.unique(dates)  # two acquisitions on one day: their cloud-free values averaged
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-cloudy pixel-days: NaN, as wanted
            merged = np.stack([np.nanmean(stack[dates == d], axis=0) for d in days])
    return merged, days, len(dates), transform, shape


def polygon_pixels(polygons, transform, shape):
    """(pixel object index (m,), flat pixel number (m,), pixels per polygon): pixel centres inside each polygon."""
    from rasterio.features import rasterize

    index, flat = [], []
    for i, geometry in enumerate(polygons.geometry):
        inside = np.flatnonzero(rasterize([(geometry, 1)], out_shape=shape, transform=transform, fill=0,
                                          dtype="uint8").ravel())
        index.append(np.full(len(inside), i))
        flat.append(inside)
    index, flat = np.concatenate(index), np.concatenate(flat)
    return index, flat, np.bincount(index, minlength=len(polygons))


def summary_features(mean_series: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """(N, 13): mean, sd, min, max, 10/25/50/75/90th percentiles and the mean per calendar quarter."""
    quarter = (dates.astype("datetime64[M]").astype(int) % 12) // 3
    stats = [mean_series.mean(1), mean_series.std(1), mean_series.min(1), mean_series.max(1),
             *np.percentile(mean_series, [10, 25, 50, 75, 90], axis=1)]
    stats += [mean_series[:, quarter == q].mean(1) for q in range(4)]
    return np.column_stack(stats)


def fold_scores(truth, predicted) -> dict:
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    return {"oa": accuracy_score(truth, predicted), "kappa": cohen_kappa_score(truth, predicted),
            "f1": f1_score(truth, predicted, average="macro")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--only", nargs="*", default=None, choices=CONFIGS)
    parser.add_argument("--set-size", type=int, default=16)
    parser.add_argument("--block", type=float, default=250.0, help="side of the CV blocks, metres")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--min-polygons", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--extra", nargs="*", default=["batch_size=8", "class_weight=None"], metavar="K=V")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/deep_slovenia.json")
    args = parser.parse_args(argv)
    if not args.data.exists():
        print(f"{args.data} not found; pass --data.", file=sys.stderr)
        return 1
    import geopandas as gpd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedGroupKFold

    from antares.deep.data import SensorSeries, fill_gaps
    from antares.deep.pixelsets import draw_pixel_sets
    from antares.models.registry import make_estimator, parse_params
    from antares.sampling import spatial_blocks

    started = time.monotonic()
    ndvi, dates, acquisitions, transform, shape = read_series(args.data)
    polygons = gpd.read_file(args.data / "lulc_polygons.gpkg")
    polygons = polygons[polygons["LULC_ID"] > 0].to_crs(32633).reset_index(drop=True)
    index, flat, counts = polygon_pixels(polygons, transform, shape)
    names = polygons["LULC_NAME"].to_numpy()
    keep = counts > 0
    kept_names, n_kept = np.unique(names[keep], return_counts=True)
    classes = [c for c, n in zip(kept_names, n_kept) if n >= args.min_polygons]
    keep &= np.isin(names, classes)
    days = (dates - np.datetime64("2015-01-01")).astype(np.int64)
    t = len(dates)
    cloudy = float(np.isnan(ndvi).mean())
    pixels = fill_gaps(ndvi.reshape(t, -1).T[:, :, None, None], days)[:, :, 0, 0]  # (H*W, T)
    values = pixels[flat].T[:, None, :]  # (T, 1, m)
    sets, _ = draw_pixel_sets(index, values, len(polygons), args.set_size, seed=0)
    sets, names, polygons = sets[keep], names[keep], polygons[keep].reset_index(drop=True)
    codes = np.searchsorted(classes, names)
    mean_series = np.stack([pixels[flat[index == i]].mean(0) for i in np.flatnonzero(keep)])
    centres = np.column_stack([polygons.centroid.x, polygons.centroid.y])
    groups = spatial_blocks(centres[:, 0], centres[:, 1], args.block)
    print(f"{len(codes)} polygons ({', '.join(f'{c} {int((names == c).sum())}' for c in classes)}), {acquisitions} "
          f"acquisitions on {t} days, "
          f"{cloudy:.1%} of pixel-dates cloudy, {len(np.unique(groups))} blocks of {args.block:g} m; "
          f"read in {time.monotonic() - started:.1f} s", flush=True)
    extra = parse_params("ltae", args.extra)
    series = SensorSeries(sets, days, ["NDVI"])
    summary, flattened = summary_features(mean_series, dates), mean_series
    results = []
    for config in args.only or CONFIGS:
        scores, epochs_run, begun = [], [], time.monotonic()
        for repeat in range(args.repeats):
            split = StratifiedGroupKFold(args.folds, shuffle=True, random_state=repeat)
            for train, test in split.split(np.zeros(len(codes)), codes, groups):
                if config.startswith("rf"):
                    x = summary if config == "rf_summary" else flattened
                    rf = RandomForestClassifier(300, random_state=repeat, n_jobs=1).fit(x[train], codes[train])
                    predicted = rf.predict(x[test])
                else:
                    est = make_estimator(config, {"epochs": args.epochs, "patience": args.patience, "device": "cpu",
                                                  **extra}, seed=repeat)
                    est.fit({"s2": series.take(train)}, codes[train], groups=groups[train])
                    predicted = est.predict({"s2": series.take(test)})
                    epochs_run.append(len(est.history_))
                scores.append(fold_scores(codes[test], predicted))
        out = {"config": config, "folds": len(scores), "seconds": round(time.monotonic() - begun, 1)}
        for key in ("oa", "kappa", "f1"):
            v = np.array([s[key] for s in scores])
            out[key] = [round(float(v.mean()), 4), round(float(v.std(ddof=1)), 4)]
        if epochs_run:
            out["epochs_mean"] = round(float(np.mean(epochs_run)), 1)
        results.append(out)
        print(f"{config:12s} OA {out['oa'][0]:.3f} ± {out['oa'][1]:.3f}  kappa {out['kappa'][0]:.3f} ± "
              f"{out['kappa'][1]:.3f}  macro-F1 {out['f1'][0]:.3f} ± {out['f1'][1]:.3f}  ({out['seconds']} s"
              + (f", {out['epochs_mean']} epochs" if epochs_run else "") + ")", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "polygons": int(len(codes)), "per_class": {c: int((names == c).sum()) for c in classes}, "acquisitions": acquisitions, "days": t,
            "cloudy_fraction": round(cloudy, 4), "blocks": int(len(np.unique(groups))), "block_m": args.block,
            "folds": args.folds, "repeats": args.repeats, "set_size": args.set_size, "epochs": args.epochs,
            "patience": args.patience, "extra": args.extra, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
