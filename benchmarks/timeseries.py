"""Benchmark: a time-series recipe (``steps:``) against the read-only floor of its inputs (issue 18: ratio <= 1.5, <= 4 GB).

One tile of SIZE x SIZE pixels at 20 m (benchmarks/synthetic.py: 36 dates ten days apart in 2021,
cloudy, tiled DEFLATE COGs) is indexed into a throwaway database; then, ``--repeat`` times, each in a
fresh process whose wall time, CPU time and peak RSS are measured alone:

  - floor: open and decode every window the recipe reads (B02, B03, B04, B8A and SCL of every date,
    in 512-pixel blocks), no computation;
  - recipe: ``antares apply_recipe -sc sync`` of a recipe with ``steps: {every: 1M, variables: [blue,
    green, red, nir], composite: median, gapfill: linear, smooth: {lambda: 1}}`` (SCL mask with dilation)
    over exactly that tile: 12 monthly steps x 6 COGs written and indexed.

Medians and the ratio are printed and written to benchmarks/results/timeseries.json.

    python benchmarks/timeseries.py [--size 1024 2048] [--dates 36] [--repeat 3] [--smooth 1|vcurve] [--inputs DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from synthetic import CRS, RES, X0, Y0, machine, measured, tile_seconds, versions, write_inputs  # noqa: E402

GOAL_RATIO, GOAL_RSS_GB = 1.5, 4.0
READ = ["B02", "B03", "B04", "B8A", "SCL"]


def read_floor(root: Path, block: int) -> int:
    """Open and decode every window the recipe reads, block by block."""
    import rasterio
    from rasterio.windows import Window

    files = sorted(p for p in root.glob("*/*.tif") if p.stem in READ)
    with rasterio.open(files[0]) as src:
        ny, nx = src.shape
    pixels = 0
    for y0 in range(0, ny, block):
        for x0 in range(0, nx, block):
            window = Window(x0, y0, min(block, nx - x0), min(block, ny - y0))
            for path in files:
                with rasterio.open(path) as src:
                    pixels += src.read(1, window=window).size
    print(f"{len(files)} files, {pixels} pixels decoded")
    return 0


def write_recipe(tmp: Path, smooth) -> Path:
    import yaml

    doc = {"description": "monthly median composites of four bands, gap filled, Whittaker (benchmarks/timeseries.py)",
           "inputs": {"product": "s2_l2a", "measurements": ["blue", "green", "red", "nir"]},
           "aliases": {"nir": ["B8A"]},
           "mask": {"scl": {"keep": [2, 4, 5, 6, 7, 11], "dilate": 1}},
           "steps": {"every": "1M", "variables": ["blue", "green", "red", "nir"], "composite": "median",
                     "gapfill": "linear", "smooth": {"lambda": smooth}}}
    path = tmp / "bench_timeseries.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def warm_loops() -> float:
    """Compile (or load from numba's cache) the Whittaker loops once, as after any first use."""
    import numpy as np

    from antares.timeseries import median_composites, regularise, vcurve_lambda, whittaker

    t0 = time.perf_counter()
    y, w = np.random.rand(12, 4), np.ones((12, 4))
    whittaker(y, w, 1.0)
    vcurve_lambda(y, w)
    dn = np.ones((3, 4), np.uint16)
    composites, counts = median_composites({"b": dn}, dn > 0, np.array([0, 1, 1]), 2, {"b": (0.0, 1e-4)})
    regularise(y.astype(np.float32), counts, None, "linear", 1.0)
    return time.perf_counter() - t0


def bench_size(size: int, args, dates: list, tmp: Path, env: dict, settings, recipe: Path) -> dict:
    antares = Path(sys.executable).with_name("antares")
    inputs, logs, product = tmp / f"inputs_{size}", tmp / f"logs_{size}", f"bench_ts_{size}"
    logs.mkdir()
    t0 = time.perf_counter()
    kept = args.inputs / f"inputs_{size}" if args.inputs else None
    if kept is not None and kept.is_dir():  # generated before (same seed, size and dates): reused, left in place
        inputs = kept
    else:
        write_inputs(inputs, size, dates)
    generated = time.perf_counter() - t0
    measured([antares, "index", "--path", inputs, "--dataset_name", "s2_bands", "--product", product, "--no-verify"],
             env, logs / "index.log")
    print(f"size {size}: {len(dates)} dates generated in {generated:.0f} s and indexed")
    floor_cmd = [sys.executable, __file__, "--read-floor", inputs]
    measured(floor_cmd, env, logs / "warmup.log")  # page cache: every measured run reads warm files
    half = RES / 2
    runs = []
    for r in range(args.repeat):
        name, outdir = f"bench_ts_{size}_{r}", tmp / f"out_{size}_{r}"
        cmd = [antares, "apply_recipe", "-recipe", recipe, "-b", "2021-01-01", "-e", "2021-12-31", "-p", product,
               "--name", name, "--bbox", X0 + half, Y0 + half, X0 + size * RES - half, Y0 + size * RES - half,
               "--bbox-crs", CRS, "--crs", CRS, "--resolution", RES, "--tile-size", size, "--origin", X0, Y0,
               "-sc", "sync", "--outdir", outdir]
        floor = measured(floor_cmd, env, logs / f"floor_{r}.log")
        rec = measured(cmd, env, logs / f"recipe_{r}.log")
        last = (logs / f"recipe_{r}.log").read_text().strip().splitlines()[-1]
        if not last.startswith("12 dataset(s) (12 step(s) per tile) written"):
            raise SystemExit(f"apply_recipe did not write 12 steps of one tile: {last}")
        rec["tile_s"] = tile_seconds(settings, name)
        shutil.rmtree(outdir, ignore_errors=True)
        runs.append({"floor": floor, "recipe": rec, "ratio": rec["wall_s"] / floor["wall_s"],
                     "cpu_ratio": rec["cpu_s"] / floor["cpu_s"],
                     "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
        print(f"  run {r + 1}: floor {floor['wall_s']:5.1f} s ({floor['peak_rss_gb']:.2f} GB)  recipe {rec['wall_s']:5.1f} s "
              f"(cpu {rec['cpu_s']:5.1f} s, tile {rec['tile_s']:5.1f} s, {rec['peak_rss_gb']:.2f} GB)  "
              f"ratio {runs[-1]['ratio']:.2f}  load {floor['load_before']:.1f}")
    median = {part: {k: statistics.median(run[part][k] for run in runs) for k in runs[0][part]}
              for part in ("floor", "recipe")}
    if inputs != kept:
        shutil.rmtree(inputs)
    return {"size": size, "dates": len(dates), "runs": runs, "median": median,
            "ratio": median["recipe"]["wall_s"] / median["floor"]["wall_s"],
            "cpu_ratio": median["recipe"]["cpu_s"] / median["floor"]["cpu_s"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--dates", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--smooth", default="1", help="Whittaker lambda: a number or vcurve.")
    parser.add_argument("--inputs", type=Path, default=None,
                        help="A folder with inputs_<SIZE>/ written by synthetic.write_inputs for --dates (seed 4): used as they "
                             "are instead of generating them (2048: 10-20 minutes here).")
    parser.add_argument("--read-floor", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_floor is not None:
        return read_floor(args.read_floor, 512)

    from antares.config import load_settings
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database

    smooth = args.smooth if args.smooth == "vcurve" else float(args.smooth)
    dates = [dt.date(2021, 1, 3) + dt.timedelta(days=10 * i) for i in range(args.dates)]
    tmp = Path(tempfile.mkdtemp(prefix="antares-bench-timeseries-"))
    cluster = LocalCluster(tmp / "home")
    cluster.start()
    results = []
    try:
        url = cluster.url()
        settings = load_settings(flags={"db_url": url, "home": str(tmp / "home")}, environ={})
        init_database(settings)
        env = {**os.environ, "ANTARES_DB_URL": url, "ANTARES_HOME": str(tmp / "home"),
               "PYTHONPATH": str(HERE.parent)}
        recipe = write_recipe(tmp, smooth)
        print(f"Whittaker loops compiled or loaded from numba's cache in {warm_loops():.1f} s (not measured)")
        for size in args.size:
            results.append(bench_size(size, args, dates, tmp, env, settings, recipe))
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    rss = next((e["median"]["recipe"]["peak_rss_gb"] for e in results if e["size"] == 2048), None)
    summary = {"benchmark": "time-series recipe (12 monthly steps, 4 bands, median, linear gap filling, Whittaker "
                            f"lambda {args.smooth}) against the read-only floor, each in a fresh process",
               "machine": machine(), "versions": versions(), "results": results,
               "goals": {"ratio": f"<= {GOAL_RATIO}", "ratio_met": all(e["ratio"] <= GOAL_RATIO for e in results),
                         "rss": f"<= {GOAL_RSS_GB} GB at 2048", "rss_met": None if rss is None else rss <= GOAL_RSS_GB}}
    (HERE / "results").mkdir(exist_ok=True)
    path = HERE / "results" / "timeseries.json"
    if path.exists():  # sizes measured by an earlier invocation stay (each entry has its own runs and loads)
        measured_now = {e["size"] for e in results}
        before = json.loads(path.read_text())
        summary.update({k: v for k, v in before.items() if k not in summary})  # other studies' entries stay
        earlier = [e for e in before.get("results", []) if e["size"] not in measured_now]
        summary["results"] = sorted(earlier + results, key=lambda e: e["size"])
        every = summary["results"]
        rss = next((e["median"]["recipe"]["peak_rss_gb"] for e in every if e["size"] == 2048), None)
        summary["goals"].update(ratio_met=all(e["ratio"] <= GOAL_RATIO for e in every),
                                rss_met=None if rss is None else rss <= GOAL_RSS_GB)
    path.write_text(json.dumps(summary, indent=2))
    for e in results:
        m = e["median"]
        print(f"{e['size']}²: floor {m['floor']['wall_s']:.1f} s, recipe {m['recipe']['wall_s']:.1f} s "
              f"(tile {m['recipe']['tile_s']:.1f} s), ratio {e['ratio']:.2f}, peak RSS {m['recipe']['peak_rss_gb']:.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
