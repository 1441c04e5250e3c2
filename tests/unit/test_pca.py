"""antares.pca.FittedPca: the stored arrays of a scikit-learn PCA, applied without scikit-learn."""

import json

import numpy as np
import pytest
from sklearn.decomposition import PCA

from antares.errors import InvalidInputError, UsageError
from antares.pca import FittedPca

NAMES = ["B02", "B03", "B04", "B08"]


def fitted(k=3, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(4, 4))
    X = rng.normal(size=(500, 4)) @ mixing + [0.1, 0.2, 0.3, 0.4]
    estimator = PCA(n_components=k, svd_solver="full").fit(X)
    return FittedPca.from_estimator("p", "prod", NAMES, estimator, len(X)), estimator, rng


def test_transform_equals_sklearn_after_a_json_round_trip():
    pca, estimator, rng = fitted()
    record = json.loads(json.dumps({"name": "p", "product": "prod", "measurements": NAMES, "n_components": 3,
                                    "components": pca.components.tolist(), "mean": pca.mean.tolist(),
                                    "explained_variance": pca.explained_variance.tolist(),
                                    "explained_variance_ratio": pca.explained_variance_ratio.tolist(),
                                    "n_samples": 500}))
    stored = FittedPca.from_record(record)
    block = rng.normal(size=(4, 6, 7))
    block[2, 1, 1] = np.nan
    scores = stored.transform({n: block[i] for i, n in enumerate(NAMES)} | {"SCL": np.zeros((6, 7))})
    assert scores.shape == (3, 6, 7) and scores.dtype == np.float32
    expected = estimator.transform(np.nan_to_num(block.reshape(4, -1).T)).T.reshape(3, 6, 7)
    ok = np.ones((6, 7), bool)
    ok[1, 1] = False
    np.testing.assert_allclose(scores[:, ok], expected[:, ok], rtol=1e-5, atol=1e-5)
    assert np.isnan(scores[:, 1, 1]).all()
    np.testing.assert_allclose(stored.transform({n: block[i] for i, n in enumerate(NAMES)}, 1), scores[:1])
    assert np.allclose(np.cumsum(stored.explained_variance_ratio)[-1], estimator.explained_variance_ratio_.sum())
    assert "PC1: explained variance" in "\n".join(stored.lines())


def test_other_measurements_and_too_many_components_are_refused():
    pca, _, rng = fitted()
    with pytest.raises(InvalidInputError, match="was fitted on B02, B03, B04, B08 of product 'prod'; the input lacks B08"):
        pca.transform({n: rng.normal(size=(2, 2)) for n in NAMES[:3]})
    with pytest.raises(UsageError, match="has 3 components; asked for 4"):
        pca.check_inputs(NAMES, 4)


def test_damaged_record_is_refused():
    pca, _, _ = fitted()
    record = {"name": "p", "product": "prod", "measurements": NAMES, "n_components": 3,
              "components": pca.components[:, :3].tolist(), "mean": pca.mean.tolist(),
              "explained_variance": pca.explained_variance.tolist(),
              "explained_variance_ratio": pca.explained_variance_ratio.tolist(), "n_samples": 500}
    with pytest.raises(InvalidInputError, match="damaged"):
        FittedPca.from_record(record)


RECIPE = """
    inputs: {product: p, measurements: [blue, green, red, nir]}
    mask: {scl: {keep: [4, 5]}}
    pca: {name: p, components: 2}
    reducers: {pc1: [median, max], pc2: [mean]}
"""


def series(rng, t=6, h=8, w=9):
    import pandas as pd
    import xarray as xr

    values = {a: rng.uniform(0.01, 0.5, (t, h, w)).astype(np.float32) for a in ("blue", "green", "red", "nir")}
    scl = np.where(rng.random((t, h, w)) < 0.2, 9, 4).astype(np.uint8)
    coords = {"time": pd.date_range("2021-03-01", periods=t).values, "y": np.arange(h) * -10.0, "x": np.arange(w) * 10.0}
    data = xr.Dataset({a: (("time", "y", "x"), v) for a, v in values.items()}, coords=coords)
    data["scl"] = (("time", "y", "x"), scl)
    return data, values, scl


def test_recipe_pca_step_equals_sklearn_then_reducers(tmp_path):
    import warnings

    from antares.recipes.blockwise import BlockRecipe, Conversion
    from helpers import write_recipe

    pca, estimator, rng = fitted()
    recipe = write_recipe(tmp_path, RECIPE)
    data, values, scl = series(rng)
    out = recipe.compute(data, pca=pca)
    X = np.stack([values[a].astype(np.float64).ravel() for a in ("blue", "green", "red", "nir")], axis=1)
    scores = estimator.transform(X)[:, :2].T.reshape(2, *values["red"].shape)
    scores[:, scl == 9] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(out.pc1_median.values, np.nanmedian(scores[0], axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out.pc1_max.values, np.nanmax(scores[0], axis=0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out.pc2_mean.values, np.nanmean(scores[1], axis=0), rtol=1e-5, atol=1e-6)
    resolved = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "scl": "SCL"}
    engine = BlockRecipe(recipe, resolved, pca)
    raw = {resolved[a]: values[a] for a in values}
    got = engine.compute(raw, {m: Conversion(False) for m in raw}, mask=scl)
    for name in recipe.output_names:
        np.testing.assert_array_equal(got[name], out[name].values, err_msg=name)


def test_recipe_refuses_a_pca_of_other_measurements_or_none(tmp_path):
    from antares.recipes.blockwise import BlockRecipe
    from helpers import write_recipe

    recipe = write_recipe(tmp_path, RECIPE.replace("[blue, green, red, nir]", "[blue, green, red, swir1]"))
    pca, _, rng = fitted()
    with pytest.raises(InvalidInputError, match="PCA 'p' was fitted on B02, B03, B04, B08 of product 'prod', but the "
                                                "recipe reads no B08"):
        BlockRecipe(recipe, {"blue": "B02", "green": "B03", "red": "B04", "swir1": "B11", "scl": "SCL"}, pca)
    with pytest.raises(InvalidInputError, match="needs the stored PCA 'p'"):
        write_recipe(tmp_path, RECIPE).compute(series(rng)[0])
    with pytest.raises(InvalidInputError, match="'pca.components' must be an int in 1..4. Got 5"):
        write_recipe(tmp_path, RECIPE.replace("components: 2", "components: 5"))
