"""``antares model_fit``: features of training samples from a product, tile by tile, then a model in the database.

Per tile (dask task) the product is loaded on its native grid and the training
polygons near the tile are burnt by pixel centre (:mod:`antares.models.samples`);
the per-polygon accumulators of all tiles are merged, so a polygon crossing tile
edges gets its features once, from all its pixels. The model, its legend, feature
names, cross-validation report and provenance are stored in ``antares.model``.
"""

from __future__ import annotations

import itertools
import logging
import time as time_module
from dataclasses import dataclass, field

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from antares.pipeline.requests import FitRequest, SampleRequest, refusal, takes

log = logging.getLogger(__name__)


@dataclass
class SampleJob:
    """One tile of training-sample features (picklable)."""

    url: str
    product: str
    measurements: list
    geobox: object
    time: tuple | None
    indices: np.ndarray  # sample indices near the tile
    wkb: list  # their geometries (product CRS)
    with_pixels: bool
    series: bool = False  # every time of the product: bands (T * C), the times returned too


def sample_tile(job: SampleJob):
    """Per-sample accumulators (and pixels) of one tile."""
    import shapely

    from antares.cube.features import load_features
    from antares.cube.index import connect
    from antares.models.samples import block_partials, overlap_layers

    from antares.cube.features import load_feature_series

    times = None
    dc = connect(job.url)
    try:
        if job.series:
            times, series = load_feature_series(dc, job.product, job.measurements, job.geobox, job.time)
            values = series.reshape(-1, *series.shape[2:])  # (T * C, y, x), time-major
        else:
            values = load_features(dc, job.product, job.measurements, job.geobox, time=job.time, one_time=True)
    finally:
        dc.close()
    n = int(job.indices.max()) + 1
    geoms = np.empty(n, dtype=object)
    geoms[job.indices] = shapely.from_wkb(job.wkb)
    local_layers = overlap_layers(geoms[job.indices])
    layers = [job.indices[layer] for layer in local_layers]
    parts, pixels = block_partials(values, job.geobox.affine, geoms, layers, job.with_pixels)
    return (parts, pixels, times) if job.series else (parts, pixels)


@dataclass
class FitReport:
    """Outcome of model_fit."""

    name: str
    kind: str
    samples: int = 0
    used: int = 0
    skipped: list = field(default_factory=list)  # sample ids without a valid pixel
    outside: int = 0
    per_class: dict = field(default_factory=dict)
    cv: dict | None = None
    grid: list = field(default_factory=list)
    params: dict = field(default_factory=dict)
    legend: list = field(default_factory=list)
    unit: str = "polygons"
    outliers: dict = field(default_factory=dict)  # {code: samples removed} (remove_outliers)
    table_file: str | None = None  # the training table was written there, no model fitted
    without_segment: int = 0  # unit segments: training polygons holding no segment by majority
    invalid_segments: int = 0  # unit segments: segments without a valid value in every feature

    def lines(self) -> list[str]:
        names = {e.code: e.name for e in self.legend}
        kind = {"pixels": "pixel", "segments": "segment"}.get(self.unit, "polygon")
        if self.table_file:
            out = [f"training table of {self.used} {kind} sample(s) from "
                   f"{self.samples} training sample(s) written to {self.table_file} (no model fitted)"]
        else:
            out = [f"model {self.name} ({self.kind}) fitted on {self.used} "
                   f"{kind} sample(s) from {self.samples} training sample(s)"]
        if self.without_segment:
            out.append(f"{self.without_segment} training polygon(s) hold no segment by more than half of its pixels")
        if self.invalid_segments:
            out.append(f"{self.invalid_segments} segment(s) without a valid value in every feature, skipped")
        out += [f"  {names.get(c, c)}: {n}" for c, n in sorted(self.per_class.items())]
        if self.outliers:
            out.append("outliers removed (IsolationForest per class): " + ", ".join(
                f"{names.get(c, c)} {n}" for c, n in sorted(self.outliers.items())))
        if self.outside:
            out.append(f"{self.outside} training sample(s) outside the product, skipped")
        if self.skipped:
            shown = ", ".join(str(s) for s in self.skipped[:10]) + (" ..." if len(self.skipped) > 10 else "")
            out.append(f"{len(self.skipped)} training sample(s) without a valid pixel, skipped (sample ids {shown})")
        for row in self.grid:
            out.append(f"grid {row['params']}: OA {row['overall_accuracy']:.3f} kappa {row['kappa']:.3f} "
                       f"macro-F1 {row['macro_f1']:.3f} (held-out {self.unit})")
        if self.cv:
            out.extend(cv_lines(self.cv, self.legend, self.unit))
        return out


def cv_lines(cv: dict, legend, unit: str) -> list[str]:
    """The cross-validation report as text: per fold and mean OA/kappa/macro-F1, per-class UA/PA.

    ``unit`` ('polygons' or 'pixels', the model's training unit) is what the held-out samples,
    and so every accuracy, count: it is named in the title.
    """
    names = {e.code: e.name for e in legend}
    kind = "grouped " if cv.get("grouped") else ""
    out = [f"{cv['k']}-fold {kind}cross-validation, accuracy counted in held-out {unit}:",
           "  fold  n_test  OA     kappa  macro-F1"]
    for i, f in enumerate(cv["folds"], 1):
        out.append(f"  {i:<4}  {f['n_test']:<6}  {_num(f['overall_accuracy'])}  {_num(f['kappa'])}  {_num(f['macro_f1'])}")
    m = cv["mean"]
    out.append(f"  mean          {_num(m['overall_accuracy'])}  {_num(m['kappa'])}  {_num(m['macro_f1'])}")
    if m.get("overall_accuracy_area") is not None:
        out.append(f"  OA counted in area (held-out {unit} weighted by their pixels): {_num(m['overall_accuracy_area'])}")
    out.append("  class                 user's  producer's (mean over folds)")
    for code, ua, pa in zip(m["codes"], m["users_accuracy"], m["producers_accuracy"]):
        out.append(f"  {str(names.get(code, code))[:20]:<20}  {_num(ua)}   {_num(pa)}")
    return out


def _num(v) -> str:
    return "  -  " if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.3f}"


def _samples_in_crs(session, set_id: int, crs):
    """(ids, codes, geometries in ``crs``) of a sample set."""
    import geopandas as gpd

    from antares.db.training import read_samples

    ids, codes, geoms, srids = read_samples(session, set_id)
    if not len(ids):
        return ids, codes, geoms
    out = np.empty(len(ids), dtype=object)
    srids = np.asarray(srids)
    for srid in np.unique(srids):
        sel = srids == srid
        out[sel] = gpd.GeoSeries(geoms[sel], crs=f"EPSG:{srid}").to_crs(crs).values
    return ids, codes, out


@dataclass
class TrainingFeatures:
    """Features of the samples of a training set, in the product's CRS.

    Attributes
    ----------
    sample_ids, codes : ndarray (n,) int64
        Database ids and legend codes of the samples that overlap the product.
    geoms : ndarray (n,) of shapely geometries
        In the product's CRS.
    features : ndarray (n, f) float64
        Aggregated features (NaN where a sample has no valid pixel in a measurement): every
        statistic of the aggregation for every measurement, then the shape features (``columns``).
    n_pixels : ndarray (n,) int64
        Pixels whose centre falls inside each sample.
    valid : ndarray (n,) bool
        Samples with a valid value in every measurement.
    pixels : (ndarray (m,), ndarray (f, m)) or None
        Sample index and values of every covered pixel (``unit='pixels'`` or median).
    """

    measurements: list
    crs: object
    sample_ids: np.ndarray
    codes: np.ndarray
    geoms: np.ndarray
    features: np.ndarray
    n_pixels: np.ndarray
    valid: np.ndarray
    pixels: tuple | None
    outside: int
    datasets: list
    definition: dict
    scheme_id: int
    legend: list
    times: np.ndarray | None = None  # ``request.series``: the product's times; features and pixels are (T * C)
    columns: list | None = None  # names of the ``features`` columns (statistic-major, then shape)
    segment_ids: np.ndarray | None = None  # unit segments: the segment of each row (the sample ids: its polygon's)
    owners: np.ndarray | None = None  # unit segments: the index of each row's polygon
    polygons: int | None = None  # unit segments: the training polygons that overlap the product
    glcm: dict | None = None  # -sp glcm: the GLCM parameters and quantisation (antares.pipeline.object_glcm.glcm_spec)


def _check_inputs(settings: Settings, product: str, training_set: str, cv_spatial: float | None = None) -> None:
    """NotFoundError for an unknown training set or product (the known ones listed); InvalidInputError for a
    training set of fewer than two classes (no subset of it can train a classifier); UsageError for
    ``cv_spatial`` on a product in a geographic CRS — all before any pixel is read."""
    from antares.cube.catalog import first_dataset
    from antares.cube.index import connect, product_definition
    from antares.db.engine import database_url, session_scope
    from antares.db.training import class_counts, list_sample_sets, sample_set, scheme_legend
    from antares.models.fitting import check_classes

    with session_scope(settings) as session:
        found = sample_set(session, "training", training_set)
        if found is None:
            known = [s["name"] for s in list_sample_sets(session, "training")]
            raise NotFoundError(f"training set '{training_set}' does not exist; training sets: {', '.join(known) or '(none)'}. "
                                "Add one with 'antares ingest_training'.")
        codes = sorted(class_counts(session, found.id))
        if len(codes) < 2:
            check_classes(np.asarray(codes), {e.code: e.name for e in scheme_legend(session, found.scheme_id)})
    dc = connect(database_url(settings))
    try:
        product_definition(dc, product)
        crs = getattr(first_dataset(dc, product), "crs", None) if cv_spatial else None
    finally:
        dc.close()
    _check_block_crs(cv_spatial, product, crs)


def _check_block_crs(cv_spatial, product: str, crs) -> None:
    """UsageError when spatial blocks in metres (``cv_spatial``) are asked for on a product in a geographic CRS."""
    if cv_spatial is not None and crs is not None and crs.geographic:
        raise refusal(f"cv_spatial needs a projected product CRS; {product} is in {crs}.", "cv_spatial")


def training_polygons(settings: Settings, request):
    """The samples of ``request.training_set`` overlapping ``request.product`` (in ``request.area``), in its CRS.

    Parameters
    ----------
    settings : antares.config.Settings
    request : SampleRequest or FitRequest
        ``product``, ``training_set``, ``area``, ``time`` are used.

    Returns
    -------
    ((sample_ids, codes, geoms, crs, datasets, definition, scheme_id, legend, outside), geobox)
        ``geobox``: the product's native grid over the samples' bounds.

    Raises
    ------
    NotFoundError
        Unknown training set or product; no dataset in the period.
    InvalidInputError
        No sample overlaps the product (in the area).
    """
    import shapely
    from odc.geo.geom import Geometry

    from antares.cube.catalog import find_datasets
    from antares.cube.index import connect, product_definition
    from antares.cube.load import native_geobox
    from antares.db.engine import database_url, session_scope
    from antares.db.training import list_sample_sets, sample_set, scheme_legend

    product, training_set, area, time = request.product, request.training_set, request.area, request.time
    url = database_url(settings)
    with session_scope(settings) as session:
        tset = sample_set(session, "training", training_set)
        if tset is None:
            known = [s["name"] for s in list_sample_sets(session, "training")]
            raise NotFoundError(f"training set '{training_set}' does not exist; training sets: {', '.join(known) or '(none)'}. "
                                "Add one with 'antares ingest_training'.")
        set_id, scheme_id = tset.id, tset.scheme_id
        legend = scheme_legend(session, scheme_id)
    dc = connect(url)
    try:
        definition = product_definition(dc, product)
        measurements = [m["name"] for m in definition["measurements"]]
        datasets = find_datasets(dc, product, time=time)
        if not datasets:
            raise NotFoundError(f"product {product} has no dataset{' in that period' if time else ''}; compute it first.")
        crs = datasets[0].crs
        with session_scope(settings) as session:
            sample_ids, codes, geoms = _samples_in_crs(session, set_id, crs)
        footprint = shapely.union_all([d.extent.to_crs(crs).geom for d in datasets])
        inside = shapely.intersects(geoms, footprint)
        if area is not None:
            inside &= shapely.intersects(geoms, area.to_crs(crs).geom)
        if not inside.any():
            raise InvalidInputError(f"none of the {len(sample_ids)} samples of training set {training_set} overlaps "
                                    f"product {product}{' in the area' if area is not None else ''}; "
                                    "check the product's extent ('antares list datasets -p ...').")
        outside = int((~inside).sum())
        sample_ids, codes, geoms = sample_ids[inside], codes[inside], geoms[inside]
        extent = Geometry(shapely.box(*shapely.total_bounds(geoms)), crs)
        geobox = native_geobox(datasets, measurements, extent)
    finally:
        dc.close()

    return (sample_ids, codes, geoms, crs, datasets, definition, scheme_id, legend, outside), geobox


@takes(SampleRequest)
def training_features(settings: Settings, request: SampleRequest, progress=None) -> TrainingFeatures:
    """Per-sample features of training set ``request.training_set`` from ``request.product``, tile by tile.

    See :func:`model_fit`. The old form ``training_features(settings, product, training_set, area=None,
    aggregation="mean", with_pixels=False, scheduler=None, workers=None, tile_size=1024, time=None)``
    builds the request.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.requests.SampleRequest
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    TrainingFeatures

    Raises
    ------
    NotFoundError
        Unknown product or training set.
    InvalidInputError
        No sample overlaps the product (in the area).
    """
    import shapely

    from antares.db.engine import database_url
    from antares.models.samples import aggregate
    from antares.pipeline.executor import task_runner
    from antares.segmentation.tiling import tile_windows

    product, training_set, aggregation = request.product, request.training_set, request.aggregation
    time, tile_size = request.time, request.tile_size
    url = database_url(settings)
    (sample_ids, codes, geoms, crs, datasets, definition, scheme_id, legend, outside), geobox = \
        training_polygons(settings, request)
    measurements = [m["name"] for m in definition["measurements"]]

    from antares.models.samples import (by_pixels, feature_columns, glcm_features_of, glcm_levels_of,
                                        glcm_measurements, parse_aggregation, with_shape)

    texture = glcm_features_of(aggregation)
    chosen = glcm_measurements(measurements, aggregation, product) if texture else []
    if texture and request.series:
        raise InvalidInputError("per-object GLCM (-sp glcm) is computed from one date; a time series of the product "
                                "has several: leave glcm out or choose one period with -b/-e.")
    with_pixels = request.with_pixels or by_pixels(aggregation)
    jobs = []
    boxes = shapely.bounds(geoms)
    for window in tile_windows(geobox.shape, tile_size, 0):
        tile = geobox[window.core]
        x0, y0, x1, y1 = tile.boundingbox
        near = np.flatnonzero((boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1) & (boxes[:, 3] >= y0))
        if len(near):
            jobs.append(SampleJob(url, product, measurements, tile, time, near, list(shapely.to_wkb(geoms[near])),
                                  with_pixels or bool(texture), request.series))
    parts, pix_ids, pix_values, tile_times = [], [], [], []
    with task_runner(request.scheduler or settings.scheduler, request.workers or settings.workers, settings) as run:
        for done, (job, result) in enumerate(run(sample_tile, jobs), 1):
            if isinstance(result, Exception):
                raise result
            block_parts, pixels = result[:2]
            if request.series:
                tile_times.append(result[2])
            parts.extend(block_parts)
            if pixels is not None:
                pix_ids.append(pixels[0])
                pix_values.append(pixels[1])
            if progress:
                progress(done, len(jobs))
    pixels = (np.concatenate(pix_ids), np.concatenate(pix_values, axis=1)) if pix_ids else None
    if (with_pixels or texture) and pixels is None:
        pixels = (np.zeros(0, np.int64), np.zeros((len(measurements), 0), np.float32))
    times = None
    if request.series:
        times = tile_times[0] if tile_times else np.zeros(0, "datetime64[ns]")
        if any(len(t) != len(times) or (t != times).any() for t in tile_times):
            raise InvalidInputError(f"product {product} has other times in different tiles near the samples "
                                    f"({', '.join(str(len(t)) for t in tile_times)} time(s)); a time series needs the "
                                    "same steps everywhere.")
        measurements_read = len(measurements) * len(times)
        if pixels is not None and pixels[1].shape[0] != measurements_read:
            raise InvalidInputError(f"product {product}: {pixels[1].shape[0]} values per pixel read; expected "
                                    f"{measurements_read}.")
    features, n_pixels, valid = aggregate(parts, pixels, len(sample_ids), aggregation)
    spec = None
    if texture:  # the GLCM of each polygon's own pixels, grey levels from the pixels of all the polygons
        from antares.models.samples import is_point
        from antares.pipeline.object_glcm import GlcmJob, glcm_spec, object_glcm_table, ranges_from_samples

        what = f"training set {training_set} on product {product}"
        rows = [measurements.index(m) for m in chosen]
        spec = glcm_spec(texture, ranges_from_samples([pixels[1][rows]], len(chosen), what), glcm_levels_of(aggregation),
                         chosen)
        glcm_jobs = [GlcmJob(url, product, chosen, job.geobox, time, spec, indices=job.indices, wkb=job.wkb)
                     for job in jobs]
        with task_runner(request.scheduler or settings.scheduler, request.workers or settings.workers, settings) as run:
            # extents: the polygons' bounding boxes (burnt by pixel centre: inside them), so that a polygon burnt
            # into unconnected pieces is held until every tile it covers is done
            areal = np.flatnonzero(~is_point(geoms))
            table = object_glcm_table(run, glcm_jobs, np.arange(len(sample_ids)) + 1, what,
                                      (areal + 1, boxes[areal], 0.0))
        features = np.concatenate([features, table], axis=1)
        valid = valid & np.all(np.isfinite(features), axis=1)
    if parse_aggregation(aggregation)[1] and not request.with_pixels:  # shape: of the training polygons
        features = with_shape(np.arange(len(geoms)), features, (np.arange(len(geoms)), _polygon_shapes(geoms, training_set)))
        valid = valid & np.all(np.isfinite(features), axis=1)
    return TrainingFeatures(measurements, crs, sample_ids, codes, geoms, features, n_pixels, valid,
                            pixels if with_pixels else None, outside, datasets, definition, scheme_id, legend, times,
                            columns=feature_columns(measurements, aggregation), glcm=spec)


def _polygon_shapes(geoms, owner: str) -> np.ndarray:
    """Shape features (:func:`antares.object_features.shape_features`) of sample polygons; InvalidInputError for points."""
    import shapely

    from antares.object_features import shape_features

    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    if not polygonal.all():
        raise InvalidInputError(f"training set {owner} has {int((~polygonal).sum())} sample(s) that are not polygons "
                                "(points, lines); shape features need polygons: leave shape out of the aggregation.")
    return shape_features(geoms)


@takes(FitRequest)
def model_fit(settings: Settings, request: FitRequest, progress=None) -> FitReport:
    """Fit a ``request.kind`` model on the features of training set ``request.training_set`` from ``request.product``.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.requests.FitRequest
        ``kind``: a model (``rf``, ``lightgbm``, a plugin's); ``product``: an indexed product
        (features: every measurement, float, NaN/nodata masked); ``area``: only samples
        intersecting it (default: all samples of the set); ``aggregation`` (mean, median, min,
        max, std): how a polygon's pixels become one feature row (``unit='polygons'``),
        NaN-aware; ``unit``: one sample per polygon, or the pixels inside polygons (grouped by
        polygon in CV); ``sample``, ``per_class``: stratified subsample by class, a fraction of
        each class and/or at most N per class; ``cv``: K-fold cross-validation (stratified;
        grouped by polygon for pixels); ``cv_spatial``: block size in metres (product CRS),
        samples in one block stay on one side of every split; ``grid_specs`` ('k=v1,v2'): grid
        search over these values with the same cross-validation, the best macro-F1 is kept;
        ``extra`` ('k=v'): estimator parameters (checked against the estimator); ``time``:
        the product's period, when it has datasets at several times. The old form
        ``model_fit(settings, kind, product, training_set, name, area=..., ...)`` builds it.
    progress : callable, optional
        ``progress(done, total)`` after each tile of features, then after each fit (every
        cross-validation fold of every grid combination, then the final fit): one count,
        ``total`` = tiles + fits (:func:`antares.models.fitting.fit_count`).

    Returns
    -------
    FitReport

    Raises
    ------
    UsageError
        Unknown model, parameter or aggregation; invalid parameter values (raised by the request);
        ``cv_spatial`` on a product in a geographic CRS.
    NotFoundError
        Unknown product or training set (the known ones are listed).
    AlreadyExistsError
        Model ``name`` exists and ``overwrite`` is False.
    InvalidInputError
        No sample overlaps the product; fewer than 2 classes or a class with fewer than 2 samples.
    """
    from antares.db.engine import session_scope
    from antares.db.models import model_exists, replace_model
    from antares.models.fitting import fit_count, fit_model
    from antares.models.registry import make_estimator, require_features
    from antares.models.samples import canonical_aggregation
    from antares.models.store import library_versions, serialize
    from antares.models.table import write_table
    from antares.pipeline.run import recorded_run

    kind, product, training_set, name = request.kind, request.product, request.training_set, request.name
    unit, cv, seed, overwrite = request.unit, request.cv, request.seed, request.overwrite
    params, grid = request.params, request.grid  # parsed and checked against the estimator by the request
    n_jobs = request.workers or settings.workers or 2
    if request.table_file is not None:  # antares3's -filename: the training table, no model
        if kind is not None:
            require_features(kind)
        table = _training_table(settings, request, progress)
        write_table(request.table_file, table.X, table.y, table.columns, table.groups)
        table.report.table_file = str(request.table_file)
        return table.report
    require_features(kind)  # temporal deep models fit on pixel sets: model_fit_timeseries
    with recorded_run(settings, "model_fit", name) as run:  # the name is taken before any work
        with session_scope(settings) as session:
            if model_exists(session, name) and not overwrite:
                raise AlreadyExistsError(f"model '{name}' exists; use --overwrite to replace it or choose another --name.")
        # planning (features of the samples, the table, every check) before the run starts:
        # a run refused here leaves nothing in the database
        started = time_module.monotonic()
        fits, tiles = fit_count(cv, grid), [0]

        def tile_done(done, total):
            tiles[0] = total
            progress(done, total + fits)

        table = _training_table(settings, request, tile_done if progress else None)
        tf, report, X, y, groups = table.features, table.report, table.X, table.y, table.groups
        for combo in itertools.product(*grid.values()):
            make_estimator(kind, {**params, **dict(zip(grid.keys(), combo))}, seed)
        run_params = {"model": kind, "product": product, "training_set": training_set,
                      "aggregation": request.aggregation, "unit": unit, "segmentation": request.segmentation,
                      "sample": request.sample,
                      "per_class": request.per_class, "seed": seed, "cv": cv,
                      "cv_spatial": request.cv_spatial, "grid": grid, "params": params,
                      "categorical": list(request.categorical), "remove_outliers": request.remove_outliers,
                      "contamination": request.contamination if request.remove_outliers else None,
                      "features_s": round(time_module.monotonic() - started, 3)}
        run.start(run_params, {"product": product, "training_set": training_set, "datasets": len(tf.datasets)})
        outcome = fit_model(kind, X, y, groups, params, cv, grid, seed, n_jobs, codes=[e.code for e in tf.legend],
                            categorical=table.categorical, feature_names=table.columns, weights=table.weights,
                            progress=(lambda done, total: progress(tiles[0] + done, tiles[0] + total))
                            if progress else None)
        report.used, report.per_class = len(y), outcome.samples_per_class
        report.cv, report.grid, report.params = outcome.cv, outcome.grid, outcome.params
        meta = {
            "features": tf.measurements, "columns": table.columns,
            "aggregation": canonical_aggregation(request.aggregation) if unit != "pixels" else None,
            "segmentation": request.segmentation, "glcm": tf.glcm,
            "unit": unit, "categorical": list(request.categorical), "outliers_removed": report.outliers,
            "legend": [{"code": e.code, "name": e.name, "colour": e.colour} for e in tf.legend],
            "classes": [int(c) for c in outcome.estimator.classes_],
            "product": product, "product_description": tf.definition.get("description"),
            "datasets": len(tf.datasets), "crs": str(tf.crs), "training_set": training_set,
            "params": outcome.params,
            "estimator_params": {k: v for k, v in outcome.estimator.get_params().items()
                                 if isinstance(v, (int, float, str, bool, type(None)))},
            "cv": outcome.cv, "grid": outcome.grid, "samples_per_class": outcome.samples_per_class,
            "skipped_samples": report.skipped, "outside_samples": report.outside, "seed": seed,
            "time": [str(t) for t in request.time] if request.time else None, "versions": library_versions(),
        }
        blob = serialize(outcome.estimator)
        with session_scope(settings) as session:  # replace atomically
            if not overwrite and model_exists(session, name):
                raise AlreadyExistsError(f"model '{name}' was stored by another process while this one ran; "
                                         "use --overwrite to replace it or choose another --name.")
            replace_model(session, name, kind, tf.scheme_id, run.id, product, blob, _jsonable(meta))
            run.finish(session=session)
        return report


@dataclass
class TrainingTable:
    """What a model is fitted on: the samples' features, the table (after subsampling and outlier removal)."""

    features: TrainingFeatures
    report: FitReport
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray | None
    categorical: tuple
    columns: list = field(default_factory=list)  # the names of X's columns, in order
    weights: np.ndarray | None = None  # unit segments: each row's pixels (the CV's OA counted in area)


def _training_table(settings: Settings, request: FitRequest, progress) -> TrainingTable:
    """The checked training table of ``request`` (inputs checked before any pixel is read)."""
    from antares.models.fitting import check_classes
    from antares.models.table import categorical_columns, check_categorical, remove_outliers
    from antares.train import sample_table

    _check_inputs(settings, request.product, request.training_set, request.cv_spatial)  # bad names change nothing
    if request.unit == "segments":
        from antares.pipeline.segment_samples import segment_features, segment_table

        tf = segment_features(settings, request, training_polygons(settings, request)[0], progress)
    else:
        tf = training_features(settings, request.samples(), progress=progress)
    _check_block_crs(request.cv_spatial, request.product, tf.crs)  # the grid of the datasets in the area
    categorical = categorical_columns(tf.measurements, request.categorical, f"product {request.product}")
    if request.unit == "segments":
        report = FitReport(request.name, request.kind, samples=tf.polygons + tf.outside, legend=tf.legend,
                           unit=request.unit, outside=tf.outside)
        report.without_segment = tf.polygons - len(np.unique(tf.owners))
        report.invalid_segments = int((~tf.valid).sum())
        X, y, groups, weights = segment_table(tf, request)
    else:
        report = FitReport(request.name, request.kind, samples=len(tf.sample_ids) + tf.outside, legend=tf.legend,
                           unit=request.unit, outside=tf.outside, skipped=tf.sample_ids[~tf.valid].tolist())
        X, y, groups = sample_table(tf.features, tf.codes, tf.geoms, tf.valid, tf.pixels, request.unit,
                                    request.cv_spatial, request.per_class, request.sample, request.seed)
        weights = None
    check_categorical(X, categorical, tf.measurements)
    if request.remove_outliers:  # the kept rows' indices come back as the "groups" subset alongside
        X, y, kept, report.outliers = remove_outliers(X, y, np.arange(len(y)), request.contamination, request.seed)
        groups = groups[kept] if groups is not None else None
        weights = weights[kept] if weights is not None else None
    check_classes(y, {e.code: e.name for e in tf.legend})
    report.used = len(y)
    report.per_class = {int(c): int(n) for c, n in zip(*np.unique(y, return_counts=True))}
    columns = list(tf.measurements)
    if request.unit != "pixels" and tf.columns and (len(tf.columns) != len(tf.measurements)):
        columns = list(tf.columns)  # several statistics or shape; one statistic keeps the measurement names
    return TrainingTable(tf, report, X, y, groups, categorical, columns, weights)


def _jsonable(value):
    """Replace NaN by None and numpy scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def load_model(settings: Settings, name: str, trust_pickle: bool = False, estimator: bool = True):
    """(estimator, metadata) of stored model ``name``; the metadata also holds its id, kind, scheme id and format.

    Parameters
    ----------
    name : str
        The model's name.
    trust_pickle : bool
        Load a model stored as a pickle by an earlier antares (it runs any code written
        into the database), then re-save it in the skops format.
    estimator : bool
        False: return ``(None, metadata)`` without reading the blob (nothing checked).

    Raises
    ------
    NotFoundError
        No model ``name`` (the models are listed).
    UntrustedModelError
        A pickle without ``trust_pickle``, or a type outside the trusted ones (named).
    InvalidInputError
        The model was stored with another major version of scikit-learn, LightGBM, XGBoost or skops
        (both versions named); another minor version only warns.
    """
    from antares.db.engine import session_scope
    from antares.db.models import model_names, read_model
    from antares.models.store import FORMAT, PICKLE, SAFETENSORS, blob_format, check_versions, deserialize

    with session_scope(settings) as session:
        row = read_model(session, name, blob=estimator)
        if row is None:
            known = model_names(session)
            raise NotFoundError(f"model '{name}' does not exist; models: {', '.join(known) or '(none)'}. "
                                "Fit one with 'antares model_fit'.")
    meta = dict(row.meta)
    meta["id"], meta["kind"], meta["scheme_id"] = row.id, row.kind, row.scheme_id
    meta["format"] = blob_format(row.blob)
    if not estimator:
        return None, meta
    libraries = ["scikit-learn"] + (["lightgbm"] if row.kind == "lightgbm" else []) + \
        (["xgboost"] if row.kind == "xgb" else []) + \
        (["skops"] if meta["format"] == FORMAT else [])
    if meta["format"] == SAFETENSORS:
        libraries = ["torch", "safetensors"]
    check_versions(name, meta.get("versions") or {}, libraries)
    fitted = deserialize(row.blob, name, trust_pickle)
    if meta["format"] == PICKLE:
        meta = _resave(settings, name, row.id, fitted, meta)
    return fitted, meta


def _resave(settings: Settings, name: str, model_id: int, estimator, meta: dict) -> dict:
    """Replace the pickled blob of model ``model_id`` by its skops blob (checked by reading it back); the new metadata."""
    import datetime as dt

    from antares.db.engine import session_scope
    from antares.db.models import update_model
    from antares.models.store import FORMAT, deserialize, library_versions, serialize

    blob = serialize(estimator)
    deserialize(blob, name)  # a blob that cannot be read back is not written
    stored = {k: v for k, v in meta.items() if k not in ("id", "kind", "scheme_id", "format")}
    stored["resaved"] = {"from": "pickle", "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                         "versions": stored.get("versions")}
    stored["versions"] = library_versions()
    with session_scope(settings) as session:
        update_model(session, model_id, blob, _jsonable(stored))
    log.warning("model '%s' was a pickle; re-saved in the skops format (loads without --trust-pickle from now on).", name)
    return {**stored, "id": model_id, "kind": meta["kind"], "scheme_id": meta["scheme_id"], "format": FORMAT}


def list_models(settings: Settings) -> list[dict]:
    """Stored models: name, kind, product, training set, classes, features, samples, training unit (what the samples
    and the CV overall accuracy count: polygons or pixels), CV overall accuracy."""
    from antares.db.engine import session_scope
    from antares.db.models import list_models as model_rows

    with session_scope(settings) as session:
        rows = model_rows(session)
    out = []
    for name, kind, product, meta, created in rows:
        cv = (meta or {}).get("cv") or {}
        out.append({"name": name, "kind": kind, "product": product, "training_set": meta.get("training_set"),
                    "classes": len(meta.get("legend", [])), "features": len(meta.get("features", [])),
                    "samples": sum((meta.get("samples_per_class") or {}).values()),
                    "unit": meta.get("unit"), "cv_oa": (cv.get("mean") or {}).get("overall_accuracy"),
                    "created_at": created})
    return out
