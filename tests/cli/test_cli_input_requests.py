"""ingest, ingest_training_from_raster, monitor and model_fit_timeseries build requests from their flags.

A request that refuses a value is reported in the command's flag names, on one line, with the
exit code of before, and before the database is touched (the URL given is a closed port) or an
input is read (the raster named does not exist: the refusal comes first).
"""

import pytest

from antares.cli.main import cli

REFUSED = "postgresql+psycopg2://odc@127.0.0.1:5999/antares"
BBOX = ["--bbox", "22.14", "45.195", "22.166", "45.215"]


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "series.parquet"
    path.write_bytes(b"not read: the request refuses first")
    return str(path)


@pytest.mark.parametrize("args, code, message", [
    (["ingest", "-p", "src", "-n", "out", *BBOX, "--crs", "EPSG:32634", "--resolution", "20", "--tile-size", "64",
      "--resampling", "fancy"], 2, "unknown resampling 'fancy'; valid: nearest, bilinear"),
    (["ingest_training_from_raster", "@tmp/none.tif", "--scheme", "ref", "--dataset", "train"], 2,
     "give exactly one of --per-class N or --fraction F."),
    (["ingest_training_from_raster", "@tmp/none.tif", "--scheme", "ref", "--dataset", "train", "--per-class", "5",
      "--holdout", "1.5", "--holdout-dataset", "val"], 1,
     "--holdout must be a share in (0, 1) with --holdout-dataset NAME. Got 1.5."),
    (["monitor", "-p", "s2", "--history", "2016-01-01", "2018-12-31", "--monitor", "2018-06-01", "2020-12-31",
      "-n", "breaks", *BBOX], 1,
     "--monitor 2018-06-01 2020-12-31 must begin after --history 2016-01-01 2018-12-31 ends."),
    (["model_fit_timeseries", "--timeseries", "@table", "--label", "l", "-model", "ltae", "--name", "m",
      "--sensors", "s1,s2"], 2, "--sensors s1,s2 needs --fusion early, pse, tsa or decision."),
    (["model_fit_timeseries", "--timeseries", "@table", "--label", "l", "-model", "ltae", "--name", "m",
      "--sensors", "s2", "--fusion", "pse"], 2, "--fusion pse needs two sensors (--sensors s1,s2); got s2."),
    (["model_fit_timeseries", "--timeseries", "@table", "--label", "l", "-model", "rf", "--name", "m"], 2,
     "-model 'rf' is not a pixel-set time-series model; valid: pse_tae, ltae, tempcnn."),
], ids=["ingest-resampling", "raster-per-class-or-fraction", "raster-holdout", "monitor-periods",
        "timeseries-fusion-missing", "timeseries-fusion-one-sensor", "timeseries-kind"])
def test_request_refusals_name_the_flags(runner, tmp_path, table, args, code, message):
    args = [a.replace("@tmp", str(tmp_path)).replace("@table", table) for a in args]
    result = runner.invoke(cli, args, env={"ANTARES_DB_URL": REFUSED, "ANTARES_HOME": str(tmp_path / "home")})
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"antares: error: {message}"), lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "home" / "products").exists()
