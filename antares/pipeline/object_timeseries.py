"""``antares object_timeseries``: the mean series of every object of a segmentation over a time-series product.

For each tile of the segmentation's label product (a task, as in ``model_predict_object``) the
label raster and every time (step) of the product are read on the same grid, and each step's
per-object accumulators are computed in one pass (:func:`antares.features.partial_statistics`).
Accumulators of objects that cross tile edges are merged exactly (sums and counts add), so each
object's value is the mean of all its valid pixels. The table, one row per object and step (long
format), is written to Parquet through a temporary file renamed when complete (mode 0600), for the
deep models (pixel sets of one pixel: the object mean series) and for notebooks. With ``shape``
the shape features of the object polygons (:func:`antares.object_features.shape_features`) are
added to every row.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectSeriesRequest:
    """What ``object_timeseries`` computes, validated on construction.

    Attributes
    ----------
    segmentation : str
        A segmentation on the product's grid (``antares segment``).
    product : str
        An indexed product, typically a time-series product (one dataset per step).
    path : str or Path
        The Parquet file to write (suffix ``.parquet``).
    measurements : tuple of str, optional
        Default: every measurement of the product.
    time : (begin, end), optional
        Only the steps in this period.
    shape : bool
        Add the polygon shape features (area, perimeter, compactness, elongation, rectangularity).
    overwrite : bool
        Replace an existing file.
    scheduler, workers
        As for the other tiled stages (``'sync'``: in this process).

    Raises
    ------
    UsageError
        A path without the ``.parquet`` suffix, a measurement given twice, workers < 1.
    """

    segmentation: str
    product: str
    path: str | Path
    measurements: tuple = ()
    time: tuple | None = None
    shape: bool = False
    overwrite: bool = False
    scheduler: str | None = None
    workers: int | None = None

    def __post_init__(self):
        path = Path(self.path)
        if path.suffix.lower() != ".parquet":
            raise UsageError(f"the table must be a .parquet file; got {str(path)!r}. Give a path ending in .parquet.")
        measurements = tuple(self.measurements or ())
        if len(set(measurements)) != len(measurements):
            raise UsageError(f"measurements must be distinct; got {', '.join(measurements)}.")
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"workers must be an int >= 1. Got {self.workers}.")
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "measurements", measurements)


@dataclass
class ObjectSeriesReport:
    """What ``object_timeseries`` wrote, for the CLI."""

    path: Path
    objects: int = 0
    steps: int = 0
    rows: int = 0
    tiles: int = 0
    measurements: list = field(default_factory=list)
    no_valid: int = 0

    def lines(self) -> list[str]:
        out = [f"wrote {self.path}: {self.rows} row(s), {self.objects} object(s) x {self.steps} step(s) of "
               f"{', '.join(self.measurements)} over {self.tiles} tile(s)"]
        if self.no_valid:
            out.append(f"{self.no_valid} (object, step) row(s) without a valid pixel: NaN means, count 0")
        return out


@dataclass
class SeriesJob:
    """One tile of the segmentation (picklable)."""

    url: str
    product: str
    measurements: list
    segmentation: str
    geobox: object
    time: tuple | None


def series_tile(job: SeriesJob):
    """``(times (t,), [PartialStats per time])`` of the objects of one tile, or None without an object."""
    from antares.cube.features import tile_labels_and_series
    from antares.features import partial_statistics

    loaded = tile_labels_and_series(job.url, job.segmentation, job.product, job.measurements, job.geobox, job.time)
    if loaded is None:
        return None
    labels, times, values = loaded
    return times, [partial_statistics(labels, v) for v in values]


def merge_series(results) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-object means and valid counts per time from the tiles' accumulators.

    Parameters
    ----------
    results : list of (times, list of PartialStats)
        :func:`series_tile`'s results (None left out).

    Returns
    -------
    ids : ndarray (n,) int64
        Every object seen, sorted.
    times : ndarray (t,) datetime64[ns]
        Every time seen, sorted.
    mean : ndarray (t, n, b) float64
        NaN where an object has no valid pixel at a time.
    count : ndarray (t, n, b) int64
    """
    from antares.features import merge_partials

    by_time: dict = {}
    for times, parts in results:
        for t, part in zip(times, parts):
            by_time.setdefault(np.datetime64(t, "ns"), []).append(part)
    times = np.array(sorted(by_time), dtype="datetime64[ns]")
    if not len(times):
        return np.zeros(0, np.int64), times, np.zeros((0, 0, 0)), np.zeros((0, 0, 0), np.int64)
    ids = np.unique(np.concatenate([p.ids for parts in by_time.values() for p in parts]))
    n_bands = next(iter(by_time.values()))[0].n_bands
    mean = np.full((len(times), len(ids), n_bands), np.nan)
    count = np.zeros((len(times), len(ids), n_bands), np.int64)
    for i, t in enumerate(times):
        merged = merge_partials(by_time[t])
        at = np.searchsorted(ids, merged.ids)
        count[i, at] = merged.count
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[i, at] = merged.sum / merged.count
    return ids, times, mean, count


def _write_parquet(frame, path: Path, overwrite: bool) -> None:
    """``frame`` to ``path`` through a temporary file in the same folder (0600), renamed when complete."""
    from antares.cube.write import write_failure

    if path.exists() and not overwrite:
        raise AlreadyExistsError(f"{path} exists; use --overwrite to replace it or choose another -f.")
    if not path.parent.is_dir():
        raise InvalidInputError(f"the folder of {path} does not exist; create it or choose another -f.")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        frame.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_failure(path, exc, "free some space or choose another -f") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def object_timeseries(settings: Settings, request: ObjectSeriesRequest, progress=None) -> ObjectSeriesReport:
    """Write the per-object mean series of ``request.product`` over ``request.segmentation`` to Parquet.

    Parameters
    ----------
    settings : antares.config.Settings
    request : ObjectSeriesRequest
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    ObjectSeriesReport
        The table has one row per object and step, sorted by ``segment_id`` then ``time``:
        ``segment_id`` (int64), ``time`` (timestamp: the dataset's time, a step's centre),
        ``step`` (0-based int), per measurement ``m`` the mean of the object's valid pixels ``m``
        (float64, NaN without any) and their count ``m_count`` (int64), then with ``shape`` the
        columns of :data:`antares.object_features.SHAPE_FEATURES` (units of the segments' CRS).

    Raises
    ------
    NotFoundError
        Unknown segmentation or product (the known ones listed); no dataset of the product in the period.
    InvalidInputError
        A measurement the product lacks; the segmentation on another grid than the product; the
        table's folder missing.
    AlreadyExistsError
        The file exists and ``overwrite`` is False.
    """
    import pandas as pd

    from antares.cube.catalog import find_datasets
    from antares.cube.index import connect, product_definition
    from antares.cube.load import native_geobox
    from antares.db.engine import database_url, session_scope
    from antares.db.segmentations import require_segmentation
    from antares.object_features import SHAPE_FEATURES
    from antares.pipeline.executor import task_runner
    from antares.models.samples import with_shape
    from antares.pipeline.predict import _check_same_grid, segment_shapes

    path = request.path.absolute()
    if path.exists() and not request.overwrite:
        raise AlreadyExistsError(f"{path} exists; use --overwrite to replace it or choose another -f.")
    url = database_url(settings)
    with session_scope(settings) as session:
        seg = require_segmentation(session, request.segmentation)
    dc = connect(url)
    try:
        available = [m["name"] for m in product_definition(dc, request.product)["measurements"]]
        measurements = list(request.measurements or available)
        missing = [m for m in measurements if m not in available]
        if missing:
            raise InvalidInputError(f"product {request.product} has no measurement {', '.join(missing)}; its "
                                    f"measurements: {', '.join(available)}.")
        reserved = {"segment_id", "time", "step", *(SHAPE_FEATURES if request.shape else ())}
        clash = [m for m in measurements if m in reserved or f"{m}_count" in measurements]
        if clash:
            raise InvalidInputError(f"measurement(s) {', '.join(clash)} of {request.product} would share a column name "
                                    f"with {', '.join(sorted(reserved))} or a count; choose the measurements with -m.")
        datasets = find_datasets(dc, request.product, time=request.time)
        if not datasets:
            period = f" between {request.time[0]} and {request.time[1]}" if request.time else ""
            raise NotFoundError(f"product {request.product} has no dataset{period}; compute it first.")
        label_datasets = find_datasets(dc, request.segmentation)
        if not label_datasets:
            raise NotFoundError(f"segmentation {request.segmentation} has no label tile.")
        tiles = [native_geobox([d], ["segment_id"]) for d in label_datasets]
        _check_same_grid(tiles[0], native_geobox(datasets, measurements), request.segmentation, request.product)
    finally:
        dc.close()
    jobs = [SeriesJob(url, request.product, measurements, request.segmentation, tile, request.time) for tile in tiles]
    results = []
    with task_runner(request.scheduler or settings.scheduler, request.workers or settings.workers, settings) as execute:
        for done, (job, result) in enumerate(execute(series_tile, jobs), 1):
            if isinstance(result, Exception):
                x0, y0 = job.geobox.affine.c, job.geobox.affine.f
                raise InvalidInputError(f"tile at ({x0:.0f}, {y0:.0f}) failed: {type(result).__name__}: "
                                        f"{' '.join(str(result).split())}") from result
            if result is not None:
                results.append(result)
            if progress:
                progress(done, len(jobs))
    ids, times, mean, count = merge_series(results)
    if not len(ids) or not len(times):
        raise InvalidInputError(f"segmentation {request.segmentation} has no object with data of product "
                                f"{request.product}{' in the period' if request.time else ''}; nothing written.")
    n_t, n = len(times), len(ids)
    columns = {"segment_id": np.repeat(ids, n_t), "time": np.tile(times, n), "step": np.tile(np.arange(n_t), n)}
    for b, m in enumerate(measurements):
        columns[m] = mean[:, :, b].T.reshape(-1)
        columns[f"{m}_count"] = count[:, :, b].T.reshape(-1)
    if request.shape:
        shapes = with_shape(ids, np.zeros((n, 0)), segment_shapes(settings, seg.id, request.segmentation))
        for k, name in enumerate(SHAPE_FEATURES):
            columns[name] = np.repeat(shapes[:, k], n_t)
    frame = pd.DataFrame(columns)
    _write_parquet(frame, path, request.overwrite)
    report = ObjectSeriesReport(path, objects=n, steps=n_t, rows=len(frame), tiles=len(jobs), measurements=measurements)
    report.no_valid = int((count.sum(axis=2) == 0).sum())
    return report
