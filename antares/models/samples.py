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


def by_pixels(aggregation: str) -> bool:
    """True when the aggregation needs every pixel (median, percentiles): it does not merge over tiles."""
    return aggregation == "median" or (isinstance(aggregation, str) and _PERCENTILE.match(aggregation) is not None)


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

    Returns
    -------
    features : ndarray (n_samples, b) float64
        NaN where a sample has no valid pixel in a band (or no pixel at all).
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
    features = np.full((n_samples, merged.n_bands), np.nan)
    index = merged.ids - 1
    n_pixels[index] = merged.n_pixels
    if by_pixels(aggregation):
        ids, medians = pixel_statistic(pixels[0] + 1, pixels[1], aggregation)
        features[ids - 1] = medians
    else:
        features[index] = finalise(merged, (aggregation,))
    valid = np.all(np.isfinite(features), axis=1) & (n_pixels > 0)
    return features, n_pixels, valid
