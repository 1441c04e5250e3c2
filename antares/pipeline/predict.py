"""``antares model_predict_object``: a class, confidence and entropy for every object of a segmentation.

Per tile of the segmentation's label product (a dask task) the label raster and the
product are loaded on the same grid and the object features are computed in one
vectorised pass over all measurements (:mod:`antares.features`, NaN-aware). Objects
that touch the tile's border may continue in a neighbour tile: their accumulators go
back to the scheduler, are merged over tiles and predicted once from all their pixels;
the others are predicted in the task. The model is loaded once per worker process
from the database. The classification row and all prediction rows are written in one
transaction (COPY), replacing an older classification of the same name only with
``--overwrite``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from antares.pipeline.requests import PredictRequest, takes

log = logging.getLogger(__name__)


@dataclass
class PredictJob:
    """One tile of a segmentation (picklable)."""

    url: str
    product: str
    features: list
    segmentation: str
    geobox: object
    time: tuple | None
    model_name: str
    model_id: int
    aggregation: str
    only: np.ndarray | None = None  # second pass: the accumulators of these objects only
    shapes: tuple | None = None  # (ids, (n, 5) shape features) of every segment, when the model takes shape


@dataclass
class PredictReport:
    """Outcome of model_predict_object."""

    name: str
    tiles: int = 0
    objects: int = 0
    predicted: int = 0
    no_valid: int = 0
    crossing: int = 0
    per_class: dict = field(default_factory=dict)
    legend: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def lines(self) -> list[str]:
        names = {e["code"]: e["name"] for e in self.legend}
        out = [f"classification {self.name}: {self.predicted} object(s) classified over {self.tiles} tile(s) "
               f"({self.crossing} crossing tile edges, predicted once from all their pixels)"]
        total = max(self.predicted, 1)
        out += [f"  {names.get(c, c)}: {n} ({100 * n / total:.1f} %)" for c, n in sorted(self.per_class.items())]
        if self.no_valid:
            out.append(f"{self.no_valid} object(s) without a valid pixel in every feature: no prediction")
        return out + list(self.notes)


#: (url, model id) -> the estimator that a model_predict_object run of this process has loaded (and checked): the
#: tiles of a ``-sc sync`` or threads run use it instead of deserialising the same blob a second time
_LOADED: dict = {}


@contextmanager
def _held(url: str, model_id: int, estimator):
    """Within the block, :func:`_model` of this process returns ``estimator`` for ``(url, model_id)``."""
    _LOADED[(url, model_id)] = estimator
    try:
        yield
    finally:
        _LOADED.pop((url, model_id), None)


def _model(url: str, model_id: int):
    """The estimator of model ``model_id``: the one this process's run holds, else loaded once per worker process."""
    held = _LOADED.get((url, model_id))
    return held if held is not None else _stored_model(url, model_id)


@lru_cache(maxsize=4)
def _stored_model(url: str, model_id: int):
    """The estimator of model ``model_id``, loaded once per worker process."""
    from antares.db.engine import make_engine
    from antares.db.models import model_blob
    from antares.models.store import deserialize

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            blob = model_blob(conn, model_id)
    finally:
        engine.dispose()
    if blob is None:
        raise NotFoundError(f"model id {model_id} disappeared from the database during the run.")
    from antares.models.fitting import single_threaded

    return single_threaded(deserialize(blob, f"id {model_id}"))  # one thread per dask worker process


def predict_features(estimator, ids: np.ndarray, features: np.ndarray):
    """Class, confidence and entropy of the objects whose features are all finite.

    Parameters
    ----------
    ids : ndarray (n,) int64
    features : ndarray (n, f) float64

    Returns
    -------
    ids : ndarray (k,) int64
        The objects predicted (features all finite).
    classes : ndarray (k,) int64
        Legend codes (``estimator.classes_``).
    confidence : ndarray (k,) float64
        The largest class probability.
    entropy : ndarray (k,) float64
        Shannon entropy of the class probabilities in nats (0 = certain; ln(K) = uniform over K classes).
    n_invalid : int
        Objects without a finite value in every feature.
    """
    ok = np.all(np.isfinite(features), axis=1)
    ids, features = ids[ok], features[ok]
    if len(ids) == 0:
        empty = np.zeros(0)
        return ids, empty.astype(np.int64), empty, empty, int((~ok).sum())
    proba = estimator.predict_proba(features)
    best = np.argmax(proba, axis=1)
    classes = np.asarray(estimator.classes_)[best].astype(np.int64)
    confidence = proba[np.arange(len(best)), best]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.sum(np.where(proba > 0, proba * np.log(proba), 0.0), axis=1)
    return ids, classes, confidence, np.maximum(entropy, 0.0), int((~ok).sum())


def _subset(part, keep: np.ndarray):
    return dataclasses.replace(part, ids=part.ids[keep], n_pixels=part.n_pixels[keep], count=part.count[keep],
                               sum=part.sum[keep], sumsq=part.sumsq[keep], min=part.min[keep], max=part.max[keep])


def predict_tile(job: PredictJob):
    """Predictions of the objects inside one tile, and the accumulators (or pixels) of those on its border.

    Returns ``(predictions, border accumulators, ids of the objects inside, ids on the border)``,
    or with ``job.only`` the accumulators (or pixels) of those objects alone.
    """
    from antares.cube.features import load_features, load_labels
    from antares.cube.index import connect
    from antares.features import finalise, partial_statistics, select_pixels
    from antares.models.samples import by_pixels, object_statistics, parse_aggregation, with_shape

    dc = connect(job.url)
    try:
        labels = load_labels(dc, job.segmentation, job.geobox)
        if not labels.any():
            return None
        values = load_features(dc, job.product, job.features, job.geobox, time=job.time, one_time=True)
    finally:
        dc.close()
    if job.only is not None:
        if by_pixels(job.aggregation):
            return select_pixels(labels, values, job.only)
        part = partial_statistics(labels, values)
        return _subset(part, np.isin(part.ids, job.only))
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    if by_pixels(job.aggregation):
        ids, features = object_statistics(labels, values, job.aggregation)
        inside = ~np.isin(ids, border)
        ids, features = ids[inside], features[inside]
        edge = select_pixels(labels, values, border)
    else:
        part = partial_statistics(labels, values)
        inside = ~np.isin(part.ids, border)
        ids, features = part.ids[inside], finalise(_subset(part, inside), parse_aggregation(job.aggregation)[0])
        edge = _subset(part, ~inside)
    estimator = _model(job.url, job.model_id)
    return predict_features(estimator, ids, with_shape(ids, features, job.shapes)), edge, ids, border


def _finish(parts, aggregation: str, n_features: int, shapes=None):
    """(ids, features) from border accumulators (or pixels) merged over tiles (``shapes``: see :class:`PredictJob`)."""
    from antares.features import finalise, merge_partials
    from antares.models.samples import by_pixels, object_statistics, parse_aggregation, with_shape

    statistics, _ = parse_aggregation(aggregation)
    if by_pixels(aggregation):
        labels = np.concatenate([e[0] for e in parts]) if parts else np.zeros(0, np.int64)
        values = np.concatenate([e[1] for e in parts], axis=1) if parts else np.zeros((n_features, 0))
        ids, features = object_statistics(labels, values, aggregation)
    elif not parts:
        ids, features = np.zeros(0, np.int64), np.zeros((0, len(statistics) * n_features))
    else:
        merged = merge_partials(parts)
        ids, features = merged.ids, finalise(merged, statistics)
    return ids, with_shape(ids, features, shapes)


def gather_tiles(execute, worker, jobs: list, report, progress=None) -> tuple[list, list, list]:
    """Run ``worker`` on every tile job; ``(chunks, edges, seen)`` of the tiles that held objects.

    A tile's result is ``(predicted, edge, inside, border)`` or None (no object); ``chunks`` keeps
    ``predicted[:4]`` (ids, classes, confidence, entropy), ``edges`` the accumulators of objects
    touching the tile's border, ``seen`` ``(job, inside, border)``. ``report.tiles`` counts the
    tiles; ``progress(done, len(jobs))`` after each.

    Raises
    ------
    InvalidInputError
        A tile failed (its corner and the error are named).
    """
    chunks, edges, seen = [], [], []
    for done, (job, result) in enumerate(execute(worker, jobs), 1):
        if isinstance(result, Exception):
            x0, y0 = job.geobox.affine.c, job.geobox.affine.f
            raise InvalidInputError(f"tile at ({x0:.0f}, {y0:.0f}) failed: {type(result).__name__}: "
                                    f"{' '.join(str(result).split())}") from result
        report.tiles += 1
        if result is not None:
            predicted, edge, inside, border = result
            chunks.append(predicted[:4])
            edges.append(edge)
            seen.append((job, inside, border))
        if progress:
            progress(done, len(jobs))
    return chunks, edges, seen


def second_pass(execute, worker, seen: list, split: np.ndarray) -> list:
    """The results of ``worker`` again on the tiles that hold any of the objects ``split`` (only those).

    Raises
    ------
    InvalidInputError
        A tile of the second pass failed.
    """
    again = [dataclasses.replace(job, only=split) for job, inside, border in seen
             if np.isin(split, inside).any() or np.isin(split, border).any()]
    parts = [r for _, r in execute(worker, again) if r is not None and not isinstance(r, Exception)]
    if len(parts) != len(again):
        raise InvalidInputError(f"the second pass over {len(again)} tile(s) of objects split over tiles failed.")
    return parts


@contextmanager
def model_inputs(url: str, product: str, model: str, meta: dict, area=None, time=None, nothing: str | None = None):
    """The datacube connection, the features and the datasets of ``product`` that model ``model`` predicts from.

    Shared by :func:`model_predict_object` and :func:`antares.pipeline.predict_pixels.model_predict`:
    the product must exist and its measurements must be the model's features (by name), and it
    must have datasets in ``area`` and ``time``. The connection is closed when the block ends.

    Parameters
    ----------
    url : str
        The database URL.
    product, model : str
    meta : dict
        The model's metadata (:func:`antares.pipeline.train.load_model`); ``meta["features"]`` are used.
    area : odc.geo.geom.Geometry, optional
    time : (begin, end), optional
    nothing : str, optional
        The message when no dataset is found (default: names the area and the period asked for).

    Yields
    ------
    (datacube.Datacube, list of str, list of datacube.model.Dataset)
        The connection, the features in the model's order and the datasets found.

    Raises
    ------
    NotFoundError
        Unknown product; no dataset in the area/period.
    InvalidInputError
        The product's measurements are not the model's features (missing and extra ones listed).
    """
    from antares.cube.catalog import find_datasets
    from antares.cube.index import connect, product_definition
    from antares.models.store import check_features

    dc = connect(url)
    try:
        definition = product_definition(dc, product)
        features = check_features(model, meta["features"], [m["name"] for m in definition["measurements"]], product)
        datasets = find_datasets(dc, product, area=area, time=time or None)
        if not datasets:
            raise NotFoundError(nothing or f"product {product} has no dataset{' in the area' if area is not None else ''}"
                                f"{f' between {time[0]} and {time[1]}' if time else ''}; compute it first.")
        yield dc, features, datasets
    finally:
        dc.close()


@takes(PredictRequest)
def model_predict_object(settings: Settings, request: PredictRequest, progress=None) -> PredictReport:
    """Classify every object of ``request.segmentation`` with ``request.model`` from the features of ``request.product``.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.requests.PredictRequest
        ``product``: its measurements must be the model's features (same names); ``model``: a
        stored model (``antares list models``); ``segmentation``: a segmentation (``antares
        segment``) on the product's grid; ``name``: the classification; ``area``: only the
        segmentation's tiles intersecting it (default: all); ``aggregation``: NaN-aware
        per-object aggregation, default the model's (mean for pixel models); ``time``: the
        product's period, when it has several; ``trust_pickle``: load a model stored as a
        pickle by an earlier antares, and re-save it with skops (see
        :func:`antares.pipeline.train.load_model`). The old form
        ``model_predict_object(settings, product, model, segmentation, name, ...)`` builds it.
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    PredictReport

    Raises
    ------
    NotFoundError
        Unknown product, model or segmentation (the known ones are listed).
    InvalidInputError
        Feature names differ from the model's (missing/extra listed); the segmentation
        is on another grid than the product; the model was stored with another major
        version of its libraries.
    UntrustedModelError
        The model is a pickle and ``trust_pickle`` is False, or holds an untrusted type.
    AlreadyExistsError
        Classification ``name`` exists and ``overwrite`` is False.
    """
    from antares.cube.catalog import find_datasets
    from antares.cube.load import native_geobox
    from antares.db.classifications import classification_exists, copy_predictions, replace_classification
    from antares.db.engine import database_url, open_database, session_scope
    from antares.db.segmentations import require_segmentation
    from antares.models.samples import parse_aggregation
    from antares.pipeline.executor import task_runner
    from antares.pipeline.requests import _aggregation
    from antares.pipeline.requests import refusal
    from antares.pipeline.run import recorded_run
    from antares.models.fitting import single_threaded
    from antares.models.registry import require_features
    from antares.pipeline.train import load_model

    product, model, segmentation, name = request.product, request.model, request.segmentation, request.name
    area, time, overwrite = request.area, request.time, request.overwrite
    # the name is taken before any work; the model cannot be refitted while this run reads it
    with recorded_run(settings, "model_predict_object", name, reads=(("model_fit", model),)) as run:
        url = database_url(settings)
        with session_scope(settings) as session:
            if classification_exists(session, name) and not overwrite:
                raise AlreadyExistsError(f"classification '{name}' exists; use --overwrite to replace it or choose another --name.")
            seg = require_segmentation(session, segmentation)
        estimator, meta = load_model(settings, model, request.trust_pickle)
        if meta.get("unit") == "pixel_sets" and meta.get("set_size"):  # a deep model fitted on a product's steps
            from antares.pipeline.predict_pixelsets import predict_with_pixel_sets

            if request.aggregation is not None:
                raise refusal(f"model {model} classifies pixel sets; aggregation does not apply. Got {request.aggregation!r}.",
                              "aggregation", error=InvalidInputError)
            return predict_with_pixel_sets(settings, request, estimator, meta, run, seg, PredictReport(name, legend=meta["legend"]))
        require_features(meta["kind"], model)
        single_threaded(estimator)  # as on the workers: the same summation order
        aggregation = request.aggregation or meta.get("aggregation") or "mean"
        _aggregation(aggregation, InvalidInputError)
        _same_columns(model, meta.get("aggregation") or "mean", aggregation)
        if meta.get("categorical") and aggregation not in ("min", "max"):
            raise refusal(f"model {model} has categorical variables ({', '.join(meta['categorical'])}): an object's "
                          f"{aggregation} of category codes is no category; give aggregation min or max.", "aggregation")
        report = PredictReport(name, legend=meta["legend"])
        if meta.get("aggregation") and aggregation != meta["aggregation"]:
            report.notes.append(f"note: model {model} was trained on -sp {meta['aggregation']}; predicting with -sp {aggregation}")
        with model_inputs(url, product, model, meta, area, time) as (dc, features, datasets):
            label_datasets = find_datasets(dc, segmentation, area=area)
            if not label_datasets:
                raise NotFoundError(f"segmentation {segmentation} has no label tile{' in the area' if area is not None else ''}.")
            tiles = [native_geobox([d], ["segment_id"]) for d in label_datasets]
            product_grid = native_geobox(datasets, features)
            _check_same_grid(tiles[0], product_grid, segmentation, product)

        shapes = segment_shapes(settings, seg.id, segmentation) if parse_aggregation(aggregation)[1] else None
        if meta.get("glcm"):  # per-object GLCM with the model's grey levels, from every tile (read with a margin)
            shapes = _with_glcm(request, meta["glcm"], url, features, tiles, shapes, settings, seg.id)
        jobs = [PredictJob(url, product, features, segmentation, tile, time, model, meta["id"], aggregation, shapes=shapes)
                for tile in tiles]
        run_params = {"product": product, "model": model, "segmentation": segmentation, "aggregation": aggregation,
                      "time": [str(t) for t in time] if time else None}
        # the executor first: an unreachable scheduler fails before anything is recorded
        with _held(url, meta["id"], estimator), \
                task_runner(request.scheduler or settings.scheduler, request.workers or settings.workers, settings) as execute:
            run.start(run_params, {"product": product, "model": model, "segmentation": segmentation,
                                   "datasets": len(datasets)})
            chunks, edges, seen = gather_tiles(execute, predict_tile, jobs, report, progress)
            edge_ids, edge_features = _finish(edges, aggregation, len(features), shapes)
            if len(edge_ids):
                chunks.append(predict_features(estimator, edge_ids, edge_features)[:4])
                report.crossing = len(edge_ids)
            # an object in several tiles without touching their borders (its parts are not connected) is
            # predicted again from the accumulators of all the tiles it is in
            inside_all = np.concatenate([i for _, i, _ in seen]) if seen else np.zeros(0, np.int64)
            values_, counts = np.unique(inside_all, return_counts=True)
            split = np.union1d(values_[counts > 1], np.intersect1d(inside_all, edge_ids))
            if len(split):
                parts = second_pass(execute, predict_tile, seen, split)
                split_ids, split_features = _finish(parts, aggregation, len(features), shapes)
                chunks = [tuple(a[~np.isin(c[0], split)] for a in c) for c in chunks]
                chunks.append(predict_features(estimator, split_ids, split_features)[:4])
                report.notes.append(f"{len(split)} object(s) in unconnected parts over several tiles, predicted once "
                                    "from all their parts")
            ids, classes, confidence, entropy = (np.concatenate(c) for c in zip(*chunks)) if chunks else [np.zeros(0)] * 4
            if len(np.unique(ids)) != len(ids):
                raise InvalidInputError(f"segmentation {segmentation}: an object was predicted twice; please report this.")
            objects = np.union1d(inside_all, np.concatenate([b for _, _, b in seen])) if seen else np.zeros(0)
            report.objects = len(objects)
            report.no_valid = report.objects - len(ids)
            report.predicted = len(ids)
            codes, counts = np.unique(classes, return_counts=True)
            report.per_class = {int(c): int(n) for c, n in zip(codes, counts)}
            engine = open_database(settings)  # the process's engine (antares.db.engine): not disposed here
            with engine.begin() as conn:  # one transaction: the old classification goes only with the new one complete
                _check_replaceable(conn, name, overwrite, model, meta["id"])
                cid = replace_classification(conn, name, seg.id, meta["id"], run.id)
                copy_predictions(conn, cid, ids.astype(np.int64), classes.astype(np.int64), confidence, entropy)
        return report


def _with_glcm(request: PredictRequest, spec: dict, url: str, features: list, tiles: list, shapes, settings,
               segmentation_id: int):
    """``(ids, table)``: the per-object GLCM columns of every segment (NaN for one without a pixel pair), then the
    ``shapes`` columns when given (:class:`PredictJob`'s ``shapes``, the columns appended after the statistics)."""
    from antares.models.samples import with_shape
    from antares.pipeline.executor import task_runner
    from antares.pipeline.object_glcm import GlcmJob, segment_extents, tiled_glcm_features

    what = f"segmentation {request.segmentation} on product {request.product}"
    bands = spec.get("measurements", features)  # -sp glcm:M: those measurements only (models before it: all)
    jobs = [GlcmJob(url, request.product, bands, tile, request.time, spec, request.segmentation) for tile in tiles]
    with task_runner(request.scheduler or settings.scheduler, request.workers or settings.workers, settings) as execute:
        ids, table, _ = tiled_glcm_features(execute, jobs, what, extents=segment_extents(settings, segmentation_id, tiles))
    if not len(ids):
        ids, table = np.zeros(0, np.int64), np.zeros((0, len(spec["features"]) * len(bands)))
    if shapes is None:
        return ids, table
    return shapes[0], np.concatenate([with_shape(shapes[0], np.zeros((len(shapes[0]), 0)), (ids, table)), shapes[1]],
                                     axis=1)


def _same_columns(model: str, fitted: str, asked: str) -> None:
    """InvalidInputError unless aggregation ``asked`` gives the columns model ``model`` was fitted on (``fitted``):
    as many statistics, the same GLCM features of the same measurements, and shape in both or in neither."""
    from antares.models.samples import glcm_bands_of, glcm_features_of, parse_aggregation

    (fit_stats, fit_shape), (ask_stats, ask_shape) = parse_aggregation(fitted), parse_aggregation(asked)
    if (fit_shape != ask_shape or len(fit_stats) != len(ask_stats)
            or glcm_features_of(fitted) != glcm_features_of(asked) or glcm_bands_of(fitted) != glcm_bands_of(asked)):
        raise InvalidInputError(f"model {model} was fitted on -sp {fitted}; -sp {asked} cannot give those feature "
                                f"columns: leave -sp out or give -sp {fitted}.")


def segment_shapes(settings: Settings, segmentation_id: int, segmentation: str,
                   names=None) -> tuple[np.ndarray, np.ndarray]:
    """``(ids (n,) int64 sorted, (n, k) float64)``: the shape features of every stored segment polygon.

    Shared by ``model_predict_object``, ``object_timeseries`` and the pixel-set prediction
    (:func:`antares.object_features.shape_features` of the polygons ``antares segment`` stored, in their CRS,
    k = 5; with ``names``, those columns of :func:`antares.object_features.geometry_features`, k = len(names)).

    Raises
    ------
    InvalidInputError
        The segmentation has no stored polygon.
    """
    import shapely

    from antares.db.engine import session_scope
    from antares.db.segmentations import segment_srid, segments_query
    from antares.object_features import geometry_features, shape_features

    with session_scope(settings) as session:
        srid = segment_srid(session, segmentation_id)
        rows = session.execute(segments_query(segmentation_id, srid, srid)).all() if srid is not None else []
    if not rows:
        raise InvalidInputError(f"segmentation {segmentation} has no stored polygons, so no shape features; "
                                "segment again with polygons, or use a model fitted without shape.")
    ids = np.array([r[0] for r in rows], np.int64)
    order = np.argsort(ids)
    geoms = shapely.from_wkb([bytes(r[3]) for r in rows])
    table = shape_features(geoms) if names is None else geometry_features(geoms, tuple(names))
    return ids[order], table[order]


def _check_replaceable(conn, name: str, overwrite: bool, model: str, model_id: int) -> None:
    """Refuse the final write if it would replace what it was not asked to, or the model was refitted meanwhile.

    The model's row is locked (``FOR SHARE``) until the transaction ends: a refit cannot delete it
    between this check and the insert of the classification that refers to it.
    """
    from antares.db.classifications import classification_exists
    from antares.db.models import lock_model

    if not overwrite and classification_exists(conn, name):
        raise AlreadyExistsError(f"classification '{name}' was stored by another process while this one ran; "
                                 "use --overwrite to replace it or choose another --name.")
    if not lock_model(conn, model_id):
        raise InvalidInputError(f"model '{model}' was refitted (replaced) while this prediction ran; nothing was stored. "
                                "Re-run the command to classify with the new model.")


def _check_same_grid(tile, grid, segmentation: str, product: str) -> None:
    """InvalidInputError unless the label tile's pixels coincide with the product's (:func:`antares.cube.grid.same_grid`)."""
    from antares.cube.grid import grid_difference, same_grid

    if not same_grid(tile, grid):
        a, b = tile.affine, grid.affine
        raise InvalidInputError(
            f"segmentation {segmentation} is on another grid than product {product} "
            f"({tile.crs}, {a.a:g} m pixels at {a.c:.1f}, {a.f:.1f} vs {grid.crs}, {b.a:g} m at {b.c:.1f}, {b.f:.1f}: "
            f"{grid_difference(tile, grid)}); "
            "segment the product (or one on its grid) first.")
