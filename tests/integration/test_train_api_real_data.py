"""antares.train.fit on an xarray product and a GeoDataFrame (no database): the notebook API."""

import numpy as np
import pytest

from antares.errors import InvalidInputError

STACK = "eolearn-slovenia/geotiff/l1c_13band/2015-07-31T100009_L1C_13bands.tif"
POLYGONS = "eolearn-slovenia/lulc_polygons.gpkg"


@pytest.fixture(scope="module")
def slovenia(data_dir):
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


def test_features_and_model_match_an_independent_computation(slovenia):
    from rasterio.features import geometry_mask
    from sklearn.ensemble import RandomForestClassifier

    from antares.train import fit

    product, polygons, values, geobox = slovenia
    result = fit(product, polygons, "LULC_NAME", model="rf", params={"n_estimators": 25}, cv=3, cv_spatial=250, seed=1)
    assert result.features == list(product.data_vars)
    # independent: per polygon nan-mean of pixels whose centre is inside, classes coded by sorted name
    names = sorted(polygons.LULC_NAME.unique())
    rows, labels = [], []
    for geom, name in zip(polygons.geometry, polygons.LULC_NAME):
        inside = ~geometry_mask([geom], out_shape=geobox.shape, transform=geobox.affine)
        if inside.any():
            rows.append(np.nanmean(values[:, inside].astype(np.float64), axis=1))
            labels.append(names.index(name) + 1)
    X, y = np.array(rows), np.array(labels)
    assert len(result.skipped) == len(polygons) - len(X) > 0
    assert result.samples_per_class == {int(c): int((y == c).sum()) for c in np.unique(y)}
    reference = RandomForestClassifier(n_estimators=25, random_state=1, n_jobs=1).fit(X, y)
    result.estimator.set_params(n_jobs=1)
    assert np.array_equal(result.estimator.predict_proba(X), reference.predict_proba(X))
    assert result.cv["grouped"] and len(result.cv["folds"]) == 3


def test_bad_inputs(slovenia):
    from antares.train import fit

    product, polygons, *_ = slovenia
    with pytest.raises(InvalidInputError, match="no column 'nope'"):
        fit(product, polygons, "nope")
    with pytest.raises(InvalidInputError, match="needs at least 2"):
        fit(product, polygons[polygons.LULC_NAME == "forest"], "LULC_NAME")
