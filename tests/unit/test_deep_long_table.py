"""Long-format sample tables (one row per sample and date) with a YAML mapping: arrays, irregular dates, refusals."""

import numpy as np
import pandas as pd
import pytest

from antares.deep.table import read_table
from antares.errors import InvalidInputError

DATES = ["2020-01-10", "2020-02-05", "2020-03-20", "2020-05-01"]
MAPPING = """sample_id: pid
label: crop
date: when
dates: [2020-01-10, 2020-02-05, 2020-03-20, 2020-05-01]
nodata: -9999
channels:
  red: s2/B04
  nir: s2/B08
  vv: s1/VV
"""


def _table(tmp_path, rows, mapping=MAPPING, suffix=".csv"):
    frame = pd.DataFrame(rows, columns=["pid", "crop", "when", "red", "nir", "vv"])
    path = tmp_path / f"long{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    (tmp_path / "map.yaml").write_text(mapping)
    return path, tmp_path / "map.yaml"


# sample b: irregular (3 of the 4 dates, rows out of order); c: one date only, a nodata value
ROWS = [
    ("b", "wheat", "2020-03-20", 30.0, 300.0, -12.0),
    ("a", "maize", "2020-01-10", 1.0, 10.0, -20.0),
    ("a", "maize", "2020-02-05", 2.0, 20.0, -19.0),
    ("b", "wheat", "2020-01-10", 10.0, 100.0, -10.0),
    ("a", "maize", "2020-03-20", 3.0, 30.0, -18.0),
    ("a", "maize", "2020-05-01", 4.0, 40.0, -17.0),
    ("b", "wheat", "2020-05-01", 50.0, 500.0, -15.0),
    ("c", "wheat", "2020-02-05", 7.0, -9999, -11.0),
]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_irregular_dates_filled_as_numpy_interp(tmp_path, suffix):
    path, mapping = _table(tmp_path, ROWS, suffix=suffix)
    table = read_table(path, None, mapping=mapping)
    days = (np.array(DATES, dtype="datetime64[D]") - np.datetime64("2020-01-01")).astype(int)
    assert list(table.ids) == ["b", "a", "c"] and list(table.labels) == ["wheat", "maize", "wheat"]
    s2, s1 = table.sets["s2"], table.sets["s1"]
    assert s2.channels == ("B04", "B08") and s1.channels == ("VV",) and s2.values.shape == (3, 4, 2, 1)
    np.testing.assert_array_equal(s2.days, days)
    # b lacks 2020-02-05: linear interpolation in days between 2020-01-10 (day 9) and 2020-03-20 (day 79)
    expected_b = np.interp(days, days[[0, 2, 3]], [10.0, 30.0, 50.0])
    np.testing.assert_allclose(s2.values[0, :, 0, 0], expected_b, rtol=1e-6)
    np.testing.assert_array_equal(s2.values[1, :, 1, 0], [10, 20, 30, 40])
    np.testing.assert_array_equal(s1.values[1, :, 0, 0], [-20, -19, -18, -17])
    np.testing.assert_array_equal(s2.values[2, :, 0, 0], [7, 7, 7, 7])  # one date: constant beyond the ends
    assert np.isnan(s2.values[2, :, 1, 0]).all()  # its only nir value is nodata: a series without a value


def test_monthly_steps_and_label_flag(tmp_path):
    rows = [(p, "x" if p == "a" else "y", d, 1.0, 2.0, 3.0) for p in "ab" for d in ("2016-12-01", "2017-01-01")]
    mapping = MAPPING.replace("dates: [2020-01-10, 2020-02-05, 2020-03-20, 2020-05-01]", "start: 2016-12-01\nsteps: 3")
    path, mapping = _table(tmp_path, rows, mapping)
    table = read_table(path, "crop", mapping=mapping)
    np.testing.assert_array_equal(table.sets["s2"].days, [335, 366, 397])  # as the wide tables' month_days


@pytest.mark.parametrize("rows, mapping, message", [
    (ROWS + [("a", "maize", "2020-04-01", 1, 1, 1)], MAPPING,
     "sample a has date 2020-04-01, not one of the 4 steps declared in"),
    (ROWS + [("a", "maize", "2020-01-10", 1, 1, 1)], MAPPING, "sample a has two rows for date 2020-01-10"),
    (ROWS + [("a", "wheat", "2020-01-10", 1, 1, 1)], MAPPING, "sample a has labels maize, wheat in 'crop'"),
    (ROWS, MAPPING.replace("nir: s2/B08", "nir: s2/B08\n  swir: s2/B11"), "lacks column(s) swir named in"),
    (ROWS, MAPPING.replace("label: crop", "label: class"), "lacks column(s) class named in"),
    (ROWS, MAPPING.replace("vv: s1/VV", "vv: s3/VV"), "channel column vv maps to 's3/VV'; expected SENSOR/CHANNEL"),
    (ROWS, MAPPING.replace("vv: s1/VV", "vv: s2/B04"), "columns red and vv both map to s2/B04"),
    (ROWS, MAPPING.replace("date: when", "date: when\nstart: 2020-01-01"), "not both or neither"),
    (ROWS, MAPPING.replace("2020-02-05, 2020-03-20", "2020-03-20, 2020-02-05"), "must increase strictly"),
    (ROWS, MAPPING.replace("sample_id: pid\n", "sample_id: pid\ncolour: red\n"), "unknown key(s) colour"),
    (ROWS, MAPPING.replace("date: when\n", ""), "lacks date (the column names"),
    (ROWS, MAPPING.replace("label: crop\n", ""), "names no label column and none was given"),
])
def test_refusals_are_one_line(tmp_path, rows, mapping, message):
    path, mapping = _table(tmp_path, rows, mapping)
    with pytest.raises(InvalidInputError) as caught:
        read_table(path, None, mapping=mapping)
    assert message in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_min_samples_counts_samples_not_rows(tmp_path):
    path, mapping = _table(tmp_path, ROWS)
    table = read_table(path, None, min_samples=2, mapping=mapping)  # maize: 1 sample (4 rows) is left out
    assert list(table.ids) == ["b", "c"] and set(table.labels) == {"wheat"}


def test_fit_timeseries_takes_a_long_table(tmp_path):
    from antares.train import fit_timeseries

    rng = np.random.default_rng(0)
    rows = []
    for i in range(16):
        label = "up" if i % 2 else "down"
        for d, date in enumerate(DATES):
            if rng.random() < 0.25 and d:  # irregular: some dates missing
                continue
            slope = 1 if label == "up" else -1
            rows.append((f"p{i}", label, date, slope * d + rng.normal(0, .1), 5.0, -10.0))
    path, mapping = _table(tmp_path, rows)
    result = fit_timeseries(path, None, "tempcnn", sensors=["s2"], mapping=mapping,
                            params={"epochs": 2, "batch_size": 8, "device": "cpu"})
    table = read_table(path, None, mapping=mapping)
    assert sorted(result.samples_per_class.values()) == [8, 8] and len(result.legend) == 2
    assert result.estimator.predict_proba(table.select(["s2"])).shape == (16, 2)
