"""Labelled series as raw float32 buffers (one per sample) and back; the requests of stored series sets."""

import struct

import numpy as np
import pytest

from antares.deep.data import SensorSeries
from antares.deep.series_buffers import layout_dates, pack_series, sample_size, unpack_series
from antares.errors import InvalidInputError, UsageError


def _sets(n=7, seed=0):
    rng = np.random.default_rng(seed)
    s2 = rng.normal(size=(n, 5, 3, 2)).astype(np.float32)
    s2[1, 2, 0, 1] = np.nan  # NaN survives
    s1 = rng.normal(size=(n, 4, 2, 1)).astype(np.float32)
    return {"s2": SensorSeries(s2, [3, 40, 70, 101, 130], ["B02", "B03", "B04"]),
            "s1": SensorSeries(s1, [5, 35, 65, 95], ["VH", "VV"])}


def test_round_trip_is_bit_exact_and_buffers_follow_the_documented_layout():
    sets = _sets()
    layout, buffers = pack_series(sets, "2017-01-01")
    assert len(buffers) == 7 and all(len(b) == 5 * 3 * 2 * 4 + 4 * 2 * 1 * 4 == sample_size(layout) for b in buffers)
    # independently: the k-th float of sample i, read with struct as little-endian float32
    floats = struct.unpack("<" + "f" * (len(buffers[1]) // 4), buffers[1])
    t, c, s = 2, 0, 1
    assert np.isnan(floats[(t * 3 + c) * 2 + s]) and np.isnan(sets["s2"].values[1, t, c, s])
    t, c = 3, 1  # s1 values follow the 30 of s2
    assert floats[30 + t * 2 + c] == sets["s1"].values[1, t, c, 0]
    back = unpack_series(layout, buffers)
    assert list(back) == ["s2", "s1"]
    for sensor, series in sets.items():
        assert back[sensor].channels == series.channels and back[sensor].values.dtype == np.float32
        np.testing.assert_array_equal(back[sensor].days, series.days)
        np.testing.assert_array_equal(back[sensor].values, series.values)  # NaN where NaN


def test_layout_dates_are_the_origin_plus_days():
    layout, _ = pack_series(_sets(), "2016-01-01")
    dates = layout_dates(layout)
    assert dates["s2"][0] == "2016-01-04" and dates["s2"][3] == str(np.datetime64("2016-01-01") + 101)
    assert layout_dates(pack_series(_sets(), None)[0]) == {}


def test_damaged_buffers_and_other_dtypes_are_refused():
    layout, buffers = pack_series(_sets(), "2016-01-01")
    with pytest.raises(InvalidInputError, match="sample 2 holds 100 bytes; its layout needs 152"):
        unpack_series(layout, buffers[:2] + [buffers[2][:100]] + buffers[3:])
    with pytest.raises(InvalidInputError, match="dtype '<f8'"):
        unpack_series(dict(layout, dtype="<f8"), buffers)
    with pytest.raises(InvalidInputError, match="different numbers of samples: s2 7, s1 3"):
        pack_series({"s2": _sets()["s2"], "s1": _sets(3)["s1"]})
    with pytest.raises(InvalidInputError, match="no sensor"):
        pack_series({})


def test_series_set_request_needs_a_label_or_a_mapping_and_valid_names():
    from antares.pipeline.series_requests import SeriesSetRequest

    assert SeriesSetRequest("crops", "t.parquet", "label").scheme is None
    assert SeriesSetRequest("crops", "t.csv", None, mapping="m.yaml").mapping == "m.yaml"
    with pytest.raises(UsageError, match="^label .* needed unless a mapping names it"):
        SeriesSetRequest("crops", "t.parquet")
    with pytest.raises(UsageError, match="^name "):
        SeriesSetRequest("no spaces", "t.parquet", "label")
    with pytest.raises(UsageError, match="^scheme "):
        SeriesSetRequest("crops", "t.parquet", "label", scheme="../x")


def test_fit_request_takes_a_table_or_a_stored_training_set():
    from antares.pipeline.series_requests import TimeSeriesFitRequest

    stored = TimeSeriesFitRequest("m", None, None, "tempcnn", ["s2"], training="crops", device="cpu")
    assert stored.training == "crops" and stored.path is None
    with pytest.raises(UsageError, match="either path .* or training"):
        TimeSeriesFitRequest("m", "t.parquet", "label", "tempcnn", ["s2"], training="crops")
    with pytest.raises(UsageError, match="either path .* or training"):
        TimeSeriesFitRequest("m", None, "label", "tempcnn", ["s2"])
    with pytest.raises(UsageError, match="^label and mapping are for a table path"):
        TimeSeriesFitRequest("m", None, "label", "tempcnn", ["s2"], training="crops")
