"""Synthetic Sentinel-2 L2A inputs shared by the benchmarks, and how the benchmarks measure.

:func:`write_inputs` writes one tile of SIZE x SIZE pixels at 20 m in EPSG:32634 as tiled DEFLATE
COGs, one folder per date (``[<tile>_]<YYYY-MM-DD>/<band>.tif``: B02 B03 B04 B05 B06 B07 B8A B11
B12 as uint16 DN, nodata 0, and SCL), ready for ``antares index --dataset_name s2_bands``. The
scene is a few land-cover types as spatially coherent patches (crop parcels with their own
phenology, forest, grassland, water, built-up) plus sensor noise; each date has its own cloud
blobs (a smoothed random field thresholded, ~30 % cloudy on average), cirrus fringes, shadows
beside the clouds, and some dates a swath edge of nodata. :func:`replicate` lays copies of a
tile side by side into a region of several tiles; :func:`write_reference` writes the scene's
land-cover classes as a reference raster for ``ingest_training_from_raster``.

:func:`measured` runs a command in a fresh process and returns its wall and CPU seconds and
peak RSS; :func:`exponent` fits cost ~ pixels^b.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRS = "EPSG:32634"
RES = 20
X0, Y0 = 400000.0, 5000000.0  # lower-left corner of the tile: the grid origin
BANDS = ["B02", "B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12"]
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


def write_cog(path: Path, array, nodata: int, resampling: str, origin: tuple = (X0, Y0)) -> None:
    """A tiled (512) DEFLATE COG with overviews; ``origin`` is the lower-left corner (EPSG:32634 metres)."""
    import rasterio
    from rasterio.transform import from_origin

    size = array.shape[0]
    profile = {"driver": "COG", "width": size, "height": size, "count": 1, "dtype": array.dtype.name, "crs": CRS,
               "transform": from_origin(origin[0], origin[1] + size * RES, RES, RES), "nodata": nodata, "compress": "DEFLATE",
               "predictor": 2, "blocksize": 512, "overview_resampling": resampling}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)


_SCENE: dict = {}


def _init_worker(scene: dict) -> None:
    _SCENE.update(scene)


def _write_date(task) -> int:
    folder, day, index, seed, origin = task
    folder.mkdir(parents=True, exist_ok=True)
    for band, array in scene_for_date(_SCENE, day, index, seed).items():
        write_cog(folder / f"{band}.tif", array, 0, "nearest" if band == "SCL" else "average", origin)
    return index


def date_folder(date, tile: str | None = None) -> str:
    """``2021-01-03`` or, with a tile code, ``T34AAA_2021-01-03`` (both read by s2_bands' default pattern)."""
    return f"{tile}_{date.isoformat()}" if tile else date.isoformat()


def write_inputs(root: Path, size: int, dates: list, seed: int = 4, tile: str | None = None,
                 origin: tuple = (X0, Y0)) -> dict:
    """Write one folder of COGs per date under ``root`` (in parallel over the machine's cores).

    Folders are ``<date>/`` or, with ``tile``, ``<tile>_<date>/``, each holding B02 ... B12 (uint16
    DN, nodata 0) and SCL (uint8), SIZE x SIZE pixels at 20 m in EPSG:32634 with the lower-left
    corner at ``origin``. Returns the static scene (``classes``: land-cover class 0-4 per pixel).
    """
    from concurrent.futures import ProcessPoolExecutor

    scene = landscape(size, seed)
    tasks = [(root / date_folder(d, tile), d.timetuple().tm_yday, i, seed, origin) for i, d in enumerate(dates)]
    with ProcessPoolExecutor(max_workers=min(os.cpu_count() or 1, 4), initializer=_init_worker,
                             initargs=(scene,)) as pool:
        list(pool.map(_write_date, tasks))
    return scene


def tile_code(row: int, col: int) -> str:
    """An MGRS-shaped code (``T34`` + three letters) for the replica at (row, col) of a region."""
    return f"T34{chr(65 + row)}{chr(65 + col)}A"


def replicate(root: Path, tile: str, size: int, rows: int, cols: int) -> list[tuple[int, int]]:
    """Copy the tile ``tile``'s folders under ``root`` to a ROWS x COLS block of tiles, side by side.

    Each copy's files are the original's bytes with the geotransform shifted by whole tiles (set in
    place with rasterio, no re-encoding), in folders named by :func:`tile_code`: a region of
    ROWS x COLS tiles with the same content per tile, so every tile costs the same and the cost of a
    stage can be compared across region sizes. Tile (0, 0) is ``tile`` itself, at the grid origin
    (X0, Y0); rows go north. Returns the (row, col) of every tile of the block.
    """
    import rasterio
    from rasterio.transform import from_origin

    block = [(r, c) for r in range(rows) for c in range(cols)]
    sources = sorted(root.glob(f"{tile}_*/*.tif"))
    for r, c in block:
        code = tile_code(r, c)
        if code == tile:
            continue
        transform = from_origin(X0 + c * size * RES, Y0 + (r + 1) * size * RES, RES, RES)
        for src in sources:
            dst = root / src.parent.name.replace(tile, code, 1) / src.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            with rasterio.open(dst, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
                ds.transform = transform
    return block


def write_reference(path: Path, scene: dict, origin: tuple = (X0, Y0)) -> Path:
    """The scene's land-cover classes as a reference raster (uint8 GeoTIFF, codes 1-5 as LEGEND, nodata 0)."""
    write_cog(path, (scene["classes"] + 1).astype("uint8"), 0, "nearest", origin)
    return path


#: The classes of :func:`landscape` (code = class + 1) as an antares legend CSV.
LEGEND = "code,name,colour\n1,water,#3f7fbf\n2,forest,#1b7a2f\n3,crop,#e6c84c\n4,grassland,#9ed36a\n5,built-up,#c0392b\n"


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


def exponent(pixels: list, values: list) -> float | None:
    """Exponent b of value ~ pixels^b (least squares in log-log); None with fewer than two sizes."""
    import numpy as np

    if len(pixels) < 2 or any(v is None or v <= 0 for v in values):
        return None
    return float(np.polyfit(np.log(np.asarray(pixels, dtype=float)), np.log(values), 1)[0])


def slope(sizes: list, values: list) -> float | None:
    """Exponent b of value ~ pixels^b for tiles of side ``sizes`` (pixels = side²)."""
    return exponent([s * s for s in sizes], values)


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
