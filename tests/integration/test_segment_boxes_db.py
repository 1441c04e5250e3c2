"""The stored segments' extents (db.segmentations.segment_boxes) that per-object GLCM uses to hold unconnected
segments: equal to shapely's bounds of the polygons written, and refused for tiles in another CRS."""

from __future__ import annotations

import uuid

import numpy as np
import shapely
from affine import Affine
from odc.geo.geobox import GeoBox

from antares.db.engine import open_database, session_scope
from antares.db.segmentations import copy_segments, insert_segmentation, segment_boxes
from antares.pipeline.object_glcm import segment_extents


def test_segment_boxes_equal_the_polygons_bounds(settings, tmp_path):
    geoms = [shapely.MultiPolygon([shapely.box(500_000, 5_800_000, 500_030, 5_800_020),
                                   shapely.box(500_200, 5_799_900, 500_210, 5_799_950)]),  # two parts apart
             shapely.MultiPolygon([shapely.box(500_040, 5_800_000, 500_050, 5_800_010)])]
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(f"{i},{shapely.to_wkb(shapely.set_srid(g, 32633), hex=True, include_srid=True)},1,1\n"
                            for i, g in zip((7, 3), geoms)))
    with session_scope(settings) as session:
        seg_id = insert_segmentation(session, f"boxes-{uuid.uuid4().hex[:8]}", None, "p", "slic", {}, "EPSG:32633", 2)
    with open_database(settings).begin() as conn:
        copy_segments(conn, seg_id, rows)
    with session_scope(settings) as session:
        ids, boxes = segment_boxes(session, seg_id)
    assert ids.tolist() == [3, 7]
    np.testing.assert_array_equal(boxes, shapely.bounds(np.asarray([geoms[1], geoms[0]])))
    tile = GeoBox((10, 10), Affine(10, 0, 500_000, 0, -10, 5_800_100), "EPSG:32633")
    got = segment_extents(settings, seg_id, [tile])
    assert got[0].tolist() == [3, 7] and got[2] == 2.5
    assert segment_extents(settings, seg_id, [GeoBox((10, 10), Affine(1, 0, 0, 0, -1, 0), "EPSG:32632")]) is None
