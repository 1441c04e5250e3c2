"""The embedded cluster: the same code as `antares db start`, on a temp home and a free port."""

import json
import os
import socket

import sqlalchemy as sa

from antares.cli.main import cli
from antares.db.local import LocalCluster


def test_session_cluster_runs_postgis(pg_cluster):
    info = pg_cluster.info()
    assert info.running and info.port and info.pid
    assert (pg_cluster.socket_dir / f".s.PGSQL.{info.port}").exists()
    engine = sa.create_engine(info.url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM pg_available_extensions WHERE name='postgis'")).scalar() == 1
        assert conn.execute(sa.text("SHOW listen_addresses")).scalar() == "127.0.0.1"
    engine.dispose()


def test_password_is_required_over_tcp_and_kept_private(pg_cluster):
    info = pg_cluster.info()
    state = pg_cluster.state_file
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    assert json.loads(state.read_text())["port"] == info.port
    bad = info.url.replace(json.loads(state.read_text())["password"], "wrong")
    engine = sa.create_engine(bad)
    try:
        with engine.connect():
            raise AssertionError("connected with a wrong password")
    except sa.exc.OperationalError as exc:
        assert "password authentication failed" in str(exc)
    engine.dispose()


def test_start_twice_stop_and_restart_on_same_port(tmp_path, runner):
    env = {"ANTARES_HOME": str(tmp_path / "home")}
    first = runner.invoke(cli, ["db", "start"], env=env)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("started embedded database running")
    try:
        second = runner.invoke(cli, ["db", "start"], env=env)
        assert second.exit_code == 0 and second.stdout.startswith("already running")
        status = runner.invoke(cli, ["db", "status"], env=env)
        assert status.exit_code == 0 and "127.0.0.1:" in status.output and str(tmp_path) in status.output
        url = runner.invoke(cli, ["db", "url"], env=env).stdout.strip()
        assert url.startswith("postgresql+psycopg2://antares:") and url.endswith("/antares")
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == "antares"
        engine.dispose()
    finally:
        stopped = runner.invoke(cli, ["db", "stop"], env=env)
    assert stopped.exit_code == 0 and "stopped" in stopped.output
    status = runner.invoke(cli, ["db", "status"], env=env)
    assert status.exit_code == 1 and "not running" in status.output
    assert "not running" in runner.invoke(cli, ["db", "stop"], env=env).output
    # a restart keeps the data and, when the port is free, the URL
    cluster = LocalCluster(tmp_path / "home")
    info, started = cluster.start()
    try:
        assert started and info.port == port and info.url == url
    finally:
        cluster.stop()


def test_start_picks_another_port_when_taken(tmp_path):
    cluster = LocalCluster(tmp_path / "home")
    info, _ = cluster.start()
    cluster.stop()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", info.port))
    blocker.listen()
    try:
        info2, _ = cluster.start()
        assert info2.running and info2.port != info.port
    finally:
        cluster.stop()
        blocker.close()


def test_foreign_cluster_is_not_adopted(tmp_path):
    home = tmp_path / "home"
    (home / "pgdata").mkdir(parents=True)
    (home / "pgdata" / "PG_VERSION").write_text("15\n")
    try:
        LocalCluster(home).start()
    except Exception as exc:
        assert "did not create" in str(exc)
    else:
        raise AssertionError("a foreign data directory was adopted")
    assert sorted(os.listdir(home / "pgdata")) == ["PG_VERSION"]
