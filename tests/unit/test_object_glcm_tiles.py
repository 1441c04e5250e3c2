"""Per-object GLCM finished tile by tile (antares.pipeline.object_glcm.tiled_glcm_features): equal to the gather of
every tile's counts and to scikit-image per object, with only the objects crossing tile edges held open."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox
from scipy import ndimage

from antares.object_texture import FEATURES, glcm_counts, glcm_features, merge_glcm
from antares.pipeline.executor import SYNC, task_runner
from antares.pipeline.object_glcm import finish_tile, glcm_spec, tiled_glcm_features
from unit.test_object_texture import reference


@dataclasses.dataclass
class ArrayJob:
    """A tile of in-memory rasters (the role of GlcmJob, whose tasks read the cube)."""

    labels: np.ndarray
    values: np.ndarray
    rows: tuple
    cols: tuple
    spec: dict
    measurements: list
    only: np.ndarray | None = None
    leaving: np.ndarray | None = None

    @property
    def geobox(self):
        (r0, r1), (c0, c1) = self.rows, self.cols
        return GeoBox((r1 - r0, c1 - c0), Affine(10, 0, 500_000 + 10 * c0, 0, -10, 5_800_000 - 10 * r0), "EPSG:32633")


def read(job: ArrayJob):
    """The tile read with the GLCM margin (labels 0 and values NaN outside the raster), as the cube read does."""
    m = int(max(job.spec["distances"]))
    (r0, r1), (c0, c1) = job.rows, job.cols
    ny, nx = job.labels.shape
    lab = np.zeros((r1 - r0 + 2 * m, c1 - c0 + 2 * m), np.int64)
    val = np.full((job.values.shape[0],) + lab.shape, np.nan, np.float32)
    R0, R1, C0, C1 = max(0, r0 - m), min(ny, r1 + m), max(0, c0 - m), min(nx, c1 + m)
    lab[R0 - r0 + m:R1 - r0 + m, C0 - c0 + m:C1 - c0 + m] = job.labels[R0:R1, C0:C1]
    val[:, R0 - r0 + m:R1 - r0 + m, C0 - c0 + m:C1 - c0 + m] = job.values[:, R0:R1, C0:C1]
    if job.only is not None:
        lab = np.where(np.isin(lab, job.only), lab, 0)
    core = (slice(m, m + r1 - r0), slice(m, m + c1 - c0))
    return lab, val, core


def finish_task(job):
    lab, val, core = read(job)
    return finish_tile([lab], val, core, job.spec, job.leaving) if lab[core].any() else None


def count_task(job):
    lab, val, core = read(job)
    s = job.spec
    return glcm_counts(lab, val, s["ranges"], s["levels"], s["distances"], s["angles"], s["symmetric"], core=core)


def tiles(labels, values, spec, row_edges, col_edges):
    return [ArrayJob(labels, values, (r0, r1), (c0, c1), spec, ["b1", "b2"])
            for r0, r1 in zip(row_edges[:-1], row_edges[1:]) for c0, c1 in zip(col_edges[:-1], col_edges[1:])]


def gathered(jobs):
    """The old route: every tile's counts merged, then the features (merged_glcm_counts + glcm_features)."""
    return glcm_features(merge_glcm([count_task(job) for job in jobs]), jobs[0].spec["features"])


def spec_of(levels=16, distances=(1,)):
    spec = glcm_spec(FEATURES, [(0.1, 0.5), (0.0, 0.6)], levels, ["b1", "b2"])
    spec["distances"] = list(distances)
    return spec


def extents_of(labels):
    """Each object's bounding box in the ArrayJob grid's coordinates (as the stored segment polygons give it)."""
    ids = np.unique(labels[labels > 0])
    boxes = []
    for o in ids:
        r, c = np.nonzero(labels == o)
        boxes.append((500_000 + 10 * c.min(), 5_800_000 - 10 * (r.max() + 1), 500_000 + 10 * (c.max() + 1),
                      5_800_000 - 10 * r.min()))
    return ids, np.asarray(boxes, np.float64), 2.5  # a quarter pixel inside, as segment_extents


@pytest.mark.parametrize("with_extents", [False, True])
def test_objects_across_two_and_four_tiles_and_inside(with_extents):
    rng = np.random.default_rng(3)
    labels = np.zeros((40, 40), np.int64)
    labels[2:9, 14:27] = 11      # across the seam of tiles 0 | 1
    labels[14:27, 13:26] = 22    # across the corner of all four tiles
    labels[3:10, 2:10] = 33      # inside tile 0
    labels[30:38, 28:37] = 44    # inside tile 3
    labels[30, 5] = 55           # one pixel inside tile 2: no pair, no row
    labels[5:9, 32:36] = 66      # inside tile 1 ...
    labels[33:37, 12:16] = 66    # ... and inside tile 2: parts not connected, counted again in a second pass
    values = (rng.normal(0.3, 0.1, (2, 40, 40)) + 0.05 * np.sin(np.arange(40) / 3.0)).astype(np.float32)
    values[rng.random(values.shape) < 0.05] = np.nan
    spec = spec_of()
    jobs = tiles(labels, values, spec, (0, 20, 40), (0, 20, 40))
    with task_runner(SYNC) as execute:
        ids, table, report = tiled_glcm_features(execute, jobs, "test", tasks=(finish_task, count_task),
                                                 extents=extents_of(labels) if with_extents else None)
    old_ids, old_table = gathered(jobs)
    assert ids.tolist() == old_ids.tolist() == [11, 22, 33, 44, 66]
    assert np.array_equal(table, old_table, equal_nan=True)  # exactly the old gather
    ref = reference(labels, values, spec["ranges"], spec["levels"], spec["distances"], spec["angles"])
    for row, obj in enumerate(ids):
        np.testing.assert_allclose(table[row].reshape(len(FEATURES), 2).T, ref[int(obj)], rtol=1e-9, atol=1e-12)
    if not with_extents:
        # held open: 11 and 22 after tile 0, 22 until tile 3 is done; 33, 44 (and the parts of 66) finished in
        # their tile, 66 then counted again from tiles 1 and 2
        assert report.held_after == [2, 1, 1, 0] and report.peak_held == 2
        assert (report.inside, report.crossing, report.split) == (4, 2, 1)
    else:
        # the extent of 66 covers all four tiles: held from tile 1 until tile 3 is done, no second pass
        assert report.held_after == [2, 2, 2, 0] and report.peak_held == 2
        assert (report.inside, report.crossing, report.split) == (2, 3, 0)


def test_voronoi_in_irregular_tiles_any_order_holds_only_crossing_objects():
    rng = np.random.default_rng(7)
    shape = (50, 62)
    centres = rng.uniform(0, 1, (40, 2)) * shape
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.argmin((yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2, axis=2) + 1
    labels = labels.astype(np.int64) * 3
    values = rng.normal(0.3, 0.1, (2,) + shape).astype(np.float32)
    spec = spec_of(8, (1, 2))
    rows, cols = (0, 17, 35, 50), (0, 20, 41, 62)
    jobs = tiles(labels, values, spec, rows, cols)
    old_ids, old_table = gathered(jobs)
    whole_ids, whole_table = glcm_features(glcm_counts(labels, values, spec["ranges"], 8, (1, 2)), FEATURES)
    assert np.array_equal(old_table, whole_table, equal_nan=True) and old_ids.tolist() == whole_ids.tolist()
    # objects in more than one tile; each object is one 8-connected piece (the test's premise)
    tile_of = np.zeros(shape, np.int64)
    for t, job in enumerate(jobs):
        tile_of[slice(*job.rows), slice(*job.cols)] = t
    in_tiles = {int(o): set(np.unique(tile_of[labels == o]).tolist()) for o in np.unique(labels)}
    assert all(ndimage.label(labels == o, np.ones((3, 3)))[1] == 1 for o in in_tiles)
    crossing = sum(len(s) > 1 for s in in_tiles.values())
    assert crossing > 10
    for order in (np.arange(len(jobs)), rng.permutation(len(jobs))):
        def execute(fn, items, order=order):
            items = list(items)
            for i in (order if len(items) == len(jobs) else range(len(items))):
                yield items[i], fn(items[i])

        ids, table, report = tiled_glcm_features(execute, jobs, "test", tasks=(finish_task, count_task))
        assert ids.tolist() == old_ids.tolist()
        assert np.array_equal(table, old_table, equal_nan=True)
        assert report.split == 0
        # after each tile, held = the objects with pixels both in a done tile and in a tile not yet done
        expected = [sum(bool(s & set(order[:k + 1].tolist())) and bool(s - set(order[:k + 1].tolist()))
                        for s in in_tiles.values()) for k in range(len(jobs))]
        assert report.held_after == expected
        assert report.peak_held <= crossing
        assert report.inside == len(in_tiles) - crossing
