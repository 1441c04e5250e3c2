"""Polygons of label rasters: one valid MultiPolygon per label, the same rows as building them one by one."""

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from shapely.geometry import MultiPolygon, shape

from antares.segmentation.polygonize import polygon_rows

AFFINE = Affine(20, 0, 400000, 0, -20, 5000000)


def one_by_one(labels, ids_offset, affine, crs_epsg):
    """The rows built a geometry at a time (shapely's object API): the reference."""
    local = labels.astype(np.int32)
    counts = np.bincount(local.ravel())
    parts = {}
    for geom, value in rasterio.features.shapes(local, mask=local > 0, transform=affine, connectivity=4):
        parts.setdefault(int(value), []).append(shape(geom))
    rows = []
    for value, polygons in sorted(parts.items()):
        multi = MultiPolygon(polygons)
        if not multi.is_valid:
            multi = shapely.make_valid(multi)
        if crs_epsg:
            multi = shapely.set_srid(multi, crs_epsg)
        rows.append((ids_offset + value, shapely.to_wkb(multi, hex=True, include_srid=bool(crs_epsg)),
                     float(counts[value] * abs(affine.a * affine.e)), int(counts[value])))
    return rows


def test_pieces_holes_and_diagonal_touches():
    labels = np.zeros((8, 9), np.int64)
    labels[1:6, 1:6] = 3
    labels[2:4, 2:4] = 7  # a hole in 3
    labels[6:8, 6:9] = 3  # a second piece of 3
    labels[0, 8] = labels[1, 7] = 5  # diagonal neighbours: two pieces (4-connectivity)
    rows = polygon_rows(labels, 2**32, AFFINE, 32634)
    assert rows == one_by_one(labels, 2**32, AFFINE, 32634)
    assert [r[0] - 2**32 for r in rows] == [3, 5, 7] and [r[3] for r in rows] == [27, 2, 4]
    geoms = {r[0] - 2**32: shapely.from_wkb(r[1]) for r in rows}
    assert all(g.geom_type == "MultiPolygon" and g.is_valid for g in geoms.values())
    assert len(geoms[3].geoms) == 2 and len(geoms[3].geoms[0].interiors) == 1 and len(geoms[5].geoms) == 2
    assert shapely.get_srid(geoms[3]) == 32634 and geoms[3].area == rows[0][2] == 27 * 400.0


def test_random_labels_match_the_reference_without_srid():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 40, (60, 70)) * (rng.random((60, 70)) > 0.1)
    assert polygon_rows(labels, 0, AFFINE, None) == one_by_one(labels, 0, AFFINE, None)


def test_no_labels():
    assert polygon_rows(np.zeros((4, 4), np.int64), 0, AFFINE, 32634) == []
