"""``antares detect_change``: change objects between two images of an area, stored in PostGIS.

The two inputs are two indexed products, or one product at two periods (``-y_pre``/``-y_post`` years), each
with one date in the area (a product of features made by ``apply_recipe`` per period, or a raw product on one
date). Both must lie on one grid (same CRS, pixel size and pixel alignment); the area is their overlap.

1. The change method (:mod:`antares.change`) is fitted once over the whole area in one pass over the tiles (a
   fixed-seed sample of pixels keyed by their position and, for MAF, the neighbour differences of every tile
   and across tile edges), so that every tile shares one transform and one threshold, equal to those of an
   untiled run.
2. Each tile is scored and thresholded; the change mask (uint8, 255 where either date is nodata) and the
   score go to disk-backed arrays in ``$ANTARES_HOME/work``.
3. Change pixels are grouped into 4-connected objects numbered in raster order of their first pixel (stable
   ids: the same input gives the same ids); objects smaller than ``-mmu`` m² are dropped; the rest are
   polygonised (``rasterio.features.shapes``) and stored with their area, pixel count and mean score.
4. With two classifications (``-lc_pre``/``-lc_post``) each object gets the class covering the largest area
   under it in each (ties reported), and, unless ``--no-label-filter``, objects whose class did not change
   are dropped.

Everything is stored in one transaction: a change detection is stored whole or not at all.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from antares.pipeline.change_requests import ChangeRequest
from antares.pipeline.requests import refusal, takes

log = logging.getLogger(__name__)


@dataclass
class ChangeReport:
    """Outcome of a detect_change run."""

    name: str
    objects: int = 0
    area_ha: float = 0.0
    threshold: float | None = None
    change_pixels: int = 0
    valid_pixels: int = 0
    below_mmu: int = 0
    unchanged_class: int = 0
    statistics: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"threshold {self.threshold:.6g}: {self.change_pixels} change pixel(s) of {self.valid_pixels} valid"]
        if self.below_mmu:
            out.append(f"{self.below_mmu} object(s) below -mmu dropped")
        if self.unchanged_class:
            out.append(f"{self.unchanged_class} object(s) whose class did not change dropped")
        out.append(f"{self.objects} change object(s), {self.area_ha:.4f} ha, in change detection {self.name}")
        return out


def year_period(year: int | None):
    """``(YYYY-01-01, YYYY-12-31)`` of ``year``, or None."""
    return None if year is None else (f"{year:04d}-01-01", f"{year:04d}-12-31")


def _datasets(dc, product: str, area, year: int | None, side: str) -> list:
    import datetime as dt

    from antares.cube.catalog import find_datasets

    datasets = find_datasets(dc, product, area=area, time=year_period(year))
    if not datasets:
        where = f" in {year}" if year is not None else ""
        raise NotFoundError(f"-p_{side} {product} has no dataset in the area{where}; index or compute it there first"
                            + (f", or choose another -y_{side}." if year is not None else "."))
    days = sorted({d.center_time.astimezone(dt.timezone.utc).date() for d in datasets})
    if len(days) > 1:
        raise InvalidInputError(
            f"-p_{side} {product} has {len(days)} dates in the area{f' in {year}' if year else ''} ({days[0]} to "
            f"{days[-1]}); detect_change compares one image per date: choose the year with -y_{side} or make one "
            "image per period with apply_recipe.")
    return datasets


def _grid(datasets_pre, datasets_post, bands, area, products):
    """The common GeoBox of pre and post (their overlap on their one grid)."""
    from antares.cube.grid import grid_difference, same_grid
    from antares.cube.load import native_geobox

    pre = native_geobox(datasets_pre, bands, area)
    post = native_geobox(datasets_post, bands, area)
    if not same_grid(pre, post):
        a, b = pre.affine, post.affine
        raise InvalidInputError(
            f"-p_pre {products[0]} ({pre.crs}, {abs(a.a):g} x {abs(a.e):g}) and -p_post {products[1]} ({post.crs}, "
            f"{abs(b.a):g} x {abs(b.e):g}) are on different grids ({grid_difference(pre, post)}); put both on one grid "
            "with 'antares ingest --grid PRESET' first.")
    overlap = pre.extent.intersection(post.extent)
    if overlap.is_empty or overlap.area <= 0:
        raise InvalidInputError(f"-p_pre {products[0]} and -p_post {products[1]} do not overlap in the area.")
    return native_geobox(datasets_pre, bands, overlap)


@takes(ChangeRequest)
def detect_change(settings: Settings, request: ChangeRequest, progress=None) -> ChangeReport:
    """Detect change between ``request.pre_product`` and ``request.post_product``; store change objects.

    Parameters
    ----------
    settings : Settings
    request : ChangeRequest
        What to compare, where, and how (validated when made). The older form
        ``detect_change(settings, algorithm, name, pre_product, post_product, area, ...)`` builds it.
    progress : callable, optional
        ``progress(done, total)`` after each scored tile.

    Returns
    -------
    ChangeReport

    Raises
    ------
    UsageError
        Invalid request (see :class:`ChangeRequest`), ``mmu`` below one pixel, the same datasets as pre and post.
    NotFoundError
        Unknown product or classification, a band missing in one product, no dataset in the area (or year).
    InvalidInputError
        Several dates on one side, pre and post on different grids or not overlapping, a CRS not in metres,
        classifications of different schemes or of another region, data the method cannot work on.
    AlreadyExistsError
        ``name`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> detect_change(settings, ChangeRequest("imadmaf", "chg_18_20", "feat_2018", "feat_2020", area,
    ...                                       mmu=5000))  # doctest: +SKIP
    """
    from antares.change import get_change_method
    from antares.pipeline.run import recorded_run

    method = get_change_method(request.algorithm, **request.params)
    with recorded_run(settings, "detect_change", request.name) as run:
        return _detect(run, method, request, progress)


def _detect(run, method, request: ChangeRequest, progress) -> ChangeReport:
    from antares.cube.grid import blocks, is_metric
    from antares.cube.index import connect, product_definition
    from antares.db.changes import change_detection
    from antares.db.engine import database_url, session_scope
    from antares.pipeline.change_tiles import (ChangeTileJob, create_outputs, detect_tile, fit_tile, forget_kept,
                                               open_output)
    from antares.pipeline.executor import SYNC, task_runner

    settings, name = run.settings, run.name
    algorithm, pre_product, post_product, area = (request.algorithm, request.pre_product, request.post_product,
                                                  request.area)
    bands, pre_year, post_year, lc_pre, lc_post = (request.bands, request.pre_year, request.post_year, request.lc_pre,
                                                   request.lc_post)
    mmu, label_filter, tile_size, overwrite = request.mmu, request.label_filter, request.tile_size, request.overwrite
    with session_scope(settings) as session:
        exists = change_detection(session, name) is not None
        classes = _classifications(session, lc_pre, lc_post) if lc_pre else None
    if exists and not overwrite:
        raise AlreadyExistsError(f"change detection '{name}' exists; use --overwrite to replace it or choose another name.")
    dc = connect(database_url(settings))
    try:
        names = {}
        for side, product in (("pre", pre_product), ("post", post_product)):
            names[side] = [m["name"] for m in product_definition(dc, product)["measurements"]]
        bands = list(bands or names["pre"])
        for side, product in (("pre", pre_product), ("post", post_product)):
            missing = [b for b in bands if b not in names[side]]
            if missing:
                raise NotFoundError(f"-p_{side} {product} has no measurement {', '.join(missing)}; its measurements: "
                                    f"{', '.join(names[side])}. Choose bands both products have with -b.")
        ds_pre = _datasets(dc, pre_product, area, pre_year, "pre")
        ds_post = _datasets(dc, post_product, area, post_year, "post")
        if {d.id for d in ds_pre} == {d.id for d in ds_post}:
            raise refusal("pre_product and post_product select the same datasets; choose two dates with pre_year and "
                          "post_year.", "pre_product", "post_product", "pre_year", "post_year")
        geobox = _grid(ds_pre, ds_post, bands, area, (pre_product, post_product))
        if not is_metric(geobox.crs):
            raise InvalidInputError(f"the products' CRS {geobox.crs} is not in metres; areas and -mmu need a projected "
                                    "grid: put them on one with 'antares ingest --grid PRESET'.")
        if classes is not None:
            _check_coverage(settings, classes, (lc_pre, lc_post), geobox)
        pixel_area = abs(geobox.affine.a * geobox.affine.e)
        if mmu is not None and mmu < pixel_area:
            raise refusal(f"mmu {mmu:g} m² is below one pixel ({pixel_area:g} m² at {abs(geobox.affine.a):g} m); "
                          f"give at least {pixel_area:g} or leave mmu out.", "mmu")

        url, datasets = database_url(settings), (tuple(str(d.id) for d in ds_pre), tuple(str(d.id) for d in ds_post))
    finally:
        dc.close()
    workdir = Path(tempfile.mkdtemp(prefix=f"change-{name}-", dir=_workdir(settings)))
    try:
        shape = tuple(geobox.shape)
        jobs = [ChangeTileJob(url, (pre_product, post_product), tuple(bands), datasets, part, index, method,
                              str(workdir), shape) for part, index in blocks(geobox, tile_size)]
        # one tile: both passes here (a cluster would cost more to start than the tile)
        scheduler = SYNC if len(jobs) == 1 else (request.scheduler or settings.scheduler)
        with task_runner(scheduler, request.workers or settings.workers, settings) as execute:
            # fitting pass: each task reads its tile and returns its part (sample candidates, neighbour sums);
            # the parts are merged here as they arrive, into one fit equal to that of the untiled area
            method.fit_parts(_results(execute(fit_tile, jobs)))
            run.start({"algorithm": algorithm, "params": method.get_params(), "bands": bands, "mmu": mmu,
                       "label_filter": label_filter, "tile_size": tile_size, "area_wkt": area.to_crs("EPSG:4326").wkt},
                      {"pre": {"product": pre_product, "year": pre_year, "datasets": [str(d.id) for d in ds_pre]},
                       "post": {"product": post_product, "year": post_year, "datasets": [str(d.id) for d in ds_post]},
                       "lc_pre": lc_pre, "lc_post": lc_post})
            create_outputs(str(workdir), shape)
            # detection pass, the fitted method with every task; in reverse order, so that the tile a process
            # read last in the fitting pass (kept) is scored first, without reading it again
            jobs = [replace(job, method=method) for job in reversed(jobs)]
            for number, _ in enumerate(_results(execute(detect_tile, jobs))):
                if progress:
                    progress(number + 1, len(jobs))
        change, score = open_output(str(workdir), "change", shape), open_output(str(workdir), "score", shape)
        report = ChangeReport(name, threshold=method.threshold_value, statistics=method.statistics())
        report.change_pixels = int((change == 1).sum())
        report.valid_pixels = int((change != 255).sum())
        rows, report.below_mmu = change_objects(np.asarray(change), np.asarray(score), geobox, mmu)
        del change, score
    finally:
        forget_kept()
        shutil.rmtree(workdir, ignore_errors=True)
    inputs = {"pre": pre_product, "post": post_product, "pre_year": pre_year, "post_year": post_year,
              "bands": bands, "lc_pre": lc_pre, "lc_post": lc_post}
    _store(run, name, algorithm, method, inputs, geobox, pixel_area, rows, classes, label_filter, overwrite, report)
    return report


def _results(results):
    """The results of ``execute(fn, jobs)``, raising the first task's exception (a failed tile fails the run whole)."""
    for _, result in results:
        if isinstance(result, Exception):
            raise result
        yield result


def _workdir(settings: Settings) -> str:
    path = settings.home / "work"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _classifications(session, lc_pre: str, lc_post: str):
    from antares.db.classifications import classification, classification_names

    rows = []
    for flag, name in (("-lc_pre", lc_pre), ("-lc_post", lc_post)):
        row = classification(session, name)
        if row is None:
            known = ", ".join(classification_names(session)) or "(none)"
            raise NotFoundError(f"{flag} {name}: no such classification; classifications: {known}.")
        rows.append(row)
    if rows[0].scheme_id != rows[1].scheme_id:
        raise InvalidInputError(f"-lc_pre {lc_pre} and -lc_post {lc_post} use different class schemes; transitions "
                                "need one scheme: classify both dates with models of the same scheme.")
    return rows


def _check_coverage(settings, classes, names, geobox) -> None:
    """InvalidInputError when a classification has no object in the area (made for another region)."""
    from antares.db.changes import classification_meets
    from antares.db.engine import session_scope

    with session_scope(settings) as session:
        for flag, row, name in zip(("-lc_pre", "-lc_post"), classes, names):
            if not classification_meets(session, row.id, geobox.extent.wkt, geobox.crs.epsg):
                raise InvalidInputError(f"{flag} {name} has no object in the area of the change detection: it maps "
                                        "another region. Give classifications of this area.")


def change_objects(change: np.ndarray, score: np.ndarray, geobox, mmu: float | None) -> tuple[list[dict], int]:
    """Change objects of a change mask: 4-connected change pixels, ids in raster order, ``mmu`` applied.

    Parameters
    ----------
    change : numpy.ndarray
        uint8 ``(y, x)``: 1 change, 0 no change, 255 nodata.
    score : numpy.ndarray
        float32 ``(y, x)`` change score (NaN = nodata).
    geobox : odc.geo.geobox.GeoBox
        The grid of both, in a CRS in metres.
    mmu : float or None
        Minimum area in m²; objects of fewer pixels than ``mmu / pixel area`` are dropped.

    Returns
    -------
    rows : list of dict
        ``object_id`` (1..n in raster order of each object's first pixel), ``wkb`` (MultiPolygon in
        ``geobox``'s CRS), ``srid``, ``area_m2``, ``pixel_count``, ``score`` (mean).
    dropped : int
        Objects below ``mmu``.
    """
    from rasterio.features import shapes
    from scipy import ndimage
    from shapely.geometry import MultiPolygon, shape

    labels, n = ndimage.label(change == 1)
    if n == 0:
        return [], 0
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    sums = np.bincount(labels.ravel(), weights=np.nan_to_num(score, nan=0.0).ravel().astype(np.float64), minlength=n + 1)
    pixel_area = abs(geobox.affine.a * geobox.affine.e)
    keep = np.ones(n + 1, bool)
    keep[0] = False
    if mmu is not None:
        keep &= counts * pixel_area >= mmu * (1 - 1e-9)
    dropped = int(n - keep[1:].sum())
    new_id = np.zeros(n + 1, np.int32)
    new_id[keep] = np.arange(1, keep.sum() + 1, dtype=np.int32)
    ids = new_id[labels]
    parts: dict[int, list] = {}
    for geom, value in shapes(ids, mask=ids > 0, transform=geobox.affine, connectivity=4):
        parts.setdefault(int(value), []).append(shape(geom))
    srid = geobox.crs.epsg
    old = np.flatnonzero(keep)
    rows = []
    for object_id, label in enumerate(old, start=1):
        polygons = parts[object_id]
        rows.append({"object_id": object_id, "wkb": MultiPolygon(polygons).wkb, "srid": srid,
                     "area_m2": float(counts[label] * pixel_area), "pixel_count": int(counts[label]),
                     "score": float(sums[label] / counts[label])})
    return rows, dropped


def majority(overlaps: dict[int, float]) -> tuple[int | None, bool]:
    """The class of largest area among ``{class_code: area}`` and whether another class ties with it.

    A tie (areas equal to 1e-9 relative) gives the smallest tied code and ``True``; no overlap gives ``(None, False)``.
    """
    if not overlaps:
        return None, False
    best = max(overlaps.values())
    tied = sorted(code for code, value in overlaps.items() if value >= best * (1 - 1e-9))
    return tied[0], len(tied) > 1


def _store(run, name, algorithm, method, inputs, geobox, pixel_area, rows, classes, label_filter, overwrite, report):
    from antares.db.changes import (class_overlaps, delete_change_detection, delete_change_objects,
                                    insert_change_detection, insert_change_objects, set_object_classes,
                                    set_object_count, change_detection)
    from antares.db.engine import session_scope

    crs = f"EPSG:{geobox.crs.epsg}" if geobox.crs.epsg else geobox.crs.to_wkt()
    with session_scope(run.settings) as session:
        if change_detection(session, name) is not None:
            if not overwrite:
                raise AlreadyExistsError(f"change detection '{name}' was stored by another process while this one "
                                         "ran; use --overwrite to replace it or choose another name.")
            delete_change_detection(session, name)
        change_id = insert_change_detection(session, name, run.id, algorithm, method.get_params(),
                                            _jsonable(method.statistics()), inputs, crs, pixel_area, len(rows))
        insert_change_objects(session, change_id, rows)
        if classes is not None:
            per_object = {r["object_id"]: [{}, {}] for r in rows}
            for side, row in enumerate(classes):
                for object_id, code, value in class_overlaps(session, change_id, row.id, geobox.crs.epsg):
                    per_object[int(object_id)][side][int(code)] = float(value)
            updates, unchanged = [], []
            for object_id, (pre, post) in per_object.items():
                (pre_class, pre_tie), (post_class, post_tie) = majority(pre), majority(post)
                updates.append({"object_id": object_id, "pre_class": pre_class, "post_class": post_class,
                                "class_tie": (pre_tie or post_tie) if pre or post else None})
                if label_filter and pre_class is not None and pre_class == post_class:
                    unchanged.append(object_id)
            set_object_classes(session, change_id, updates)
            delete_change_objects(session, change_id, unchanged)
            report.unchanged_class = len(unchanged)
        report.objects = set_object_count(session, change_id)
        expected = len(rows) - report.unchanged_class
        if report.objects != expected:  # read back what this transaction wrote
            raise InvalidInputError(f"change detection '{name}': {report.objects} object(s) stored, {expected} expected.")
        kept = {r["object_id"] for r in rows} - set(unchanged if classes is not None else [])
        report.area_ha = sum(r["area_m2"] for r in rows if r["object_id"] in kept) / 1e4
        run.finish("done", session=session)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
