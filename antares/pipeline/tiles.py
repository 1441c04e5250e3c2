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
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)


def _timed(worker: Callable, job):
    """Run ``worker(job)`` and return ``(result, seconds)`` (runs on the worker)."""
    start = time.monotonic()
    result = worker(job)
    return result, time.monotonic() - start


def read_datasets(jobs) -> list[str]:
    """The ids (UUID strings, sorted) of the indexed datasets the ``jobs`` read: their ``source_ids``
    and ``terrain_ids`` (provenance a reviewer can replay: the run records which datasets, not how many)."""
    ids = set()
    for job in jobs:
        for attr in ("source_ids", "terrain_ids"):
            ids.update(str(i) for i in getattr(job, attr, None) or ())
    return sorted(ids)


def run_tiles(run, record: tuple, jobs: list, worker: Callable, on_result: Callable, executor: tuple = (None, None),
              progress: Callable | None = None) -> list[tuple[tuple[int, int], str]]:
    """Run ``worker`` over ``jobs`` (objects with a ``tile`` attribute) and record them in ``run``.

    Parameters
    ----------
    run : antares.pipeline.run.RecordedRun
        The stage's run (``with recorded_run(settings, kind, name) as run:``); it is started
        here, with the ``params`` and ``inputs`` of ``record``, unless there is nothing to do.
    record : (dict, dict)
        ``(params, inputs)``: JSON recorded with the run (the inputs get the ids of the datasets
        the jobs read, :func:`read_datasets`).
    jobs : list
        Picklable task descriptions; ``job.tile`` is the tile index ``(ix, iy)``.
    worker : callable
        Top-level function ``worker(job) -> result`` (runs on a dask worker).
    on_result : callable
        ``on_result(job, result)`` in the main process; an exception marks the tile failed.
    executor : (str or None, int or None)
        Scheduler and workers, None for the settings' (see :func:`antares.pipeline.executor.task_runner`).
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    list of ((ix, iy), message)
        The failed tiles; the run ends ``failed`` if there are any. Without ``jobs`` no run is
        recorded (runs of this stage and name left ``running`` by a process that is gone are
        marked ``interrupted``).
    """
    from antares.db.engine import is_connection_error
    from antares.errors import WriteError
    from antares.pipeline.executor import task_runner
    from antares.pipeline.run import one_line

    if not jobs:  # every tile is done: a re-run with nothing to do records nothing
        run.nothing_to_do("a later re-run found every tile done")
        return []

    settings = run.settings
    params, inputs = record
    scheduler, workers = executor
    failures: list[tuple[tuple[int, int], str]] = []
    done = 0
    # the executor starts first: an unreachable scheduler fails before anything is recorded
    with task_runner(scheduler or settings.scheduler, workers or settings.workers, settings) as execute:
        run.start(params, {**inputs, "datasets": read_datasets(jobs)})
        for job, outcome in execute(functools.partial(_timed, worker), jobs):
            done += 1
            seconds, message = None, None
            if isinstance(outcome, Exception):
                # not this tile's fault: the database went away, or the disk is full (the next tiles would fail)
                if is_connection_error(outcome) or isinstance(outcome, WriteError):
                    raise outcome
                message = one_line(outcome)
            else:
                result, seconds = outcome
                try:
                    on_result(job, result)
                except Exception as exc:  # e.g. refused by the index: this tile failed, the others go on
                    if is_connection_error(exc) or isinstance(exc, WriteError):
                        raise
                    message = one_line(exc)
            if message:
                failures.append((job.tile, message))
                log.debug("tile %s failed: %s", job.tile, message)
            run.tile(job.tile, "failed" if message else "done", seconds, message)
            if progress:
                progress(done, len(jobs))
    if failures:
        run.finish("failed", f"{len(failures)} tile(s) failed")
    return failures


@dataclass
class ProductOutput:
    """Where the datasets of a tiled stage go (see :func:`index_tiles`).

    Attributes
    ----------
    url : str
        The database URL (the main process indexes through its own datacube connection).
    definition : dict or None
        The product definition, added with the first dataset written; None when the product exists.
    outdir : Path
        The product's directory.
    staging : Path, optional
        ``--overwrite`` of an existing product: the tiles are written there and swapped into
        ``outdir`` only once all are written (:func:`replace_product`); the old result stays whole until then.
    """

    url: str
    definition: dict | None
    outdir: Path
    staging: Path | None = None


def index_tiles(run, report, output: ProductOutput, jobs: list, worker: Callable, record: tuple,
                executor: tuple = (None, None), progress: Callable | None = None) -> None:
    """:func:`run_tiles` for a stage whose workers return ``[(eo3 document, uri)]``: index them into a product.

    Each result is indexed as it arrives (:class:`ProductWriter`), or, with ``output.staging``,
    collected and swapped in once every tile is written (:class:`StagedProductWriter`; the
    staging directory is removed whatever happens). ``report`` (a :class:`TileReport`) gets the
    datasets written, the tiles without data, the pixels written (``job.geobox``) and the failures.

    Parameters
    ----------
    run : antares.pipeline.run.RecordedRun
    report : TileReport
    output : ProductOutput
    jobs, worker :
        As for :func:`run_tiles`.
    record : (dict, dict)
        The ``params`` and ``inputs`` recorded with the run.
    executor : (str or None, int or None)
        Scheduler and workers (see :func:`antares.pipeline.executor.task_runner`).
    progress : callable, optional
        ``progress(done, total)`` after each tile.
    """
    from antares.cube.index import connect

    staging = output.staging
    dc = connect(output.url)
    write = ProductWriter(dc, output.definition) if staging is None else \
        StagedProductWriter(dc, None, staging, output.outdir)

    def on_result(job, result: list) -> None:
        report.written += write(result)
        shape = job.geobox.shape
        report.pixels += len(result) * shape[0] * shape[1]
        report.empty += 1 - len(result)

    try:
        report.failed = run_tiles(run, record, jobs, worker, on_result, executor, progress)
        if staging is not None:
            write.finish(report)
    finally:
        if staging is not None:
            write.discard()
        dc.close()


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


def load_section(gridspec) -> dict:
    """The ``load`` section (crs, resolution, align) of a product definition on ``gridspec``'s grid."""
    from antares.cube.grid import crs_name

    res = gridspec.resolution
    return {"crs": crs_name(gridspec.crs), "resolution": {"x": float(res.x), "y": float(res.y)},
            "align": {"x": float(gridspec.alignment.x), "y": float(gridspec.alignment.y)}}


def product_writer(dc, out_def: dict, existing, staging, outdir):
    """The writer of a tiled stage's results: into a new product (``out_def`` added with the first
    tile), into ``existing``, or, for an ``--overwrite`` (``staging`` set), a
    :class:`StagedProductWriter` that swaps the staged datasets in at the end."""
    if staging is None:
        return ProductWriter(dc, out_def if existing is None else None)
    return StagedProductWriter(dc, None, staging, outdir)


def grid_params(gridspec) -> dict:
    """The tile grid as recorded with a run (JSON)."""
    return {"crs": str(gridspec.crs), "resolution": float(gridspec.resolution.x), "tile_size": list(gridspec.tile_shape)}


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
        from antares.cube.catalog import index_documents
        from antares.cube.index import add_product

        if results and self.definition is not None:
            add_product(self.dc, self.definition)
            self.definition = None
        index_documents(self.dc, results)
        return len(results)


def replace_product(dc, product: str, documents: list, staging: Path, outdir: Path,
                    definition: dict | None = None) -> None:
    """Put a complete new result in place of product ``product``'s old one; the old goes only once the new is in.

    The staging directory becomes ``outdir`` (the old directory is moved aside), then, in one
    index transaction, the product's old datasets are purged, ``definition`` is added or updated
    and ``documents`` are indexed; only then are the old files deleted. If any step fails, the
    old directory and datasets are back as they were and ``staging`` holds the new files.

    Parameters
    ----------
    documents : list of (dict, str)
        eo3 documents and their location URIs under ``staging``.
    staging, outdir : Path
        Sibling directories (one rename apart); ``outdir`` need not exist.
    definition : dict, optional
        The product definition to add (or update) with the datasets.
    """
    import os
    import shutil
    import uuid

    from antares.cube.catalog import index_documents, transaction
    from antares.cube.index import add_product
    from antares.cube.remove import purge_product_datasets

    old_prefix = staging.resolve().as_uri()
    new_prefix = (outdir.parent.resolve() / outdir.name).as_uri()
    relocated = [(doc, new_prefix + uri[len(old_prefix):] if uri.startswith(old_prefix) else uri) for doc, uri in documents]
    aside = outdir.with_name(f".{outdir.name}.old-{uuid.uuid4().hex[:8]}")
    had_old = os.path.lexists(outdir)
    if had_old:
        os.replace(outdir, aside)
    try:
        os.replace(staging, outdir)
        try:
            with transaction(dc):
                purge_product_datasets(dc, product)
                if definition is not None:
                    add_product(dc, definition)
                index_documents(dc, relocated)
        except BaseException:
            os.replace(outdir, staging)
            raise
    except BaseException:
        if had_old:
            os.replace(aside, outdir)
        raise
    if had_old:
        if aside.is_symlink():
            aside.unlink()
        else:
            shutil.rmtree(aside, ignore_errors=True)


def staged_outdir(outdir: Path) -> Path:
    """A new staging directory's path beside ``outdir`` (beside its target when it is a symbolic link)."""
    import os
    import uuid

    real = Path(os.path.realpath(outdir))
    return real.with_name(f".{real.name}.{uuid.uuid4().hex[:8]}")


class StagedProductWriter(ProductWriter):
    """Collects the results of an ``--overwrite`` run written into ``staging``; :meth:`finish` swaps them into ``outdir``.

    The product's old datasets and files stay untouched (and usable) until every tile of the
    new result is written: see :func:`replace_product`.
    """

    def __init__(self, dc, definition: dict | None, staging: Path, outdir: Path):
        import os

        super().__init__(dc, definition)
        self.staging = staging
        self.outdir = Path(os.path.realpath(outdir))
        self.results: list = []

    def __call__(self, results: list) -> int:
        """Keep ``[(eo3 document, uri)]`` for :meth:`finish`; returns how many there are."""
        self.results.extend(results)
        return len(results)

    def finish(self, report: TileReport) -> None:
        """Replace the product by the collected results if no tile failed, else keep the old one whole."""
        if report.failed:
            report.written = 0
            return
        replace_product(self.dc, report.product, self.results, self.staging, self.outdir, self.definition)

    def discard(self) -> None:
        """Remove what is left of the staging directory (after a failure, or a stop: the old result stays)."""
        import shutil

        shutil.rmtree(self.staging, ignore_errors=True)
