"""Shared fixtures: an isolated environment and a throwaway PostgreSQL + PostGIS cluster.

The cluster is started with the same code as ``antares db start`` (a temp home,
a free port) once per test session and stopped at the end. Tests that need a
pristine database get their own database in that cluster (``fresh_settings``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# GDAL writes statistics into FILE.aux.xml beside a raster it reads in some cases;
# the shared data must stay untouched by the tests.
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No ANTARES_* variable or user config file of the developer leaks into a test."""
    import os

    import antares.config

    for key in list(os.environ):
        if key.startswith("ANTARES_"):
            monkeypatch.delenv(key)
    monkeypatch.setattr(antares.config, "DEFAULT_CONFIG_PATH", Path("/nonexistent/antares.yaml"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"the shared real data is missing: expected {DATA}")
    return DATA


@pytest.fixture(scope="session")
def pg_cluster():
    """The session's cluster, in its own directory under /tmp (not under pytest's basetemp,
    whose mode another pytest session may reset to 0700, locking the postgres user out)."""
    import shutil
    import tempfile

    from antares.db.local import LocalCluster

    home = Path(tempfile.mkdtemp(prefix="antares-test-"))
    cluster = LocalCluster(home)
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(home, ignore_errors=True)


def _settings(url: str, home: Path):
    from antares.config import load_settings

    return load_settings(flags={"db_url": url, "home": str(home)}, environ={})


@pytest.fixture(scope="session")
def db_url(pg_cluster) -> str:
    return pg_cluster.url()


@pytest.fixture(scope="session")
def settings(db_url, tmp_path_factory):
    """Settings pointing at the session cluster's ``antares`` database, initialised once."""
    from antares.pipeline.database import init_database

    s = _settings(db_url, tmp_path_factory.mktemp("home"))
    init_database(s)
    return s


@pytest.fixture
def fresh_settings(pg_cluster, tmp_path):
    """Settings pointing at a new, empty database (no antares schema, no ODC index), dropped afterwards."""
    from helpers import create_database, drop_database

    url = create_database(pg_cluster)
    yield _settings(url, tmp_path)
    drop_database(pg_cluster, url)  # and this process's engine for it: its pooled connections would pile up


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture(scope="session")
def romania(settings, data_dir):
    """The real Romania L2A band files (140 dates, 10 m + 20 m + SCL) indexed once as product ``ro_test``."""
    from click.testing import CliRunner

    from antares.cli.main import cli

    result = CliRunner().invoke(cli, ["index", "--path", str(data_dir / "nrt-romania-s2l2a" / "geotiff"),
                                      "--dataset_name", "s2_bands", "--product", "ro_test"],
                                env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    assert "140 dataset(s) indexed into ro_test, 0 already indexed, 0 failed (of 140 found)" in result.output
    assert "product ro_test: added (measurements B02, B03, B04, B08, B8A, B11, SCL)" in result.output
    return "ro_test"
