"""Training-sample features from raster blocks: polygons burnt by pixel centre, aggregated per polygon.

A pixel belongs to a polygon when its centre falls inside it (GDAL's rasterisation
rule, ``all_touched=False``); a point sample takes the pixel that contains it. Polygons
whose interiors overlap are burnt in separate layers, so a pixel shared by two
overlapping polygons counts for both. Points are never burnt: each reads the pixel under
it directly, so points sharing a pixel (with each other or with a polygon) all get its values. Blocks (tiles) are independent: per-block
accumulators are merged per sample, so a polygon crossing tile edges contributes once,
from all its pixels.
"""

from __future__ import annotations

import re

import numpy as np

AGGREGATIONS = ("mean", "median", "min", "max", "std")
"""The per-object aggregations by name; ``pNN`` (a percentile, 0 <= NN <= 100) is accepted too."""
_PERCENTILE = re.compile(r"^p(100|[1-9]?[0-9])$")


def is_aggregation(value) -> bool:
    """True for one of :data:`AGGREGATIONS` or a percentile ``pNN`` (``p5``, ``p90``; 0 <= NN <= 100)."""
    return value in AGGREGATIONS or (isinstance(value, str) and _PERCENTILE.match(value) is not None)


SHAPE = "shape"
"""The ``-sp`` name that adds the object polygons' shape (:data:`antares.object_features.SHAPE_FEATURES`)."""
GLCM = "glcm"
"""The ``-sp`` name that adds every per-object GLCM feature (:mod:`antares.object_texture`); ``glcm_contrast``,
``glcm_entropy``, ... add one each."""


_GLCM_LEVELS = re.compile(r"^glcm(\d{1,3})$")
_GLCM_BAND = re.compile(r"^glcm:([A-Za-z0-9][A-Za-z0-9_.-]*)$")
"""``glcm:MEASUREMENT``: the per-object GLCM of that measurement only (repeatable; default: every measurement)."""


def is_glcm_band(value) -> bool:
    """True for ``glcm:MEASUREMENT`` (a letter or digit, then letters, digits, ``_ . -``): the GLCM of that measurement.

    >>> is_glcm_band("glcm:B08"), is_glcm_band("glcm:"), is_glcm_band("glcm")
    (True, False, False)
    """
    return isinstance(value, str) and _GLCM_BAND.match(value) is not None


def _names(value) -> list[str]:
    return value.replace(",", " ").split() if isinstance(value, str) else [str(v) for v in (value or ())]


def glcm_bands_of(value) -> tuple[str, ...]:
    """The measurements named by ``glcm:MEASUREMENT`` in an object-feature specification, in the order given; empty
    when none is named (the per-object GLCM then covers every measurement of the product).

    >>> glcm_bands_of("mean glcm_contrast glcm:B08 glcm:NDVI shape")
    ('B08', 'NDVI')
    """
    return tuple(_GLCM_BAND.match(n).group(1) for n in _names(value) if is_glcm_band(n))


def glcm_measurements(measurements, value, product: str) -> list[str]:
    """The measurements whose per-object GLCM a specification asks for: those of ``glcm:M`` (in that order), else all.

    Parameters
    ----------
    measurements : sequence of str
        The product's measurements.
    value : str or sequence of str
        The object-feature specification (:func:`parse_aggregation`).
    product : str
        The product's name, for the message.

    Returns
    -------
    list of str

    Raises
    ------
    antares.errors.UsageError
        A ``glcm:M`` names a measurement the product does not have (exit code 2; the message lists the product's).
    """
    from antares.errors import UsageError

    measurements = [str(m) for m in measurements]
    chosen = list(glcm_bands_of(value))
    unknown = [m for m in chosen if m not in measurements]
    if unknown:
        raise UsageError(f"-sp {' '.join('glcm:' + m for m in unknown)}: product {product} has no measurement "
                         f"{', '.join(unknown)}; its measurements are {', '.join(measurements)}: name one of them "
                         "(glcm:M) or leave glcm:M out for all.")
    return chosen or measurements


def is_glcm(value) -> bool:
    """True for ``glcm``, ``glcmN`` (all features, N grey levels, 2..256) or ``glcm_FEATURE`` (a feature of
    :data:`antares.object_texture.FEATURES`)."""
    from antares.object_texture import FEATURES

    if not isinstance(value, str):
        return False
    levels = _GLCM_LEVELS.match(value)
    return (value == GLCM or (levels is not None and 2 <= int(levels.group(1)) <= 256)
            or (value.startswith(GLCM + "_") and value[5:] in FEATURES))


def glcm_levels_of(value) -> int:
    """The grey levels of the per-object GLCM a specification asks for: N of ``glcmN``, else
    :data:`antares.object_texture.DEFAULT_LEVELS` (32)."""
    from antares.object_texture import DEFAULT_LEVELS

    names = _names(value)
    found = [int(m.group(1)) for m in map(_GLCM_LEVELS.match, names) if m is not None]
    return found[0] if found else DEFAULT_LEVELS


def glcm_features_of(value) -> tuple[str, ...]:
    """The per-object GLCM features an object-feature specification asks for, in :data:`antares.object_texture.FEATURES`
    order (``glcm``: all of them); empty without a ``glcm`` name.

    >>> glcm_features_of("mean glcm_entropy glcm_contrast shape")
    ('contrast', 'entropy')

    ``glcm:MEASUREMENT`` alone (without ``glcm``, ``glcmN`` or ``glcm_FEATURE``) asks for every feature.
    """
    from antares.object_texture import FEATURES

    names = _names(value)
    asked = [n for n in names if is_glcm(n)]
    if any(n == GLCM or _GLCM_LEVELS.match(n) for n in asked) or (not asked and any(map(is_glcm_band, names))):
        return FEATURES
    return tuple(f for f in FEATURES if f"{GLCM}_{f}" in asked)


def parse_aggregation(value) -> tuple[tuple[str, ...], bool]:
    """``(statistics, shape)`` of an object-feature specification (``-sp mean std p90 glcm shape``).

    Parameters
    ----------
    value : str or sequence of str
        Names separated by spaces or commas (``"mean std shape"``) or a sequence of names: at
        least one statistic (:func:`is_aggregation`), each once, optionally per-object GLCM texture
        (``glcm`` or ``glcm_FEATURE`` names, :func:`glcm_features_of`; ``glcm:MEASUREMENT`` names, each once,
        restrict it to those measurements, :func:`glcm_bands_of`) and ``shape``.

    Returns
    -------
    statistics : tuple of str
        In the order given: the feature columns are statistic-major (every measurement of the
        first statistic, then of the next), then the GLCM columns, then the shape columns.
    shape : bool

    Raises
    ------
    ValueError
        An unknown name, a name given twice (or ``glcm`` with ``glcm_FEATURE``), or no statistic (the message names them).
    """
    names = _names(value)
    bad = [n for n in names if not (is_aggregation(n) or n == SHAPE or is_glcm(n) or is_glcm_band(n))]
    if bad:
        raise ValueError(f"unknown aggregation {', '.join(repr(b) for b in bad)}")
    whole = [n for n in names if n == GLCM or _GLCM_LEVELS.match(n)]
    if len(set(names)) != len(names) or (whole and sum(is_glcm(n) for n in names) > 1):
        raise ValueError(f"an aggregation is given twice in {' '.join(names)!r}")
    statistics = tuple(n for n in names if n != SHAPE and not is_glcm(n) and not is_glcm_band(n))
    if not statistics:
        raise ValueError("no statistic given (shape and glcm need one, e.g. 'mean glcm shape')")
    return statistics, SHAPE in names


def canonical_aggregation(value) -> str:
    """The specification as stored with a model: statistics in their order, then GLCM names, then ``shape``;
    ``'mean'`` stays ``'mean'``.

    Parameters
    ----------
    value : str or sequence of str
        As ``-sp`` takes it (see :func:`parse_aggregation`).

    Returns
    -------
    str
        Space-separated names, e.g. ``'mean std p90 glcm_contrast glcm:B08 shape'``.

    Raises
    ------
    ValueError
        An unknown statistic (from :func:`parse_aggregation`).
    """
    from antares.object_texture import DEFAULT_LEVELS, FEATURES

    statistics, shape = parse_aggregation(value)
    glcm, levels = glcm_features_of(value), glcm_levels_of(value)
    whole = GLCM if levels == DEFAULT_LEVELS else f"{GLCM}{levels}"
    texture = (whole,) if glcm == FEATURES else tuple(f"{GLCM}_{f}" for f in glcm)
    texture += tuple(f"{GLCM}:{m}" for m in glcm_bands_of(value))
    return " ".join(statistics + texture + ((SHAPE,) if shape else ()))


def feature_columns(measurements, aggregation) -> list[str]:
    """Column names of the object features: ``f"{measurement}_{statistic}"`` statistic-major, then the GLCM features
    ``f"{measurement}_glcm_{feature}"`` (feature-major; the measurements of ``glcm:M``, else all), then the shape features.

    Parameters
    ----------
    measurements : sequence of str
        The product's measurements, in the model's order.
    aggregation : str or sequence of str
        See :func:`parse_aggregation`.

    Returns
    -------
    list of str
        ``len(measurements) * n_statistics`` names, then ``len(measurements) * n_glcm``, then
        :data:`antares.object_features.SHAPE_FEATURES` with shape.

    Examples
    --------
    >>> feature_columns(["b04", "b08"], "mean p90 shape")[:4]
    ['b04_mean', 'b08_mean', 'b04_p90', 'b08_p90']
    """
    from antares.object_features import SHAPE_FEATURES
    from antares.object_texture import glcm_names

    statistics, shape = parse_aggregation(aggregation)
    return ([f"{m}_{s}" for s in statistics for m in measurements]
            + glcm_names(list(glcm_bands_of(aggregation)) or measurements, glcm_features_of(aggregation))
            + (list(SHAPE_FEATURES) if shape else []))


def by_pixels(aggregation) -> bool:
    """True when a statistic of the aggregation needs every pixel (median, percentiles): it does not merge over tiles."""
    try:
        statistics, _ = parse_aggregation(aggregation)
    except (ValueError, AttributeError, TypeError):
        return False
    return any(s == "median" or _PERCENTILE.match(s) is not None for s in statistics)


def pixel_statistic(labels, values, aggregation: str):
    """``(ids, (n, b) float64)``: the median or percentile ``pNN`` of every object's valid pixels.

    As :func:`antares.features.object_medians` (median) and
    :func:`antares.object_features.object_percentiles` (``pNN``, equal to :func:`numpy.nanpercentile`).
    """
    from antares.features import object_medians
    from antares.object_features import object_percentiles

    if aggregation == "median":
        return object_medians(labels, values)
    return object_percentiles(labels, values, float(aggregation[1:]))


def object_statistics(labels, values, aggregation) -> tuple[np.ndarray, np.ndarray]:
    """Every statistic of ``aggregation`` (shape left out) of every object, from all its pixels.

    Parameters
    ----------
    labels : numpy.ndarray (y, x) or (m,) integer
        Object labels, 0 = no object.
    values : numpy.ndarray (b, y, x) or (b, m) float
        NaN = nodata.
    aggregation : str or sequence of str
        See :func:`parse_aggregation`.

    Returns
    -------
    ids : numpy.ndarray (n,) int64
        Sorted unique non-zero labels.
    features : numpy.ndarray (n, len(statistics) * b) float64
        Statistic-major columns (:func:`feature_columns`); NaN where an object has no valid pixel in a band.
    """
    from antares.features import finalise, partial_statistics

    statistics, _ = parse_aggregation(aggregation)
    part = partial_statistics(labels, values)
    columns = []
    for s in statistics:
        if is_aggregation(s) and (s == "median" or _PERCENTILE.match(s)):
            got_ids, got = pixel_statistic(labels, values, s)
            column = np.full((len(part.ids), got.shape[1]), np.nan)
            column[np.searchsorted(part.ids, got_ids)] = got
            columns.append(column)
        else:
            columns.append(finalise(part, (s,)))
    return part.ids, np.concatenate(columns, axis=1)


def with_shape(ids, features, shapes) -> np.ndarray:
    """``features`` with the shape columns of objects ``ids`` appended (unchanged when ``shapes`` is None).

    Parameters
    ----------
    ids : numpy.ndarray (n,) int64
    features : numpy.ndarray (n, f) float64
    shapes : (numpy.ndarray (k,) int64 sorted, numpy.ndarray (k, s) float64) or None
        Object ids and their shape features; an object not among them gets NaN (no prediction).

    Returns
    -------
    numpy.ndarray (n, f + s) float64
    """
    if shapes is None:
        return features
    known, table = shapes
    out = np.full((len(ids), table.shape[1]), np.nan)
    if len(known):
        pos = np.minimum(np.searchsorted(known, ids), len(known) - 1)
        found = known[pos] == ids
        out[found] = table[pos[found]]
    return np.concatenate([np.asarray(features, np.float64).reshape(len(ids), -1), out], axis=1)


def overlap_layers(geoms) -> list[np.ndarray]:
    """Partition sample indices into layers of polygons whose interiors do not overlap.

    Parameters
    ----------
    geoms : array of shapely geometries

    Returns
    -------
    list of int64 arrays
        Indices into ``geoms``; usually one layer. Greedy colouring in index order.
    """
    import shapely

    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    if n == 0:
        return []
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left):
        areal = shapely.area(shapely.intersection(geoms[left], geoms[right])) > 0
        left, right = left[areal], right[areal]
    if not len(left):
        return [np.arange(n, dtype=np.int64)]
    neighbours: dict[int, list[int]] = {}
    for a, b in zip(left.tolist(), right.tolist()):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    layer_of = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        taken = {layer_of[j] for j in neighbours.get(i, ()) if layer_of[j] >= 0}
        layer = 0
        while layer in taken:
            layer += 1
        layer_of[i] = layer
    return [np.flatnonzero(layer_of == k) for k in range(int(layer_of.max()) + 1)]


def is_point(geoms) -> np.ndarray:
    """(n,) bool: which of ``geoms`` are Point or MultiPoint geometries (read pixel by pixel, never burnt)."""
    import shapely

    return np.isin(shapely.get_type_id(np.asarray(geoms, dtype=object)), (0, 4))


def point_pixels(geoms, indices, shape, transform) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixel under every point of the Point/MultiPoint samples ``indices``, one entry per (sample, pixel).

    A point on a pixel edge belongs to the pixel to its right and below (rows and columns are
    the floor of its pixel coordinates), so blocks that tile a grid share no point.

    Parameters
    ----------
    geoms : array of shapely geometries
        In the CRS of ``transform``.
    indices : int array
        Sample indices (into ``geoms``) of Point or MultiPoint geometries.
    shape : (ny, nx)
    transform : affine.Affine

    Returns
    -------
    samples, rows, cols : ndarray (m,) int64
        Sample index and pixel of each point inside the block; a pixel hit twice by one
        MultiPoint counts once.
    """
    import shapely

    indices = np.asarray(indices, dtype=np.int64)
    empty = np.zeros(0, np.int64)
    if not len(indices):
        return empty, empty, empty
    xy, part = shapely.get_coordinates(np.asarray(geoms, dtype=object)[indices], return_index=True)
    cols, rows = ~transform * (xy[:, 0], xy[:, 1])
    cols, rows = np.floor(cols), np.floor(rows)
    inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    found = np.unique(np.stack([indices[part[inside]], rows[inside].astype(np.int64), cols[inside].astype(np.int64)]),
                      axis=1)
    return found[0], found[1], found[2]


def burn(geoms, indices, shape, transform) -> np.ndarray:
    """A (y, x) int32 raster holding ``index + 1`` of the sample whose polygon covers each pixel centre.

    Parameters
    ----------
    geoms : array of shapely geometries
        In the CRS of ``transform``.
    indices : int array
        The sample indices (into ``geoms``) to burn; they must not overlap.
    shape : (ny, nx)
    transform : affine.Affine
    """
    from rasterio.features import rasterize

    if len(indices) == 0:
        return np.zeros(shape, dtype=np.int32)
    return rasterize(((geoms[i], int(i) + 1) for i in indices), out_shape=shape, transform=transform, fill=0,
                     all_touched=False, dtype=np.int32)


def block_partials(values: np.ndarray, transform, geoms, layers, with_pixels: bool = False):
    """Per-sample accumulators (and optionally the pixels) of one block.

    Parameters
    ----------
    values : ndarray (b, y, x) float32
        The block's measurements, NaN = nodata.
    transform : affine.Affine
        The block's pixel-to-CRS transform.
    geoms : array of shapely geometries
        All samples (in the block's CRS); only those in ``layers`` are read. Points
        (:func:`point_pixels`) read the pixel under them, other geometries are burnt.
    layers : list of int arrays
        From :func:`overlap_layers`, restricted to samples near the block.
    with_pixels : bool
        Also return every covered pixel: (sample index (m,), values (b, m)).

    Returns
    -------
    parts : list of antares.features.PartialStats
        Object ids are ``sample index + 1``.
    pixels : tuple or None
    """
    from antares.features import partial_statistics, select_pixels

    parts, pix_ids, pix_values = [], [], []
    layers = [np.asarray(layer, dtype=np.int64) for layer in layers]
    points = [layer[is_point(np.asarray(geoms, dtype=object)[layer])] for layer in layers]
    samples, rows, cols = point_pixels(geoms, np.concatenate(points) if points else [], values.shape[1:], transform)
    if len(samples):  # each point its own pixel, even when several share it
        vals = values[:, rows, cols]
        parts.append(partial_statistics(samples + 1, vals))
        if with_pixels:
            pix_ids.append(samples)
            pix_values.append(vals)
    for layer, point in zip(layers, points):
        layer = np.setdiff1d(layer, point)
        labels = burn(geoms, layer, values.shape[1:], transform)
        if not labels.any():
            continue
        parts.append(partial_statistics(labels, values))
        if with_pixels:
            ids, vals = select_pixels(labels, values, layer + 1)
            pix_ids.append(ids - 1)
            pix_values.append(vals)
    pixels = None
    if with_pixels:
        b = values.shape[0]
        pixels = (np.concatenate(pix_ids) if pix_ids else np.zeros(0, np.int64),
                  np.concatenate(pix_values, axis=1) if pix_values else np.zeros((b, 0), values.dtype))
    return parts, pixels


def aggregate(parts, pixels, n_samples: int, aggregation: str):
    """Features per sample from merged block results.

    ``aggregation``: one statistic or several (:func:`parse_aggregation`; ``shape`` is left to the
    caller, who has the geometries).

    Returns
    -------
    features : ndarray (n_samples, len(statistics) * b) float64
        Statistic-major (:func:`feature_columns`). NaN where a sample has no valid pixel in a band (or no pixel at all).
    n_pixels : ndarray (n_samples,) int64
        Pixels whose centre falls in each sample.
    valid : ndarray (n_samples,) bool
        Samples with at least one pixel valid in every band.
    """
    from antares.features import finalise, merge_partials

    n_pixels = np.zeros(n_samples, dtype=np.int64)
    if not parts:
        b = pixels[1].shape[0] if pixels is not None else 0
        return np.full((n_samples, b), np.nan), n_pixels, np.zeros(n_samples, dtype=bool)
    merged = merge_partials(parts)
    index = merged.ids - 1
    n_pixels[index] = merged.n_pixels
    statistics, _ = parse_aggregation(aggregation)
    features = np.full((n_samples, len(statistics) * merged.n_bands), np.nan)
    if by_pixels(aggregation):
        ids, values = object_statistics(pixels[0] + 1, pixels[1], statistics)
        features[ids - 1] = values
    else:
        features[index] = finalise(merged, statistics)
    valid = np.all(np.isfinite(features), axis=1) & (n_pixels > 0)
    return features, n_pixels, valid
