"""``antares segment``: objects from an intermediary product, seamless across tiles, stored in PostGIS.

The area (on the product's native grid) is cut into tiles. The stages of
:mod:`antares.segmentation.tiling` (stable segments of the tiles with margins, then of a
grid shifted by half a tile, then the rest) run as dask tasks that each load only their
extended window (read straight from the files when they lie on the product's grid, else
``dc.load(like=window)``; see :func:`antares.cube.features.load_features`). Stage results go to disk-backed label rasters
(numpy memmaps in ``$ANTARES_HOME/work``, one per stage, so that the tasks of a stage read
complete earlier stages and write disjoint cores). Each task polygonises the segments it
keeps — a kept segment lies entirely inside the task's core, so its polygon is complete.
Finally each tile's labels are written as a COG (int64, 0 = nodata) with an eo3 document
(lineage: the input datasets) and indexed as the label product NAME, and the polygons
(segment_id, geometry, area in m², pixel count) are copied into ``antares.segment`` in
one transaction with the ``segmentation`` row.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError, WriteError
from antares.pipeline.requests import SegmentRequest, takes

log = logging.getLogger(__name__)

STAGES = ((0, True), (0.5, True), (0.5, False))  # (grid offset in tiles, stability rule)


@dataclass
class Area:
    """The grid of the run: the area's GeoBox and the memmap files."""

    geobox: object
    workdir: str

    def memmap(self, name: str, dtype, mode: str = "r+"):
        return np.memmap(Path(self.workdir) / f"{name}.dat", dtype=dtype, mode=mode, shape=tuple(self.geobox.shape))

    def create(self, name: str, dtype) -> None:
        """Create the zero-filled file of memmap ``name`` with its disk blocks reserved (no SIGBUS on a full disk).

        Raises
        ------
        WriteError
            The work directory's file system has no room for it.
        """
        from antares.cube.write import reserve_file

        nbytes = int(np.prod(self.geobox.shape)) * np.dtype(dtype).itemsize
        reserve_file(Path(self.workdir) / f"{name}.dat", nbytes,
                     "free some space in $ANTARES_HOME/work or set ANTARES_HOME to a larger disk")


@dataclass
class StageJob:
    """One window of one stage (picklable)."""

    url: str
    product: str
    bands: list
    area: Area
    stage: int
    number: int
    n_windows: int
    core: tuple
    extended: tuple
    stable: bool
    segmenter: object  # the validated antares.segmentation.base.Segmenter of the request (picklable)
    mean: list
    std: list
    time: tuple | None = None  # (start, end) of the one date segmented, when the product has several


@dataclass
class SegmentReport:
    """Outcome of a segment run."""

    name: str
    tiles: int = 0
    segments: int = 0
    failed: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"tile {ix},{iy} failed: {message}" for (ix, iy), message in self.failed]
        if self.failed:
            out.append(f"segmentation {self.name} not stored: {len(self.failed)} tile(s) failed (re-run once fixed)")
        else:
            out.append(f"{self.segments} segment(s) in segmentation {self.name} over {self.tiles} tile(s); 0 tile(s) failed")
        return out


def segment_stage(job: StageJob) -> list[tuple]:
    """Segment one window of one stage; write kept labels into the stage's memmap; return polygon rows."""
    from antares.cube.catalog import find_datasets
    from antares.cube.features import load_features
    from antares.cube.grid import pixel_areas
    from antares.cube.index import connect
    from antares.segmentation.polygonize import polygon_rows
    from antares.segmentation.tiling import STRIDE, Window, cut_borders, local_core, segment_block

    area = job.area
    ys, xs = job.extended
    geobox = area.geobox[ys, xs]
    dc = connect(job.url, app="antares-segment")
    try:
        datasets = find_datasets(dc, job.product, time=job.time, like=geobox) if job.time else None
        features = load_features(dc, job.product, job.bands, geobox, datasets)
    finally:
        dc.close()
    window = Window(job.number, job.core, job.extended)
    core = local_core(window)
    if job.stage == 0:  # record which pixels are valid, for the last step
        valid = area.memmap("valid", np.uint8)
        valid[job.core] = np.isfinite(features).all(axis=0)[core]
        valid.flush()
    assigned = np.zeros(geobox.shape, bool)
    for earlier in range(job.stage):
        assigned |= np.asarray(area.memmap(f"stage{earlier}", np.int64, "r")[ys, xs]) > 0
    local, keep = segment_block(job.segmenter, features, assigned, core, cut_borders(window, area.geobox.shape),
                                job.mean, job.std, job.stable)
    offset = (job.stage * job.n_windows + job.number) * STRIDE
    out = area.memmap(f"stage{job.stage}", np.int64)
    target = out[ys, xs]
    target[keep] = offset + local[keep]
    out.flush()
    return polygon_rows(local, offset, geobox.affine, geobox.crs.epsg, pixel_areas(geobox))


@dataclass
class FinishTileJob:
    """The last step for one tile of the grid: leftovers, the label COG and its eo3 document."""

    area: Area
    tile: tuple
    core: tuple
    number: int
    n_windows: int
    name: str
    outdir: str
    source_ids: list
    out_id: str


def finish_tile(job: FinishTileJob) -> tuple[list, list]:
    """Give leftover valid pixels a segment each (4-connected pieces), write the tile's label COG.

    Returns ``(polygon rows of the leftovers, [(eo3 document, uri)] or [])``.
    """
    from skimage.measure import label as connected

    from antares.cube.grid import pixel_areas
    from antares.cube.warp import xr_from_array
    from antares.cube.write import eo3_document, write_cog, write_yaml
    from antares.segmentation.polygonize import polygon_rows
    from antares.segmentation.tiling import STRIDE

    area = job.area
    cy, cx = job.core
    geobox = area.geobox[cy, cx]
    labels = np.zeros(geobox.shape, np.int64)
    for stage in range(len(STAGES)):
        part = np.asarray(area.memmap(f"stage{stage}", np.int64, "r")[cy, cx])
        labels = np.where(part > 0, part, labels)
    valid = np.asarray(area.memmap("valid", np.uint8, "r")[cy, cx]).astype(bool)
    left = valid & (labels == 0)
    rows = []
    if left.any():
        pieces = connected(left, connectivity=1).astype(np.int64)
        offset = (len(STAGES) * job.n_windows + job.number) * STRIDE
        labels[left] = offset + pieces[left]
        rows = polygon_rows(pieces, offset, geobox.affine, geobox.crs.epsg, pixel_areas(geobox))
    if not valid.any():
        return rows, []
    ix, iy = job.tile
    outdir = Path(job.outdir) / f"{ix}_{iy}"
    fname = f"{job.name}_{ix}_{iy}_segment_id.tif"
    write_cog(xr_from_array(labels, geobox), outdir / fname, nodata=0, resampling="nearest")
    import datetime as dt

    doc = eo3_document(job.out_id, job.name, geobox, {"segment_id": fname},
                       {"datetime": dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc), "odc:region_code": f"{ix}_{iy}"},
                       lineage={"source": job.source_ids})
    path = write_yaml(doc, outdir / f"{job.name}_{ix}_{iy}.odc-metadata.yaml")
    return rows, [(doc, path.resolve().as_uri())]


def label_product(name: str, source: str, algorithm: str) -> dict:
    """Product definition of a segmentation's label raster."""
    return {
        "name": name, "metadata_type": "eo3", "metadata": {"product": {"name": name}},
        "description": f"segment ids of segmentation {name} ({algorithm} on {source}); 0 = nodata",
        "measurements": [{"name": "segment_id", "dtype": "int64", "nodata": 0, "units": "1"}],
    }


def band_statistics(dc, product: str, bands: list, geobox, datasets, block: int = 1024) -> tuple[list, list]:
    """Mean and population std of each band over the valid pixels of ``geobox``, block by block."""
    from antares.cube.features import load_features
    from antares.cube.grid import blocks

    total = np.zeros(len(bands))
    squares = np.zeros(len(bands))
    count = 0
    for part, _ in blocks(geobox, block):
        features = load_features(dc, product, bands, part, datasets)
        valid = np.isfinite(features).all(axis=0)
        values = features[:, valid].astype(np.float64)
        total += values.sum(axis=1)
        squares += (values ** 2).sum(axis=1)
        count += valid.sum()
    if count == 0:
        raise InvalidInputError("the product has no valid pixel (every band finite) in the area.")
    mean = total / count
    return mean.tolist(), np.sqrt(np.maximum(squares / count - mean ** 2, 0)).tolist()


@takes(SegmentRequest)
def segment(settings: Settings, request: SegmentRequest, progress=None) -> SegmentReport:
    """Segment ``request.product`` over ``request.area`` into segmentation ``request.name`` (label product + polygons in PostGIS).

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.requests.SegmentRequest
        ``product``: input product (features: any measurements; nodata and NaN are masked);
        ``algorithm`` and ``params``: checked against the algorithm's declaration when the
        request is made, and its validated ``segmenter`` is what every window runs;
        ``bands``: measurements to segment on (default: all of the product's);
        ``tile_size``, ``margin``: tile side and stability margin, in pixels of the product's
        grid; ``labels``: free labels recorded with the run (antares3's ``-y`` year and ``-d``
        data source); ``time``: the date (YYYY-MM-DD, UTC) to segment, required when the
        product has datasets on more than one date in the area. The old form
        ``segment(settings, product, name, area, algorithm, params=..., ...)`` builds it.
    progress : callable, optional
        ``progress(done, total)`` after each window of each pass and after each finished tile:
        ``total`` is the windows of the three passes plus the tiles finished (labels written),
        ``done`` counts them as they complete, so the count moves within each pass.

    Returns
    -------
    SegmentReport

    Raises
    ------
    UsageError
        Unknown algorithm or parameter, or a parameter out of range (raised by the request).
    NotFoundError
        Unknown product, a band not in the product (its measurements are listed), no datasets in the area
        (on ``time``: the dates there are listed).
    InvalidInputError
        The product has several dates in the area and ``time`` is not given (the number of dates is given).
    AlreadyExistsError
        ``name`` exists and ``overwrite`` is False.
    WriteError
        The work rasters, the polygon rows or a label COG could not be written (a full disk ...):
        the free space is named, nothing is stored and the run is recorded ``failed``.
    """
    from antares.cube.write import check_output_dir
    from antares.names import product_dir
    from antares.pipeline.run import recorded_run

    outdir = check_output_dir(product_dir(settings.home, request.name, request.outdir), staging_beside=True)
    with recorded_run(settings, "segment", request.name) as run:  # the name is taken before any work
        return _segment(run, request, outdir, progress)


def _segment(run, request: SegmentRequest, outdir, progress) -> SegmentReport:
    """:func:`segment` once the name is taken (``run``: its :class:`~antares.pipeline.run.RecordedRun`)."""
    from antares.cube.catalog import find_datasets, product_exists
    from antares.cube.index import connect, product_definition
    from antares.cube.load import native_geobox, one_date
    from antares.cube.write import DISK_FULL, write_failure
    from antares.db.engine import database_url, session_scope
    from antares.db.segmentations import segmentation_exists
    from antares.pipeline.executor import task_runner
    from antares.pipeline.recipe import period_bounds
    from antares.pipeline.run import one_line
    from antares.pipeline.tiles import staged_outdir
    from antares.prepare.base import dataset_id
    from antares.segmentation.tiling import tile_windows

    settings, name = run.settings, run.name
    product, area, algorithm, segmenter = request.product, request.area, request.algorithm, request.segmenter
    tile_size, margin, time, overwrite = request.tile_size, request.margin, request.time, request.overwrite
    url = database_url(settings)
    with session_scope(settings) as session:
        exists = segmentation_exists(session, name)
    if exists and not overwrite:
        raise AlreadyExistsError(f"segmentation '{name}' exists; use --overwrite to replace it or choose another name.")
    dc = connect(url)
    try:
        definition = product_definition(dc, product)
        names = [m["name"] for m in definition["measurements"]]
        bands = list(request.bands or names)
        unknown = [b for b in bands if b not in names]
        if unknown:
            raise NotFoundError(f"product {product} has no measurement {', '.join(unknown)}; its measurements: {', '.join(names)}.")
        segmenter.check_bands(len(bands))
        period = period_bounds(time, time)[:2] if time else None
        datasets = one_date(find_datasets(dc, product, area=area), product, time)
        if product_exists(dc, name) and not overwrite:  # checked before any pixel is read
            raise AlreadyExistsError(f"product '{name}' exists; use --overwrite or choose another name.")
        geobox = native_geobox(datasets, bands, area)
        mean, std = band_statistics(dc, product, bands, geobox, datasets)
    finally:
        dc.close()

    staging = staged_outdir(outdir)  # the new result is built there, then swapped in (a symlinked outdir is followed)
    outdir = Path(os.path.realpath(outdir))
    # work directories of this name are left only by a killed run (SIGKILL, a power cut): this run holds the
    # name, so no live run uses them (names are letters, digits and _: the prefix is this name's alone)
    for stale in Path(_workdir(settings)).glob(f"segment-{name}-*"):
        log.info("removing %s, left by a killed segment run of %s", stale, name)
        shutil.rmtree(stale, ignore_errors=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"segment-{name}-", dir=_workdir(settings)))
    rows_file = workdir / "segments.csv"
    try:
        area_grid = Area(geobox, str(workdir))
        for stage in range(len(STAGES)):  # their blocks reserved: a full disk fails here, not with SIGBUS
            area_grid.create(f"stage{stage}", np.int64)
        area_grid.create("valid", np.uint8)
        report = SegmentReport(name)
        n_windows = sum(len(tile_windows(geobox.shape, tile_size, margin, int(o * tile_size))) for o, _ in STAGES)
        source_ids = [str(d.id) for d in datasets]
        run_params = {"algorithm": algorithm, "params": segmenter.get_params(), "bands": bands, "tile_size": tile_size,
                      "margin": margin, "time": time, "standardisation": {"mean": mean, "std": std},
                      "area_wkt": area.to_crs("EPSG:4326").wkt,
                      "labels": {k: v for k, v in request.labels.items() if v is not None}}
        with task_runner(request.scheduler or settings.scheduler, request.workers or settings.workers, settings) as execute, \
                open(rows_file, "w", newline="") as fh:
            run.start(run_params, {"product": product, "datasets": len(source_ids)})
            number_base = 0
            tiles = tile_windows(geobox.shape, tile_size, 0)
            done, total = 0, n_windows + len(tiles)
            for stage, (offset, stable) in enumerate(STAGES):
                windows = tile_windows(geobox.shape, tile_size, margin if stable else 0, int(offset * tile_size))
                jobs = [StageJob(url, product, bands, area_grid, stage, number_base + w.number, n_windows, w.core,
                                 w.extended, stable, segmenter, mean, std, period) for w in windows]
                number_base += len(windows)
                for job, result in execute(segment_stage, jobs):
                    done += 1
                    if isinstance(result, WriteError):  # a full disk: the other windows would fail too
                        raise result
                    if isinstance(result, Exception):  # reported; the other windows go on
                        report.failed.append((_tile_of(job.core, tile_size), f"pass {stage + 1}: {one_line(result)}"))
                    else:
                        _write_rows(fh, result)
                        report.segments += len(result)
                    if progress:
                        progress(done, total)
            finish = [FinishTileJob(area_grid, (w.number % _ncols(geobox.shape, tile_size), w.number // _ncols(geobox.shape, tile_size)),
                              w.core, number_base + w.number, n_windows, name, str(staging), source_ids,
                              str(dataset_id(f"segment:{name}:{w.number}")))
                      for w in tiles]
            documents = []
            for job, result in execute(finish_tile, finish):
                done += 1
                if isinstance(result, WriteError):
                    raise result
                if isinstance(result, Exception):
                    report.failed.append((job.tile, one_line(result)))
                else:
                    rows, docs = result
                    _write_rows(fh, rows)
                    report.segments += len(rows)
                    documents.extend(docs)
                if progress:
                    progress(done, total)
            report.tiles = len(tiles)
        failed_tiles = {tile: message for tile, message in report.failed}
        if not report.failed:  # a segmentation is stored whole or not at all
            _store(settings, url, name, product, algorithm, segmenter.get_params(), geobox, report, rows_file,
                   documents, staging, outdir, overwrite, run.id)
        else:
            shutil.rmtree(staging, ignore_errors=True)
            report.segments = 0
        for job in finish:
            failed = failed_tiles.get(job.tile)
            run.tile(job.tile, "failed" if failed else "done", None, failed)
        if report.failed:
            run.finish("failed", f"{len(report.failed)} tile(s) failed; nothing stored")
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:  # the polygon rows in the work directory
            raise write_failure(rows_file, exc, "free some space in $ANTARES_HOME/work or set ANTARES_HOME "
                                "to a larger disk") from exc
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _write_rows(fh, rows: list[tuple]) -> None:
    """Append polygon rows to the CSV file that ``_store`` copies into PostGIS.

    No field needs quoting (integers, a float, upper-case hex), so the lines are written
    directly: the same text as ``csv.writer`` at a small part of its cost (it scans every
    character of the long hex strings).
    """
    fh.writelines(f"{segment_id},{geom},{area!r},{count}\r\n" for segment_id, geom, area, count in rows)


def _tile_of(core, tile_size: int) -> tuple[int, int]:
    """The (ix, iy) of the grid tile holding the start of ``core``."""
    return core[1].start // tile_size, core[0].start // tile_size


def _ncols(shape, tile):
    return -(-shape[1] // tile)


def _workdir(settings: Settings) -> str:
    path = settings.home / "work"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _store(settings, url, name, product, algorithm, params, geobox, report, rows_file, documents, staging, outdir,
           overwrite, run_id) -> None:
    """Store the segmentation: polygons, label COGs and their index entries, then replace an old one of ``name``.

    The new result is complete before anything old goes: the polygons are copied into a
    segmentation row under a temporary name, the label COGs and their datasets replace the old
    ones (:func:`~antares.pipeline.tiles.replace_product`: files swapped, index in one
    transaction), and one last transaction deletes the old segmentation and gives the new one
    its name. A failure at any step leaves the old segmentation whole.
    """
    from antares.cube.grid import grid_record
    from antares.cube.index import connect
    from antares.db.engine import open_database
    from antares.db.segmentations import copy_segments, delete_segmentations, insert_segmentation, segmentation_exists
    from antares.db.segmentations import rename_segmentation
    from antares.pipeline.tiles import replace_product

    engine = open_database(settings)  # the process's engine (antares.db.engine): not disposed here
    crs = f"EPSG:{geobox.crs.epsg}" if geobox.crs.epsg else geobox.crs.to_wkt()
    with engine.begin() as conn:
        if not overwrite and segmentation_exists(conn, name):
            raise AlreadyExistsError(f"segmentation '{name}' was stored by another process while this one ran; "
                                     "use --overwrite to replace it or choose another name.")
        seg_id = insert_segmentation(conn, f"{name} (run {run_id}, being stored)", run_id, product, algorithm,
                                     params, crs, report.segments, grid_record(geobox))
        copy_segments(conn, seg_id, rows_file)
    try:
        dc = connect(url)
        try:
            replace_product(dc, name, documents, staging, outdir, label_product(name, product, algorithm))
        finally:
            dc.close()
        with engine.begin() as conn:  # the new segmentation takes the name; the old one goes
            rename_segmentation(conn, seg_id, name)
    except BaseException:
        with engine.begin() as conn:
            delete_segmentations(conn, ids=[seg_id])
        raise
