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
