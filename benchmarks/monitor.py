"""Benchmark: ``antares.monitor.monitor_array`` against ``nrt`` called directly on the same array (issue 20: wrapper <= 1.2x).

Input: the nrt package's real Romania cube (``../shared/data/nrt-romania-s2l2a/original``, 140 dates,
100 x 100 pixels at 10 m), NDVI from float32 reflectance, observations outside SCL 4, 5, 6, 7 set to NaN,
tiled ``--copies`` x ``--copies`` side by side (default 3: 300 x 300 pixels) so that a run is long
enough to time. History 2016-2018, monitoring 2019-2020.

Measured in the same run, ``--repeat`` times each in alternating order after one warm-up each (numba
compiles nrt's loops on first use), medians printed:

  - ``nrt``: the documented loop (``fit`` on the history DataArray, ``monitor`` per monitoring date);
  - ``antares``: :func:`antares.monitor.monitor_array` on the same array (the same loop, plus input checks,
    history counts, the magnitude of each break and the outputs' dtypes);
  - ``antares_blocks``: the same cut in blocks of 256 pixels, as ``monitor_tile`` runs it.

Throughput is pixel-dates per second (pixels x dates of both periods); the ratio antares / nrt is the
wrapper's cost (goal <= 1.2). The break dates of both are checked equal. Results go to
benchmarks/results/monitor.json.

    python benchmarks/monitor.py [--method ewma] [--copies 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
CUBE = HERE.parents[1] / "shared" / "data" / "nrt-romania-s2l2a" / "original" / "sentinel2_cube_subset_romania_10m.nc"
HISTORY = ("2016-01-01", "2018-12-31")
MONITORING = ("2019-01-01", "2020-12-31")


def ndvi_cube(copies: int):
    import xarray as xr

    with xr.open_dataset(CUBE) as ds:
        ds = ds.load()
    scale = np.float32(1e-4)
    red, nir = (np.where(ds[b].values == 0, np.nan, ds[b].values.astype(np.float32) * scale).astype(np.float32)
                for b in ("B4", "B8"))
    with np.errstate(divide="ignore", invalid="ignore"):
        ndvi = ((nir - red) / (nir + red)).astype(np.float32)
    ndvi[~np.isin(ds.SCL.values, [4, 5, 6, 7])] = np.nan
    return np.tile(ndvi, (1, copies, copies)), ds.time.values


def nrt_directly(method, values, times):
    import xarray as xr

    from antares.monitor import split_periods

    values_ok = method.check({})
    history, monitoring = split_periods(times, HISTORY, MONITORING)
    h, w = values.shape[1:]
    array = xr.DataArray(values[history], dims=("time", "y", "x"),
                         coords={"time": times[history], "y": np.arange(h), "x": np.arange(w)})
    model = method.build(values_ok)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(array, **method.fit_kwargs(values_ok))
        for when, layer in zip(times[monitoring], values[monitoring]):
            model.monitor(layer, dt.datetime.fromisoformat(str(when)[:19]))
    return np.where(model.mask == 3, model.detection_date, 0)


def wrapped(method, values, times):
    from antares.monitor import monitor_array

    return monitor_array(values, times, HISTORY, MONITORING, method).break_days


def wrapped_blocks(method, values, times, size=256):
    from antares.monitor import monitor_array

    out = np.zeros(values.shape[1:], np.int32)
    for r in range(0, values.shape[1], size):
        for c in range(0, values.shape[2], size):
            out[r:r + size, c:c + size] = monitor_array(values[:, r:r + size, c:c + size], times, HISTORY, MONITORING,
                                                        method).break_days
    return out


def main() -> None:
    from antares.monitor import METHODS, split_periods

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="ewma", choices=list(METHODS))
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    method = METHODS.get(args.method)
    values, times = ndvi_cube(args.copies)
    history, monitoring = split_periods(times, HISTORY, MONITORING)
    pixel_dates = values.shape[1] * values.shape[2] * int(history.sum() + monitoring.sum())
    runs = {"nrt": nrt_directly, "antares": wrapped, "antares_blocks": wrapped_blocks}
    results = {name: fn(method, values, times) for name, fn in runs.items()}  # warm-up (numba), and the check
    assert all(np.array_equal(results["nrt"], r) for r in results.values()), "break dates differ"
    seconds = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn(method, values, times)
            seconds[name].append(time.perf_counter() - start)
    median = {name: statistics.median(s) for name, s in seconds.items()}
    report = {"method": args.method, "shape": list(values.shape), "pixel_dates": pixel_dates,
              "breaks": int((results["nrt"] > 0).sum()), "seconds": median,
              "pixel_dates_per_s": {name: pixel_dates / s for name, s in median.items()},
              "ratio_antares_to_nrt": median["antares"] / median["nrt"],
              "ratio_blocks_to_nrt": median["antares_blocks"] / median["nrt"], "goal": "ratio <= 1.2",
              "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    for name, s in median.items():
        print(f"{name:15s} {s:8.2f} s  {pixel_dates / s / 1e6:6.2f} M pixel-dates/s")
    print(f"antares / nrt: {report['ratio_antares_to_nrt']:.3f}  (blocks of 256: {report['ratio_blocks_to_nrt']:.3f}; "
          f"goal <= 1.2)  {'MET' if report['ratio_antares_to_nrt'] <= 1.2 else 'MISSED'}; "
          f"{report['breaks']} break(s), identical dates")
    out = HERE / "results" / "monitor.json"
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
