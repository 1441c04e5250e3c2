"""``antares doctor``: every check OK on the test machine, and FAIL lines with their fix when things are missing."""

import re
import subprocess

from antares.cli.main import cli

CHECKS = ["PostgreSQL server", "PostGIS extension", "gdal_rasterize", "gdaldem", "rasterio", "GDAL (rasterio's)",
          "disk space of ANTARES_HOME", "numba cache writable", "database"]


def test_doctor_all_ok(settings, runner, tmp_path):
    from antares.db.local import find_pg_bin

    result = runner.invoke(cli, ["doctor"], env={"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(tmp_path),
                                                 "NUMBA_CACHE_DIR": str(tmp_path / "numba")})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line[5:].split(":")[0] for line in lines] == CHECKS
    assert all(line.startswith("OK   ") for line in lines), result.output
    version = subprocess.run([str(find_pg_bin() / "postgres"), "--version"], capture_output=True, text=True).stdout
    assert re.search(r"\(PostgreSQL\) (\S+)", version).group(1) in lines[0]
    assert str(tmp_path / "numba") in lines[7] and (tmp_path / "numba").is_dir()


def test_doctor_names_each_failure_and_its_fix(runner, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    (tmp_path / "bin").mkdir()
    env = {"ANTARES_DB_URL": "postgresql+psycopg2://odc@127.0.0.1:5999/antares", "ANTARES_HOME": str(tmp_path),
           "NUMBA_CACHE_DIR": str(blocker / "numba"), "ANTARES_PG_BIN": str(tmp_path / "bin"),
           "PATH": str(tmp_path / "bin")}
    result = runner.invoke(cli, ["doctor"], env=env)
    assert result.exit_code == 1, result.output
    lines = dict((line[5:].split(":")[0], line) for line in result.stdout.splitlines())
    for name in ("PostgreSQL server", "PostGIS extension", "gdal_rasterize", "gdaldem", "numba cache writable",
                 "database"):
        assert lines[name].startswith("FAIL "), lines[name]
    assert "initdb, pg_ctl, postgres missing in" in lines["PostgreSQL server"] and "apt-get install postgresql" in lines["PostgreSQL server"]
    assert "-> sudo apt-get install gdal-bin" in lines["gdaldem"]
    assert "-> export NUMBA_CACHE_DIR=" in lines["numba cache writable"]
    assert "5999" in lines["database"]
    assert lines["rasterio"].startswith("OK") and lines["disk space of ANTARES_HOME"].startswith("OK")
    errors = result.stderr.strip().splitlines()
    assert errors == ["antares: error: 6 check(s) failed: PostgreSQL server, PostGIS extension, gdal_rasterize, gdaldem, "
                      "numba cache writable, database"]
