"""antares.train.fit on an xarray product and a GeoDataFrame (no database): the notebook API, on a synthetic scene.

The same tests on the real Slovenia stack and polygons: tests/integration/test_train_api_real_data.py.
"""

import numpy as np
import pytest

from antares.errors import InvalidInputError

CLASSES = ("forest", "grassland", "water")


@pytest.fixture(scope="module")
def scene():
    """Five bands on a 10 m odc-geo grid (150 x 200 px, EPSG:32633, NaN holes) whose values depend on the class
    under each pixel, and 60 m square polygons of three classes: 48 on the grid, 4 beyond its edge.

    Returns ``(product, polygons, values (band, y, x), geobox)``, as the real-data fixture does.
    """
    import geopandas as gpd
    import xarray as xr
    from odc.geo.geobox import GeoBox
    from odc.geo.xr import wrap_xr
    from rasterio.features import rasterize
    from shapely.geometry import box

    geobox = GeoBox.from_bbox((500000, 5100000, 502000, 5101500), "EPSG:32633", resolution=10)
    rng = np.random.default_rng(7)
    x0, y1 = geobox.affine.c, geobox.affine.f
    rows = []
    for i in range(8):
        for j in range(6):
            left, top = x0 + 30 + 240 * i + rng.integers(0, 4) * 10, y1 - 30 - 240 * j - rng.integers(0, 4) * 10
            rows.append((CLASSES[(i + 2 * j) % 3], box(left, top - 60, left + 60, top)))
    for k in range(4):  # beyond the east edge: no pixel centre inside, skipped
        left = x0 + 2100 + 100 * k
        rows.append((CLASSES[k % 3], box(left, y1 - 300, left + 60, y1 - 240)))
    polygons = gpd.GeoDataFrame({"LULC_NAME": [r[0] for r in rows], "LULC_ID": [CLASSES.index(r[0]) + 1 for r in rows]},
                                geometry=[r[1] for r in rows], crs="EPSG:32633")
    code = rasterize(zip(polygons.geometry, polygons.LULC_ID), out_shape=geobox.shape, transform=geobox.affine)
    means = np.array([[0.03, 0.05, 0.03, 0.30, 0.15], [0.06, 0.09, 0.07, 0.35, 0.25], [0.05, 0.04, 0.02, 0.01, 0.01],
                      [0.08, 0.10, 0.12, 0.20, 0.30]], np.float32)  # rows: background, forest, grassland, water
    values = means[code].transpose(2, 0, 1) + rng.normal(0, 0.02, (5, *geobox.shape)).astype(np.float32)
    values[:, 40:47, 90:120] = np.nan  # a cloud across some polygons
    names = [f"B{i}" for i in range(1, 6)]
    product = xr.Dataset({n: wrap_xr(values[i], geobox, nodata=np.nan) for i, n in enumerate(names)})
    return product, polygons, values, geobox


def test_features_and_model_match_an_independent_computation(scene):
    from rasterio.features import geometry_mask
    from sklearn.ensemble import RandomForestClassifier

    from antares.train import fit

    product, polygons, values, geobox = scene
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


def test_bad_inputs(scene):
    from antares.train import fit

    product, polygons, *_ = scene
    with pytest.raises(InvalidInputError, match="no column 'nope'"):
        fit(product, polygons, "nope")
    with pytest.raises(InvalidInputError, match="needs at least 2"):
        fit(product, polygons[polygons.LULC_NAME == "forest"], "LULC_NAME")
