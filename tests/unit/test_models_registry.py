"""The model registry: declared parameters match the estimators, checks without scikit-learn's private API, fit errors."""

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from antares.errors import InvalidInputError, UsageError


@pytest.mark.parametrize("name", ["rf", "lightgbm"])
def test_declarations_match_the_estimator_signature(name):
    from antares.models.registry import MODELS

    kind = MODELS[name]
    signature = {k: v.default for k, v in inspect.signature(kind.factory().__init__).parameters.items()
                 if k != "self" and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)}
    declared = {p.name: p.default for p in kind.params}
    assert set(signature) <= set(declared) and set(declared) - set(signature) <= set(kind.defaults)
    assert {k: declared[k] for k in signature} == signature
    for p in kind.params:  # every default passes its own declaration
        assert p.validator(p.default) == p.default, p.name


@pytest.mark.parametrize("name, params, message", [
    ("rf", {"n_estimators": 0},
     "rf: The 'n_estimators' parameter of RandomForestClassifier must be an int in the range [1, inf). Got 0."),
    ("rf", {"max_depth": -3},
     "rf: The 'max_depth' parameter of RandomForestClassifier must be an int in the range [1, inf) or None. Got -3."),
    ("rf", {"criterion": "best"}, "rf: The 'criterion' parameter of RandomForestClassifier must be a str among "
                                  "{'entropy', 'gini', 'log_loss'}. Got 'best'."),
    ("rf", {"bootstrap": False, "oob_score": True}, "rf: oob_score needs bootstrap=True. Got bootstrap=False."),
    ("lightgbm", {"learning_rate": -1},
     "lightgbm: The 'learning_rate' parameter of LGBMClassifier must be a float in the range (0.0, inf). Got -1."),
    ("lightgbm", {"subsample": 1.5},
     "lightgbm: The 'subsample' parameter of LGBMClassifier must be a float in the range (0.0, 1.0]. Got 1.5."),
    ("svm", {}, "unknown model 'svm'; valid models: rf, lightgbm, xgb, pse_tae, ltae, tempcnn."),
])
def test_bad_parameters_are_refused_before_a_fit(name, params, message):
    from antares.models.registry import make_estimator

    with pytest.raises(UsageError) as info:
        make_estimator(name, params, seed=0)
    assert str(info.value) == message and info.value.exit_code == 2


def test_valid_parameters_reach_the_estimator():
    from antares.models.registry import make_estimator, parse_params

    params = parse_params("rf", ["max_features=0.5", "max_depth=none", "criterion=entropy"])
    assert params == {"max_features": 0.5, "max_depth": None, "criterion": "entropy"}
    estimator = make_estimator("rf", params, seed=3, n_jobs=1).get_params()
    assert (estimator["max_features"], estimator["max_depth"], estimator["criterion"]) == (0.5, None, "entropy")
    assert (estimator["n_estimators"], estimator["random_state"], estimator["n_jobs"]) == (150, 3, 1)


def test_a_fit_failure_on_the_samples_is_not_called_a_parameter_refusal():
    from antares.models.fitting import fit_model

    X = np.random.default_rng(0).random((20, 3))
    X[0, 0] = np.inf
    with pytest.raises(InvalidInputError) as info:
        fit_model("rf", X, np.array([1, 2] * 10), params={"n_estimators": 5})
    assert str(info.value).startswith("RandomForestClassifier could not be fitted on the 20 training samples: Input X "
                                      "contains infinity")
    assert "parameters" not in str(info.value) and info.value.exit_code == 1


def test_no_private_scikit_learn_api():
    root = Path(__file__).resolve().parents[2] / "antares"
    users = [str(p.relative_to(root)) for p in root.rglob("*.py") if "sklearn.utils._" in p.read_text()]
    assert users == []
    # and checking parameters does not import scikit-learn's validation module at all
    code = ("import sys; from antares.models.registry import make_estimator; from antares.errors import UsageError\n"
            "try:\n    make_estimator('lightgbm', {'num_leaves': 1})\nexcept UsageError as e:\n    print(e)\n"
            "print('sklearn.utils._param_validation' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["lightgbm: The 'num_leaves' parameter of LGBMClassifier must be an int in the range [2, 131072]. "
                   "Got 1.", "False"]
