"""Training samples from a segmentation (``model_fit --unit segments -s SEG``): object-level samples.

A segment is a sample when more than half of its pixels lie inside one training polygon (pixel
centre inside, antares' rule, :func:`antares.models.samples.burn`); it is labelled with that
polygon's class, and its features are those ``model_predict_object`` computes for it: the
statistics of **all** its pixels (``-sp``), and its polygon's shape (``shape``). Cross-validation
groups the segments by their polygon (or by the spatial block of the polygon's centroid), so
segments of one polygon never straddle a split. This is the ``segments`` unit of
``benchmarks/training_units.py`` (pieces of segments grouped by (segment, polygon)), with whole
segments kept where one polygon holds their majority, as a map of those segments would see them.

Two passes over the segmentation's label tiles: the first (tiles near the polygons) counts, per
(segment, polygon), the pixels of the segment inside the polygon; the second (every tile holding
one of the segments found) accumulates the statistics and pixel counts of those segments over all
their pixels, merged over tiles (:func:`antares.features.merge_partials`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from antares.errors import InvalidInputError, NotFoundError


@dataclass
class SegmentJob:
    """One label tile (picklable); ``only`` None: the first pass (polygon overlaps), else the second (statistics)."""

    url: str
    segmentation: str
    product: str
    measurements: list
    geobox: object
    time: tuple | None
    aggregation: str
    indices: np.ndarray | None = None  # polygons near the tile (first pass)
    wkb: list | None = None
    only: np.ndarray | None = None  # segments to accumulate (second pass)
    sample: bool = False  # second pass: also a sample of the segments' pixels (GLCM quantisation)


def overlap_tile(job: SegmentJob):
    """First pass: ``(pairs (2, k) [segment, polygon index], pixel counts (k,))`` of one tile, or None."""
    import shapely

    from antares.cube.features import load_labels
    from antares.cube.index import connect
    from antares.models.samples import burn, overlap_layers

    dc = connect(job.url)
    try:
        labels = load_labels(dc, job.segmentation, job.geobox)
    finally:
        dc.close()
    if not labels.any():
        return None
    geoms = np.asarray(shapely.from_wkb(job.wkb), dtype=object)
    keys = []
    for layer in overlap_layers(geoms):
        owner = burn(geoms, layer, labels.shape, job.geobox.affine)
        inside = (owner > 0) & (labels > 0)
        keys.append(np.stack([labels[inside], job.indices[owner[inside] - 1]]))
    keys = np.concatenate(keys, axis=1) if keys else np.zeros((2, 0), np.int64)
    if not keys.shape[1]:
        return None
    pairs, counts = np.unique(keys, axis=1, return_counts=True)
    return pairs, counts


def statistics_tile(job: SegmentJob):
    """Second pass: ``(accumulators (or pixels, for medians and percentiles), pixel sample or None)`` of segments
    ``job.only`` in one tile (the sample: :func:`antares.pipeline.object_glcm.pixel_sample`, with ``job.sample``)."""
    from antares.cube.features import load_features, load_labels
    from antares.cube.index import connect
    from antares.features import partial_statistics, select_pixels
    from antares.models.samples import by_pixels

    dc = connect(job.url)
    try:
        labels = load_labels(dc, job.segmentation, job.geobox)
        labels = np.where(np.isin(labels, job.only), labels, 0)
        if not labels.any():
            return None
        values = load_features(dc, job.product, job.measurements, job.geobox, time=job.time, one_time=True)
    finally:
        dc.close()
    sample = None
    if job.sample:
        from antares.pipeline.object_glcm import pixel_sample

        sample = pixel_sample(values, labels > 0)
    if by_pixels(job.aggregation):
        return select_pixels(labels, values, job.only), sample
    return partial_statistics(labels, values), sample


def majority_segments(pairs: np.ndarray, counts: np.ndarray, totals: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(segments, polygons)``: each segment with more than half of its pixels inside one polygon, and that polygon.

    Parameters
    ----------
    pairs : numpy.ndarray (2, k) int64
        (segment id, polygon index) pairs, possibly repeated (one per tile); summed.
    counts : numpy.ndarray (k,) int64
        Pixels of the segment whose centre is inside the polygon.
    totals : dict
        Segment id -> all its pixels.

    Returns
    -------
    segments : numpy.ndarray (n,) int64, sorted
    polygons : numpy.ndarray (n,) int64
        Where overlapping polygons both hold a majority, the one with more pixels (then the lower index).
    """
    if not pairs.shape[1]:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys, inverse = np.unique(pairs, axis=1, return_inverse=True)
    summed = np.bincount(inverse.reshape(-1), weights=counts, minlength=keys.shape[1])
    total = np.array([totals.get(int(s), 0) for s in keys[0]], np.float64)
    major = summed > 0.5 * total
    seg, poly, n = keys[0][major], keys[1][major], summed[major]
    order = np.lexsort((poly, -n, seg))  # per segment: most pixels first, then the lower polygon index
    seg, poly = seg[order], poly[order]
    first = np.r_[True, seg[1:] != seg[:-1]]
    return seg[first].astype(np.int64), poly[first].astype(np.int64)


def segment_features(settings, request, tf_polygons, progress=None):
    """The training features of ``request.unit == 'segments'``: one row per majority segment (see the module).

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.requests.FitRequest
        ``segmentation``, ``product``, ``aggregation`` (statistics and ``shape``), ``time``, ``area``.
    tf_polygons : (sample_ids, codes, geoms, crs, datasets, definition, scheme_id, legend, outside)
        The training polygons in the product's CRS (:func:`antares.pipeline.train.training_polygons`).
    progress : callable, optional
        ``progress(done, total)`` after each tile of either pass.

    Returns
    -------
    antares.pipeline.train.TrainingFeatures
        Rows are segments: ``sample_ids``, ``codes`` and ``geoms`` of the polygon holding each,
        ``segment_ids`` the segments, ``owners`` the polygon indices, ``features`` the segment's
        statistics (and shape), ``n_pixels`` its pixels.

    Raises
    ------
    NotFoundError
        Unknown segmentation, or one without label tiles.
    InvalidInputError
        The segmentation is on another grid than the product; no segment lies mostly in a polygon.
    """
    import shapely

    from antares.cube.catalog import find_datasets
    from antares.cube.index import connect
    from antares.cube.load import native_geobox
    from antares.db.engine import database_url, session_scope
    from antares.db.segmentations import require_segmentation
    from antares.features import finalise, merge_partials
    from antares.models.samples import (by_pixels, feature_columns, glcm_features_of, glcm_levels_of,
                                        glcm_measurements, object_statistics, parse_aggregation, with_shape)
    from antares.pipeline.executor import task_runner
    from antares.pipeline.predict import _check_same_grid, segment_shapes
    from antares.pipeline.train import TrainingFeatures

    sample_ids, codes, geoms, crs, datasets, definition, scheme_id, legend, outside = tf_polygons
    measurements = [m["name"] for m in definition["measurements"]]
    chosen = glcm_measurements(measurements, request.aggregation, request.product)  # refuse an unknown glcm:M early
    url = database_url(settings)
    with session_scope(settings) as session:
        seg = require_segmentation(session, request.segmentation)
    dc = connect(url)
    try:
        label_datasets = find_datasets(dc, request.segmentation, area=request.area)
        if not label_datasets:
            raise NotFoundError(f"segmentation {request.segmentation} has no label tile"
                                f"{' in the area' if request.area is not None else ''}.")
        tiles = [native_geobox([d], ["segment_id"]) for d in label_datasets]
        _check_same_grid(tiles[0], native_geobox(datasets, measurements), request.segmentation, request.product)
    finally:
        dc.close()
    boxes = shapely.bounds(geoms)
    first = []
    for tile in tiles:
        x0, y0, x1, y1 = tile.boundingbox
        near = np.flatnonzero((boxes[:, 0] <= x1) & (boxes[:, 2] >= x0) & (boxes[:, 1] <= y1) & (boxes[:, 3] >= y0))
        if len(near):
            first.append(SegmentJob(url, request.segmentation, request.product, measurements, tile, request.time,
                                    request.aggregation, near, list(shapely.to_wkb(geoms[near]))))
    pairs, counts = [np.zeros((2, 0), np.int64)], [np.zeros(0, np.int64)]
    scheduler, workers = request.scheduler or settings.scheduler, request.workers or settings.workers
    total_tiles = [len(first) + len(tiles)]
    with task_runner(scheduler, workers, settings) as execute:
        for done, (job, result) in enumerate(execute(overlap_tile, first), 1):
            if isinstance(result, Exception):
                raise result
            if result is not None:
                pairs.append(result[0])
                counts.append(result[1])
            if progress:
                progress(done, total_tiles[0])
        pairs, counts = np.concatenate(pairs, axis=1), np.concatenate(counts)
        touched = np.unique(pairs[0])
        texture = glcm_features_of(request.aggregation)
        second = [SegmentJob(url, request.segmentation, request.product, measurements, tile, request.time,
                             request.aggregation, only=touched, sample=bool(texture))
                  for tile in tiles] if len(touched) else []
        parts, samples = [], []
        for done, (job, result) in enumerate(execute(statistics_tile, second), len(first) + 1):
            if isinstance(result, Exception):
                raise result
            if result is not None:
                parts.append(result[0])
                if result[1] is not None:
                    samples.append(result[1])
            if progress:
                progress(done, total_tiles[0])
    statistics, shape = parse_aggregation(request.aggregation)
    if by_pixels(request.aggregation):
        seg_labels = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        seg_values = np.concatenate([p[1] for p in parts], axis=1) if parts else np.zeros((len(measurements), 0))
        ids, table = object_statistics(seg_labels, seg_values, statistics)
        uniq, n = np.unique(seg_labels, return_counts=True)
        totals = dict(zip(uniq.tolist(), n.tolist()))
    elif parts:
        merged = merge_partials(parts)
        ids, table = merged.ids, finalise(merged, statistics)
        totals = dict(zip(merged.ids.tolist(), merged.n_pixels.tolist()))
    else:
        ids, table, totals = np.zeros(0, np.int64), np.zeros((0, len(statistics) * len(measurements))), {}
    segments, owners = majority_segments(pairs, counts, totals)
    if not len(segments):
        raise InvalidInputError(f"no segment of {request.segmentation} lies by more than half of its pixels inside a "
                                f"training polygon of {request.training_set}; use --unit polygons or a finer "
                                "segmentation.")
    features = table[np.searchsorted(ids, segments)]
    spec = None
    if texture:  # the GLCM of each sample segment's own pixels, grey levels from the pixels of the touched segments
        from antares.pipeline.object_glcm import (GlcmJob, glcm_spec, object_glcm_table, ranges_from_samples,
                                                  segment_extents)

        what = f"segmentation {request.segmentation} on product {request.product}"
        rows = [measurements.index(m) for m in chosen]
        spec = glcm_spec(texture, ranges_from_samples([s[rows] for s in samples], len(chosen), what),
                         glcm_levels_of(request.aggregation), chosen)
        jobs = [GlcmJob(url, request.product, chosen, tile, request.time, spec, request.segmentation,
                        only=segments) for tile in tiles]
        with task_runner(scheduler, workers, settings) as execute:
            table = object_glcm_table(execute, jobs, segments, what, segment_extents(settings, seg.id, tiles))
            features = np.concatenate([features, table], axis=1)
    if shape:
        features = with_shape(segments, features, segment_shapes(settings, seg.id, request.segmentation))
    n_pixels = np.array([totals[int(s)] for s in segments], np.int64)
    valid = np.all(np.isfinite(features), axis=1)
    return TrainingFeatures(measurements, crs, sample_ids[owners], codes[owners], geoms[owners], features, n_pixels,
                            valid, None, outside, datasets, definition, scheme_id, legend,
                            columns=feature_columns(measurements, request.aggregation), segment_ids=segments,
                            owners=owners, polygons=len(sample_ids), glcm=spec)


def segment_table(tf, request):
    """``(X, y, groups, pixels)`` of segment samples: the valid rows, grouped by polygon (or by the spatial block of
    its centroid with ``request.cv_spatial``), subsampled per class as the other units (``per_class``, ``sample``);
    ``pixels``: each segment's pixel count (its area, for the CV's OA counted in area).

    Parameters
    ----------
    tf : TrainingFeatures
        The segment samples (``features`` (n, f) float64, ``codes`` (n,), ``owners`` (n,) polygon index,
        ``geoms`` in the product's CRS, ``n_pixels`` (n,), ``valid`` (n,) bool).
    request : FitRequest
        ``cv_spatial`` (block side, CRS units), ``per_class``, ``sample``, ``seed``.

    Returns
    -------
    X : numpy.ndarray (m, f) float64
    y : numpy.ndarray (m,) int
    groups : numpy.ndarray (m,) int64
    pixels : numpy.ndarray (m,) float64
    """
    from antares.models.fitting import stratified_subsample
    from antares.sampling import spatial_blocks

    valid = tf.valid
    if request.cv_spatial is not None:
        centroids = shapely_centroids(tf.geoms)
        groups = spatial_blocks(centroids[:, 0], centroids[:, 1], request.cv_spatial)
    else:
        groups = np.asarray(tf.owners, np.int64)
    X, y, groups, pixels = tf.features[valid], np.asarray(tf.codes)[valid], groups[valid], tf.n_pixels[valid]
    keep = stratified_subsample(y, groups, request.per_class, request.sample, request.seed)
    return X[keep], y[keep], groups[keep], pixels[keep].astype(np.float64)


def shapely_centroids(geoms) -> np.ndarray:
    """(n, 2) centroid coordinates of ``geoms``."""
    import shapely

    return shapely.get_coordinates(shapely.centroid(np.asarray(geoms, dtype=object)))
