"""Running per-tile tasks of a stage: dask execution, indexing in the main process, run records.

Every tiled stage (ingest, apply_recipe, ...) plans its tiles, then hands them to
:func:`run_tiles`, which runs ``worker(job)`` for each on the chosen executor, calls
``on_result(job, result)`` in the main process as results arrive (this is where
datasets are indexed: only the main process writes to the database), records each
tile's status, duration and error in ``run_tile`` and the run's outcome in ``run``.
A failing tile never stops the others, except when the database went away or the disk
is full (a :class:`~antares.errors.WriteError`): then the stage ends at once, its finished
tiles kept for a re-run. With no tile left to do (a re-run of a finished
stage) nothing is recorded: the re-run changes nothing.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from antares.config import Settings

log = logging.getLogger(__name__)


def _timed(worker: Callable, job):
    """Run ``worker(job)`` and return ``(result, seconds)`` (runs on the worker)."""
    start = time.monotonic()
    result = worker(job)
    return result, time.monotonic() - start


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_tiles(settings: Settings, kind: str, name: str, params: dict, inputs: dict, jobs: list,
              worker: Callable, on_result: Callable, scheduler: str | None = None, workers: int | None = None,
              progress: Callable | None = None) -> list[tuple[tuple[int, int], str]]:
    """Run ``worker`` over ``jobs`` (objects with a ``tile`` attribute) and record the run.

    Parameters
    ----------
    kind, name : str
        The run's stage and name (``antares list runs``).
    params, inputs : dict
        Recorded with the run (JSON).
    jobs : list
        Picklable task descriptions; ``job.tile`` is the tile index ``(ix, iy)``.
    worker : callable
        Top-level function ``worker(job) -> result`` (runs on a dask worker).
    on_result : callable
        ``on_result(job, result)`` in the main process; an exception marks the tile failed.
    scheduler, workers :
        See :func:`antares.pipeline.executor.task_runner`.
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    list of ((ix, iy), message)
        The failed tiles. Without ``jobs`` no run is recorded (runs of this stage and name
        left ``running`` by a process that is gone are marked ``interrupted``).
    """
    from antares.db.engine import is_connection_error, session_scope
    from antares.db.runs import finish_run, mark_interrupted, record_tile, start_run
    from antares.errors import WriteError
    from antares.pipeline.executor import task_runner

    if not jobs:  # every tile is done: a re-run with nothing to do records nothing
        with session_scope(settings) as session:
            mark_interrupted(session, kind, name, "a later re-run found every tile done")
        return []

    failures: list[tuple[tuple[int, int], str]] = []
    done = 0
    # the executor starts first: an unreachable scheduler fails before anything is recorded
    with task_runner(scheduler or settings.scheduler, workers or settings.workers, settings) as run:
        with session_scope(settings) as session:
            run_id = start_run(session, kind, name, params, inputs)
        try:
            for job, outcome in run(functools.partial(_timed, worker), jobs):
                done += 1
                seconds, message = None, None
                if isinstance(outcome, Exception):
                    # not this tile's fault: the database went away, or the disk is full (the next tiles would fail)
                    if is_connection_error(outcome) or isinstance(outcome, WriteError):
                        raise outcome
                    message = _one_line(outcome)
                else:
                    result, seconds = outcome
                    try:
                        on_result(job, result)
                    except Exception as exc:  # e.g. refused by the index: this tile failed, the others go on
                        if is_connection_error(exc) or isinstance(exc, WriteError):
                            raise
                        message = _one_line(exc)
                if message:
                    failures.append((job.tile, message))
                    log.debug("tile %s failed: %s", job.tile, message)
                with session_scope(settings) as session:
                    record_tile(session, run_id, job.tile, "failed" if message else "done", seconds, message)
                if progress:
                    progress(done, len(jobs))
        except BaseException as exc:
            lost = end_failed_run(settings, run_id, exc)
            if lost is not None:
                raise lost from exc
            raise
    with session_scope(settings) as session:
        finish_run(session, run_id, "failed" if failures else "done",
                   f"{len(failures)} tile(s) failed" if failures else None)
    return failures


def end_failed_run(settings: Settings, run_id: int, exc: BaseException):
    """Record run ``run_id`` as failed (interrupted for Ctrl-C) because of ``exc``.

    Returns the error to raise instead of ``exc`` when ``exc`` is a lost database connection
    (a :class:`~antares.errors.ConnectionLostError` saying to re-run), else None. When the
    database is gone the run cannot be recorded; the next run of the stage marks it interrupted.
    """
    from antares.db.engine import connection_lost, is_connection_error, session_scope
    from antares.db.runs import finish_run

    try:
        with session_scope(settings) as session:
            finish_run(session, run_id, "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", _one_line(exc))
    except Exception as error:
        log.debug("could not record the end of run %s: %s", run_id, error)
        if not is_connection_error(error):
            raise
    if isinstance(exc, Exception) and is_connection_error(exc):
        return connection_lost(settings, exc)
    return None


@dataclass
class TileReport:
    """Outcome of a tiled stage that writes an indexed product: tiles written, resumed, empty, failed."""

    product: str
    tiles: int = 0
    written: int = 0
    skipped: int = 0
    empty: int = 0
    failed: list = field(default_factory=list)  # ((ix, iy), message)
    notes: list = field(default_factory=list)  # lines printed before the tiles' outcome (e.g. the grid chosen)
    pixels: int = 0  # pixels of the datasets written (per measurement)

    def summary(self) -> str:
        """The last line of the report (stage-specific wording)."""
        return (f"{self.written} tile(s) written and indexed into {self.product} ({self.tiles} in the area); "
                f"{self.skipped} already done, {self.empty} without valid data, {len(self.failed)} failed; "
                f"{self.pixels:,} pixel(s) written per measurement")

    def lines(self) -> list[str]:
        return (list(self.notes) + [f"tile {ix},{iy} failed: {message}" for (ix, iy), message in self.failed]
                + [self.summary()])


def grid_params(gridspec) -> dict:
    """The tile grid as recorded with a run (JSON)."""
    return {"crs": str(gridspec.crs), "resolution": float(gridspec.resolution.x), "tile_size": list(gridspec.tile_shape)}


def index_documents(dc, results) -> None:
    """Index ``(eo3 document, location URI)`` pairs with their lineage, in one transaction.

    Raises
    ------
    InvalidInputError
        ODC refused a document (nothing of this batch is indexed).
    """
    from datacube.index.hl import Doc2Dataset

    from antares.errors import InvalidInputError

    resolver = Doc2Dataset(dc.index, skip_lineage=False, verify_lineage=False)
    with dc.index.transaction():
        for doc, uri in results:
            dataset, error = resolver(doc, uri)
            if dataset is None:
                raise InvalidInputError(f"dataset {doc['id']} refused: {' '.join(str(error).split())}")
            dc.index.datasets.add(dataset, with_lineage=True)


class ProductWriter:
    """Indexes the results of tiles into a product, adding its definition with the first written tile.

    So a run in which no tile succeeds leaves no product behind.

    Parameters
    ----------
    dc : datacube.Datacube
    definition : dict or None
        The product definition to add before the first dataset; ``None`` if the product exists.
    """

    def __init__(self, dc, definition: dict | None):
        self.dc = dc
        self.definition = definition

    def __call__(self, results: list) -> int:
        """Index ``[(eo3 document, uri)]``; returns how many datasets were indexed."""
        from antares.cube.index import add_product

        if results and self.definition is not None:
            add_product(self.dc, self.definition)
            self.definition = None
        index_documents(self.dc, results)
        return len(results)
