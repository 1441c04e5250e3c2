"""Benchmark: object features and prediction (issue "Performance (benchmarks/predict.py)").

Goals: object features >= 10 x exactextract's objects/s; predicting and writing 1 M objects with a
100-tree random forest in <= 60 s on 2 cores.

Data (generated, not timed): a label raster of SIZE^2 pixels at 20 m in EPSG:32633 whose objects
are the 4-connected parts of the Voronoi cells of a jittered grid of seeds, one per 4 x 4 pixels
(about 16 px per object, ~1.06 M objects at 4096^2). Segment ids are as ``antares segment`` writes
them, ``tile number * 2**32 + local id`` (the tile of the object's first pixel), so a tile holds
ids of its neighbours too and ``antares.features`` takes its hash-table path. A 4-band float32
product: each object has a cover class (six spectra, B02 B03 B04 B08), its own spectrum
(+-15 % per band) and 5 % pixel noise; 2 % of the pixels of each band are NaN and a few cloud
discs (~3 % of the area) are NaN in every band.

1. Object features, ``mean`` of the four bands:
   - antares, as ``model_predict_object`` runs it: per 1024^2 tile ``partial_statistics`` and
     ``finalise(..., ("mean",))`` for the objects inside, the accumulators of those touching the
     tile's edge merged (``merge_partials``) and finalised at the end; and the whole raster at once;
   - baseline: ``exactextract.exact_extract(tif, polygons, "mean", output="pandas")`` on the
     polygons of the objects (``rasterio.features.shapes``, not timed; its time is reported) and the
     raster as a GeoTIFF on disk, with the faster ``raster-sequential`` strategy. exactextract
     (its Python bindings call back into Python for every feature and window) handles about 4,000
     objects/s here, so it runs on the top-left ``--ee-size`` window and its time is extrapolated
     linearly to all objects (said in the output). antares runs on the same window as well (the
     like-for-like ratio). The means must agree to 1e-5 relative (the polygons follow pixel edges:
     exactextract's coverage fractions are 0 or 1), with NaN for the same objects and bands.
     Once each, not in the ratio: exactextract's default ``feature-sequential`` strategy on a
     256^2 window, and rasterstats (``zonal_stats``, optional) on 500 objects.
2. Prediction: ``RandomForestClassifier(n_estimators=100, n_jobs=2)`` fitted on 5,000 labelled
   rows, then ``antares.pipeline.predict.predict_features`` on every object's features and
   ``copy_predictions`` of the rows into PostGIS (a throwaway cluster, ``init_database``) in one
   transaction with the classification row, as ``model_predict_object`` writes them. Baselines in
   the same run: ``estimator.predict_proba`` on the same rows (the compute floor), and a plain
   psycopg2 ``executemany`` INSERT of ``--insert-rows`` rows (extrapolated to all rows).

Medians of ``--repeat`` runs; results go to benchmarks/results/predict.json (one entry per mode:
default, quick, custom). Needs the baseline: ``pip install exactextract rasterstats``.

    python benchmarks/predict.py [--objects N] [--repeat R] [--quick] [--ee-size 1024]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np  # at module level: the numba kernels below resolve it as a global

HERE = Path(__file__).resolve().parent
CELL, STRIDE, RES, X0, Y0, CRS = 4, 2**32, 20.0, 400000.0, 5800000.0, "EPSG:32633"
GOAL_RATIO, GOAL_SECONDS_PER_MILLION = 10.0, 60.0
SPECTRA = [  # B02 B03 B04 B08 of six cover classes (codes 1..6)
    [0.09, 0.115, 0.14, 0.20], [0.025, 0.055, 0.025, 0.37], [0.02, 0.04, 0.02, 0.30],
    [0.065, 0.055, 0.035, 0.02], [0.11, 0.12, 0.13, 0.17], [0.04, 0.07, 0.05, 0.28],
]


def timed(fn, *args, **kwargs):
    """``(wall seconds, CPU seconds of this process, result)`` of ``fn(*args, **kwargs)``."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, time.process_time() - c0, out


def med(values) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------------------- synthetic data
def _kernels():
    """The two compiled kernels of the generator (compiled on first use, ~1 s)."""
    from numba import njit

    @njit
    def voronoi(sy, sx, cell, size):
        """Index (1..) of the nearest seed of each pixel centre, looking at the 3 x 3 cells around."""
        nc = sy.shape[0]
        out = np.empty((size, size), np.int32)
        for i in range(size):
            ci = i // cell
            for j in range(size):
                cj = j // cell
                best, k = 1e30, 0
                for a in range(max(ci - 1, 0), min(ci + 2, nc)):
                    for b in range(max(cj - 1, 0), min(cj + 2, nc)):
                        d = (sy[a, b] - i - 0.5) ** 2 + (sx[a, b] - j - 0.5) ** 2
                        if d < best:
                            best, k = d, a * nc + b + 1
                out[i, j] = k
        return out

    @njit
    def segment_ids(components, n, tile, n_tiles_x, stride):
        """``tile number * stride + component`` with the tile of each component's first pixel."""
        first = np.full(n + 1, -1, np.int64)
        out = np.empty(components.shape, np.int64)
        for i in range(components.shape[0]):
            for j in range(components.shape[1]):
                c = components[i, j]
                if first[c] < 0:
                    first[c] = (i // tile) * n_tiles_x + j // tile
                out[i, j] = first[c] * stride + c
        return out

    return voronoi, segment_ids


def synthetic(size: int, tile: int, seed: int = 0):
    """``(labels (y, x) int64, values (4, y, x) float32)``: see the module docstring."""
    from skimage.measure import label

    voronoi, segment_ids = _kernels()
    rng = np.random.default_rng(seed)
    nc = size // CELL
    sy = np.arange(nc)[:, None] * CELL + rng.uniform(0, CELL, (nc, nc))
    sx = np.arange(nc)[None, :] * CELL + rng.uniform(0, CELL, (nc, nc))
    components = label(voronoi(sy, sx, CELL, size), connectivity=1).astype(np.int32)
    n = int(components.max())
    labels = segment_ids(components, n, tile, -(-size // tile), STRIDE)
    cover = rng.integers(0, len(SPECTRA), n + 1)
    spectrum = (np.asarray(SPECTRA)[cover] * (1 + 0.15 * rng.standard_normal((n + 1, 4)))).astype(np.float32)
    values = np.empty((4, size, size), np.float32)
    for b in range(4):
        values[b] = spectrum[:, b][components]
        values[b] *= 1 + 0.05 * rng.standard_normal((size, size), dtype=np.float32)
        values[b][rng.random((size, size), dtype=np.float32) < 0.02] = np.nan
    yy, xx = np.ogrid[0:size, 0:size]
    for _ in range(max(1, size * size // 2**20)):  # clouds: ~3 % of the area
        cy, cx, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(40, 160)
        values[:, (yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = np.nan
    return labels, values


def training_rows(n: int, seed: int = 1):
    """``(X (n, 4) float64, y (n,) int64)``: object spectra of the six classes, as in ``synthetic``."""

    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(SPECTRA), n)
    return np.asarray(SPECTRA)[y] * (1 + 0.15 * rng.standard_normal((n, 4))), y + 1


# ---------------------------------------------------------------------------- 1. object features
def features_whole(labels, values):
    from antares.features import finalise, partial_statistics

    part = partial_statistics(labels, values)
    return part.ids, finalise(part, ("mean",))


def features_tiled(tiles):
    """What ``predict_tile`` + ``model_predict_object`` do for the features, over pre-loaded tiles."""

    from antares.features import finalise, merge_partials, partial_statistics
    from antares.pipeline.predict import _subset

    ids, feats, edges, per_tile = [], [], [], []
    for labels, values in tiles:
        t0 = time.perf_counter()
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        part = partial_statistics(labels, values)
        inside = ~np.isin(part.ids, border[border > 0])
        ids.append(part.ids[inside])
        feats.append(finalise(_subset(part, inside), ("mean",)))
        edges.append(_subset(part, ~inside))
        per_tile.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    merged = merge_partials(edges)
    ids.append(merged.ids)
    feats.append(finalise(merged, ("mean",)))
    merge_s = time.perf_counter() - t0
    return np.concatenate(ids), np.concatenate(feats), per_tile, merge_s, len(merged.ids)


def polygonise(labels, transform):
    """GeoDataFrame (segment_id int64, row int32, geometry) of the objects of ``labels`` (parts cut off by the
    window edge become one MultiPolygon)."""
    import geopandas as gpd
    import rasterio.features
    import shapely

    ids, dense = np.unique(labels, return_inverse=True)
    dense = (dense.reshape(labels.shape) + 1).astype(np.int32)
    parts: dict[int, list] = {}
    for geom, value in rasterio.features.shapes(dense, transform=transform, connectivity=4):
        rings = [shapely.linearrings(r) for r in geom["coordinates"]]
        parts.setdefault(int(value), []).append(shapely.polygons(rings[0], rings[1:] or None))
    keys = sorted(parts)
    geoms = [p[0] if len(p) == 1 else shapely.MultiPolygon(p) for p in (parts[k] for k in keys)]
    return gpd.GeoDataFrame({"segment_id": ids[np.asarray(keys) - 1], "row": np.arange(len(keys), dtype=np.int32)},
                            geometry=geoms, crs=CRS)


def write_tif(path: Path, values, transform) -> None:
    import rasterio

    b, ny, nx = values.shape
    with rasterio.open(path, "w", driver="GTiff", width=nx, height=ny, count=b, dtype="float32", crs=CRS,
                       transform=transform, nodata=np.nan, tiled=True, blockxsize=512, blockysize=512) as dst:
        dst.write(values)


def exactextract_means(tif: Path, gdf, strategy: str):
    from exactextract import exact_extract

    # exactextract fails on features with an integer property >= 2**31 (ours: tile * 2**32 + local id)
    df = exact_extract(str(tif), gdf[["row", "geometry"]], "mean", include_cols=["row"], output="pandas",
                       strategy=strategy)
    ids = gdf["segment_id"].to_numpy()[df["row"].to_numpy()]
    order = np.argsort(ids)
    return ids[order], df[[f"band_{b}_mean" for b in range(1, 5)]].to_numpy()[order]


def rasterstats_means(gdf, values, transform):
    from rasterstats import zonal_stats

    cols = [[s["mean"] for s in zonal_stats(list(gdf.geometry), values[b], affine=transform, stats=["mean"],
                                            nodata=np.nan)] for b in range(values.shape[0])]
    return np.array(cols, dtype=np.float64).T


def agreement(ids_a, a, ids_b, b, what: str) -> float:
    """Largest relative difference of two (n, 4) tables of means; raises unless ids and NaNs agree
    and the values agree to 1e-5 relative."""

    if not np.array_equal(ids_a, ids_b):
        raise SystemExit(f"{what}: the object ids differ ({len(ids_a)} against {len(ids_b)} objects)")
    a = np.where(np.isfinite(a), a, np.nan)  # rasterstats returns None for no valid pixel
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        raise SystemExit(f"{what}: {int((np.isnan(a) != np.isnan(b)).sum())} means are NaN on one side only")
    ok = ~np.isnan(a)
    rel = float(np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok]))) if ok.any() else 0.0
    if rel > 1e-5:
        raise SystemExit(f"{what}: means differ by up to {rel:.2e} relative (allowed 1e-5)")
    return rel


def bench_features(labels, values, args, tmp: Path) -> tuple[dict, tuple]:
    from affine import Affine

    size = labels.shape[0]
    transform = Affine(RES, 0, X0, 0, -RES, Y0)
    tiles = [(np.ascontiguousarray(labels[y:y + args.tile, x:x + args.tile]),
              np.ascontiguousarray(values[:, y:y + args.tile, x:x + args.tile]))
             for y in range(0, size, args.tile) for x in range(0, size, args.tile)]
    features_tiled(tiles[:1])  # imports, and numba's compiled kernels for C-contiguous int64 / float32 arrays
    runs = {"tiled": [], "tiled_cpu": [], "whole": [], "whole_cpu": [], "merge": [], "per_tile_median": []}
    for r in range(args.repeat):
        wall, cpu, (ids_t, f_t, per_tile, merge_s, crossing) = timed(features_tiled, tiles)
        runs["tiled"].append(wall), runs["tiled_cpu"].append(cpu), runs["merge"].append(merge_s)
        runs["per_tile_median"].append(med(per_tile))
        wall_w, cpu_w, (ids, feats) = timed(features_whole, labels, values)
        runs["whole"].append(wall_w), runs["whole_cpu"].append(cpu_w)
        print(f"run {r + 1}: antares features {len(ids):,} objects: per {args.tile}² tile + merge {wall:6.2f} s "
              f"({len(ids) / wall:,.0f} objects/s; median tile {med(per_tile):.3f} s, merge of {crossing:,} crossing "
              f"{merge_s:.3f} s), whole raster {wall_w:6.2f} s ({len(ids) / wall_w:,.0f} objects/s)")
    order = np.argsort(ids_t)
    if not np.array_equal(ids_t[order], ids) or not np.allclose(f_t[order], feats, rtol=1e-12, equal_nan=True):
        raise SystemExit("tiled and whole-raster features differ")
    del tiles
    n = len(ids)

    # exactextract on the top-left window, against antares on the same window
    w = min(args.ee_size, size)
    lab_w, val_w = np.ascontiguousarray(labels[:w, :w]), np.ascontiguousarray(values[:, :w, :w])
    poly_s, _, gdf = timed(polygonise, lab_w, transform)
    tif = tmp / f"values_{w}.tif"
    tif_s, _, _ = timed(write_tif, tif, val_w, transform)
    n_w = len(gdf)
    print(f"window {w}²: {n_w:,} objects polygonised in {poly_s:.1f} s ({n_w / poly_s:,.0f} objects/s, not timed), "
          f"GeoTIFF written in {tif_s:.2f} s")
    ee_runs, ee_cpu, aw_runs = [], [], []
    for r in range(args.repeat):
        wall, cpu, (ids_e, means_e) = timed(exactextract_means, tif, gdf, "raster-sequential")
        ee_runs.append(wall), ee_cpu.append(cpu)
        wall_a, _, (ids_a, means_a) = timed(features_whole, lab_w, val_w)
        aw_runs.append(wall_a)
        print(f"run {r + 1}: window {w}²: exactextract (raster-sequential) {wall:6.2f} s ({n_w / wall:,.0f} objects/s), "
              f"antares {wall_a:.3f} s ({n_w / wall_a:,.0f} objects/s)")
    rel_ee = agreement(ids_e, means_e, ids_a, means_a, "exactextract vs antares")

    sub = min(256, w)  # exactextract's default strategy, once, on a small window
    gdf_s = polygonise(np.ascontiguousarray(labels[:sub, :sub]), transform)
    tif_sub = tmp / f"values_{sub}.tif"
    write_tif(tif_sub, np.ascontiguousarray(values[:, :sub, :sub]), transform)
    ee_default_s, _, (ids_d, means_d) = timed(exactextract_means, tif_sub, gdf_s, "feature-sequential")
    agreement(ids_d, means_d, *features_whole(np.ascontiguousarray(labels[:sub, :sub]),
                                              np.ascontiguousarray(values[:, :sub, :sub])), "exactextract default")
    print(f"window {sub}²: exactextract default strategy (feature-sequential) {len(gdf_s):,} objects in "
          f"{ee_default_s:.2f} s ({len(gdf_s) / ee_default_s:,.0f} objects/s), 1 run")

    rs = None
    if importlib.util.find_spec("rasterstats"):
        k = min(500, n_w)
        rs_s, _, means_r = timed(rasterstats_means, gdf.iloc[:k], val_w, transform)
        order_k = np.searchsorted(ids_a, gdf["segment_id"].to_numpy()[:k])
        agreement(gdf["segment_id"].to_numpy()[:k], means_r, ids_a[order_k], means_a[order_k], "rasterstats vs antares")
        rs = {"objects": k, "seconds": rs_s, "objects_per_s": k / rs_s, "runs": 1}
        print(f"rasterstats zonal_stats (4 bands): {k} objects in {rs_s:.2f} s ({k / rs_s:,.0f} objects/s), 1 run")
    else:
        print("rasterstats is not installed (optional baseline: pip install rasterstats): skipped")

    tiled_s, ee_s, aw_s = med(runs["tiled"]), med(ee_runs), med(aw_runs)
    ee_rate = n_w / ee_s
    ee_full_s = n / ee_rate  # linear extrapolation to all objects
    ratio = ee_full_s / tiled_s
    ratio_cpu = med(ee_cpu) * n / n_w / med(runs["tiled_cpu"])  # CPU time: what sharing the machine barely changes
    result = {
        "size": size, "pixels": size * size, "objects": n, "tile": args.tile, "tiles": -(-size // args.tile) ** 2,
        "antares": {
            "runs_tiled_s": runs["tiled"], "runs_tiled_cpu_s": runs["tiled_cpu"], "runs_whole_s": runs["whole"],
            "runs_merge_s": runs["merge"], "runs_per_tile_median_s": runs["per_tile_median"],
            "tiled_s": tiled_s, "whole_s": med(runs["whole"]), "merge_s": med(runs["merge"]),
            "per_tile_s": med(runs["per_tile_median"]), "crossing_objects": crossing,
            "tiled_objects_per_s": n / tiled_s, "whole_objects_per_s": n / med(runs["whole"]),
            "mpix_per_s_tiled": size * size / 1e6 / tiled_s,
        },
        "exactextract": {
            "version": version("exactextract"), "strategy": "raster-sequential", "input": "GeoDataFrame + GeoTIFF path",
            "window": w, "objects": n_w, "runs_s": ee_runs, "runs_cpu_s": ee_cpu, "median_s": ee_s,
            "objects_per_s": ee_rate, "extrapolated_to_all_objects_s": ee_full_s, "extrapolated": w < size,
            "polygonise_s": poly_s, "polygonise_objects_per_s": n_w / poly_s, "write_geotiff_s": tif_s,
            "default_strategy": {"strategy": "feature-sequential", "window": sub, "objects": len(gdf_s),
                                 "seconds": ee_default_s, "objects_per_s": len(gdf_s) / ee_default_s, "runs": 1},
            "max_relative_difference": rel_ee,
        },
        "antares_same_window": {"runs_s": aw_runs, "median_s": aw_s, "objects_per_s": n_w / aw_s,
                                "ratio_vs_exactextract": ee_s / aw_s},
        "rasterstats": rs,
        "ratio_antares_tiled_vs_exactextract": ratio,
        "ratio_antares_tiled_vs_exactextract_cpu_time": ratio_cpu,
        "goal": {"what": f"antares objects/s >= {GOAL_RATIO:g} x exactextract", "value": ratio, "met": ratio >= GOAL_RATIO},
    }
    return result, (ids, feats)


# ---------------------------------------------------------------------------- 2. prediction
class TimedEstimator:
    """Delegates to ``estimator``, timing ``predict_proba`` (to split ``predict_features``)."""

    def __init__(self, estimator):
        self.estimator, self.proba_s = estimator, 0.0
        self.classes_ = estimator.classes_

    def predict_proba(self, x):
        t0 = time.perf_counter()
        out = self.estimator.predict_proba(x)
        self.proba_s += time.perf_counter() - t0
        return out


def write_predictions(engine, rows):
    """The classification row and its predictions in one transaction, as model_predict_object does."""
    import sqlalchemy as sa

    from antares.db.classifications import copy_predictions

    ids, classes, confidence, entropy = rows
    with engine.begin() as conn:
        cid = conn.execute(sa.text("INSERT INTO antares.classification (name, segmentation_id, model_id) "
                                   "VALUES ('bench', :seg, :model) RETURNING id"), ROWS).scalar()
        copy_predictions(conn, cid, ids.astype(np.int64), classes.astype(np.int64), confidence, entropy)
    return cid


class _NullCopy:
    """Stands in for a SQLAlchemy connection: ``copy_expert`` only drains the buffer, so that timing
    ``copy_predictions`` with it measures the Python side of the write (formatting the rows)."""

    def __init__(self):
        self.connection = self
        self.dbapi_connection = self

    def cursor(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def copy_expert(self, sql, buffer):
        buffer.read()

    def execute(self, sql):  # the ANALYZE after the COPY
        pass


def format_predictions(rows) -> None:
    from antares.db.classifications import copy_predictions

    ids, classes, confidence, entropy = rows
    copy_predictions(_NullCopy(), 0, ids.astype(np.int64), classes.astype(np.int64), confidence, entropy)


def insert_executemany(engine, rows, n: int) -> None:
    """Baseline: the first ``n`` rows with a plain psycopg2 ``executemany`` INSERT, one transaction."""
    import sqlalchemy as sa

    ids, classes, confidence, entropy = (a[:n].tolist() for a in rows)
    with engine.begin() as conn:
        cid = conn.execute(sa.text("INSERT INTO antares.classification (name, segmentation_id, model_id) "
                                   "VALUES ('bench_executemany', :seg, :model) RETURNING id"), ROWS).scalar()
        with conn.connection.dbapi_connection.cursor() as cur:
            cur.executemany("INSERT INTO antares.prediction (classification_id, segment_id, class_code, confidence, "
                            "entropy) VALUES (%s, %s, %s, %s, %s)",
                            [(cid, *row) for row in zip(ids, classes, confidence, entropy)])


def clear(engine, expected: int | None = None) -> None:
    import sqlalchemy as sa

    with engine.begin() as conn:
        if expected is not None:
            got = conn.execute(sa.text("SELECT count(*) FROM antares.prediction")).scalar()
            if got != expected:
                raise SystemExit(f"{got} prediction rows written, expected {expected}")
        conn.execute(sa.text("TRUNCATE antares.prediction"))
        conn.execute(sa.text("DELETE FROM antares.classification"))


ROWS: dict = {}  # ids of the segmentation and model rows the classifications refer to


def bench_predict(ids, feats, args, home: Path) -> dict:
    import sqlalchemy as sa
    from sklearn.ensemble import RandomForestClassifier

    from antares.config import load_settings
    from antares.db.engine import database_url, make_engine
    from antares.db.local import LocalCluster
    from antares.models.store import serialize
    from antares.pipeline.database import init_database
    from antares.pipeline.predict import predict_features

    X, y = training_rows(args.train_rows)
    fit_s, _, estimator = timed(RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0).fit, X, y)
    nodes = statistics.mean(e.tree_.node_count for e in estimator.estimators_)
    print(f"\nrandom forest: 100 trees fitted on {args.train_rows:,} rows in {fit_s:.2f} s ({nodes:.0f} nodes per tree)")
    cluster = LocalCluster(home / "db")
    t0 = time.perf_counter()
    cluster.start()
    try:
        settings = load_settings(flags={"db_url": cluster.url(), "home": str(home / "db")}, environ={})
        init_database(settings)
        engine = make_engine(database_url(settings))
        with engine.begin() as conn:
            server = conn.execute(sa.text("SHOW server_version")).scalar()
            scheme = conn.execute(sa.text("INSERT INTO antares.class_scheme (name) VALUES ('bench') RETURNING id")).scalar()
            ROWS["model"] = conn.execute(sa.text(
                "INSERT INTO antares.model (name, kind, scheme_id, product, blob) "
                "VALUES ('bench_rf', 'random_forest', :scheme, 'bench_features', :blob) RETURNING id"),
                {"scheme": scheme, "blob": serialize(estimator)}).scalar()
            ROWS["seg"] = conn.execute(sa.text(
                "INSERT INTO antares.segmentation (name, product, algorithm, crs) "
                "VALUES ('bench_seg', 'bench_features', 'voronoi', :crs) RETURNING id"), {"crs": CRS}).scalar()
        print(f"PostgreSQL {server} with PostGIS started and initialised in {time.perf_counter() - t0:.1f} s")
        finite = np.all(np.isfinite(feats), axis=1)
        x_ok = feats[finite]
        estimator.predict_proba(x_ok[:1000])  # start the thread pool
        n_insert = min(args.insert_rows, int(finite.sum()))
        runs = {k: [] for k in ("floor", "floor_cpu", "predict", "predict_cpu", "proba", "rest", "write", "format",
                                 "executemany")}
        for r in range(args.repeat):
            wall, cpu, _ = timed(estimator.predict_proba, x_ok)
            runs["floor"].append(wall), runs["floor_cpu"].append(cpu)
            proxy = TimedEstimator(estimator)
            wall_p, cpu_p, predicted = timed(predict_features, proxy, ids, feats)
            runs["predict"].append(wall_p), runs["predict_cpu"].append(cpu_p)
            runs["proba"].append(proxy.proba_s), runs["rest"].append(wall_p - proxy.proba_s)
            rows = predicted[:4]
            wall_w, _, _ = timed(write_predictions, engine, rows)
            runs["write"].append(wall_w)
            runs["format"].append(timed(format_predictions, rows)[0])
            clear(engine, expected=len(rows[0]))
            wall_e, _, _ = timed(insert_executemany, engine, rows, n_insert)
            runs["executemany"].append(wall_e)
            clear(engine, expected=n_insert)
            print(f"run {r + 1}: predict_proba floor {wall:6.2f} s; predict_features {wall_p:6.2f} s (predict_proba "
                  f"{proxy.proba_s:.2f} s, entropy and the rest {wall_p - proxy.proba_s:.2f} s); COPY {len(rows[0]):,} rows "
                  f"{wall_w:5.2f} s (formatting them {runs['format'][-1]:.2f} s); executemany {n_insert:,} rows {wall_e:5.2f} s")
        engine.dispose()
    finally:
        cluster.stop()
    m = {k: med(v) for k, v in runs.items()}
    k = len(predicted[0])
    total = m["predict"] + m["write"]
    goal_s = GOAL_SECONDS_PER_MILLION * len(ids) / 1e6
    executemany_all = m["executemany"] * k / n_insert
    return {
        "objects": len(ids), "predicted": k, "no_valid": int(predicted[4]), "train_rows": args.train_rows,
        "fit_s": fit_s, "nodes_per_tree": nodes, "classes": len(SPECTRA), "postgresql": server,
        "runs_s": runs, "median_s": m,
        "predict_and_write_s": total, "objects_per_s": len(ids) / total,
        "split_s": {"predict_proba": m["proba"], "entropy_and_rest": m["rest"], "write_copy": m["write"],
                    "of_which_formatting_rows_in_python": m["format"]},
        "ratio_predict_features_vs_floor": m["predict"] / m["floor"],
        "executemany": {"rows": n_insert, "median_s": m["executemany"], "rows_per_s": n_insert / m["executemany"],
                        "extrapolated_to_all_rows_s": executemany_all, "copy_speedup": executemany_all / m["write"]},
        "copy_rows_per_s": k / m["write"],
        "goal": {"what": f"predict + write {len(ids):,} objects in <= {goal_s:.0f} s (60 s per million, 2 cores)",
                 "value": total, "met": total <= goal_s},
    }


# ---------------------------------------------------------------------------- report
def version(pkg: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def versions() -> dict:
    import rasterio

    out = {"python": platform.python_version(), "gdal": rasterio.__gdal_version__}
    for pkg in ("antares", "numpy", "numba", "scikit-learn", "exactextract", "rasterstats", "rasterio", "geopandas",
                "shapely", "psycopg2", "SQLAlchemy"):
        out[pkg] = version(pkg)
    try:
        out["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                                    text=True).stdout.strip() or None
    except OSError:
        out["git"] = None
    return out


def machine() -> dict:
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem, 1), "platform": platform.platform()}


def table(f: dict, p: dict) -> None:
    a, e = f["antares"], f["exactextract"]
    ext = " (extrapolated from the {:,}-object window)".format(e["objects"]) if e["extrapolated"] else ""
    rows = [
        ("objects / pixels", f"{f['objects']:,} / {f['size']}²", ""),
        ("antares features, per tile + merge", f"{a['tiled_s']:.2f} s", f"{a['tiled_objects_per_s']:,.0f} objects/s"),
        ("antares features, whole raster", f"{a['whole_s']:.2f} s", f"{a['whole_objects_per_s']:,.0f} objects/s"),
        ("exactextract mean" + ext, f"{e['extrapolated_to_all_objects_s']:.1f} s", f"{e['objects_per_s']:,.0f} objects/s"),
        ("  ratio (goal >= 10)", f"{f['ratio_antares_tiled_vs_exactextract']:.0f} x",
         ("MET" if f["goal"]["met"] else "MISSED") + f" (CPU time {f['ratio_antares_tiled_vs_exactextract_cpu_time']:.0f} x)"),
        (f"  same {e['window']}² window: antares / exactextract", f"{f['antares_same_window']['median_s']:.3f} / {e['median_s']:.2f} s",
         f"{f['antares_same_window']['ratio_vs_exactextract']:.0f} x"),
        ("  polygonise (not timed)", f"{e['polygonise_s']:.1f} s", f"{e['polygonise_objects_per_s']:,.0f} objects/s"),
        ("predict_proba floor", f"{p['median_s']['floor']:.2f} s", f"{p['predicted'] / p['median_s']['floor']:,.0f} rows/s"),
        ("predict_features (proba + entropy ...)", f"{p['median_s']['predict']:.2f} s",
         f"{p['split_s']['predict_proba']:.2f} + {p['split_s']['entropy_and_rest']:.2f} s"),
        ("COPY into PostGIS (one transaction)", f"{p['median_s']['write']:.2f} s",
         f"{p['copy_rows_per_s']:,.0f} rows/s; formatting the rows {p['median_s']['format']:.2f} s of it"),
        ("executemany INSERT (extrapolated)", f"{p['executemany']['extrapolated_to_all_rows_s']:.1f} s",
         f"{p['executemany']['rows_per_s']:,.0f} rows/s; COPY {p['executemany']['copy_speedup']:.0f} x faster"),
        (f"predict + write (goal <= {GOAL_SECONDS_PER_MILLION * p['objects'] / 1e6:.0f} s)", f"{p['predict_and_write_s']:.2f} s",
         "MET" if p["goal"]["met"] else "MISSED"),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=None, help="about this many objects (default 1,000,000; "
                        "16 pixels each)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="~66,000 objects (1024²), exactextract on 512²")
    parser.add_argument("--ee-size", type=int, default=None, help="window (pixels) exactextract runs on "
                        "(default 1024, 512 with --quick)")
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--train-rows", type=int, default=5000)
    parser.add_argument("--insert-rows", type=int, default=None, help="rows of the executemany baseline "
                        "(default 20,000, 10,000 with --quick)")
    args = parser.parse_args()
    if importlib.util.find_spec("exactextract") is None:
        print("The baseline of this benchmark, exactextract, is not installed: nothing measured.\n"
              "Install the baselines with: pip install exactextract rasterstats")
        return 0
    mode = "quick" if args.quick else ("default" if args.objects is None else "custom")
    args.objects = args.objects or (65_536 if args.quick else 1_000_000)
    args.ee_size = args.ee_size or (512 if args.quick else 1024)
    args.insert_rows = args.insert_rows or (10_000 if args.quick else 20_000)
    size = 512 * max(1, math.ceil((args.objects * CELL * CELL) ** 0.5 / 512))  # 4096² for 1 M objects

    load_before = os.getloadavg()[0]
    t_start = time.perf_counter()
    gen_s, _, (labels, values) = timed(synthetic, size, args.tile)
    print(f"generated {size}² labels and 4 bands in {gen_s:.1f} s")
    home = Path(tempfile.mkdtemp(prefix="benchmark-predict-"))
    try:
        features, (ids, feats) = bench_features(labels, values, args, home)
        del labels, values
        prediction = bench_predict(ids, feats, args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    summary = {
        "benchmark": "predict", "mode": mode, "repeat": args.repeat, "generate_s": gen_s,
        "features": features, "prediction": prediction,
        "goals_met": {"features_ratio_ge_10": features["goal"]["met"],
                      "predict_and_write_le_60_s_per_million": prediction["goal"]["met"]},
        "load_average_before_after": [load_before, os.getloadavg()[0]],
        "total_s": time.perf_counter() - t_start,
        "machine": machine(), "versions": versions(), "date": time.strftime("%Y-%m-%d"),
    }
    out = HERE / "results" / "predict.json"
    out.parent.mkdir(exist_ok=True)
    stored = json.loads(out.read_text()) if out.exists() else {}
    stored = stored if "runs" in stored else {"benchmark": "predict", "runs": {}}
    stored["runs"][mode] = summary
    out.write_text(json.dumps(stored, indent=2))
    table(features, prediction)
    print(f"goals: features ratio >= {GOAL_RATIO:g} x {'MET' if features['goal']['met'] else 'MISSED'}; predict + write "
          f"<= 60 s per million {'MET' if prediction['goal']['met'] else 'MISSED'}")
    print(f"load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus; "
          f"total {summary['total_s']:.0f} s; results in {out.relative_to(HERE.parent)} ({mode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
