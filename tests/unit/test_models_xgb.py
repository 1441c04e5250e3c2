"""The xgb model (issue 23): registered and declared like rf/lightgbm, equal to XGBoost's own, stored as UBJSON, never pickled."""

import inspect
import io
import zipfile

import numpy as np
import pytest

from antares.errors import UsageError


def _table(seed=0, n=240):
    rng = np.random.default_rng(seed)
    y = np.repeat([12, 31, 57], n // 3)  # legend codes, not 0..K-1
    X = rng.normal(size=(n, 4))
    X[y == 31, 0] += 1.5
    X[y == 57, 1] -= 1.5
    X[rng.random(n) < 0.05, 2] = np.nan  # XGBoost's missing value
    return X, y


def test_xgb_is_registered_and_its_declarations_match_xgboost():
    import xgboost

    from antares.models.registry import MODELS

    assert "xgb" in list(MODELS)
    kind = MODELS["xgb"]
    signature = {k: v.default for k, v in inspect.signature(xgboost.XGBModel.__init__).parameters.items()}
    declared = {p.name: p.default for p in kind.params}
    assert set(declared) <= set(signature)
    assert {k: signature[k] for k in declared} == declared
    for p in kind.params:
        assert p.validator(p.default) == p.default, p.name
    assert set(kind.defaults) <= set(declared)


@pytest.mark.parametrize("params, message", [
    ({"learning_rate": 1.5},
     "xgb: The 'learning_rate' parameter of XGBClassifier must be a float in the range [0.0, 1.0] or None. Got 1.5."),
    ({"max_depth": -1}, "xgb: The 'max_depth' parameter of XGBClassifier must be an int in the range [0, inf) or None. "
                        "Got -1."),
    ({"booster": "forest"}, "xgb: The 'booster' parameter of XGBClassifier must be a str among {'dart', 'gbtree', "
                            "'gblinear'} or None. Got 'forest'."),
])
def test_bad_xgb_parameters_are_refused_before_a_fit(params, message):
    from antares.models.registry import make_estimator

    with pytest.raises(UsageError) as info:
        make_estimator("xgb", params, seed=0)
    assert str(info.value) == message


def test_unknown_xgb_parameter_lists_the_valid_ones():
    from antares.models.registry import parse_params

    with pytest.raises(UsageError, match="xgb has no parameter 'num_leaves'; valid parameters: .*max_leaves"):
        parse_params("xgb", ["num_leaves=3"])
    assert parse_params("xgb", ["max_depth=3", "subsample=0.8"]) == {"max_depth": 3, "subsample": 0.8}


def test_fit_predict_equals_xgboost_on_encoded_labels():
    """The antares model on legend codes == XGBClassifier on 0..K-1 with the same parameters and seed."""
    import xgboost

    from antares.models.registry import make_estimator

    X, y = _table()
    model = make_estimator("xgb", {"n_estimators": 30, "max_depth": 3}, seed=7, n_jobs=1).fit(X, y)
    reference = xgboost.XGBClassifier(n_estimators=30, max_depth=3, learning_rate=0.1, verbosity=0, random_state=7,
                                      n_jobs=1).fit(X, np.searchsorted([12, 31, 57], y))
    np.testing.assert_array_equal(model.classes_, [12, 31, 57])
    np.testing.assert_array_equal(model.predict_proba(X), reference.predict_proba(X))
    np.testing.assert_array_equal(model.predict(X), np.array([12, 31, 57])[reference.predict(X)])
    assert (model.predict(X) == y).mean() > 0.8  # it learnt something


def test_stored_model_round_trip_is_ubjson_not_pickle_and_predicts_the_same():
    import xgboost

    from antares.models.registry import make_estimator
    from antares.models.store import FORMAT, blob_format, deserialize, serialize

    X, y = _table(1)
    model = make_estimator("xgb", {"n_estimators": 20}, seed=0, n_jobs=1).fit(X, y)
    blob = serialize(model)
    assert blob_format(blob) == FORMAT
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        contents = {name: z.read(name) for name in z.namelist()}
    assert not any(b"\x80\x04\x95" in v[:3] or name.endswith((".pkl", ".pickle")) for name, v in contents.items())
    # one member is XGBoost's UBJSON model, which xgboost itself loads and predicts with
    ubj = [v for v in contents.values() if v == bytes(model.model_.get_booster().save_raw(raw_format="ubj"))]
    assert len(ubj) == 1
    booster = xgboost.Booster()
    booster.load_model(bytearray(ubj[0]))
    own = booster.predict(xgboost.DMatrix(X))
    back = deserialize(blob, "xgb_model")
    np.testing.assert_array_equal(back.predict_proba(X), own)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(back.classes_, model.classes_)


def test_native_categorical_column_survives_the_round_trip():
    """A categorical column is split by category sets (not thresholds): a class defined by categories {1, 3}
    of a 4-category column, not separable by one threshold, is learnt with one-level trees."""
    from antares.models.registry import make_estimator
    from antares.models.store import deserialize, serialize

    rng = np.random.default_rng(3)
    cat = rng.integers(0, 4, 400).astype(float)
    y = np.where(np.isin(cat, [1, 3]), 5, 9)
    X = np.column_stack([rng.normal(size=400), cat])
    params = {"n_estimators": 5, "max_depth": 1, "max_cat_to_onehot": 1}
    categorical = make_estimator("xgb", params, seed=0, n_jobs=1).fit(X, y, categorical=[1])
    numeric = make_estimator("xgb", params, seed=0, n_jobs=1).fit(X, y)
    assert (categorical.predict(X) == y).all()
    assert (numeric.predict(X) == y).mean() < 0.9  # thresholds on 0..3 cannot isolate {1, 3} with depth 1
    back = deserialize(serialize(categorical), "cat")
    assert back.categorical_ == (1,) and back.model_.get_booster().feature_types == ["q", "c"]
    np.testing.assert_array_equal(back.predict_proba(X), categorical.predict_proba(X))


def test_fit_model_cross_validates_xgb():
    from antares.models.fitting import fit_model

    X, y = _table(2)
    outcome = fit_model("xgb", X, y, params={"n_estimators": 10}, cv=3, seed=0, n_jobs=1)
    assert outcome.cv["k"] == 3 and len(outcome.cv["folds"]) == 3
    assert outcome.samples_per_class == {12: 80, 31: 80, 57: 80}
    assert 0.5 < outcome.cv["mean"]["overall_accuracy"] <= 1
