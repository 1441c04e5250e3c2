"""Tile windows of the seamless tiled segmentation (synthetic shapes); the segmentation itself on real
scenes: tests/integration/test_segmentation_tiling_real_data.py."""

import numpy as np

from antares.segmentation.tiling import tile_windows

def test_tile_windows_cover_the_image_once():
    for offset in (0, 50):
        windows = tile_windows((250, 330), 100, 10, offset)
        count = np.zeros((250, 330), int)
        for w in windows:
            count[w.core] += 1
            ys, xs = w.extended
            assert ys.start == max(0, w.core[0].start - 10) and xs.stop == min(330, w.core[1].stop + 10)
        assert (count == 1).all()

