"""Benchmark: ``antares apply_recipe`` against the read-only floor (issue #4: ratio <= 1.3, <= 4 GB at 2048² x 36 dates).

For each ``--size``, synthetic Sentinel-2 L2A inputs for one tile of SIZE x SIZE pixels at 20 m in
EPSG:32634 are written by the shared generator (benchmarks/synthetic.py) as tiled DEFLATE COGs, one folder per date (``<YYYY-MM-DD>/<band>.tif``:
B02 B03 B04 B05 B06 B07 B8A B11 B12 as uint16 DN, nodata 0, and SCL), and indexed with
``antares index --dataset_name s2_bands --no-verify`` into a throwaway embedded database. The
scene is a few land-cover types as spatially coherent patches (crop parcels with their own
phenology, forest, grassland, water, built-up) plus sensor noise; each date has its own cloud
blobs (a smoothed random field thresholded, ~30 % cloudy on average), cirrus fringes, shadows
beside the clouds, and some dates a swath edge of nodata.

Then, ``--repeat`` times and in the same run, each in a fresh process whose wall time, CPU time and
peak RSS (``os.wait4``'s ``ru_maxrss``) are measured alone:

  - floor: open and decode every window the recipe reads (every band of every date, in the same
    ``--block``-pixel blocks, one ``rasterio.open`` per file and block as ``dc.load`` does), no computation;
  - recipe: ``antares apply_recipe -sc sync`` (one process) of s2_20m_002 without its terrain
    section (9 band means, NDVI/NDMI mean/min/max, clear_count, SCL mask with dilation) over
    exactly one tile, writing 16 COGs and indexing them.

Before the measured runs the recipe's numba loops are compiled once for the inputs' dtypes (numba
caches them on disk, as after any first use); each measured recipe run still loads them.
Medians, the ratio recipe / floor and the log-log slope of cost against pixels are printed and
written to benchmarks/results/recipe.json.

Tiles larger than ``--generate-max`` (2048) are laid out from k x k copies of a generated tile
(benchmarks/synthetic.py ``replicate``): at 4096² every date is four input datasets of 2048²,
all of which the floor decodes too.

    python benchmarks/recipe.py [--size 1024 2048 4096] [--dates 36] [--repeat 3] [--block 512] [--profile DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synthetic import (BANDS, CRS, RES, X0, Y0, bench_recipe, compile_loops, machine, measured,  # noqa: E402
                       replicate, slope, tile_code, tile_seconds, versions, write_inputs)

GOAL_RATIO, GOAL_RSS_GB = 1.3, 4.0


# ---------------------------------------------------------------------------- the floor (child process)
def read_floor(root: Path, block: int) -> int:
    """Open and decode every window the recipe reads: every file, block by block, as ``dc.load`` would."""
    import rasterio
    from rasterio.windows import Window

    files = sorted(root.glob("*/*.tif"))
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


# ---------------------------------------------------------------------------- profiling
def profile_run(cmd: list, env: dict, out: Path) -> dict:
    """One more recipe run under py-spy (collapsed stacks); the hottest frames by self and total time."""
    from collections import Counter

    pyspy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if pyspy is None:
        print("--profile: py-spy not found (pip install py-spy); skipped")
        return {}
    subprocess.run([pyspy, "record", "--format", "raw", "--rate", "50", "--nonblocking", "-o", str(out), "--",
                    *map(str, cmd)], env=env, check=True, capture_output=True)
    own, total, samples = Counter(), Counter(), 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    share = lambda c: [(f, round(100 * n / samples, 1)) for f, n in c.most_common(25)]  # noqa: E731
    return {"file": str(out), "samples": samples, "self_percent": share(own), "total_percent": share(total)}


# ---------------------------------------------------------------------------- main
def bench_size(size: int, args, dates: list, tmp: Path, env: dict, settings, recipe: Path) -> dict:
    """Generate and index the inputs of one tile of ``size`` pixels, then measure floor and recipe ``args.repeat`` times."""
    antares = Path(sys.executable).with_name("antares")
    inputs, logs, product = tmp / f"inputs_{size}", tmp / f"logs_{size}", f"bench_{size}"
    logs.mkdir()
    t0 = time.perf_counter()
    if size > args.generate_max:
        if size % args.generate_max:
            raise SystemExit(f"--size {size} is not a multiple of --generate-max {args.generate_max}")
        k = size // args.generate_max  # k x k copies of one generated tile, side by side (synthetic.replicate)
        write_inputs(inputs, args.generate_max, dates, tile=tile_code(0, 0))
        replicate(inputs, tile_code(0, 0), args.generate_max, k, k)
    else:
        write_inputs(inputs, size, dates)
    generated = time.perf_counter() - t0
    disk_mb = sum(p.stat().st_size for p in inputs.rglob("*.tif")) / 2**20
    index = measured([antares, "index", "--path", inputs, "--dataset_name", "s2_bands", "--product", product,
                      "--no-verify"], env, logs / "index.log")
    print(f"size {size}: {len(dates)} dates x {len(BANDS) + 1} COGs, {disk_mb:.0f} MB on disk, "
          f"written in {generated:.0f} s, indexed in {index['wall_s']:.1f} s")
    floor_cmd = [sys.executable, __file__, "--read-floor", inputs, "--block", args.block]
    measured(floor_cmd, env, logs / "warmup.log")  # page cache: every measured run reads warm files
    half = RES / 2  # a bbox half a pixel inside the tile: exactly one tile of the grid

    def apply_cmd(name: str, outdir: Path) -> list:
        return [antares, "apply_recipe", "-recipe", recipe, "-b", dates[0].isoformat(), "-e", dates[-1].isoformat(),
                "-p", product, "--name", name, "--bbox", X0 + half, Y0 + half, X0 + size * RES - half,
                Y0 + size * RES - half, "--bbox-crs", CRS, "--crs", CRS, "--resolution", RES, "--tile-size", size,
                "--origin", X0, Y0, "-sc", "sync", "--outdir", outdir]

    runs = []
    for r in range(args.repeat):
        name, outdir = f"bench_{size}_features_{r}", tmp / f"out_{size}_{r}"
        floor = measured(floor_cmd, env, logs / f"floor_{r}.log")
        rec = measured(apply_cmd(name, outdir), env, logs / f"recipe_{r}.log")
        last = (logs / f"recipe_{r}.log").read_text().strip().splitlines()[-1]
        if not last.startswith("1 tile(s) written"):
            raise SystemExit(f"apply_recipe did not write exactly one tile: {last}")
        rec["tile_s"] = tile_seconds(settings, name)
        shutil.rmtree(outdir, ignore_errors=True)
        runs.append({"floor": floor, "recipe": rec, "ratio": rec["wall_s"] / floor["wall_s"],
                     "cpu_ratio": rec["cpu_s"] / floor["cpu_s"]})
        print(f"  run {r + 1}: floor {floor['wall_s']:5.1f} s (cpu {floor['cpu_s']:5.1f} s, {floor['peak_rss_gb']:.2f} GB)  "
              f"recipe {rec['wall_s']:5.1f} s (cpu {rec['cpu_s']:5.1f} s, tile {rec['tile_s']:5.1f} s, "
              f"{rec['peak_rss_gb']:.2f} GB)  ratio {runs[-1]['ratio']:.2f} (cpu {runs[-1]['cpu_ratio']:.2f})  "
              f"load {floor['load_before']:.1f}")

    def med(part, key):
        return statistics.median(run[part][key] for run in runs)

    median = {part: {k: med(part, k) for k in runs[0][part]} for part in ("floor", "recipe")}
    entry = {"size": size, "pixels": size * size, "dates": len(dates), "files": len(dates) * (len(BANDS) + 1),
             "input_mb_on_disk": round(disk_mb), "generate_s": generated, "index": index, "runs": runs, "median": median,
             "ratio": median["recipe"]["wall_s"] / median["floor"]["wall_s"],
             "cpu_ratio": median["recipe"]["cpu_s"] / median["floor"]["cpu_s"],
             "tile_ratio": median["recipe"]["tile_s"] / median["floor"]["wall_s"],
             "recipe_outside_tile_s": median["recipe"]["wall_s"] - median["recipe"]["tile_s"]}
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        entry["profile"] = profile_run(apply_cmd(f"bench_{size}_profile", tmp / "profile_out"), env,
                                       args.profile / f"recipe_{size}.folded")
    shutil.rmtree(inputs)
    return entry


def summarise(results: list, args) -> dict:
    """The JSON summary: every run, medians, exponents, goals, machine and versions."""
    sizes = [e["size"] for e in results]
    rss_2048 = next((e["median"]["recipe"]["peak_rss_gb"] for e in results if e["size"] == 2048 and e["dates"] == 36), None)
    ratio_met = all(e["ratio"] <= GOAL_RATIO for e in results)
    missed = [f"ratio recipe/floor {e['ratio']:.2f} > {GOAL_RATIO} at {e['size']}²" for e in results if e["ratio"] > GOAL_RATIO]
    if rss_2048 is not None and rss_2048 > GOAL_RSS_GB:
        missed.append(f"peak RSS {rss_2048:.2f} GB > {GOAL_RSS_GB} GB at 2048² x 36 dates")
    return {
        "benchmark": "recipe",
        "what": "antares apply_recipe -sc sync (s2_20m_002 without terrain, one tile) against a rasterio read of every "
                "window it reads (floor), each in a fresh process; wall and CPU seconds, peak RSS",
        "dates": args.dates, "repeat": args.repeat, "block": args.block, "sizes": results,
        "exponent": {"floor_wall": slope(sizes, [e["median"]["floor"]["wall_s"] for e in results]),
                     "recipe_wall": slope(sizes, [e["median"]["recipe"]["wall_s"] for e in results]),
                     "recipe_tile": slope(sizes, [e["median"]["recipe"]["tile_s"] for e in results]),
                     "recipe_peak_rss": slope(sizes, [e["median"]["recipe"]["peak_rss_gb"] for e in results])},
        "goals": {"ratio": f"recipe wall / floor wall <= {GOAL_RATIO}", "ratio_met": ratio_met,
                  "rss": f"recipe peak RSS <= {GOAL_RSS_GB} GB at 2048 x 2048 x 36 dates",
                  "rss_met": None if rss_2048 is None else rss_2048 <= GOAL_RSS_GB, "missed": missed},
        "machine": machine(), "versions": versions(), "date": time.strftime("%Y-%m-%d"),
    }


def earlier_sizes(path: Path, args) -> list:
    """The sizes measured by an earlier run (same dates, block and repeats) that this run did not measure.

    ``run.py`` measures 1024² only (2048² costs 5 minutes more); the 2048² and 4096² results of a
    dedicated run are kept beside it, each with the date it was measured (``measured``), and
    are not mixed into this run's exponents or goals.
    """
    if not path.exists():
        return []
    try:
        old = json.loads(path.read_text())
    except ValueError:
        return []
    if (old.get("dates"), old.get("block")) != (args.dates, args.block):
        return []
    done = set(args.size)
    # each kept size carries the date and the machine it was measured on (run.py shows both beside it)
    kept = [dict(e, measured=e.get("measured", old.get("date")), machine=e.get("machine", old.get("machine")))
            for e in old.get("sizes", [])]
    return [e for e in kept + old.get("earlier_sizes", []) if e["size"] not in done]


def print_summary(summary: dict) -> None:
    print(f"\n{'size':>6} {'floor s':>8} {'recipe s':>9} {'tile s':>7} {'ratio':>6} {'cpu ratio':>9} {'RSS GB':>7}"
          f"   (medians of {summary['repeat']}, {summary['dates']} dates)")
    for e in summary["sizes"]:
        m = e["median"]
        print(f"{e['size']:>6} {m['floor']['wall_s']:8.1f} {m['recipe']['wall_s']:9.1f} {m['recipe']['tile_s']:7.1f} "
              f"{e['ratio']:6.2f} {e['cpu_ratio']:9.2f} {m['recipe']['peak_rss_gb']:7.2f}")
    ex = summary["exponent"]
    if ex["recipe_wall"] is not None:
        print(f"cost ~ pixels^b: floor b = {ex['floor_wall']:.2f}, recipe b = {ex['recipe_wall']:.2f} "
              f"(its tile alone {ex['recipe_tile']:.2f}), recipe peak RSS b = {ex['recipe_peak_rss']:.2f}")
    goals = summary["goals"]
    print(f"goal ratio <= {GOAL_RATIO}: {'met' if goals['ratio_met'] else 'MISSED'}; "
          f"goal peak RSS <= {GOAL_RSS_GB} GB at 2048² x 36 dates: "
          + ("not measured (run --size 2048 --dates 36)" if goals["rss_met"] is None else
             "met" if goals["rss_met"] else "MISSED"))
    for line in goals["missed"]:
        print(f"MISSED: {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs="+", default=[1024, 2048], help="Tile sides in pixels.")
    parser.add_argument("--dates", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generate-max", type=int, default=2048,
                        help="Larger tiles are laid out from copies of a generated tile of this side (input datasets "
                             "of this size, k x k per date, as when output tiles are larger than the input granules).")
    parser.add_argument("--block", type=int, default=512, help="Block side of the floor's reads (the recipe's is fixed).")
    parser.add_argument("--profile", type=Path, default=None,
                        help="Directory for a py-spy profile (collapsed stacks) of one more recipe run per size.")
    parser.add_argument("--read-floor", type=Path, default=None, help=argparse.SUPPRESS)  # the floor's child process
    args = parser.parse_args()
    if args.read_floor is not None:
        return read_floor(args.read_floor, args.block)

    import datetime as dt

    from antares.config import load_settings
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database
    from antares.pipeline.recipe import BLOCK

    if args.block != BLOCK:
        print(f"warning: apply_recipe reads in blocks of {BLOCK} pixels (antares.pipeline.recipe.BLOCK); "
              f"the floor reads in blocks of {args.block}")
    dates = [dt.date(2021, 1, 3) + dt.timedelta(days=10 * i) for i in range(args.dates)]
    tmp = Path(tempfile.mkdtemp(prefix="antares-bench-recipe-"))
    side = max(args.size)
    need = side ** 2 * (args.dates * (2 * len(BANDS) + 1) + 4 * 16 * 2)  # inputs (~raw size, overviews included) + outputs
    free = shutil.disk_usage(tmp).free
    if free < need:
        shutil.rmtree(tmp)
        raise SystemExit(f"not enough free disk under {tmp.parent}: {free / 2**30:.1f} GB free, about "
                         f"{need / 2**30:.1f} GB needed for --size {side}; set TMPDIR to a larger disk.")
    cluster = LocalCluster(tmp / "home")
    cluster.start()
    results = []
    try:
        url = cluster.url()
        settings = load_settings(flags={"db_url": url, "home": str(tmp / "home")}, environ={})
        init_database(settings)
        env = {**os.environ, "ANTARES_DB_URL": url, "ANTARES_HOME": str(tmp / "home")}
        recipe = bench_recipe(tmp)
        print(f"recipe loops compiled or loaded from numba's cache in {compile_loops(recipe):.1f} s (not measured)")
        for size in args.size:
            results.append(bench_size(size, args, dates, tmp, env, settings, recipe))
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = summarise(results, args)
    summary["earlier_sizes"] = earlier_sizes(HERE / "results" / "recipe.json", args)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "recipe.json").write_text(json.dumps(summary, indent=2))
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
