"""Faults of the embedded database's host: each ends in a working database or one line, exit 1, nothing written.

* a stale ``postmaster.pid`` whose PID now belongs to an unrelated process (a ``sleep`` of the
  user ``nobody``): ``db start`` starts the server, ``db status`` and ``db stop`` work, the
  unrelated process lives on;
* a data directory of another PostgreSQL major version (``PG_VERSION`` rewritten);
* a read-only ``ANTARES_HOME`` (a read-only tmpfs), empty or holding a cluster;
* two ``db start`` at once on a new home, three ``init`` at once on a new database.

Each test starts its own cluster with the code of ``antares db start`` under /tmp.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from antares.cli.main import cli
from antares.db.local import LocalCluster
from helpers import antares_process, create_database, db_rows


def _one_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("antares: error: "), result.stderr
    return lines[0]


def _tree(path: Path) -> list:
    return sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*") if not p.is_socket())


@pytest.fixture
def home():
    path = Path(tempfile.mkdtemp(prefix="antares-edb-"))
    yield path
    if (path / "pgdata").exists() and LocalCluster(path).info().running:
        LocalCluster(path).stop()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def mount(home):
    """A 128 MB tmpfs at HOME/mnt (read-write; remount read-only with ``remount``)."""
    point = home / "mnt"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m,mode=0755", "tmpfs", str(point)], check=True)
    yield point
    if (point / "home" / "pgdata" / "postmaster.pid").exists():
        subprocess.run(["mount", "-o", "remount,rw", str(point)], check=False)
        LocalCluster(point / "home").stop()
    subprocess.run(["umount", "-l", str(point)], check=False)


def test_stale_postmaster_pid_of_an_unrelated_process(home, runner):
    env = {"ANTARES_HOME": str(home)}
    assert runner.invoke(cli, ["db", "start"], env=env).exit_code == 0
    pid_file = home / "pgdata" / "postmaster.pid"
    saved = pid_file.read_text().splitlines()
    assert runner.invoke(cli, ["db", "stop"], env=env).exit_code == 0
    assert not pid_file.exists()
    other = subprocess.Popen(["sleep", "600"], user="nobody", group="nogroup", extra_groups=[])
    sleeper = other.pid  # alive, of another user, not a postmaster
    try:
        # the server died and its PID went to another user's process: the lock files still name it
        pid_file.write_text("\n".join([str(sleeper), *saved[1:]]) + "\n")
        (home / "run" / f".s.PGSQL.{saved[3]}.lock").write_text(f"{sleeper}\n{home / 'pgdata'}\n")
        before = runner.invoke(cli, ["db", "status"], env=env)
        assert before.exit_code == 1 and "not running" in before.output, before.output
        line = _one_line(runner.invoke(cli, ["list", "runs"], env=env))  # not "connection refused"
        assert "is not running" in line and "antares db start" in line, line

        started = runner.invoke(cli, ["db", "start"], env=env)
        assert started.exit_code == 0, started.output
        assert started.stdout.startswith("started embedded database running"), started.output
        assert f"its PID {sleeper} is now another process" in started.stderr
        status = runner.invoke(cli, ["db", "status"], env=env)
        assert status.exit_code == 0 and f"pid {sleeper}" not in status.output, status.output
        url = runner.invoke(cli, ["db", "url"], env=env).stdout.strip()
        assert db_rows(url, "SELECT 1") == [(1,)]
        stopped = runner.invoke(cli, ["db", "stop"], env=env)
        assert stopped.exit_code == 0 and "stopped" in stopped.output, stopped.output
        assert other.poll() is None  # the unrelated process was left alone
    finally:
        other.kill()
        other.wait()


def test_data_directory_of_another_postgresql_major_version(home, runner):
    env = {"ANTARES_HOME": str(home)}
    assert runner.invoke(cli, ["db", "start"], env=env).exit_code == 0
    assert runner.invoke(cli, ["db", "stop"], env=env).exit_code == 0
    version = home / "pgdata" / "PG_VERSION"
    ours = version.read_text().strip()
    other = str(int(ours) - 1)
    version.write_text(other + "\n")
    before = _tree(home / "pgdata")
    line = _one_line(runner.invoke(cli, ["db", "start"], env=env))
    assert f"PostgreSQL {other}" in line and f"PostgreSQL {ours}" in line, line
    assert "ANTARES_PG_BIN" in line and "pg_upgrade" in line, line
    assert _tree(home / "pgdata") == before
    assert runner.invoke(cli, ["db", "status"], env=env).exit_code == 1  # not started


def test_read_only_antares_home(mount, runner):
    for target in (mount, mount / "home"):  # the directory itself, a directory to be made in it
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        line = _one_line(runner.invoke(cli, ["db", "start"], env={"ANTARES_HOME": str(target)}))
        assert "Read-only file system" in line and "ANTARES_HOME" in line and str(mount) in line, line
        assert "unexpected" not in line
        subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
        assert os.listdir(mount) == []
    # a home holding a stopped cluster, then made read-only
    env = {"ANTARES_HOME": str(mount / "home")}
    assert runner.invoke(cli, ["db", "start"], env=env).exit_code == 0
    assert runner.invoke(cli, ["db", "stop"], env=env).exit_code == 0
    before = _tree(mount / "home")
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    line = _one_line(runner.invoke(cli, ["db", "start"], env=env))
    assert "Read-only file system" in line and "ANTARES_HOME" in line, line
    subprocess.run(["mount", "-o", "remount,rw", str(mount)], check=True)
    assert _tree(mount / "home") == before


def test_two_db_start_at_once_on_a_new_home(home):
    env = {"ANTARES_HOME": str(home / "new")}
    procs = [antares_process("db", "start", env=env) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    said = sorted("started" if out.startswith("started ") else "running" if out.startswith("already running: ") else out
                  for _, out, _ in results)
    assert said == ["running", "started"], results
    info = LocalCluster(home / "new").info()
    assert info.running and all(f"pid {info.pid}" in out for _, out, _ in results)
    assert not list((home / "new").glob(".pgdata.*"))  # no half-made data directory left


def test_three_init_at_once_on_a_new_database(pg_cluster):
    url = create_database(pg_cluster)
    procs = [antares_process("init", env={"ANTARES_DB_URL": url}) for _ in range(3)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    assert sum("PostGIS extension: created" in out for _, out, _ in results) == 1, results
    assert sum("Nothing changed" in out for _, out, _ in results) == 2, results
    assert db_rows(url, "SELECT count(*) FROM odc.product WHERE name IN ('s2_l2a', 'srtm')") == [(2,)]
    assert db_rows(url, "SELECT version_num FROM antares.alembic_version")
