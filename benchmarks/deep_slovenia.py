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

Through the cube (``--source cube``): the 68 NDVI + CLM GeoTIFFs indexed as a product, a per-date ``steps:``
recipe (one step per acquisition day: CLM ≥ 0.5 masked, same-day acquisitions averaged, gaps filled linearly in
time) written as a time-series product by ``apply_recipe``, the polygons ingested as a training set, and the
pixel sets and polygon pixels read by the cube path of ``model_fit_timeseries -p PRODUCT -t TRAINING_SET``
(:func:`antares.pipeline.fit_pixelsets._read_sensors`, ``--sensors s2``: the QA layers left out). The same CV
then runs on them. ``--setup`` makes the product and training set first (in the database of ``ANTARES_HOME``
/ ``ANTARES_DB_URL``, through the ``antares`` command).

Usage::

    python benchmarks/deep_slovenia.py                 # results in benchmarks/results/deep_slovenia.json
    python benchmarks/deep_slovenia.py --source cube --setup   # results in benchmarks/results/deep_slovenia_cube.json

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


CUBE_PRODUCT, CUBE_RAW, CUBE_TRAINING = "slo_ndvi_days", "slo_ndvi_raw", "slo_lulc"


def setup_cube(data: Path, workdir: Path) -> None:
    """Index the NDVI + CLM GeoTIFFs, write the per-date NDVI product and ingest the polygons (antares commands)."""
    import subprocess

    import yaml

    antares = str(Path(sys.executable).with_name("antares"))
    workdir.mkdir(parents=True, exist_ok=True)
    product = {"name": CUBE_RAW, "metadata_type": "eo3", "metadata": {"product": {"name": CUBE_RAW}},
               "description": "Slovenia eo-learn patch: 68 dates of NDVI and the s2cloudless mask CLM (1 = cloud)",
               "measurements": [{"name": "NDVI", "dtype": "float32", "nodata": "NaN", "units": "1"},
                                {"name": "CLM", "dtype": "uint8", "nodata": 255, "units": "1"}]}
    (workdir / f"{CUBE_RAW}.yaml").write_text(yaml.safe_dump(product, sort_keys=False))
    files = sorted((data / "geotiff" / "timeseries").glob("*_NDVI.tif"))
    days = sorted({re.match(r"(\d{4}-\d{2}-\d{2})", f.name).group(1) for f in files})
    recipe = {"description": "Slovenia NDVI, one step per acquisition day (same-day acquisitions averaged), CLM "
                             "clouds masked, gaps filled linearly in time",
              "inputs": {"product": CUBE_RAW, "measurements": ["ndvi", "clm"]},
              "aliases": {"ndvi": ["NDVI"], "clm": ["CLM"]},
              "mask": {"measurement": {"name": "clm", "threshold": 0.5, "keep": "below"}},
              "steps": {"periods": [[d, d] for d in days], "variables": ["ndvi"], "composite": "mean",
                        "gapfill": "linear"}}
    (workdir / f"{CUBE_PRODUCT}.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    existing = subprocess.run([antares, "list", "products"], capture_output=True, text=True, check=True).stdout
    steps = []
    if f"{CUBE_RAW} " not in existing:
        steps.append(["product", "add", str(workdir / f"{CUBE_RAW}.yaml")])
    steps += [["index", "--path", str(data / "geotiff" / "timeseries"), "--dataset_name", "s2_bands", "--product",
               CUBE_RAW, "--pattern", r"(?P<date>\d{4}-\d{2}-\d{2}T\d{6})_(?P<band>NDVI|CLM)\.tif$"],
              ["apply_recipe", "-recipe", str(workdir / f"{CUBE_PRODUCT}.yaml"), "-b", days[0], "-e", days[-1],
               "--bbox", "14.5", "45.8", "14.7", "45.95", "-n", CUBE_PRODUCT, "-sc", "sync"],
              ["ingest_training", str(data / "lulc_polygons.gpkg"), "--field", "LULC_NAME", "--dataset", CUBE_TRAINING,
               "--where", "LULC_ID > 0", "--overwrite"]]
    for args in steps:
        began = time.monotonic()
        done = subprocess.run([antares, *args], capture_output=True, text=True)
        print(f"antares {' '.join(args[:1])}: {done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ''} "
              f"({time.monotonic() - began:.0f} s)", flush=True)
        if done.returncode:
            raise SystemExit(f"antares {' '.join(args)} failed: {done.stderr.strip()}")


def read_cube(product: str, training: str, set_size: int):
    """Pixel sets and polygon pixels of the training set over the product, by the cube path of model_fit_timeseries.

    Returns (sets (n, T, 1, S), mean series (n, T), days (T,), dates (T,) datetime64[D], class names (n,),
    centroids (n, 2), pixels per polygon (n,), fraction of the polygons' pixel-dates gap-filled (no clear
    observation that day)).
    """
    import shapely

    from antares.config import load_settings
    from antares.pipeline.fit_pixelsets import PixelSetFitRequest, _read_sensors

    request = PixelSetFitRequest("ltae", product, training, "benchmark_only", set_size, seed=0, device="cpu",
                                 scheduler="sync", sensors=("s2",))
    tf, groups, sets, n_pixels, origin = _read_sensors(load_settings(), request, None)
    (group,), (values,) = groups, sets  # values (n, T, 1, S)
    if group["channels"] != ["ndvi"]:
        raise SystemExit(f"{product}: expected the channel ndvi, got {group['channels']}")
    index, flat = tf.pixels
    cube = flat.reshape(len(tf.times), len(tf.measurements), -1)[:, list(tf.measurements).index("ndvi")]  # (T, m)
    valid = np.isfinite(cube)  # NaN-aware, as the cube path's aggregation: pixels outside the source are NaN
    sums = np.stack([np.bincount(index, weights=np.where(v, row, 0), minlength=len(tf.sample_ids))
                     for row, v in zip(cube, valid)], axis=1)
    counts = np.stack([np.bincount(index, weights=v, minlength=len(tf.sample_ids)) for v in valid], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_series = sums / counts
    filled = flat.reshape(len(tf.times), len(tf.measurements), -1)[:, list(tf.measurements).index("filled")]
    names = {e.code: e.name for e in tf.legend}
    centres = shapely.get_coordinates(shapely.centroid(tf.geoms))
    dates = np.array([str(t)[:10] for t in tf.times], dtype="datetime64[D]")
    return (values, mean_series, np.asarray(group["days"]), dates, np.array([names[int(c)] for c in tf.codes]),
            centres, n_pixels, float(np.mean(filled != 0)))


def read_files(data: Path, set_size: int):
    """As :func:`read_cube`, from the GeoTIFFs with rasterio (fraction: pixel-dates cloudy in the whole patch), and
    the number of acquisitions."""
    import geopandas as gpd

    from antares.deep.data import fill_gaps
    from antares.deep.pixelsets import draw_pixel_sets

    ndvi, dates, acquisitions, transform, shape = read_series(data)
    polygons = gpd.read_file(data / "lulc_polygons.gpkg")
    polygons = polygons[polygons["LULC_ID"] > 0].to_crs(32633).reset_index(drop=True)
    index, flat, counts = polygon_pixels(polygons, transform, shape)
    days = (dates - np.datetime64("2015-01-01")).astype(np.int64)
    pixels = fill_gaps(ndvi.reshape(len(dates), -1).T[:, :, None, None], days)[:, :, 0, 0]  # (H*W, T)
    values = pixels[flat].T[:, None, :]  # (T, 1, m)
    sets, _ = draw_pixel_sets(index, values, len(polygons), set_size, seed=0)
    mean_series = np.stack([pixels[flat[index == i]].mean(0) if counts[i] else np.full(len(dates), np.nan)
                            for i in range(len(polygons))])
    centres = np.column_stack([polygons.centroid.x, polygons.centroid.y])
    return (sets, mean_series, days, dates, polygons["LULC_NAME"].to_numpy(), centres, counts,
            float(np.isnan(ndvi).mean()), acquisitions)


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
    parser.add_argument("--out", type=Path, default=None,
                        help="default benchmarks/results/deep_slovenia.json (_cube.json with --source cube)")
    parser.add_argument("--source", choices=["files", "cube"], default="files",
                        help="read the GeoTIFFs with rasterio, or the product and training set through the cube")
    parser.add_argument("--setup", action="store_true", help="with --source cube: make the product and training set")
    parser.add_argument("--compare", action="store_true",
                        help="with --source cube: also read the files and report how far the polygon mean series are")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/antares_deep_slovenia"),
                        help="--setup: where the product definition and the recipe are written")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = ROOT / f"benchmarks/results/deep_slovenia{'_cube' if args.source == 'cube' else ''}.json"
    if not args.data.exists():
        print(f"{args.data} not found; pass --data.", file=sys.stderr)
        return 1
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedGroupKFold

    from antares.deep.data import SensorSeries
    from antares.models.registry import make_estimator, parse_params
    from antares.sampling import spatial_blocks

    started = time.monotonic()
    if args.source == "cube":
        if args.setup:
            setup_cube(args.data, args.workdir)
            started = time.monotonic()
        sets, mean_series, days, dates, names, centres, counts, cloudy = read_cube(CUBE_PRODUCT, CUBE_TRAINING,
                                                                                  args.set_size)
        acquisitions = None
        agreement = None
        if args.compare:  # the same polygons' mean series read from the files: how far the cube path is from them
            _, files_mean, _, files_dates, files_names, _, files_counts, _, _ = read_files(args.data, args.set_size)
            both = (counts > 0) & (files_counts > 0)
            if list(files_names) != list(names) or not np.array_equal(files_dates, dates):
                raise SystemExit("the cube and the files hold other polygons or dates; no comparison")
            diff = np.abs(mean_series[both] - files_mean[both])
            finite = np.isfinite(diff)
            diff = diff[finite]
            agreement = {"polygons": int(both.sum()), "polygon_dates_compared": int(finite.sum()),
                         "polygon_dates_nan": [int(np.isnan(mean_series[both]).sum()),
                                               int(np.isnan(files_mean[both]).sum())],
                         "median_abs_diff": round(float(np.median(diff)), 5),
                         "p99_abs_diff": round(float(np.percentile(diff, 99)), 5),
                         "max_abs_diff": round(float(diff.max()), 5),
                         "pixels_cube_vs_files": [int(counts[both].sum()), int(files_counts[both].sum())]}
            print(f"mean series, cube vs files: {agreement}", flush=True)
    else:
        sets, mean_series, days, dates, names, centres, counts, cloudy, acquisitions = read_files(args.data,
                                                                                                   args.set_size)
        agreement = None
    keep = counts > 0
    kept_names, n_kept = np.unique(names[keep], return_counts=True)
    classes = [c for c, n in zip(kept_names, n_kept) if n >= args.min_polygons]
    keep &= np.isin(names, classes)
    t = len(dates)
    sets, names, mean_series, centres = sets[keep], names[keep], mean_series[keep], centres[keep]
    codes = np.searchsorted(classes, names)
    groups = spatial_blocks(centres[:, 0], centres[:, 1], args.block)
    print(f"{args.source}: {len(codes)} polygons ({', '.join(f'{c} {int((names == c).sum())}' for c in classes)}), "
          + (f"{acquisitions} acquisitions on {t} days, {cloudy:.1%} of pixel-dates cloudy, " if acquisitions else
             f"{t} steps of {CUBE_PRODUCT}, {cloudy:.1%} of the polygons' pixel-dates gap-filled, ")
          + f"{len(np.unique(groups))} blocks of {args.block:g} m; "
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
            "source": args.source, "command": " ".join(["python", "benchmarks/deep_slovenia.py", *(argv or sys.argv[1:])]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "agreement_with_files": agreement, "polygons": int(len(codes)), "per_class": {c: int((names == c).sum()) for c in classes}, "acquisitions": acquisitions, "days": t,
            "cloudy_fraction": round(cloudy, 4), "blocks": int(len(np.unique(groups))), "block_m": args.block,
            "folds": args.folds, "repeats": args.repeats, "set_size": args.set_size, "epochs": args.epochs,
            "patience": args.patience, "extra": args.extra, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
