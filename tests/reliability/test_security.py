"""Attacks by another local user and password leaks: each is performed and shown to fail.

The embedded database: the unprivileged user ``nobody`` runs ``psql`` against the cluster's
socket directory and its TCP port, as in the report of issue 15 ("COPY ... TO PROGRAM" runs
commands as the cluster owner); a cluster left by an older antares (``trust`` in
``pg_hba.conf``, a 0755 socket directory) is first shown to be open, then closed by ``antares
db start``. Passwords: ``db_to_raster`` runs through a ``gdal_rasterize`` wrapper on PATH that
records its argv (what ``ps`` shows), with the password in the URL's authority and as a
``?password=`` query parameter. docs/security.md describes the threat model.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest
import rasterio
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from antares.cli.main import cli
from antares.db.local import LocalCluster
from helpers import antares_process


def _psql(user: str | None, host: str, port: int, sql: str, password: str | None = None):
    """psql as OS user ``user`` (None: this process's user), never prompting for a password."""
    cmd = ["psql", "-w", "-X", "-h", host, "-p", str(port), "-U", "antares", "-d", "postgres", "-c", sql]
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run(cmd, capture_output=True, text=True, cwd="/", env=env, timeout=60)


def _attack(socket_dir: Path, port: int):
    """nobody asks the server to run ``id`` (as the cluster owner) through the socket; (psql result, id output or None)."""
    marker = Path(tempfile.gettempdir()) / f"antares-attack-{uuid.uuid4().hex}"
    try:
        result = _psql("nobody", str(socket_dir), port, f"COPY (SELECT 1) TO PROGRAM 'id > {marker}'")
        return result, marker.read_text() if marker.exists() else None
    finally:
        marker.unlink(missing_ok=True)


@pytest.fixture
def home():
    """A fresh ANTARES_HOME under /tmp (not pytest's basetemp: see tests/conftest.py)."""
    path = Path(tempfile.mkdtemp(prefix="antares-sec-"))
    yield path
    cluster = LocalCluster(path)
    if cluster.info().running:
        cluster.stop()
    shutil.rmtree(path, ignore_errors=True)


def _methods(hba: Path) -> set:
    """The authentication methods of the rules of a pg_hba.conf (the last field of each, comments dropped)."""
    return {line.split("#", 1)[0].split()[-1] for line in hba.read_text().splitlines() if line.split("#", 1)[0].strip()}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_another_user_cannot_reach_the_embedded_database(pg_cluster):
    info = pg_cluster.info()
    password = pg_cluster._read_state()["password"]
    result, ran = _attack(pg_cluster.socket_dir, info.port)
    assert ran is None and result.returncode != 0
    assert "Permission denied" in result.stderr, result.stderr  # the socket directory is closed to others
    tcp = _psql("nobody", "127.0.0.1", info.port, "SELECT 1")
    assert tcp.returncode != 0 and "no password supplied" in tcp.stderr, tcp.stderr
    wrong = _psql("nobody", "127.0.0.1", info.port, "SELECT 1", password="guess")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, wrong.stderr
    # nothing is trusted, not even for root on the socket: the password is asked everywhere
    bare = _psql(None, str(pg_cluster.socket_dir), info.port, "SELECT 1")
    assert bare.returncode != 0 and "no password supplied" in bare.stderr, bare.stderr
    owner = _psql(None, str(pg_cluster.socket_dir), info.port, "SELECT 1", password=password)
    assert owner.returncode == 0, owner.stderr
    assert _methods(pg_cluster.pgdata / "pg_hba.conf") == {"scram-sha-256"}
    assert _mode(pg_cluster.socket_dir) == 0o700
    assert _mode(pg_cluster.socket_dir / f".s.PGSQL.{info.port}") == 0o700
    for secret in (pg_cluster.state_file, pg_cluster.log_file, pg_cluster.pgdata / "pg_hba.conf"):
        assert _mode(secret) == 0o600, secret
    conn = pg_cluster.connect("postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('listen_addresses'), current_setting('unix_socket_permissions')")
            assert cur.fetchone() == ("127.0.0.1", "0700")
    finally:
        conn.close()


def test_secret_files_are_private_under_a_permissive_umask(home):
    """Files are created 0600 (os.open with the mode), not written and restricted afterwards: umask 000 changes nothing."""
    done = antares_process("db", "start", env={"ANTARES_HOME": str(home)}, umask=0)
    assert done.wait(timeout=300) == 0, done.communicate()
    cluster = LocalCluster(home)
    assert {p.name: oct(_mode(p)) for p in (cluster.state_file, cluster.log_file)} == \
        {"db.json": "0o600", "postgres.log": "0o600"}
    assert _mode(home / ".db.lock") == 0o600
    assert _mode(cluster.socket_dir) == 0o700 and _mode(cluster.pgdata) == 0o700
    assert not (home / ".pwfile").exists()  # the initdb password file is gone
    assert not stat.S_IMODE(home.stat().st_mode) & 0o066  # others may traverse ANTARES_HOME, not list or write it


def test_db_start_closes_a_cluster_left_open_by_an_older_antares(home, runner):
    cluster = LocalCluster(home)
    info, _ = cluster.start()
    cluster.stop()
    # what antares <= 0.x left behind: trust on the socket, a 0755 socket directory, a 0644 log, a 0777 socket
    (cluster.pgdata / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    os.chmod(cluster.socket_dir, 0o755)
    os.chmod(cluster.log_file, 0o644)
    old_options = f"-p {info.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1"
    subprocess.run(["runuser", "-u", "postgres", "--", str(cluster.pg_bin / "pg_ctl"), "-D", str(cluster.pgdata),
                    "-l", str(cluster.log_file), "-w", "-o", old_options, "start"], check=True, cwd="/",
                   capture_output=True, timeout=120)
    result, ran = _attack(cluster.socket_dir, info.port)
    assert result.returncode == 0 and "(postgres)" in ran, (result.stderr, ran)  # the old cluster is open

    env = {"ANTARES_HOME": str(home)}
    first = runner.invoke(cli, ["db", "start"], env=env)
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("already running")
    assert first.stderr.count("upgraded the security of the embedded database") == 1, first.stderr
    assert "pg_hba.conf" in first.stderr and "run is now 700" in first.stderr and "postgres.log is now 600" in first.stderr
    result, ran = _attack(cluster.socket_dir, info.port)
    assert ran is None and result.returncode != 0 and "Permission denied" in result.stderr, result.stderr
    bare = _psql(None, str(cluster.socket_dir), info.port, "SELECT 1")  # pg_hba.conf reloaded: no trust left
    assert bare.returncode != 0 and "no password supplied" in bare.stderr, bare.stderr
    assert _mode(cluster.socket_dir) == 0o700 and _mode(cluster.log_file) == 0o600
    second = runner.invoke(cli, ["db", "start"], env=env)  # said once
    assert second.exit_code == 0 and "upgraded" not in second.output, second.output
    assert runner.invoke(cli, ["db", "status"], env=env).exit_code == 0


def test_db_start_upgrades_a_stopped_old_cluster_before_starting_it(home, runner):
    cluster = LocalCluster(home)
    cluster.start()
    cluster.stop()
    (cluster.pgdata / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    os.chmod(cluster.socket_dir, 0o755)
    env = {"ANTARES_HOME": str(home)}
    result = runner.invoke(cli, ["db", "start"], env=env)
    assert result.exit_code == 0 and result.stdout.startswith("started"), result.output
    assert result.stderr.count("upgraded the security of the embedded database") == 1, result.stderr
    info = cluster.info()
    attack, ran = _attack(cluster.socket_dir, info.port)
    assert ran is None and "Permission denied" in attack.stderr, attack.stderr
    bare = _psql(None, str(cluster.socket_dir), info.port, "SELECT 1")
    assert bare.returncode != 0 and "no password supplied" in bare.stderr, bare.stderr
    assert _methods(cluster.pgdata / "pg_hba.conf") == {"scram-sha-256"}


# --------------------------------------------------------------------------- passwords


@pytest.fixture(scope="module")
def sec_map(settings):
    """A classification of four predicted 100 m squares (codes 1, 1, 2, 2) in EPSG:32633, inserted directly."""
    q = sa.text
    engine = sa.create_engine(settings.db_url)
    with engine.begin() as conn:
        for table in ("classification", "model", "segmentation", "class_scheme"):
            conn.execute(q(f"DELETE FROM antares.{table} WHERE name LIKE 'sec\\_%'"))
        sid = conn.execute(q("INSERT INTO antares.class_scheme (name) VALUES ('sec_scheme') RETURNING id")).scalar()
        conn.execute(q("INSERT INTO antares.legend_class (scheme_id, code, name, colour) VALUES "
                       "(:s, 1, 'forest', '#33a02c'), (:s, 2, 'water', '#1f78b4')"), {"s": sid})
        model = conn.execute(q("INSERT INTO antares.model (name, kind, scheme_id, product, blob, metadata) "
                               "VALUES ('sec_model', 'rf', :s, 'sec_product', :b, CAST('{}' AS jsonb)) RETURNING id"),
                             {"s": sid, "b": b"x"}).scalar()
        seg = conn.execute(q("INSERT INTO antares.segmentation (name, product, algorithm, crs, n_segments) "
                             "VALUES ('sec_seg', 'sec_product', 'test', 'EPSG:32633', 4) RETURNING id")).scalar()
        squares = {i: f"POLYGON(({x} {y},{x + 100} {y},{x + 100} {y + 100},{x} {y + 100},{x} {y}))"
                   for i, (x, y) in enumerate([(400000, 5800000), (400100, 5800000), (400000, 5800100),
                                               (400100, 5800100)], 1)}
        conn.execute(q("INSERT INTO antares.segment (segmentation_id, segment_id, geom, area_m2, pixel_count) "
                       "VALUES (:seg, :id, ST_Multi(ST_GeomFromText(:wkt, 32633)), 10000, 100)"),
                     [{"seg": seg, "id": i, "wkt": wkt} for i, wkt in squares.items()])
        cid = conn.execute(q("INSERT INTO antares.classification (name, segmentation_id, model_id) "
                             "VALUES ('sec_map', :s, :m) RETURNING id"), {"s": seg, "m": model}).scalar()
        conn.execute(q("INSERT INTO antares.prediction (classification_id, segment_id, class_code, confidence, entropy) "
                       "VALUES (:c, :i, :k, 0.9, 0.1)"), [{"c": cid, "i": i, "k": 1 + (i > 2)} for i in squares])
    engine.dispose()
    return "sec_map"


@pytest.mark.parametrize("where", ["authority", "query"])
def test_db_to_raster_keeps_the_password_off_gdal_rasterize_argv(settings, sec_map, tmp_path, monkeypatch, runner,
                                                                 where):
    url = make_url(settings.db_url)
    password = url.password
    assert password
    if where == "query":  # postgresql+psycopg2://antares@127.0.0.1:PORT/DB?password=...
        url = url.set(password=None).update_query_dict({"password": password})
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "argv"  # one file per call: the argv, NUL-separated
    record.mkdir()
    real = shutil.which("gdal_rasterize")
    wrapper = bindir / "gdal_rasterize"
    wrapper.write_text(f"#!/bin/sh\nprintf '%s\\0' \"$0\" \"$@\" > \"$(mktemp '{record}/call.XXXXXX')\"\n"
                       f"exec '{real}' \"$@\"\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    out = tmp_path / "map.tif"
    result = runner.invoke(cli, ["db_to_raster", "-n", sec_map, "-f", str(out), "--resolution", "10"],
                           env={"ANTARES_DB_URL": url.render_as_string(hide_password=False)})
    assert result.exit_code == 0, result.output
    calls = [path.read_bytes().split(b"\0") for path in record.iterdir()]
    assert calls, "gdal_rasterize was not run"
    for argv in calls:
        assert any(arg.startswith(b"PG:") for arg in argv), argv
        assert not any(password.encode() in arg for arg in argv), argv
    assert password not in result.output
    with rasterio.open(out) as src:  # the password reached GDAL another way: the map is complete
        codes, counts = np.unique(src.read(1), return_counts=True)
    assert dict(zip(codes.tolist(), counts.tolist())) == {1: 200, 2: 200}


@pytest.mark.parametrize("url", [
    "postgresql+psycopg2://antares@127.0.0.1:1/antares?password=s3cr3tQ",
    "postgresql://:s3cr3tQ@127.0.0.1:1/antares",
    "postgresql+psycopg2://antares:s3cr3tQ%40x@127.0.0.1:1/antares",
])
def test_passwords_are_masked_in_config_show_db_status_and_errors(runner, url):
    env = {"ANTARES_DB_URL": url}
    shown = runner.invoke(cli, ["config", "show"], env=env)
    assert shown.exit_code == 0 and "127.0.0.1:1/antares" in shown.output, shown.output
    status = runner.invoke(cli, ["db", "status"], env=env)
    assert status.exit_code == 0 and "127.0.0.1:1/antares" in status.output, status.output
    failed = runner.invoke(cli, ["list", "runs"], env=env)  # nothing listens on port 1
    assert failed.exit_code == 1 and "cannot connect to" in failed.output, failed.output
    for result in (shown, status, failed):
        assert "s3cr3tQ" not in result.output and "***" in result.output, result.output
