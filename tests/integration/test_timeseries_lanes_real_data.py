"""The vectorised Whittaker loops on real series: Romania NDVI (all 10 000 pixels, 140 dates), monthly and 10-day
steps, V-curve and λ = 1: bit for bit the per-pixel loops they replaced (tests/unit/test_timeseries_lanes.py), so
every pixel's V-curve λ is the 21-point grid's, as before."""

import sys
from pathlib import Path

import numpy as np
import pytest

from antares.timeseries import composite, regularise_variables, step_calendar, step_centres_days, step_index

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from timeseries_withheld import read  # noqa: E402  (the benchmark's reading of the Romania NDVI)
from unit.test_timeseries_lanes import reference  # noqa: E402


@pytest.mark.parametrize("every", ["1M", "10D"])
@pytest.mark.parametrize("lam", ["vcurve", 1.0])
def test_romania_ndvi_series_equal_the_per_pixel_loops(data_dir, every, lam):
    days, ndvi = read(data_dir / "nrt-romania-s2l2a" / "geotiff" / "10m")
    steps = step_calendar("2016-01-01", "2020-12-31", every)
    comps, counts = composite({"ndvi": ndvi}, np.isfinite(ndvi), step_index(days, steps), len(steps), "median")
    t = step_centres_days(steps)
    y = comps["ndvi"]
    series, flags = regularise_variables({"ndvi": y}, counts, t, "linear", lam, 2)
    want, want_flag = reference(y.reshape(1, len(steps), -1), counts.reshape(len(steps), -1), t, lam, "clear")
    got = series["ndvi"].reshape(len(steps), -1)
    assert got.shape[1] == 10_000 and np.isfinite(got).mean() > 0.99
    assert np.array_equal(got.view(np.uint32), want[0].view(np.uint32))  # every pixel, bit for bit
    assert np.array_equal(flags["ndvi"].reshape(len(steps), -1), want_flag[0])
