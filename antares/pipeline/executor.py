"""Where per-tile tasks run: in process, a local dask cluster, or an existing scheduler."""

from __future__ import annotations

import logging
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
def task_runner(scheduler: str | None = None, workers: int = 2) -> Iterator[Callable]:
    """Yield ``run(fn, items)``, an iterator of ``(item, result or exception)`` as tasks finish.

    Parameters
    ----------
    scheduler : str, optional
        ``"sync"``: run tasks one after the other in this process (debugging, tests).
        ``None``: start a ``dask.distributed.LocalCluster`` of ``workers`` processes
        with one thread each. ``tcp://host:port`` or the path of a scheduler file:
        use that ``dask.distributed`` scheduler.
    workers : int
        Processes of the local cluster.

    Raises
    ------
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

    cluster = None
    try:
        if scheduler is None:
            with _sigint_ignored():  # the workers inherit it: Ctrl-C stops this process only, which stops them
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR,
                                       # the scheduler's HTTP server on a free port: no "port 8787 in use" warning
                                       scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            client = Client(cluster)
        else:
            kwargs = {"scheduler_file": scheduler} if not scheduler.startswith(("tcp://", "tls://", "inproc://")) else {"address": scheduler}
            if "scheduler_file" in kwargs:
                import os

                if not os.path.exists(scheduler):
                    raise UsageError(f"scheduler {scheduler!r} is neither a tcp:// address nor an existing scheduler file.")
            client = Client(timeout="10s", **kwargs)
    except (OSError, TimeoutError) as exc:
        raise AntaresError(f"cannot reach the dask scheduler {scheduler}: {exc}. Check the address (tcp://HOST:8786) "
                           "or leave -sc out to use a local cluster.") from exc

    def run_dask(fn, items: Iterable):
        items = list(items)
        futures = {client.submit(fn, item, pure=False): item for item in items}
        for future in as_completed(futures):
            item = futures[future]
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
