"""model_fit's training table (issue 23): categorical columns, IsolationForest outlier removal, the Parquet dump."""

import os
import stat

import numpy as np
import pytest

from antares.errors import InvalidInputError, UsageError


def _categorical_table(seed=0, n=300):
    """Column 0 numeric, column 1 category codes 0..3; class 5 is categories {1, 3} (not one threshold)."""
    rng = np.random.default_rng(seed)
    cat = rng.integers(0, 4, n).astype(float)
    y = np.where(np.isin(cat, [1, 3]), 5, 9)
    X = np.column_stack([rng.normal(size=n), cat])
    return X, y


def test_rf_categorical_is_one_hot_equal_to_a_forest_on_pandas_dummies():
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    from antares.models.fitting import fit_model

    X, y = _categorical_table()
    outcome = fit_model("rf", X, y, params={"n_estimators": 20}, seed=4, n_jobs=1, categorical=[1])
    dummies = pd.get_dummies(X[:, 1].astype(int)).to_numpy(float)
    encoded = outcome.estimator[:-1].transform(X)
    np.testing.assert_array_equal(encoded, np.column_stack([dummies, X[:, 0]]))
    reference = RandomForestClassifier(n_estimators=20, random_state=4, n_jobs=1).fit(np.column_stack([dummies, X[:, 0]]), y)
    np.testing.assert_array_equal(outcome.estimator.predict_proba(X),
                                  reference.predict_proba(np.column_stack([dummies, X[:, 0]])))
    np.testing.assert_array_equal(outcome.estimator.classes_, [5, 9])


def test_rf_one_hot_pipeline_round_trips_through_skops():
    from antares.models.fitting import fit_model
    from antares.models.store import deserialize, serialize

    X, y = _categorical_table(1)
    estimator = fit_model("rf", X, y, params={"n_estimators": 10}, seed=0, n_jobs=1, categorical=[1]).estimator
    back = deserialize(serialize(estimator), "rf_onehot")
    np.testing.assert_array_equal(back.predict_proba(X), estimator.predict_proba(X))


def test_lightgbm_categorical_is_native_and_equal_to_lightgbm_itself():
    from lightgbm import LGBMClassifier

    from antares.models.fitting import fit_model
    from antares.models.store import deserialize, serialize

    X, y = _categorical_table(2)
    params = {"n_estimators": 5, "num_leaves": 2, "min_child_samples": 5}
    outcome = fit_model("lightgbm", X, y, params=params, seed=0, n_jobs=1, categorical=[1])
    reference = LGBMClassifier(**params, learning_rate=0.05, verbose=-1, random_state=0, n_jobs=1)
    reference.fit(X, y, categorical_feature=[1])
    np.testing.assert_allclose(outcome.estimator.predict_proba(X), reference.predict_proba(X), rtol=0, atol=1e-12)
    # one split on a category set isolates {1, 3}; one threshold on 0..3 cannot
    assert (outcome.estimator.predict(X) == y).all()
    back = deserialize(serialize(outcome.estimator), "lgb_cat")
    np.testing.assert_array_equal(back.predict_proba(X), outcome.estimator.predict_proba(X))


@pytest.mark.parametrize("value", [1.5, -1.0])
def test_a_categorical_column_of_non_codes_is_refused(value):
    from antares.models.fitting import fit_model

    X, y = _categorical_table(3)
    X[7, 1] = value
    with pytest.raises(InvalidInputError, match=f"categorical variable soil holds 1 value.*e.g. {value:g}"):
        fit_model("xgb", X, y, params={"n_estimators": 2}, categorical=[1], feature_names=["red", "soil"])


def test_unknown_categorical_measurement_lists_the_measurements():
    from antares.models.table import categorical_columns

    assert categorical_columns(["red", "soil", "zone"], ["zone", "soil"]) == (1, 2)
    with pytest.raises(UsageError, match="product p has no measurement slope; its measurements: red, soil"):
        categorical_columns(["red", "soil"], ["slope"], "product p")


def test_remove_outliers_drops_the_planted_outliers_of_each_class_as_isolation_forest_scores_them():
    from sklearn.ensemble import IsolationForest

    from antares.models.table import remove_outliers

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = np.repeat([1, 2], 200)
    X[y == 2] += 10  # the classes are far apart: a global forest would keep everything
    planted = np.array([3, 50, 250, 390])
    X[planted] += np.where(y[planted, None] == 1, 30, -30)  # far from their own class
    groups = np.arange(400) // 10
    kept_X, kept_y, kept_groups, removed = remove_outliers(X, y, groups, contamination=0.05, seed=1)
    kept = np.flatnonzero(np.isin(X[:, 0], kept_X[:, 0]))
    assert not np.isin(planted, kept).any()
    assert removed == {1: 10, 2: 10}  # 5 % of each class (IsolationForest's contamination threshold)
    np.testing.assert_array_equal(kept_y, y[kept])
    np.testing.assert_array_equal(kept_groups, groups[kept])
    # the same decision as scikit-learn's IsolationForest per class with antares3's settings
    for code in (1, 2):
        members = np.flatnonzero(y == code)
        forest = IsolationForest(n_estimators=101, max_samples=0.632, contamination=0.05, bootstrap=True,
                                 random_state=1).fit(X[members])
        inliers = members[forest.predict(X[members]) == 1]
        np.testing.assert_array_equal(inliers, kept[y[kept] == code])


def test_remove_outliers_default_is_antares3s_quarter():
    from antares.models.table import OUTLIER_CONTAMINATION, remove_outliers

    X = np.random.default_rng(2).normal(size=(120, 2))
    y = np.repeat([4, 8], 60)
    assert OUTLIER_CONTAMINATION == 0.25
    _, kept_y, _, removed = remove_outliers(X, y)
    assert removed == {4: 15, 8: 15} and len(kept_y) == 90
    with pytest.raises(UsageError, match=r"must be a fraction in \(0, 0.5\]. Got 0.7"):
        remove_outliers(X, y, contamination=0.7)


def test_write_table_is_parquet_0600_and_leaves_no_temporary_file(tmp_path):
    import pyarrow.parquet as pq

    from antares.models.table import write_table

    X = np.random.default_rng(0).random((25, 3))
    y = np.arange(25) % 3 + 10
    groups = np.arange(25) // 5
    path = write_table(tmp_path / "train.parquet", X, y, ["B02", "B03", "ndvi"], groups)
    table = pq.read_table(path).to_pandas()
    assert list(table.columns) == ["B02", "B03", "ndvi", "class", "group"]
    np.testing.assert_array_equal(table[["B02", "B03", "ndvi"]].to_numpy(), X)
    np.testing.assert_array_equal(table["class"].to_numpy(), y)
    np.testing.assert_array_equal(table["group"].to_numpy(), groups)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.parquet"]
    with pytest.raises(InvalidInputError, match="folder .*nowhere does not exist"):
        write_table(tmp_path / "nowhere" / "t.parquet", X, y, ["a", "b", "c"])


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from antares.models.table import write_table

    X = np.ones((4, 1))
    path = write_table(tmp_path / "t.parquet", X, np.arange(4), ["a"])
    before = path.read_bytes()

    def broken(table, sink, **kwargs):
        sink.write(b"PAR1 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(InvalidInputError, match="cannot be written: No space left on device"):
        write_table(path, X * 2, np.arange(4), ["a"])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_fit_request_table_only_needs_no_model_and_a_fit_needs_both():
    from antares.pipeline.requests import FitRequest

    request = FitRequest(None, "p", "t", None, table_file="x.parquet", remove_outliers=True)
    assert request.params == {} and request.contamination == 0.25
    with pytest.raises(UsageError, match="kind and name are needed to fit a model") as info:
        FitRequest(None, "p", "t", None)
    assert info.value.fields == ("kind", "name")
    with pytest.raises(UsageError, match="contamination must be a fraction"):
        FitRequest("rf", "p", "t", "m", contamination=0)
    with pytest.raises(UsageError, match="extra, grid_specs and cv need a kind"):
        FitRequest(None, "p", "t", None, table_file="x.parquet", extra=("n_estimators=3",))


def test_single_threaded_reaches_a_one_hot_pipeline_and_xgb():
    from antares.models.fitting import fit_model, single_threaded
    from antares.models.store import deserialize, serialize

    X, y = _categorical_table(4)
    rf = fit_model("rf", X, y, params={"n_estimators": 5}, seed=0, n_jobs=2, categorical=[1]).estimator
    assert rf[-1].n_jobs == 2 and single_threaded(rf)[-1].n_jobs == 1
    xgb = deserialize(serialize(fit_model("xgb", X, y, params={"n_estimators": 5}, n_jobs=2).estimator), "x")
    assert xgb.n_jobs == 2 and xgb.model_.n_jobs == 2
    single_threaded(xgb)
    assert xgb.n_jobs == 1 and xgb.model_.get_params()["n_jobs"] == 1


def test_cross_validation_oa_counted_in_area_equals_an_independent_weighted_accuracy():
    """cross_validate(weights=...): each fold's overall_accuracy_area is the held-out samples' area share that is right
    (sklearn accuracy_score with sample_weight, on the same splits and the same fitted trees); equal weights give OA."""
    from sklearn.metrics import accuracy_score
    from sklearn.tree import DecisionTreeClassifier

    from antares.models.fitting import _splits, cross_validate

    rng = np.random.default_rng(4)
    n = 120
    X = rng.normal(size=(n, 3))
    y = np.where(X[:, 0] + 0.8 * rng.normal(size=n) > 0, 1, 2)
    groups = rng.integers(0, 30, n)
    area = rng.integers(1, 500, n).astype(float)
    report = cross_validate(lambda: DecisionTreeClassifier(random_state=0), X, y, groups, 4, 0, [1, 2], weights=area)
    expected = []
    for train, test in _splits(y, groups, 4, 0):
        predicted = DecisionTreeClassifier(random_state=0).fit(X[train], y[train]).predict(X[test])
        expected.append(accuracy_score(y[test], predicted, sample_weight=area[test]))
    np.testing.assert_allclose([f["overall_accuracy_area"] for f in report["folds"]], expected, rtol=1e-12)
    assert report["mean"]["overall_accuracy_area"] == pytest.approx(np.mean(expected))
    assert abs(report["mean"]["overall_accuracy_area"] - report["mean"]["overall_accuracy"]) > 1e-3  # weights matter
    same = cross_validate(lambda: DecisionTreeClassifier(random_state=0), X, y, groups, 4, 0, [1, 2], weights=np.ones(n))
    assert same["mean"]["overall_accuracy_area"] == pytest.approx(same["mean"]["overall_accuracy"])
    assert "overall_accuracy_area" not in cross_validate(lambda: DecisionTreeClassifier(random_state=0), X, y, groups,
                                                         4, 0, [1, 2])["mean"]
