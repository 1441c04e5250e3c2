"""Where per-tile tasks run: in process, a local dask cluster, or an existing scheduler.

The local cluster talks TLS with a certificate made for the run (``Security.temporary()``:
a self-signed CA, key and certificate kept in memory, handed to the worker processes
through their pipes, never written to disk): the scheduler, nannies and workers listen on
``tls://127.0.0.1`` and accept only peers that present that run's certificate, so another
local user cannot connect and run code as the antares user. The scheduler's and workers'
HTTP servers (dashboard, metrics) are closed unless the dashboard is asked for. An external
scheduler is reached over ``tls://`` with the CA, certificate and key of the settings
(``--tls-ca/--tls-cert/--tls-key``); a plain ``tcp://`` scheduler is used with a warning.
"""

from __future__ import annotations

import logging
import os
import stat
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from antares.errors import AntaresError, UsageError

log = logging.getLogger(__name__)

SYNC = "sync"


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while worker processes start, so that they inherit it (Python keeps an ignored SIGINT).

    Ctrl-C reaches every process of the terminal's process group: without this each worker
    prints its own KeyboardInterrupt traceback while the main process records the interruption
    and closes the cluster. Outside the main thread (no signal handling there) it does nothing.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def task_runner(scheduler: str | None = None, workers: int = 2, settings=None) -> Iterator[Callable]:
    """Yield ``run(fn, items)``, an iterator of ``(item, result or exception)`` as tasks finish.

    Parameters
    ----------
    scheduler : str, optional
        ``"sync"``: run tasks one after the other in this process (debugging, tests).
        ``None``: start a ``dask.distributed.LocalCluster`` of ``workers`` processes
        with one thread each, over TLS with a per-run certificate and without HTTP servers.
        ``tls://host:port``, ``tcp://host:port`` or the path of a scheduler file:
        use that ``dask.distributed`` scheduler.
    workers : int
        Processes of the local cluster.
    settings : antares.config.Settings, optional
        ``tls_ca``, ``tls_cert``, ``tls_key``: the files with which to reach an external
        scheduler over TLS; ``dashboard``: keep the dashboard (its address is logged).

    Raises
    ------
    UsageError
        TLS files missing, unreadable or readable by other users; TLS files with a
        ``tcp://`` scheduler; a ``tls://`` scheduler without them.
    AntaresError
        The scheduler cannot be reached (one line with the address and the reason).
    """
    if scheduler == SYNC:
        def run_sync(fn, items: Iterable):
            for item in items:
                try:
                    yield item, fn(item)
                except Exception as exc:  # reported per tile by the caller
                    yield item, exc

        yield run_sync
        return

    from dask.distributed import Client, LocalCluster, as_completed

    dashboard = bool(getattr(settings, "dashboard", False))
    cluster = None
    try:
        if scheduler is None:
            from distributed.security import Security

            with _sigint_ignored():  # the workers inherit it: Ctrl-C stops this process only, which stops them
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       protocol="tls://", security=Security.temporary(),
                                       dashboard_address="127.0.0.1:0" if dashboard else None,
                                       # without a dashboard the scheduler still starts an HTTP server (status pages,
                                       # metrics, a proxy to the workers); on a free port, closed right below
                                       scheduler_kwargs=None if dashboard else {"dashboard_address": "127.0.0.1:0"},
                                       silence_logs=logging.ERROR)
            client = Client(cluster)
            if not dashboard:
                client.run_on_scheduler(_close_http_server)
                client.register_plugin(_close_http_plugin(), name="antares-close-http")
        else:
            security = cluster_security(settings, scheduler)
            kwargs = {"scheduler_file": scheduler} if not scheduler.startswith(("tcp://", "tls://", "inproc://")) else {"address": scheduler}
            if "scheduler_file" in kwargs and not os.path.exists(scheduler):
                raise UsageError(f"scheduler {scheduler!r} is neither a tcp:// or tls:// address nor an existing scheduler file.")
            client = Client(timeout="10s", security=security, **kwargs)
            if scheduler.startswith("tcp://"):  # once connected: a refusal stays one line
                log.warning("warning: the dask scheduler %s is plain TCP: anyone who reaches it can run code as its workers' "
                            "user. Use tls:// with --tls-ca/--tls-cert/--tls-key (docs/security-models-dask.md).", scheduler)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise AntaresError(f"cannot reach the dask scheduler {scheduler}: {exc}. Check the address (tls://HOST:8786), "
                           "the TLS files, or leave -sc out to use a local cluster.") from exc
    except BaseException:  # a refusal, an interrupt: no cluster left behind
        if cluster is not None:
            cluster.close()
        raise
    if dashboard:
        _log_dashboard(client)

    def run_dask(fn, items: Iterable):
        items = list(items)
        futures = {client.submit(fn, item, pure=False): item for item in items}
        for future in as_completed(futures):
            item = futures.pop(future)  # consumed: dask may drop its result once the caller has it
            try:
                yield item, future.result()
            except Exception as exc:
                yield item, exc

    try:
        yield run_dask
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def cluster_security(settings, scheduler: str):
    """The ``distributed.security.Security`` with which to reach ``scheduler``, or None for plain TCP.

    Parameters
    ----------
    settings : antares.config.Settings or None
        ``tls_ca``, ``tls_cert`` and ``tls_key``: PEM files of the cluster's CA, of this
        client's certificate and of its private key (all three, or none).
    scheduler : str
        ``tls://``, ``tcp://`` or the path of a scheduler file.

    Raises
    ------
    UsageError
        Only some of the three files; a file that is missing or unreadable; a key that
        other users can read; TLS files with a ``tcp://`` address; ``tls://`` without them.
    """
    files = {option: getattr(settings, key, None) for option, key in
             (("--tls-ca", "tls_ca"), ("--tls-cert", "tls_cert"), ("--tls-key", "tls_key"))}
    given = {option: path for option, path in files.items() if path is not None}
    source = (getattr(settings, "sources", None) or {}).get("scheduler", "flag")
    named = f"-sc {scheduler}" if source == "flag" else f"scheduler {scheduler} (from {source})"
    if not given:
        if scheduler.startswith("tls://"):
            raise UsageError(f"{named} needs the cluster's CA, this client's certificate and key: give --tls-ca, "
                             "--tls-cert and --tls-key (or dask: tls_ca/tls_cert/tls_key in the config file).")
        return None
    if len(given) < 3:
        missing = ", ".join(option for option in files if option not in given)
        raise UsageError(f"TLS needs --tls-ca, --tls-cert and --tls-key together; missing: {missing}.")
    if scheduler.startswith("tcp://"):
        raise UsageError(f"--tls-ca/--tls-cert/--tls-key are given but {named} is plain TCP; write tls://{scheduler[6:]}.")
    for option, path in given.items():
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"{option} {path}: cannot read it ({exc.strerror}); give the PEM file.") from None
    mode = stat.S_IMODE(os.stat(given["--tls-key"]).st_mode)
    if mode & 0o077:
        raise UsageError(f"--tls-key {given['--tls-key']} can be read by other users (mode {mode:04o}); "
                         f"run: chmod 600 {given['--tls-key']}")
    from distributed.security import Security

    return Security(tls_ca_file=str(given["--tls-ca"]), tls_client_cert=str(given["--tls-cert"]),
                    tls_client_key=str(given["--tls-key"]), require_encryption=True)


def _close_http_server(dask_scheduler=None, dask_worker=None) -> None:
    """Stop the HTTP server (dashboard, /info pages, metrics, proxy) of a scheduler or worker; on its event loop."""
    server = dask_scheduler if dask_scheduler is not None else dask_worker
    if getattr(server, "http_server", None) is not None:
        server.http_server.stop()


def _close_http_plugin():
    """A worker plugin that closes each worker's HTTP server, also in a worker that a nanny restarts."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class CloseHttpServer(WorkerPlugin):
        def setup(self, worker) -> None:
            _close_http_server(dask_worker=worker)

    return CloseHttpServer()


def _log_dashboard(client) -> None:
    try:
        import bokeh  # noqa: F401  (the dashboard's graphs)
        extra = ""
    except ImportError:
        extra = " (status pages only: the graphs need bokeh, pip install bokeh)"
    log.info("dask dashboard: %s%s", client.dashboard_link, extra)
