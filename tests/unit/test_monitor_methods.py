"""antares.monitor on synthetic series: a planted break is found on its date, blocks equal the whole array,
the minimum history is named, and the date arithmetic agrees with the standard library."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from antares.errors import InvalidInputError, UsageError
from antares.monitor import METHODS, break_year_doy, monitor_array

HISTORY = ("2016-01-01", "2018-12-31")
MONITORING = ("2019-01-01", "2020-12-31")


@pytest.fixture(scope="module")
def series():
    """Seasonal NDVI every 10 days 2016-2020 on 12 x 12 pixels; the left half drops by 0.12 (6 sigma) from 2019-06-01.

    30 % of the observations are cloudy (NaN). A drop beyond EWMA's ``threshold_outlier`` (10 sigma) would be
    skipped as an outlier (a cloud) and never confirmed: nrt's design."""
    rng = np.random.default_rng(7)
    times = np.arange(np.datetime64("2016-01-05"), np.datetime64("2020-12-31"), np.timedelta64(10, "D"))
    doy = (times - times.astype("datetime64[Y]")).astype(int)
    base = 0.6 + 0.2 * np.sin(2 * np.pi * doy / 365.25)
    values = base[:, None, None] + rng.normal(0, 0.02, (times.size, 12, 12))
    after = times >= np.datetime64("2019-06-01")
    values[np.ix_(after, np.arange(12), np.arange(6))] -= 0.12
    values[rng.random(values.shape) < 0.3] = np.nan
    values[:, 11, 11] = np.nan  # never observed
    return values.astype(np.float32), times.astype("datetime64[ns]")


def test_ewma_finds_the_planted_break_after_its_date(series):
    values, times = series
    result = monitor_array(values, times, HISTORY, MONITORING, "ewma", {"sensitivity": 6})
    left, right = result.state[:, :6], result.state[:11, 6:]
    assert (left == 3).all() and (right == 3).mean() < 0.05, result.state  # noise alone: rare false breaks
    dates = np.datetime64("1970-01-01") + result.break_days[:, :6].astype("timedelta64[D]")
    assert (dates >= np.datetime64("2019-06-01")).all() and (dates < np.datetime64("2019-09-01")).all()
    assert (result.magnitude[:, :6] < -0.06).all() and np.isnan(result.magnitude[:11, 6:][right != 3]).all()
    assert result.state[11, 11] == 0 and result.history_count[11, 11] == 0


@pytest.mark.parametrize("method", list(METHODS))
def test_blocks_give_the_whole_arrays_result(series, method):
    values, times = series
    whole = monitor_array(values, times, HISTORY, MONITORING, method)
    for rows in (slice(0, 5), slice(5, 12)):
        part = monitor_array(values[:, rows], times, HISTORY, MONITORING, method)
        assert np.array_equal(part.state, whole.state[rows])
        assert np.array_equal(part.break_days, whole.break_days[rows])
        assert np.array_equal(part.magnitude, whole.magnitude[rows], equal_nan=True)


def test_a_short_history_is_refused_with_the_minimum(series):
    values, times = series
    with pytest.raises(InvalidInputError, match=r"holds 6 date\(s\); ewma with 6 regressors needs at least 9"):
        monitor_array(values, times, ("2016-01-01", "2016-02-28"), MONITORING, "ewma")
    # fewer regressors, fewer observations needed: intercept + 1 harmonic -> 3 regressors, 5 observations
    assert METHODS["iqr"].minimum_observations(METHODS["iqr"].check({"trend": False, "harmonic_order": 1})) == 5
    with pytest.raises(InvalidInputError, match="must begin after"):
        monitor_array(values, times, HISTORY, ("2018-06-01", "2020-12-31"), "ewma")
    with pytest.raises(UsageError, match="valid monitoring methods: ewma, cusum, mosum, ccdc, iqr"):
        monitor_array(values, times, HISTORY, MONITORING, "bfast")
    with pytest.raises(UsageError, match="The 'sensitivity' parameter of ewma must be a float > 0. Got -1"):
        monitor_array(values, times, HISTORY, MONITORING, "ewma", {"sensitivity": -1})


def test_break_year_and_day_of_year_agree_with_datetime():
    days = np.array([0, 1, 17897, 18262, 18627, 19000], np.int32)  # 0: no break; 2019-01-01, 2020-01-01, 2020-12-31
    year, doy = break_year_doy(days)
    assert (year[0], doy[0]) == (0, 0)
    for d, y, n in zip(days[1:], year[1:], doy[1:]):
        date = dt.date(1970, 1, 1) + dt.timedelta(days=int(d))
        assert (y, n) == (date.year, date.timetuple().tm_yday)


def test_object_summary_equals_a_loop_over_objects_and_merges_tiles():
    from antares.monitor import summarise_objects

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 7, (30, 40))
    state = rng.choice([0, 1, 2, 3, 4], (30, 40))
    days = np.where(state == 3, rng.integers(17900, 18600, (30, 40)), 0)
    whole = summarise_objects(labels, state, days)
    assert list(whole.ids) == sorted(set(labels.ravel()) - {0})
    for i, sid in enumerate(whole.ids):
        inside = labels == sid
        assert whole.pixels[i] == inside.sum()
        assert whole.monitored[i] == np.isin(state[inside], [1, 3]).sum()
        assert whole.breaks[i] == (state[inside] == 3).sum()
        assert whole.first_break[i] == (days[inside & (state == 3)].min() if whole.breaks[i] else 0)
    top, bottom = (summarise_objects(labels[r], state[r], days[r]) for r in (slice(0, 13), slice(13, 30)))
    merged = top.merge(bottom)
    for field in ("ids", "pixels", "monitored", "breaks", "first_break"):
        assert np.array_equal(getattr(merged, field), getattr(whole, field)), field
