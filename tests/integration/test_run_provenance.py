"""Every recorded run stores the software that made it: antares' version and git commit, library versions."""

import subprocess
from pathlib import Path

import datacube
import numpy
import sklearn

import antares
from antares.pipeline.run import recorded_run
from antares.provenance import git_commit
from helpers import db_rows

CHECKOUT = Path(antares.__file__).resolve().parents[1]


def test_run_records_versions_and_commit(settings):
    with recorded_run(settings, "test_stage", "prov_ok") as run:
        run_id = run.start({"a": 1}, {"product": "p"})
    (inputs,) = db_rows(settings.db_url, "SELECT inputs FROM antares.run WHERE id = :i", i=run_id)[0]
    assert inputs["product"] == "p"
    env = inputs["environment"]
    assert env["antares"] == antares.__version__
    libraries = env["libraries"]
    assert libraries["numpy"] == numpy.__version__ and libraries["scikit-learn"] == sklearn.__version__
    assert libraries["datacube"] == datacube.__version__
    assert set(libraries) >= {"lightgbm", "torch", "rasterio"} and env["gdal"].count(".") >= 2
    head = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # run from a checkout
        assert env["git_commit"].removesuffix("-dirty") == head.stdout.strip()
    else:
        assert env["git_commit"] is None


def test_no_commit_outside_a_repository(tmp_path):
    assert git_commit(tmp_path) is None
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "antares").mkdir()
    (tmp_path / "antares" / "x.py").write_text("1\n")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    import os

    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "-m", "x"], check=True, env={**os.environ, **env})
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert git_commit(tmp_path) == head
    (tmp_path / "antares" / "x.py").write_text("2\n")
    assert git_commit(tmp_path) == head + "-dirty"
