"""Database faults: the database is stopped (pg_ctl stop -m fast) under a running apply_recipe, then started again.

The test starts its own embedded cluster (antares.db.local.LocalCluster), so the session's cluster
is not disturbed. The command must end within FAULT_TIMEOUT seconds of the stop (no hang), with exit
code 1 and one line on stderr, ``antares: error: lost the connection to the database URL (...)``,
the URL without its password, saying to re-run. Once the database is back, the same command
completes, resumes (the tiles finished before the fault are not computed again) and its product
equals that of an uninterrupted run.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import db_rows

NRT = "nrt-romania-s2l2a"
BBOX_RO = ["--bbox", "22.14", "45.195", "22.166", "45.215"]
FAULT_TIMEOUT = 60  # seconds from the database's stop to the command's exit


@pytest.fixture
def own_cluster():
    from antares.db.local import LocalCluster

    home = Path(tempfile.mkdtemp(prefix="antares-fault-"))  # under /tmp: the postgres user must reach it
    cluster = LocalCluster(home)
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(home, ignore_errors=True)


def _count(url, sql, **params):
    return db_rows(url, sql, **params)[0][0]


def test_apply_recipe_database_restarted_mid_run(own_cluster, data_dir, tmp_path, runner):
    from antares.config import load_settings, mask_password
    from antares.pipeline.database import init_database
    from antares.pipeline.inspect import load_product

    url = own_cluster.url()
    settings = load_settings(flags={"db_url": url, "home": str(tmp_path / "home")}, environ={})
    init_database(settings)
    env = {"ANTARES_DB_URL": url, "ANTARES_HOME": str(tmp_path / "home"), "ANTARES_SCHEDULER": "sync"}
    result = runner.invoke(cli, ["index", "--path", str(data_dir / NRT / "geotiff" / "10m"), "--dataset_name", "s2_bands",
                                 "--product", "fault_s2"], env=env)
    assert result.exit_code == 0, result.output
    common = ["apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-06-01", "-e", "2018-08-31", *BBOX_RO, "-p", "fault_s2",
              "--crs", "EPSG:3035", "--resolution", "10", "--tile-size", "50"]
    result = runner.invoke(cli, [*common, "--name", "fault_ref", "--outdir", str(tmp_path / "ref")], env=env)
    assert result.exit_code == 0, result.output
    args = ["-q", *common, "--name", "fault_feat", "--outdir", str(tmp_path / "feat")]
    tiles_done = ("SELECT count(*) FROM antares.run_tile t JOIN antares.run r ON r.id = t.run_id "
                  "WHERE r.kind = 'apply_recipe' AND r.name = 'fault_feat'")

    exe = str(Path(sys.executable).with_name("antares"))
    proc = subprocess.Popen([exe, *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while _count(url, tiles_done) < 2:
            assert proc.poll() is None, f"apply_recipe ended (exit {proc.returncode}) before the fault"
            assert time.monotonic() < deadline, "apply_recipe never finished two tiles"
            time.sleep(0.05)
        done_before = _count(url, tiles_done)
        own_cluster.stop()  # pg_ctl stop -m fast: open connections are terminated
        stopped = time.monotonic()
        stdout, stderr = proc.communicate(timeout=FAULT_TIMEOUT)
        elapsed = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    own_cluster.start()
    assert own_cluster.url() == url  # the same port again

    lines = stderr.decode(errors="replace").splitlines()
    assert proc.returncode == 1, (stdout, stderr)
    assert elapsed < FAULT_TIMEOUT
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"antares: error: lost the connection to the database {mask_password(url)} ("), lines[0]
    assert "re-run the same command to resume" in lines[0]
    print(f"{lines[0]} [exit {proc.returncode} {elapsed:.1f} s after the stop]")
    assert url.split(":")[2].split("@")[0] not in lines[0]  # no password

    total = _count(url, "SELECT count(*) FROM odc.dataset d JOIN odc.product p ON p.id = d.product_ref "
                        "WHERE p.name = 'fault_ref'")
    again = runner.invoke(cli, [*common, "--name", "fault_feat", "--outdir", str(tmp_path / "feat")], env=env)
    assert again.exit_code == 0, again.output
    written = int(again.stdout.strip().splitlines()[-1].split()[0])
    assert 0 < written <= total - done_before + 1  # resumed: the tiles finished before the fault are kept
    ref, got = load_product(settings, "fault_ref")[0], load_product(settings, "fault_feat")[0]
    assert set(ref.data_vars) == set(got.data_vars)
    for name in ref.data_vars:
        np.testing.assert_array_equal(ref[name].values, got[name].values)
    assert _count(url, "SELECT count(*) FROM odc.dataset d JOIN odc.product p ON p.id = d.product_ref "
                       "WHERE p.name = 'fault_feat' AND d.archived IS NULL") == total
    statuses = [s for s, in db_rows(url, "SELECT status FROM antares.run WHERE kind = 'apply_recipe' "
                                         "AND name = 'fault_feat' ORDER BY id")]
    assert statuses[-1] == "done" and statuses[0] in ("failed", "interrupted"), statuses
