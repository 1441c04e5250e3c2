"""antares.train.fit on the real Slovenia L1C stack and its LULC polygons (no database): the tests of
tests/unit/test_train_api.py, collected again here with the real scene as their ``scene``.
"""

import numpy as np
import pytest

from unit.test_train_api import test_bad_inputs, test_features_and_model_match_an_independent_computation  # noqa: F401

STACK = "eolearn-slovenia/geotiff/l1c_13band/2015-08-30T100547_L1C_13bands.tif"  # a clear date (CLM 0 %)
POLYGONS = "eolearn-slovenia/lulc_polygons.gpkg"


@pytest.fixture(scope="module")
def scene(data_dir):
    """The Slovenia L1C stack (13 bands) and its LULC polygons (those with a class)."""
    import geopandas as gpd
    import rasterio
    import xarray as xr
    from odc.geo.geobox import GeoBox
    from odc.geo.xr import wrap_xr

    with rasterio.open(data_dir / STACK) as src:
        values = src.read()
        geobox = GeoBox(src.shape, src.transform, src.crs)
        names = [d or f"b{i}" for i, d in enumerate(src.descriptions, 1)]
    product = xr.Dataset({n: wrap_xr(values[i], geobox, nodata=np.nan) for i, n in enumerate(names)})
    polygons = gpd.read_file(data_dir / POLYGONS)
    return product, polygons[polygons.LULC_ID > 0].reset_index(drop=True), values, geobox
