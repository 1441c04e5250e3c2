"""Where a time-series recipe's time goes, phase by phase, on one 512-pixel block (issue 18, docs/timeseries.md).

On inputs written by ``synthetic.write_inputs`` (36 dates; ``benchmarks/timeseries.py --inputs``), one block of
B02 B03 B04 B8A (uint16 DN, scale 1e-4) and SCL (SCL mask, dilation 1) is read as the recipe reads it, then
each phase of the ``steps:`` engine is timed alone, in this process (wall and CPU seconds, median of
``--repeat``), with the engine's loops (``new``) and the route they replaced (``old``, measured in the same run):

  read       rasterio windows of the five measurements x 36 dates (the read-only floor of the block)
  mask       clear_numpy of SCL (the mask with its dilation)
  composite  old: DN -> float32 reflectance arrays, masked, then the median per step and variable;
             new: the median per step straight from the DN (antares.timeseries.median_composites)
  gapfill    linear gap filling of the four composites (regularise without smoothing)
  whittaker  lambda 1 and V-curve: old = gapfill_linear + whittaker / vcurve_lambda (float64, transposed);
             new = regularise_variables' one pass over the four variables (antares._timeseries_kernels)
  *_before   the compiled loops of git revision --before (default 01d1778^, the per-pixel loops: one pass per
             pixel and variable, scalar), loaded from that revision's antares/_timeseries_kernels.py and called
             as that revision called them, on the same arrays: the kernels' own gain, measured in the same run
  write      one step's outputs of the block (4 variables, clear_count, filled): old = 6 single-band float32
             COGs (DEFLATE, overviews, read back); new = one 4-band float32 COG + one 2-band uint16 QA COG
             (ZSTD 1, no overviews, read back; antares.cube.write.write_cog_bands). A tile writes 12 steps.

    python benchmarks/timeseries_phases.py --inputs DIR/inputs_1024 [--repeat 3] [--threads 1] [--before REV]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

BANDS = ["B02", "B03", "B04", "B8A"]
KEEP = [2, 4, 5, 6, 7, 11]


def timed(fn, repeat: int) -> dict:
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


def kernels_at(rev: str):
    """The module antares/_timeseries_kernels.py of git revision ``rev``, imported from a temporary file."""
    import importlib.util
    import subprocess

    text = subprocess.run(["git", "-C", str(HERE.parent), "show", f"{rev}:antares/_timeseries_kernels.py"],
                          check=True, capture_output=True, text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="antares-kernels-before-"))
    path = folder / "_timeseries_kernels_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("_timeseries_kernels_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")  # as the antares command (before numpy is imported)
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    from antares._timeseries_kernels import use_threads
    from antares.pipeline.timeseries_blocks import reflectance
    from antares.recipes.blockwise import Conversion
    from antares.recipes.masks import clear_numpy
    from antares.recipes.specs import MaskSpec
    from antares.timeseries import (
        composite, gapfill_linear, median_composites, regularise, regularise_variables, step_calendar, step_centres_days,
        step_index, vcurve_lambda, whittaker,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=Path, required=True)
    parser.add_argument("--block", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--before", default="01d1778^", help="git revision of the kernels compared (*_before)")
    args = parser.parse_args()
    before = kernels_at(args.before)
    threads = use_threads(args.threads)
    folders = sorted(p for p in args.inputs.iterdir() if p.is_dir())
    times = np.array([np.datetime64(p.name[-10:], "ns") for p in folders])
    steps = step_calendar("2021-01-01", "2021-12-31", "1M")
    which = step_index(times, steps)
    b = args.block
    window = Window(0, 0, b, b)

    def read():
        out = {}
        for band in BANDS + ["SCL"]:
            arrays = []
            for folder in folders:
                with rasterio.open(folder / f"{band}.tif") as src:
                    arrays.append(src.read(1, window=window))
            out[band] = np.stack(arrays)
        return out

    raw = read()
    spec = MaskSpec(kind="scl", alias="scl", keep=tuple(KEEP), dilate=1)
    nt = len(folders)
    offset, scale = np.zeros(nt, np.float32), np.full(nt, 1e-4, np.float32)
    conv = Conversion(True, offset, scale, 0)

    def valid_mask():
        valid = np.ascontiguousarray(clear_numpy(raw["SCL"], spec))
        for band in BANDS:
            valid &= raw[band] != 0
        return valid

    valid = valid_mask()

    def composite_old():
        values = {band: reflectance(raw[band], conv, band) for band in BANDS}
        ok = valid.copy()
        for v in values.values():
            ok &= ~np.isnan(v)
            v[~ok] = np.nan
        return composite(values, ok, which, len(steps), "median")

    def composite_new():
        return median_composites({band: raw[band] for band in BANDS}, valid, which, len(steps),
                                 {band: (offset, scale) for band in BANDS})

    import antares._timeseries_kernels as kernels

    def composite_before():  # median_composites with the revision's step_medians
        current = kernels.step_medians
        kernels.step_medians = before.step_medians
        try:
            return composite_new()
        finally:
            kernels.step_medians = current

    comps, counts = composite_new()
    before_comps, _ = composite_before()
    assert all(np.array_equal(comps[k], before_comps[k], equal_nan=True) for k in BANDS)
    old_comps, old_counts = composite_old()
    assert all(np.array_equal(comps[k], old_comps[k], equal_nan=True) for k in BANDS) and np.array_equal(counts, old_counts)
    t = step_centres_days(steps)

    def smooth_old(lam):
        for band in BANDS:
            y = comps[band]
            filled, flag = gapfill_linear(y, t)
            w = (~np.isnan(y)).astype(np.float64)
            z = whittaker(y, w, vcurve_lambda(y, w) if lam == "vcurve" else lam)
            del filled, flag, z

    def smooth_new(lam):
        return regularise_variables({band: comps[band] for band in BANDS}, counts, t, "linear", lam)

    def smooth_before(lam):  # the revision's regularise: one regularise_pixels pass per variable
        from antares.timeseries import VCURVE_LOG10, _penalty_bands

        vcurve = lam == "vcurve"
        grid = np.asarray(VCURVE_LOG10 if vcurve else (), np.float64)
        n = len(steps)
        pen = _penalty_bands(n, 2) if lam is not None else np.zeros((3, n))
        out = {}
        for band in BANDS:
            o = np.empty(comps[band].shape, np.float32)
            f = np.empty(comps[band].shape, np.uint8)
            before.regularise_pixels(comps[band].reshape(n, -1), np.zeros((n, 1), np.int32), t, lam is not None,
                                     1.0 if lam is None or vcurve else float(lam), False, vcurve, grid, pen, 2,
                                     o.reshape(n, -1), f.reshape(n, -1))
            out[band] = o, f
        return out

    for lam in (None, 1.0, "vcurve"):  # the same values, bit for bit
        new_series, new_flags = smooth_new(lam)
        for band, (o, f) in smooth_before(lam).items():
            assert np.array_equal(o.view(np.uint32), new_series[band].view(np.uint32)) and np.array_equal(f, new_flags[band])

    series = {band: regularise(comps[band], counts, t, "linear", 1.0) for band in BANDS}
    flag = series["B04"][1]
    qa = {"clear_count": counts.astype(np.float32), "filled": np.where(flag == 255, np.nan, flag).astype(np.float32)}
    tmp = Path(tempfile.mkdtemp(prefix="antares-bench-phases-"))
    from odc.geo.geobox import GeoBox

    geobox = GeoBox.from_bbox((400000, 5000000, 400000 + 20 * b, 5000000 + 20 * b), "EPSG:32634", resolution=20)
    k = 5  # one step

    def write_old():
        from antares.cube.warp import xr_from_array
        from antares.cube.write import write_cog

        for band in BANDS:
            write_cog(xr_from_array(series[band][0][k], geobox), tmp / f"step_{band}.tif", nodata=float("nan"),
                      resampling="average")
        for name, values in qa.items():
            write_cog(xr_from_array(values[k], geobox), tmp / f"step_{name}.tif", nodata=float("nan"),
                      resampling="nearest")

    def write_new():
        from antares.cube.write import write_cog_bands
        from antares.recipes.specs import stored_uint16

        write_cog_bands([series[band][0][k] for band in BANDS], geobox, tmp / "step.tif", float("nan"))
        write_cog_bands([stored_uint16(values[k], 65535, name) for name, values in qa.items()], geobox,
                        tmp / "step_qa.tif", 65535)

    r = args.repeat
    phases = {
        "read": timed(read, r),
        "mask": timed(valid_mask, r),
        "composite_old": timed(composite_old, r),
        "composite_before": timed(composite_before, r),
        "composite_new": timed(composite_new, r),
        "gapfill_before": timed(lambda: smooth_before(None), r),
        "gapfill_new": timed(lambda: smooth_new(None), r),
        "whittaker_l1_old": timed(lambda: smooth_old(1.0), r),
        "whittaker_l1_before": timed(lambda: smooth_before(1.0), r),
        "whittaker_l1_new": timed(lambda: smooth_new(1.0), r),
        "whittaker_vcurve_old": timed(lambda: smooth_old("vcurve"), r),
        "whittaker_vcurve_before": timed(lambda: smooth_before("vcurve"), r),
        "whittaker_vcurve_new": timed(lambda: smooth_new("vcurve"), r),
        "write_step_old": timed(write_old, r),
        "write_step_new": timed(write_new, r),
    }
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    summary = {"benchmark": f"time-series phases on one {b}x{b} block, {nt} dates x 4 bands, 12 monthly steps "
                            "(median of the repeats; old = the route replaced, measured in the same run)",
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "load": os.getloadavg()[0],
               "threads": threads, "repeat": r, "before": args.before, "phases": phases}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "timeseries_phases.json").write_text(json.dumps(summary, indent=2))
    for name, p in phases.items():
        print(f"{name:22s} wall {p['wall_s']:7.3f} s   cpu {p['cpu_s']:7.3f} s")
    print(f"load {summary['load']:.1f}, {threads} thread(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
