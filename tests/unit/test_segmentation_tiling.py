"""Seamless tiled segmentation (two staggered passes with stability margins) on a synthetic scene; no database.

``scene``: seven bands at 20 m, (7, 384, 768) float32, 600 Voronoi parcels (fields of about 20 x 20 pixels)
with texture and noise, and a nodata hole across a tile edge. The same tests run on the real Brandenburg scene
in tests/integration/test_segmentation_tiling_real_data.py.
"""

import numpy as np
import pytest

from antares.segmentation import get_segmenter
from antares.segmentation.tiling import segment_tiled, tile_windows
from helpers import longest_run, synthetic_parcels

TILE, MARGIN = 192, 32


@pytest.fixture(scope="module")
def scene():
    """(7, 384, 768) float32 digital numbers, with a nodata hole across a tile edge."""
    features = synthetic_parcels((384, 768), 7, seed=11, n_parcels=600)
    features[:, 100:120, 180:200] = np.nan  # nodata across a tile edge
    return features


@pytest.fixture(scope="module")
def tiled(scene):
    return segment_tiled(get_segmenter("bis", t=40), scene, tile=TILE, margin=MARGIN)


def test_tile_windows_cover_the_image_once():
    for offset in (0, 50):
        windows = tile_windows((250, 330), 100, 10, offset)
        count = np.zeros((250, 330), int)
        for w in windows:
            count[w.core] += 1
            ys, xs = w.extended
            assert ys.start == max(0, w.core[0].start - 10) and xs.stop == min(330, w.core[1].stop + 10)
        assert (count == 1).all()


def test_every_valid_pixel_in_exactly_one_segment(scene, tiled):
    valid = np.isfinite(scene).all(axis=0)
    assert tiled.dtype == np.int64
    assert ((tiled > 0) == valid).all()
    # each segment is one connected piece and ids are unique over the image
    from scipy import ndimage

    ids = np.unique(tiled[tiled > 0])
    pieces = sum(ndimage.label(tiled == i)[1] for i in ids[:: max(1, len(ids) // 300)])
    assert pieces == len(ids[:: max(1, len(ids) // 300)])


def test_no_cuts_along_tile_edges(scene, tiled):
    """Boundaries cross tile-edge lines no more often than any other line, and never follow them for long."""
    untiled = get_segmenter("bis", t=40).segment(scene)
    valid = np.isfinite(scene).all(axis=0)

    def boundaries(labels):
        vertical = (np.diff(labels, axis=1) != 0) & valid[:, 1:] & valid[:, :-1]
        horizontal = (np.diff(labels, axis=0) != 0) & valid[1:, :] & valid[:-1, :]
        return vertical, horizontal

    (tv, th), (uv, uh) = boundaries(tiled), boundaries(untiled)
    typical_v, typical_h = np.median(tv.mean(axis=0)), np.median(th.mean(axis=1))
    # Brandenburg's fields are rectilinear, so real boundaries can follow a line for a while:
    # the tiled run may follow a tile edge only about as long as the untiled run does there.
    for edge in range(TILE, scene.shape[2], TILE):
        assert tv[:, edge - 1].mean() <= 1.5 * typical_v, edge
        assert longest_run(tv[:, edge - 1]) <= max(12, longest_run(uv[:, edge - 1]) + 6), edge
    for edge in range(TILE, scene.shape[1], TILE):
        assert th[edge - 1, :].mean() <= 1.5 * typical_h, edge
        assert longest_run(th[edge - 1, :]) <= max(12, longest_run(uh[edge - 1, :]) + 6), edge
    # a naive tiling (each tile alone) does cut along every edge: the test can tell the difference
    naive = np.zeros_like(tiled)
    seg = get_segmenter("bis", t=40)
    for w in tile_windows(scene.shape[1:], TILE, 0):
        naive[w.core] = seg.segment(scene[(slice(None), *w.core)]) + w.number * 10**6
    cut = (np.diff(naive, axis=1) != 0)[:, TILE - 1]
    assert longest_run(cut) > 100


def test_similar_segments_to_one_tile_and_deterministic(scene, tiled):
    untiled = get_segmenter("bis", t=40).segment(scene)
    n_tiled, n_one = len(np.unique(tiled)) - 1, len(np.unique(untiled)) - 1
    assert abs(n_tiled - n_one) / n_one < 0.05
    again = segment_tiled(get_segmenter("bis", t=40), scene, tile=TILE, margin=MARGIN)
    assert np.array_equal(again, tiled)


@pytest.mark.parametrize("algorithm, params", [("slic", {}), ("felzenszwalb", {})])
def test_other_algorithms_cover_the_valid_area(scene, algorithm, params):
    labels = segment_tiled(get_segmenter(algorithm, **params), scene[:, :192, :384], tile=128, margin=24)
    valid = np.isfinite(scene[:, :192, :384]).all(axis=0)
    assert ((labels > 0) == valid).all()

