"""The dask cluster of a stage accepts no one else (issue 15, item 3).

The attack: another local user connects to the local cluster's scheduler on 127.0.0.1 and
runs code in the workers, which run as the antares user. The local cluster now talks TLS
with a certificate made for the run and has no HTTP server (dashboard) unless asked for;
an external scheduler is reached over TLS with the files of --tls-ca/--tls-cert/--tls-key.
"""

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import brandenburg_model

BBOX = ["--bbox", "12.50", "52.45", "12.56", "52.50"]

ATTACK = """
import sys
from distributed import Client
from distributed.security import Security
address, marker, own_cert = sys.argv[1], sys.argv[2], sys.argv[3] == "own-cert"
try:
    client = Client(address, timeout=8, security=Security.temporary() if own_cert else None)
    client.run(lambda: open(marker, "w").write("code ran in a worker"))
except Exception as exc:
    print("refused:", type(exc).__name__, str(exc)[:200])
    sys.exit(3)
print("connected and ran code")
"""

# Run as user nobody by the system Python (no dask there): a TLS handshake without a client certificate.
# TLS 1.2, where the server's refusal is a handshake alert (in TLS 1.3 it comes after the handshake, as an
# alert or a plain EOF depending on timing).
PROBE = """
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as raw:
        with ctx.wrap_socket(raw) as tls:
            tls.sendall(b"hello"); tls.settimeout(5); data = tls.recv(100)
            print("answered", data[:40])
except Exception as exc:
    print("refused:", type(exc).__name__, exc)
"""


def _scheduler_address(_item):
    from distributed import get_worker

    return get_worker().scheduler.address


def _listening_ports() -> list[int]:
    import psutil

    me = psutil.Process()
    ports = []
    for proc in [me, *me.children(recursive=True)]:
        try:
            ports += [c.laddr.port for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except psutil.NoSuchProcess:
            pass
    return ports


def _answers_http(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            s.settimeout(3)
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def test_local_cluster_refuses_other_clients_and_opens_no_http_port(tmp_path):
    from antares.pipeline.executor import task_runner

    marker = tmp_path / "pwned"
    with task_runner(None, 2) as run:
        results = dict(run(_scheduler_address, range(4)))
        addresses = set(results.values())
        assert len(addresses) == 1, results
        address = addresses.pop()
        port = address.rsplit(":", 1)[1]
        for target, how in ((f"tcp://127.0.0.1:{port}", "plain"), (f"tls://127.0.0.1:{port}", "own-cert")):
            attack = subprocess.run([sys.executable, "-c", ATTACK, target, str(marker), how], capture_output=True,
                                    text=True, timeout=120)
            assert not marker.exists(), f"{how} client ran code in a worker: {attack.stdout}{attack.stderr[-500:]}"
            assert attack.returncode == 3 and "refused:" in attack.stdout, attack.stdout + attack.stderr[-500:]
        assert address.startswith("tls://127.0.0.1:"), address
        ports = _listening_ports()
        assert int(port) in ports and len(ports) >= 5  # scheduler, 2 nannies, 2 workers
        assert [p for p in ports if _answers_http(p)] == []  # no dashboard, /info, metrics or proxy
        import psutil

        for child in psutil.Process().children(recursive=True):  # the run's key never on a command line
            assert not any("PRIVATE KEY" in part for part in child.cmdline()), child.cmdline()
        probe = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", PROBE, port],
                               capture_output=True, text=True, timeout=60)
        assert "refused: SSLError" in probe.stdout and "ALERT_HANDSHAKE_FAILURE" in probe.stdout, probe.stdout + probe.stderr
        assert sorted(r for _, r in run(lambda x: x * x, range(5))) == [0, 1, 4, 9, 16]  # still serves its own client


def test_dashboard_only_when_asked_and_its_address_printed(caplog):
    from antares.config import load_settings
    from antares.pipeline.executor import task_runner

    settings = load_settings(flags={"dashboard": True}, environ={})
    with caplog.at_level(logging.INFO, logger="antares"), task_runner(None, 1, settings) as run:
        assert [r for _, r in run(lambda x: x + 1, [1])] == [2]
        link = [r.getMessage() for r in caplog.records if r.getMessage().startswith("dask dashboard: http://127.0.0.1:")]
        assert link, [r.getMessage() for r in caplog.records]
        port = int(link[0].split("http://127.0.0.1:", 1)[1].split("/", 1)[0].split(" ", 1)[0])
        assert _answers_http(port)


def _write_pem(path: Path, text: str, mode: int = 0o600) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    """An external `dask scheduler` and two `dask worker`s over TLS (one CA, certificate and key), stopped at the end."""
    from distributed.security import Security

    tmp = tmp_path_factory.mktemp("dask_tls")
    sec = Security.temporary()
    ca = _write_pem(tmp / "ca.pem", sec.tls_ca_file)
    cert = _write_pem(tmp / "cert.pem", sec.tls_client_cert)
    key = _write_pem(tmp / "key.pem", sec.tls_client_key)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dask = str(Path(sys.executable).with_name("dask"))
    tls = ["--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)]
    address = f"tls://127.0.0.1:{port}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [subprocess.Popen([dask, "scheduler", "--protocol", "tls", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard", *tls], stdout=subprocess.DEVNULL,
                              stderr=open(tmp / "scheduler.log", "w"), env=env)]
    for i in range(2):
        procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--memory-limit", "2GB",
                                       "--no-dashboard", "--name", f"w{i}", "--local-directory", str(tmp / f"w{i}"), *tls],
                                      stdout=subprocess.DEVNULL, stderr=open(tmp / f"worker{i}.log", "w"), env=env))
    try:
        from dask.distributed import Client

        deadline = time.monotonic() + 90
        while True:
            try:
                with Client(address, timeout="5s", security=Security(tls_ca_file=str(ca), tls_client_cert=str(cert),
                                                                     tls_client_key=str(key), require_encryption=True)) as c:
                    c.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address, ca, cert, key
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def env(settings, data_dir, tmp_path_factory):
    from click.testing import CliRunner

    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}
    brandenburg_model(CliRunner(), env, data_dir, tmp_path_factory.mktemp("secd"), "secd")
    return env


def _class_map(folder: Path) -> np.ndarray:
    import rasterio

    tifs = sorted(folder.rglob("*_class.tif"))
    assert len(tifs) == 1, list(folder.rglob("*"))
    with rasterio.open(tifs[0]) as src:
        return src.read(1)


def test_stage_runs_on_the_local_tls_cluster_and_on_an_external_tls_scheduler(runner, env, tmp_path, tls_cluster):
    address, ca, cert, key = tls_cluster
    base = ["model_predict", "-p", "secd_b10", "-m", "secd_rf", *BBOX]
    sync = runner.invoke(cli, [*base, "-n", "secd_sync", "--outdir", str(tmp_path / "sync")], env=env)
    assert sync.exit_code == 0, sync.output
    local_env = {k: v for k, v in env.items() if k != "ANTARES_SCHEDULER"}  # the default: a local cluster
    local = runner.invoke(cli, [*base, "-n", "secd_local", "--outdir", str(tmp_path / "local"), "--workers", "2"],
                          env=local_env)
    assert local.exit_code == 0, local.output
    external = runner.invoke(cli, [*base, "-n", "secd_tls", "--outdir", str(tmp_path / "tls"), "-sc", address,
                                   "--tls-ca", str(ca), "--tls-cert", str(cert), "--tls-key", str(key)], env=env)
    assert external.exit_code == 0, external.output
    expected = _class_map(tmp_path / "sync")
    assert (expected > 0).sum() > 1000
    np.testing.assert_array_equal(_class_map(tmp_path / "local"), expected)
    np.testing.assert_array_equal(_class_map(tmp_path / "tls"), expected)


def test_external_tls_scheduler_needs_its_files_and_a_private_key(runner, env, tmp_path, tls_cluster):
    address, ca, cert, key = tls_cluster
    base = ["model_predict", "-p", "secd_b10", "-m", "secd_rf", *BBOX, "-n", "secd_bad", "--outdir", str(tmp_path / "o"),
            "-sc", address]
    cases = [
        ([], f"-sc {address} needs the cluster's CA, this client's certificate and key"),
        (["--tls-ca", str(ca), "--tls-cert", str(cert)], "TLS needs --tls-ca, --tls-cert and --tls-key together; "
                                                        "missing: --tls-key"),
        (["--tls-ca", str(tmp_path / "nope.pem"), "--tls-cert", str(cert), "--tls-key", str(key)],
         f"--tls-ca {tmp_path / 'nope.pem'}: cannot read it"),
    ]
    shared_key = shutil.copy(key, tmp_path / "shared.key")
    os.chmod(shared_key, 0o644)
    cases.append((["--tls-ca", str(ca), "--tls-cert", str(cert), "--tls-key", str(shared_key)],
                  f"--tls-key {shared_key} can be read by other users (mode 0644); run: chmod 600 {shared_key}"))
    for extra, message in cases:
        result = runner.invoke(cli, [*base, *extra], env=env)
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], result.output
        assert not (tmp_path / "o").exists()
    from_env = runner.invoke(cli, [*base[:-2], "--tls-ca", str(ca)], env={**env, "ANTARES_SCHEDULER": address})
    assert from_env.exit_code == 2 and "TLS needs --tls-ca, --tls-cert and --tls-key together" in from_env.output
    shown = runner.invoke(cli, ["config", "show"], env={**env, "ANTARES_SCHEDULER": address})  # not a dask command
    assert shown.exit_code == 0 and address in shown.output, shown.output
    env_only = runner.invoke(cli, [*base[:-2]], env={**env, "ANTARES_SCHEDULER": address})
    assert env_only.exit_code == 2, env_only.output
    assert f"scheduler {address} (from env ANTARES_SCHEDULER) needs the cluster's CA" in env_only.output
