"""Polygons of a label raster: one MultiPolygon per label, as rows ready for PostGIS.

The pieces of each label come from GDAL's polygonizer (``rasterio.features.shapes``,
4-connected); the geometries of a whole tile are then built at once with shapely 2's
vectorised constructors, which gives the same geometries (and the same WKB) as building
them one by one, several times faster.
"""

from __future__ import annotations

import itertools

import numpy as np


def polygon_rows(labels: np.ndarray, ids_offset: int, affine, crs_epsg: int | None, pixel_area=None) -> list[tuple]:
    """(segment id, hex EWKB MultiPolygon, area m², pixel count) for every label > 0 of ``labels``.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer (y, x) labels, 0 = none; values must fit in int32.
    ids_offset : int
        Added to each label to give its segment id.
    affine : affine.Affine
        The pixel-to-CRS transform of ``labels``.
    crs_epsg : int or None
        EPSG code written as the geometries' SRID (none when None).
    pixel_area : numpy.ndarray, optional
        The area of each pixel in m², broadcastable to ``labels`` (e.g. one value per row,
        :func:`antares.cube.grid.pixel_areas`); default the pixel area in CRS units squared.

    Returns
    -------
    list of (int, str, float, int)
        One row per label present, in label order. A label's 4-connected pieces (holes
        included) form one MultiPolygon, in the order GDAL finds them, made valid when it
        is not; the hex is upper-case EWKB (with the SRID when ``crs_epsg`` is given); the
        area is the sum of the label's ``pixel_area``.

    Examples
    --------
    >>> from affine import Affine
    >>> polygon_rows(np.array([[1, 1], [0, 2]]), 100, Affine(20, 0, 0, 0, -20, 40), 32634)[1][0::2]
    (102, 400.0)
    """
    import rasterio.features
    import shapely

    local = labels.astype(np.int32)
    counts = np.bincount(local.ravel())
    values, n_rings, rings = [], [], []
    for geom, value in rasterio.features.shapes(local, mask=local > 0, transform=affine, connectivity=4):
        values.append(value)
        n_rings.append(len(geom["coordinates"]))
        rings.extend(geom["coordinates"])
    if not values:
        return []
    # rings from one flat coordinate array, polygons from rings (the first ring of each is its shell),
    # one MultiPolygon per label from its polygons (stable sort: the pieces keep GDAL's order)
    lengths = np.fromiter(map(len, rings), np.intp, len(rings))
    coords = np.fromiter(itertools.chain.from_iterable(itertools.chain.from_iterable(rings)), np.float64,
                         2 * int(lengths.sum())).reshape(-1, 2)
    polygons = shapely.polygons(shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), lengths)),
                                indices=np.repeat(np.arange(len(values)), n_rings))
    values = np.asarray(values, np.int64)
    order = np.argsort(values, kind="stable")
    ids, index = np.unique(values[order], return_inverse=True)
    multis = shapely.multipolygons(polygons[order], indices=index)
    invalid = ~shapely.is_valid(multis)
    if invalid.any():
        multis[invalid] = shapely.make_valid(multis[invalid])
    if crs_epsg:
        multis = shapely.set_srid(multis, crs_epsg)
    # binary WKB turned into hex here: the same text as GEOS's hex writer, several times faster
    wkb = [b.hex().upper() for b in shapely.to_wkb(multis, include_srid=bool(crs_epsg))]
    n = counts[ids]
    if pixel_area is None:
        areas = n * abs(affine.a * affine.e)
    elif np.ptp(pixel_area) == 0:  # equal pixels (a projected CRS)
        areas = n * float(np.ravel(pixel_area)[0])
    else:
        areas = np.bincount(local.ravel(), weights=np.broadcast_to(pixel_area, local.shape).ravel())[ids]
    return list(zip((ids_offset + ids).tolist(), wkb, areas.tolist(), n.tolist()))
