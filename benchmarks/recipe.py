"""Benchmark: ``antares apply_recipe`` against the read-only floor (issue #4: ratio <= 1.3, <= 4 GB at 2048² x 36 dates).

For each ``--size``, synthetic Sentinel-2 L2A inputs for one tile of SIZE x SIZE pixels at 20 m in
EPSG:32634 are written as tiled DEFLATE COGs, one folder per date (``<YYYY-MM-DD>/<band>.tif``:
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

    python benchmarks/recipe.py [--size 1024 2048] [--dates 36] [--repeat 3] [--block 512] [--profile DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRS = "EPSG:32634"
RES = 20
X0, Y0 = 400000.0, 5000000.0  # lower-left corner of the tile: the grid origin
BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12"]
GOAL_RATIO, GOAL_RSS_GB = 1.3, 4.0
# Reflectance x 10000 per band (BANDS order): bare soil, green crop/grass canopy, forest canopy, water, built-up.
SOIL = [900, 1150, 1400, 1600, 1800, 1950, 2100, 2900, 2300]
GREEN = [250, 550, 250, 900, 2600, 3300, 3700, 1800, 800]
FOREST = [200, 400, 200, 650, 2100, 2700, 3000, 1350, 550]
WATER = [650, 550, 350, 280, 230, 210, 190, 90, 70]
URBAN = [1100, 1200, 1300, 1400, 1500, 1600, 1700, 2300, 2000]
CLOUD_SHAPE = [1.0, 1.0, 1.0, 1.0, 1.0, 0.98, 0.97, 0.8, 0.65]
WATER_, FOREST_, CROP_, GRASS_, URBAN_ = range(5)


# ---------------------------------------------------------------------------- synthetic inputs
def smooth_field(rng, shape, octaves):
    """Fractal noise, (y, x) float32 with unit variance: random grids of ``cell`` pixels, spline-upsampled and summed."""
    import numpy as np
    from scipy import ndimage

    ny, nx = shape
    out = np.zeros(shape, np.float32)
    for cell, weight in octaves:
        coarse = rng.standard_normal((ny // cell + 4, nx // cell + 4)).astype(np.float32)
        up = ndimage.zoom(coarse, cell, order=3, prefilter=False)
        out += weight * up[cell:cell + ny, cell:cell + nx]
    return out / out.std()


def landscape(size: int, seed: int) -> dict:
    """The static scene: land-cover class per pixel, crop parcels with their phenology, texture."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (size, size)
    octaves = [(192, 1.0), (48, 0.35), (12, 0.1)]
    bias = [-0.7, 0.1, 0.4, 0.0, -0.5]  # water, forest, crop, grass, urban: crops dominate, a little water
    fields = np.stack([smooth_field(rng, shape, octaves) + b for b in bias])
    classes = fields.argmax(axis=0).astype(np.uint8)
    rows = np.cumsum(rng.integers(10, 40, size))  # irregular parcel grid, 200-800 m
    cols = np.cumsum(rng.integers(10, 40, size))
    ry, rx = np.searchsorted(rows, np.arange(size), side="right"), np.searchsorted(cols, np.arange(size), side="right")
    parcel = (ry[:, None] * (rx.max() + 1) + rx[None, :]).astype(np.int32)
    n = int(parcel.max()) + 1
    return {"classes": classes, "parcel": parcel, "peak": rng.uniform(110, 250, n), "width": rng.uniform(20, 50, n),
            "gmax": rng.uniform(0.5, 1.0, n), "texture": 1 + 0.06 * smooth_field(rng, shape, [(6, 1.0), (2, 0.5)])}


def greenness(scene: dict, doy: int):
    """Green canopy fraction 0..1 per pixel on day of year ``doy``."""
    import numpy as np

    season = 0.5 * (1 - np.cos(2 * np.pi * (doy - 20) / 365))  # 0 in January, 1 in July
    crop = scene["gmax"] * np.exp(-0.5 * ((doy - scene["peak"]) / scene["width"]) ** 2)
    per_class = np.array([0.0, 0.7 + 0.25 * season, 0.0, 0.25 + 0.5 * season, 0.0], np.float32)
    g = per_class[scene["classes"]]
    is_crop = scene["classes"] == CROP_
    g[is_crop] = crop[scene["parcel"][is_crop]]
    return g


def scene_for_date(scene: dict, day: int, index: int, seed: int) -> dict:
    """Bands (uint16 DN, nodata 0) and SCL (uint8) of one date."""
    import numpy as np

    rng = np.random.default_rng((seed, index))
    classes, shape = scene["classes"], scene["classes"].shape
    g = greenness(scene, day)
    spectra = {name: np.array(v, np.float32)[:, None, None] for name, v in
               (("soil", SOIL), ("green", GREEN), ("forest", FOREST), ("water", WATER), ("urban", URBAN))}
    bands = (1 - g) * spectra["soil"] + g * spectra["green"]
    forest = classes == FOREST_
    bands[:, forest] = ((1 - g[forest]) * 0.7 * spectra["soil"][:, :, 0] + g[forest] * spectra["forest"][:, :, 0])
    bands[:, classes == WATER_] = spectra["water"][:, :, 0]
    bands[:, classes == URBAN_] = spectra["urban"][:, :, 0]
    bands *= scene["texture"]
    bands += np.linspace(rng.uniform(0, 150), 0, len(BANDS), dtype=np.float32)[:, None, None]  # haze
    bands *= 1 + 0.02 * rng.standard_normal(bands.shape, dtype=np.float32)  # sensor noise
    scl = np.where(classes == WATER_, 6, np.where((classes == URBAN_) | (g < 0.25), 5, 4)).astype(np.uint8)
    speckle = rng.random(shape, dtype=np.float32)
    scl[speckle < 0.01] = 7
    scl[speckle > 0.995] = 2
    cover = float(np.clip(rng.beta(1.1, 2.9), 0, 0.95))  # mean ~0.28; some dates almost clear
    if cover > 0.01:
        field = smooth_field(rng, shape, [(96, 1.0), (24, 0.4), (6, 0.15)])
        sample = field[::8, ::8]
        edge, core = np.quantile(sample, [1 - cover, 1 - 0.6 * cover])
        cloud = field > edge
        cirrus = (field > edge - 0.15) & ~cloud
        shift = (int(rng.integers(20, 40)), -int(rng.integers(15, 35)))
        shadow = np.roll(cloud, shift, axis=(0, 1)) & ~cloud & ~cirrus
        bright = 3500 + 4500 * np.clip((field - edge) / (field.max() - edge + 1e-6), 0, 1)
        bands[:, cloud] = bright[cloud] * np.array(CLOUD_SHAPE, np.float32)[:, None]
        bands[:, cirrus] += 600
        bands[:, shadow] *= 0.35
        scl[shadow], scl[cirrus], scl[cloud] = 3, 10, 8
        scl[field > core] = 9
    dn = np.clip(bands, 1, 65535).astype(np.uint16)
    if index % 7 == 3:  # swath edge: nodata in a corner
        yy, xx = np.indices(shape)
        outside = xx + 0.4 * yy > 0.8 * shape[1]
        dn[:, outside], scl[outside] = 0, 0
    return {**{b: dn[i] for i, b in enumerate(BANDS)}, "SCL": scl}


def write_cog(path: Path, array, nodata: int, resampling: str) -> None:
    """A tiled (512) DEFLATE COG with overviews on the benchmark tile's grid."""
    import rasterio
    from rasterio.transform import from_origin

    size = array.shape[0]
    profile = {"driver": "COG", "width": size, "height": size, "count": 1, "dtype": array.dtype.name, "crs": CRS,
               "transform": from_origin(X0, Y0 + size * RES, RES, RES), "nodata": nodata, "compress": "DEFLATE",
               "predictor": 2, "blocksize": 512, "overview_resampling": resampling}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


_SCENE: dict = {}


def _init_worker(scene: dict) -> None:
    _SCENE.update(scene)


def _write_date(task) -> int:
    folder, day, index, seed = task
    folder.mkdir(parents=True, exist_ok=True)
    for band, array in scene_for_date(_SCENE, day, index, seed).items():
        write_cog(folder / f"{band}.tif", array, 0, "nearest" if band == "SCL" else "average")
    return index


def write_inputs(root: Path, size: int, dates: list, seed: int = 4) -> None:
    """Write one folder of COGs per date under ``root`` (in parallel over the machine's cores)."""
    from concurrent.futures import ProcessPoolExecutor

    scene = landscape(size, seed)
    tasks = [(root / d.isoformat(), d.timetuple().tm_yday, i, seed) for i, d in enumerate(dates)]
    with ProcessPoolExecutor(max_workers=min(os.cpu_count() or 1, 4), initializer=_init_worker,
                             initargs=(scene,)) as pool:
        list(pool.map(_write_date, tasks))


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


# ---------------------------------------------------------------------------- measuring
# Runs the command given after it and writes its wall time and resource usage to the JSON file named first.
# A small fresh interpreter starts it, because on Linux a child's ru_maxrss counts the memory of the
# process it was forked from until exec: forked from this (large) process, the floor would read ~0.25 GB.
LAUNCHER = """import json, os, sys, time
t = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t
json.dump({"wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "maxrss_kb": ru.ru_maxrss}, open(sys.argv[1], "w"))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measured(cmd: list, env: dict, log: Path) -> dict:
    """Run ``cmd`` in a fresh process: its wall and CPU seconds, peak RSS (GB) and the load average around it.

    Raises
    ------
    SystemExit
        The command failed (the end of its output is shown).
    """
    stats = log.with_suffix(".json")
    load = os.getloadavg()[0]
    with open(log, "w") as out:
        proc = subprocess.run([sys.executable, "-I", "-c", LAUNCHER, str(stats), *map(str, cmd)], env={k: str(v) for k, v in env.items()},
                              stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-5:]
        raise SystemExit(f"{' '.join(map(str, cmd[:3]))} ... failed (exit {proc.returncode}):\n" + "\n".join(tail))
    ru = json.loads(stats.read_text())
    return {"wall_s": ru["wall_s"], "cpu_s": ru["user_s"] + ru["sys_s"], "sys_s": ru["sys_s"],
            "peak_rss_gb": ru["maxrss_kb"] / 2**20, "load_before": load, "load_after": os.getloadavg()[0]}


def bench_recipe(tmp: Path) -> Path:
    """s2_20m_002 without terrain (needs no DEM), written as a YAML file."""
    import yaml

    recipe = yaml.safe_load((HERE.parent / "recipes" / "s2_20m_002.yaml").read_text())
    layers = set(recipe.pop("terrain")["layers"])
    recipe["outputs"] = [o for o in recipe["outputs"] if o not in layers]
    recipe["description"] = "s2_20m_002 without terrain (benchmarks/recipe.py)"
    path = tmp / "s2_20m_002_noterrain.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def compile_loops(recipe_path: Path) -> float:
    """Compile the recipe's numba loops once for the benchmark's dtypes; numba caches them on disk.

    As after any first use of apply_recipe on a machine: the measured runs load the cached loops
    (their loading is measured), they do not compile them. Returns the seconds it took.
    """
    import numpy as np

    from antares.recipes import load_recipe
    from antares.recipes.blockwise import BlockRecipe

    t0 = time.perf_counter()
    recipe = load_recipe(str(recipe_path))
    engine = BlockRecipe(recipe, {alias: alias for alias in recipe.required})
    engine.warm_up({alias: np.dtype("uint16") for alias in recipe.measurements}, np.dtype("uint8"))
    return time.perf_counter() - t0


def tile_seconds(settings, name: str) -> float | None:
    """The worker-side time of the run's tile (load + compute + write), from the run records."""
    import sqlalchemy as sa

    from antares.db.engine import session_scope
    from antares.db.schema import Run, RunTile

    with session_scope(settings) as session:
        return session.scalar(sa.select(RunTile.seconds).join(Run, Run.id == RunTile.run_id)
                              .where(Run.name == name).order_by(Run.id.desc()).limit(1))


def slope(sizes: list, values: list) -> float | None:
    """Exponent b of value ~ pixels^b (least squares in log-log)."""
    import numpy as np

    if len(sizes) < 2:
        return None
    return float(np.polyfit(np.log(np.square(sizes, dtype=float)), np.log(values), 1)[0])


def versions() -> dict:
    import importlib.metadata as md

    import rasterio

    out = {"python": platform.python_version(), "gdal": rasterio.__gdal_version__}
    for pkg in ("antares", "datacube", "odc-geo", "rasterio", "numpy", "xarray", "dask"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gb": round(mem, 1), "platform": platform.platform()}


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
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "recipe.json").write_text(json.dumps(summary, indent=2))
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
