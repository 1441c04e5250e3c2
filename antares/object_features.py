"""Richer per-object features: percentiles of the pixel values, and shape from the object polygons.

:mod:`antares.features` gives the statistics that merge over tiles (mean, min, max, std, count) and
medians; this module adds the percentiles of each object's valid pixels and the shape of its
polygon (the segment geometries stored by ``antares segment``), the object features of issue 18
item 7.

Shape features (``SHAPE_FEATURES``), in the units of the polygons' CRS (metres for a projected grid):

``area``
    Polygon area (m²); holes excluded.
``perimeter``
    Length of the boundary, holes included (m). For a polygon of raster pixels this is the crack
    length: the number of pixel edges between the object and the rest, times the pixel size.
``compactness``
    Polsby-Popper ``4 π area / perimeter²`` (1 for a disc, π/4 for a square, → 0 for a line);
    Polsby & Popper (1991), *Yale Law & Policy Review* 9:301.
``elongation``
    ``1 − short / long`` side of the minimum rotated rectangle (0 for a square, → 1 for a line);
    the rectangle of least area that encloses the polygon (:func:`shapely.minimum_rotated_rectangle`).
``rectangularity``
    ``area / area of the minimum rotated rectangle`` (1 for a rectangle).

The geometric features of the pixel-set encoder (Garnot et al. 2020, CVPR, section 4: perimeter, area, cover ratio)
add (``GEOMETRY_FEATURES``, :func:`geometry_features`):

``cover_ratio``
    ``area / area of the axis-aligned bounding box``: for a polygon of raster pixels, the object's pixels over the
    pixels of its bounding box on the grid (1 for a rectangle along the grid, π/4 for a disc).
"""

from __future__ import annotations

import numpy as np

from antares.errors import InvalidInputError

SHAPE_FEATURES = ("area", "perimeter", "compactness", "elongation", "rectangularity")
GEOMETRY_FEATURES = SHAPE_FEATURES + ("cover_ratio",)


def shape_features(geometries) -> np.ndarray:
    """Shape features of polygons (see the module's docstring).

    Parameters
    ----------
    geometries : array-like (n,) of shapely Polygon or MultiPolygon
        In a projected CRS (lengths in its units, areas in its units squared).

    Returns
    -------
    numpy.ndarray (n, 5) float64
        Columns in the order of :data:`SHAPE_FEATURES`. NaN for an empty or missing geometry.

    Raises
    ------
    InvalidInputError
        A geometry that is not a polygon or multipolygon.
    """
    import shapely

    geoms = np.asarray(geometries, dtype=object)
    if geoms.ndim != 1:
        raise InvalidInputError(f"shape_features takes a 1-D array of polygons; got shape {geoms.shape}.")
    kinds = shapely.get_type_id(geoms)
    bad = ~np.isin(kinds, (-1, 3, 6))  # missing, Polygon, MultiPolygon
    if bad.any():
        raise InvalidInputError(f"shape features need polygons; geometry {int(np.flatnonzero(bad)[0])} is a "
                                f"{shapely.get_type_id(geoms[bad][0])} type id (not Polygon 3 or MultiPolygon 6).")
    area, perimeter = shapely.area(geoms), shapely.length(geoms)
    rect = shapely.minimum_rotated_rectangle(geoms)
    sides = np.full((len(geoms), 2), np.nan)
    for i, r in enumerate(rect):  # the rectangle's two side lengths (a degenerate one is a line or a point)
        if r is None or r.is_empty:
            continue
        coords = np.asarray(r.exterior.coords if r.geom_type == "Polygon" else r.coords)
        edges = np.hypot(*np.diff(coords, axis=0).T) if len(coords) > 1 else np.zeros(2)
        sides[i] = (edges[:2] if len(edges) >= 2 else np.r_[edges, 0.0])
    with np.errstate(invalid="ignore", divide="ignore"):
        compactness = 4 * np.pi * area / perimeter ** 2
        elongation = 1 - sides.min(axis=1) / sides.max(axis=1)
        rectangularity = area / shapely.area(rect)
    out = np.column_stack([area, perimeter, compactness, elongation, rectangularity]).astype(np.float64)
    out[(kinds == -1) | shapely.is_empty(geoms)] = np.nan
    return out


def geometry_features(geometries, names=GEOMETRY_FEATURES) -> np.ndarray:
    """The pixel-set encoder's geometric features of polygons: :func:`shape_features` and the cover ratio.

    Parameters
    ----------
    geometries : array-like (n,) of shapely Polygon or MultiPolygon
        In a projected CRS.
    names : sequence of str
        Columns wanted, among :data:`GEOMETRY_FEATURES` (a model stores the names it was fitted with).

    Returns
    -------
    numpy.ndarray (n, len(names)) float64
        NaN for an empty or missing geometry.

    Raises
    ------
    InvalidInputError
        A name that is not a geometric feature; a geometry that is not a polygon.
    """
    import shapely

    unknown = [n for n in names if n not in GEOMETRY_FEATURES]
    if unknown:
        raise InvalidInputError(f"unknown geometric feature(s) {', '.join(unknown)}; valid: {', '.join(GEOMETRY_FEATURES)}.")
    geoms = np.asarray(geometries, dtype=object)
    shape = shape_features(geoms)
    with np.errstate(invalid="ignore", divide="ignore"):
        cover = shapely.area(geoms) / shapely.area(shapely.envelope(geoms))
    table = np.column_stack([shape, np.where(np.isnan(shape[:, 0]), np.nan, cover)])
    return table[:, [GEOMETRY_FEATURES.index(n) for n in names]]


def object_percentiles(labels, values, q) -> tuple[np.ndarray, np.ndarray]:
    """NaN-aware percentiles of every object and band, equal to :func:`numpy.nanpercentile` (``method='linear'``).

    Computed by pandas' ``groupby(...).quantile`` (measured 9 × faster than a lexsort over the pixels here:
    1024², 5,000 objects, 4 bands, 0.18 s against 1.65 s).

    Parameters
    ----------
    labels : numpy.ndarray (y, x) or (m,) integer
        Object labels, 0 = no object.
    values : numpy.ndarray (b, y, x) or (b, m) float
        NaN = nodata.
    q : float or sequence of float
        Percentiles in [0, 100].

    Returns
    -------
    ids : numpy.ndarray (n,) int64
        Sorted unique non-zero labels.
    percentiles : numpy.ndarray (n, len(q) * b) float64
        Percentile-major columns (every band of the first percentile, then of the next; names
        ``f"{measurement}_p{q:g}"``). NaN where an object has no valid pixel in a band.

    Raises
    ------
    InvalidInputError
        Mismatched shapes, or a percentile outside [0, 100].
    """
    labels, values = np.asarray(labels), np.asarray(values)
    if labels.dtype.kind not in "iu" or values.shape[1:] != labels.shape or values.ndim != labels.ndim + 1:
        raise InvalidInputError(f"labels (integer) and values (bands, *labels.shape) do not match: labels {labels.shape} "
                                f"{labels.dtype}, values {values.shape}.")
    qs = np.atleast_1d(np.asarray(q, np.float64))
    if qs.ndim != 1 or not len(qs) or np.any(~np.isfinite(qs)) or np.any((qs < 0) | (qs > 100)):
        raise InvalidInputError(f"percentiles must be numbers in [0, 100]; got {np.asarray(q).tolist()}.")
    import pandas as pd

    flat = labels.reshape(-1).astype(np.int64)
    inside = flat != 0
    n_bands = values.shape[0]
    frame = pd.DataFrame(values.reshape(n_bands, -1)[:, inside].T.astype(np.float64))
    frame["_object"] = flat[inside]
    groups = frame.groupby("_object", sort=True)
    ids = np.asarray(groups.size().index, np.int64)
    if not len(ids):
        return ids, np.zeros((0, len(qs) * n_bands))
    # pandas' quantile: linear interpolation between order statistics of the non-NaN values, as numpy.nanpercentile
    out = np.concatenate([groups.quantile(qq / 100.0).to_numpy(np.float64) for qq in qs], axis=1)
    return ids, out


def percentile_names(measurements, q) -> list[str]:
    """Column names of :func:`object_percentiles`: ``f"{measurement}_p{q:g}"``, percentile-major.

    >>> percentile_names(["ndvi", "b04"], [10, 90])
    ['ndvi_p10', 'b04_p10', 'ndvi_p90', 'b04_p90']
    """
    return [f"{m}_p{float(qq):g}" for qq in np.atleast_1d(q) for m in measurements]
