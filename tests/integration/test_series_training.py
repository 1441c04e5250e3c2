"""``ingest_training --timeseries``: labelled series stored in the database, listed, and fitted on (synthetic tables)."""

import numpy as np
import pandas as pd
import pytest

from helpers import db_rows, db_state, invoke_ok

STEPS = 6


def _wide(n=30, seed=0):
    """A WorldCereal-style wide table: S2 B02/B08 and S1 VV uint16 steps, 65535 = nodata, three classes."""
    rng = np.random.default_rng(seed)
    labels = np.array(["maize", "wheat", "beet"])[np.arange(n) % 3]
    columns = {"sample_id": [f"s{i:03d}" for i in range(n)], "crop": labels, "start_date": ["2018-03-15"] * n}
    for t in range(STEPS):
        for band in ("B02", "B08"):
            columns[f"OPTICAL-{band}-ts{t}-10m"] = rng.integers(100, 5000, n).astype(np.uint16)
        columns[f"SAR-VV-ts{t}-20m"] = rng.integers(1000, 20000, n).astype(np.uint16)
    frame = pd.DataFrame(columns)
    frame.loc[2, "OPTICAL-B02-ts3-10m"] = 65535  # a gap, filled in time
    frame.loc[4, "crop"] = None  # unlabelled: left out
    return frame


@pytest.fixture
def wide(tmp_path):
    path = tmp_path / "wide.parquet"
    _wide().to_parquet(path)
    return path


def _env(settings):
    return {"ANTARES_DB_URL": settings.db_url}


def test_ingest_list_read_back_equal_to_the_file(settings, runner, wide):
    from antares.deep.table import read_table
    from antares.pipeline.series_sets import read_series_set

    out = invoke_ok(runner, ["ingest_training", "--timeseries", str(wide), "--field", "crop", "-n", "ts_crops"],
                    _env(settings)).output
    assert "training set ts_crops (time series): 29 sample(s) in 3 class(es) of scheme ts_crops (new)" in out
    assert "s2: 6 date(s) 2018-03-15 .. 2018-08-15, 2 channel(s) (B02, B08), 1 pixel(s) per sample" in out
    stored = read_series_set(settings, "ts_crops")
    table = read_table(wide, "crop")
    assert list(stored.table.ids) == list(table.ids) and list(stored.table.labels) == list(table.labels)
    assert stored.table.origin == table.origin == "2018-01-01" and stored.label == "crop"
    for sensor in ("s1", "s2"):
        a, b = stored.table.sets[sensor], table.sets[sensor]
        assert a.channels == b.channels and a.values.shape == b.values.shape
        np.testing.assert_array_equal(a.days, b.days)
        np.testing.assert_array_equal(a.values, b.values)
    # independent of read_table: S2 sample 7, B08 at step 5 is the raw value; S1 is 20 log10(v) - 83 dB
    raw = _wide()
    assert stored.table.sets["s2"].values[6, 5, 1, 0] == raw.loc[7, "OPTICAL-B08-ts5-10m"]
    assert stored.table.sets["s1"].values[6, 2, 0, 0] == pytest.approx(
        20 * np.log10(float(raw.loc[7, "SAR-VV-ts2-20m"])) - 83, abs=1e-5)
    # the gap (sample 2, step 3) is the mean of its neighbours in time (equal spacing: months of 30/31 days)
    days = table.sets["s2"].days
    expected = np.interp(days[3], days[[2, 4]], raw.loc[2, ["OPTICAL-B02-ts2-10m", "OPTICAL-B02-ts4-10m"]].astype(float))
    assert stored.table.sets["s2"].values[2, 3, 0, 0] == pytest.approx(expected, rel=1e-6)
    (n, size), = db_rows(settings.db_url, "SELECT count(*), sum(octet_length(series)) FROM antares.series_sample")
    assert n == 29 and size == 29 * 4 * (6 * 2 + 6 * 1)  # one compact row per sample

    listed = invoke_ok(runner, ["list", "training_sets", "--json"], _env(settings)).output
    import json

    row, = [r for r in json.loads(listed) if r["name"] == "ts_crops"]
    assert (row["kind"], row["samples"], row["classes"], row["series"]) == ("training", 29, 3, "s1 6x1, s2 6x2")
    shown = invoke_ok(runner, ["scheme", "show", "ts_crops"], _env(settings)).output
    assert "training (time series)" in shown and "ts_crops" in shown.split("kind")[-1]


def test_model_fit_timeseries_on_the_stored_set_equals_the_fit_on_the_table(settings, runner, wide):
    from antares.deep.table import read_table
    from antares.pipeline.session import Session
    from antares.pipeline.train import load_model
    from antares.train import fit_timeseries

    env = _env(settings)
    invoke_ok(runner, ["ingest_training", "--timeseries", str(wide), "--label", "crop", "-n", "ts_fit"], env)
    params = ["-extra", "epochs=2", "-extra", "batch_size=8", "--device", "cpu", "--seed", "5"]
    out = invoke_ok(runner, ["model_fit_timeseries", "-t", "ts_fit", "-model", "tempcnn", "--name", "ts_model",
                             *params], env).output
    assert "tempcnn fitted on 29 samples" in out and "scheme ts_fit" in out and "(created)" not in out
    estimator, meta = load_model(settings, "ts_model")
    assert meta["training_set"] == "ts_fit" and meta["product"] == "training:ts_fit"
    table = read_table(wide, "crop")  # the file read directly, fitted through the Python API
    direct = fit_timeseries(table, None, "tempcnn", sensors=["s2"], seed=5,
                            params={"epochs": 2, "batch_size": 8, "device": "cpu"})
    assert [e.name for e in direct.legend] == [e["name"] for e in meta["legend"]]
    np.testing.assert_array_equal(estimator.predict_proba(table.select(["s2"])),
                                  direct.estimator.predict_proba(table.select(["s2"])))
    session = Session(url=settings.db_url, home=str(settings.home))
    assert list(session.series("ts_fit").labels) == list(table.labels)


def _long(tmp_path, dates=("2018-01-10", "2018-02-10"), columns=("B02",)):
    frame = pd.DataFrame({"sid": ["a", "a", "b", "b"], "cls": ["x", "x", "y", "y"],
                          "date": list(dates) * 2, "B02": [1.0, 2.0, 3.0, 4.0]})
    path = tmp_path / "long.csv"
    frame.to_csv(path, index=False)
    mapping = tmp_path / "map.yaml"
    channels = "".join(f"  {c}: s2/{c}\n" for c in columns)
    mapping.write_text(f"sample_id: sid\nlabel: cls\ndate: date\ndates: [2018-01-10, 2018-02-10]\nchannels:\n{channels}")
    return path, mapping


@pytest.mark.parametrize("case, code, message", [
    ("missing column", 1, "lacks column(s) B03 named in"),
    ("no label column", 1, "has no label column 'klass'"),
    ("no label given", 2, "--field"),
    ("dates not parseable", 1, "has no readable date in column 'date' (got 'mid-January')"),
    ("both inputs", 2, "give either FILE"),
    ("mapping alone", 2, "--mapping goes with --timeseries TABLE"),
])
def test_bad_input_is_one_line_and_writes_nothing(settings, runner, wide, tmp_path, case, code, message):
    from antares.cli.main import cli

    env = _env(settings)
    if case == "missing column":
        path, mapping = _long(tmp_path, columns=("B02", "B03"))
        args = ["--timeseries", str(path), "--mapping", str(mapping)]
    elif case == "no label column":
        args = ["--timeseries", str(wide), "--field", "klass"]
    elif case == "no label given":
        args = ["--timeseries", str(wide)]
    elif case == "dates not parseable":
        path, mapping = _long(tmp_path, dates=("mid-January", "2018-02-10"))
        args = ["--timeseries", str(path), "--mapping", str(mapping)]
    elif case == "mapping alone":
        args = ["--mapping", str(_long(tmp_path)[1])]
    else:
        args = [str(wide), "--timeseries", str(wide), "--field", "crop"]
    before = db_state(settings.db_url)
    result = runner.invoke(cli, ["ingest_training", *args, "-n", "ts_bad"], env=env)
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output, result.output
    after = db_state(settings.db_url)
    assert {k: v for k, v in after.items() if "run" not in k} == {k: v for k, v in before.items() if "run" not in k}
    assert not db_rows(settings.db_url, "SELECT 1 FROM antares.series_set WHERE name = 'ts_bad'")


def test_a_name_in_use_is_refused_without_overwrite_and_replaced_with_it(settings, runner, wide, tmp_path):
    from antares.cli.main import cli

    env = _env(settings)
    invoke_ok(runner, ["ingest_training", "--timeseries", str(wide), "--field", "crop", "-n", "ts_once"], env)
    before = db_rows(settings.db_url, "SELECT s.id, count(*) FROM antares.series_set s JOIN antares.series_sample "
                                            "p ON p.set_id = s.id WHERE s.name = 'ts_once' GROUP BY s.id")
    result = runner.invoke(cli, ["ingest_training", "--timeseries", str(wide), "--field", "crop", "-n", "ts_once"],
                           env=env)
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0
    assert "training set 'ts_once' exists; use --overwrite" in result.output
    assert db_rows(settings.db_url, "SELECT s.id, count(*) FROM antares.series_set s JOIN antares.series_sample "
                                          "p ON p.set_id = s.id WHERE s.name = 'ts_once' GROUP BY s.id") == before
    smaller = tmp_path / "smaller.parquet"
    _wide(n=12, seed=1).to_parquet(smaller)
    invoke_ok(runner, ["ingest_training", "--timeseries", str(smaller), "--field", "crop", "-n", "ts_once",
                       "--overwrite"], env)
    (n,), = db_rows(settings.db_url, "SELECT count(*) FROM antares.series_sample p JOIN antares.series_set s "
                                           "ON p.set_id = s.id WHERE s.name = 'ts_once'")
    assert n == 11 and db_rows(settings.db_url, "SELECT count(*) FROM antares.series_set "
                                                     "WHERE name = 'ts_once'")[0][0] == 1
    # a stored set that is not there: one line naming the stored ones
    result = runner.invoke(cli, ["model_fit_timeseries", "-t", "ts_none", "-model", "tempcnn", "--name", "m_none",
                                 "--device", "cpu"], env=env)
    assert result.exit_code == 1 and "no training set of time series named 'ts_none'; they are: " in result.output
    assert "ts_once" in result.output and result.output.strip().count("\n") == 0


def test_a_failure_after_the_rows_are_inserted_leaves_nothing(settings, wide, monkeypatch):
    """The scheme, the set and its samples are one transaction: a fault after the inserts rolls all of them back."""
    import antares.db.series_sets as repository
    from antares.pipeline.series_sets import ingest_series

    real = repository.replace_series_set

    def insert_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise OSError("disk gone after the insert")

    monkeypatch.setattr(repository, "replace_series_set", insert_then_fail)
    with pytest.raises(OSError, match="disk gone"):
        ingest_series(settings, "ts_fault", str(wide), "crop")
    assert not db_rows(settings.db_url, "SELECT 1 FROM antares.series_set WHERE name = 'ts_fault'")
    assert not db_rows(settings.db_url, "SELECT 1 FROM antares.class_scheme WHERE name = 'ts_fault'")
    (status,), = db_rows(settings.db_url, "SELECT status FROM antares.run WHERE kind = 'ingest_training' AND "
                                          "name = 'ts_fault' ORDER BY id DESC LIMIT 1")
    assert status == "failed"
