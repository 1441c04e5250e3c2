"""The model registry: name -> estimator factory with antares' defaults and declared parameters.

``MODELS`` is the :class:`~antares.registry.Registry` of :class:`ModelKind` (built-in ``rf``,
``lightgbm`` and ``xgb``, and any ``antares.models`` entry point). Each kind declares every parameter of its
estimator with :class:`antares.params.Param`, so that ``antares model_params`` lists them and a value
is checked before any work, with one message of one form for every library::

    rf: The 'max_depth' parameter of RandomForestClassifier must be an int in the range [1, inf) or None. Got -3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from antares.errors import UsageError
from antares.params import (
    Param, among, any_of, check_params, instance, integer, is_array_like, is_none, parse_value, real,
)
from antares.registry import Registry


@dataclass(frozen=True)
class ModelKind:
    """A registered classifier: how to build it, its declared parameters and what antares sets by default.

    Attributes
    ----------
    name : str
        The name of ``-model``.
    description : str
        One line for ``antares model_params``.
    factory : callable
        ``factory() -> class``: the estimator class (imported only when called), with the
        scikit-learn contract (``fit``, ``predict``, ``predict_proba``, ``classes_``).
    defaults : dict
        antares' defaults, overriding the declared ones.
    params : tuple of Param
        Every parameter the estimator takes, with the library's default and valid values.
    estimator : str
        The class name, for messages (``RandomForestClassifier``).
    seed_param, jobs_param : str
        The parameters that take ``--seed`` and the number of threads.
    rules : tuple of (callable, str)
        Rules across parameters: ``(broken(values) -> bool, message)``, checked after each parameter.
    inputs : {'features', 'pixel_sets'}
        What ``fit`` takes: a feature table ``(n, f)`` (``model_fit``), or pixel-set series per sensor
        (the temporal deep models of :mod:`antares.deep`, fitted by ``model_fit_timeseries``).
    categorical_fit : str, optional
        The keyword of ``fit`` that takes the indices of categorical columns (native categorical
        features); None: categorical columns are one-hot encoded before the estimator.
    """

    name: str
    description: str
    factory: Callable
    defaults: dict
    params: tuple[Param, ...]
    estimator: str
    seed_param: str = "random_state"
    jobs_param: str = "n_jobs"
    rules: tuple = ()
    inputs: str = "features"
    categorical_fit: str | None = None


def _rf():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier


def _lightgbm():
    from lightgbm import LGBMClassifier

    return LGBMClassifier


def _xgb():
    from antares.models.xgb import XGBoostClassifier

    return XGBoostClassifier


def _int_at_least(name, default, low, *, or_none=False):
    text = f"int in the range [{low}, inf)" + (" or None" if or_none else "")
    return any_of(name, default, text, integer(low), *((is_none,) if or_none else ()))


def _float_range(name, default, text, low, high=None, *, low_open=False, high_open=False):
    return any_of(name, default, f"float in the range {text}", real(low, high, low_open=low_open, high_open=high_open))


_BOOL = ("bool", instance(bool))
_SEED = any_of("random_state", None, "int in the range [0, 4294967295], a numpy RandomState or None",
               integer(0, 2**32 - 1), lambda v: type(v).__name__ == "RandomState", is_none)
_JOBS = any_of("n_jobs", None, "int or None", integer(), is_none)

#: scikit-learn's RandomForestClassifier (its documentation, Parameters); checked by tests/unit/test_models_registry.py
_RF_PARAMS = (
    _int_at_least("n_estimators", 100, 1),
    any_of("criterion", "gini", "str among {'entropy', 'gini', 'log_loss'}", among("entropy", "gini", "log_loss")),
    _int_at_least("max_depth", None, 1, or_none=True),
    any_of("min_samples_split", 2, "int in the range [2, inf) or a float in the range (0.0, 1.0]",
           integer(2), real(0, 1, low_open=True)),
    any_of("min_samples_leaf", 1, "int in the range [1, inf) or a float in the range (0.0, 1.0)",
           integer(1), real(0, 1, low_open=True, high_open=True)),
    _float_range("min_weight_fraction_leaf", 0.0, "[0.0, 0.5]", 0, 0.5),
    any_of("max_features", "sqrt", "int in the range [1, inf), a float in the range (0.0, 1.0], a str among "
           "{'log2', 'sqrt'} or None", integer(1), real(0, 1, low_open=True), among("log2", "sqrt"), is_none),
    _int_at_least("max_leaf_nodes", None, 2, or_none=True),
    _float_range("min_impurity_decrease", 0.0, "[0.0, inf)", 0),
    any_of("bootstrap", True, *_BOOL),
    any_of("oob_score", False, "bool or a callable", instance(bool), callable),
    _JOBS,
    _SEED,
    any_of("verbose", 0, "int in the range [0, inf) or a bool", integer(0), instance(bool)),
    any_of("warm_start", False, *_BOOL),
    any_of("class_weight", None, "str among {'balanced', 'balanced_subsample'}, a dict, a list or None",
           among("balanced", "balanced_subsample"), instance(dict, list), is_none),
    _float_range("ccp_alpha", 0.0, "[0.0, inf)", 0),
    any_of("max_samples", None, "int in the range [1, inf), a float in the range (0.0, inf) or None",
           integer(1), real(0, low_open=True), is_none),
    any_of("monotonic_cst", None, "array-like or None", is_array_like, is_none),
)

_RF_RULES = (
    (lambda v: bool(v["oob_score"]) and not v["bootstrap"], "oob_score needs bootstrap=True. Got bootstrap=False."),
    (lambda v: v["max_samples"] is not None and not v["bootstrap"],
     "max_samples needs bootstrap=True; set bootstrap=True or max_samples=None."),
)

#: LightGBM's LGBMClassifier (LightGBM's docs, Parameters). Its scikit-learn wrapper declares none: a bad
#: value would surface only inside ``fit`` as a native ``[LightGBM] [Fatal]`` error.
_LIGHTGBM_PARAMS = (
    any_of("boosting_type", "gbdt", "str among {'dart', 'gbdt', 'goss', 'rf'}", among("dart", "gbdt", "goss", "rf")),
    any_of("num_leaves", 31, "int in the range [2, 131072]", integer(2, 131072)),
    any_of("max_depth", -1, "int", integer()),
    _float_range("learning_rate", 0.1, "(0.0, inf)", 0, low_open=True),
    _int_at_least("n_estimators", 100, 1),
    _int_at_least("subsample_for_bin", 200000, 2),
    any_of("objective", None, "str, a callable or None", instance(str), callable, is_none),
    any_of("class_weight", None, "dict, a str among {'balanced'} or None", instance(dict), among("balanced"), is_none),
    _float_range("min_split_gain", 0.0, "[0.0, inf)", 0),
    _float_range("min_child_weight", 0.001, "[0.0, inf)", 0),
    _int_at_least("min_child_samples", 20, 0),
    _float_range("subsample", 1.0, "(0.0, 1.0]", 0, 1, low_open=True),
    _int_at_least("subsample_freq", 0, 0),
    _float_range("colsample_bytree", 1.0, "(0.0, 1.0]", 0, 1, low_open=True),
    _float_range("reg_alpha", 0.0, "[0.0, inf)", 0),
    _float_range("reg_lambda", 0.0, "[0.0, inf)", 0),
    _SEED,
    _JOBS,
    any_of("importance_type", "split", "str among {'gain', 'split'}", among("gain", "split")),
    any_of("verbose", 1, "int", integer()),
)


def _xgb_optional(name, text, *checks):
    return any_of(name, None, f"{text} or None", *checks, is_none)


#: XGBoost's XGBClassifier (XGBoost's docs, "XGBoost Parameters" and the scikit-learn API). XGBoost declares
#: ``None`` for every default (None: XGBoost's native default applies); a bad value would surface only inside
#: ``fit`` as a native XGBoostError. Not declared: what antares sets itself (enable_categorical, feature_types:
#: model_fit -categorical_variables) and what model_fit has no use for (callbacks, eval_metric, early stopping).
_XGB_PARAMS = (
    _xgb_optional("n_estimators", "int in the range [1, inf)", integer(1)),
    _xgb_optional("max_depth", "int in the range [0, inf)", integer(0)),
    _xgb_optional("max_leaves", "int in the range [0, inf)", integer(0)),
    _xgb_optional("max_bin", "int in the range [2, inf)", integer(2)),
    _xgb_optional("grow_policy", "str among {'depthwise', 'lossguide'}", among("depthwise", "lossguide")),
    _xgb_optional("learning_rate", "float in the range [0.0, 1.0]", real(0, 1)),
    _xgb_optional("verbosity", "int in the range [0, 3]", integer(0, 3)),
    _xgb_optional("booster", "str among {'dart', 'gbtree', 'gblinear'}", among("dart", "gbtree", "gblinear")),
    _xgb_optional("tree_method", "str among {'approx', 'auto', 'exact', 'hist'}", among("approx", "auto", "exact", "hist")),
    _xgb_optional("n_jobs", "int", integer()),
    _xgb_optional("gamma", "float in the range [0.0, inf)", real(0)),
    _xgb_optional("min_child_weight", "float in the range [0.0, inf)", real(0)),
    _xgb_optional("max_delta_step", "float in the range [0.0, inf)", real(0)),
    _xgb_optional("subsample", "float in the range (0.0, 1.0]", real(0, 1, low_open=True)),
    _xgb_optional("sampling_method", "str among {'uniform'}", among("uniform")),  # gradient_based is GPU only
    _xgb_optional("colsample_bytree", "float in the range (0.0, 1.0]", real(0, 1, low_open=True)),
    _xgb_optional("colsample_bylevel", "float in the range (0.0, 1.0]", real(0, 1, low_open=True)),
    _xgb_optional("colsample_bynode", "float in the range (0.0, 1.0]", real(0, 1, low_open=True)),
    _xgb_optional("reg_alpha", "float in the range [0.0, inf)", real(0)),
    _xgb_optional("reg_lambda", "float in the range [0.0, inf)", real(0)),
    _xgb_optional("scale_pos_weight", "float in the range [0.0, inf)", real(0)),
    _xgb_optional("random_state", "int in the range [0, 4294967295]", integer(0, 2**32 - 1)),
    _xgb_optional("num_parallel_tree", "int in the range [1, inf)", integer(1)),
    _xgb_optional("importance_type", "str among {'cover', 'gain', 'total_cover', 'total_gain', 'weight'}",
                  among("cover", "gain", "total_cover", "total_gain", "weight")),
    _xgb_optional("max_cat_to_onehot", "int in the range [1, inf)", integer(1)),
    _xgb_optional("max_cat_threshold", "int in the range [1, inf)", integer(1)),
)


def _is_model_kind(name: str, plugin) -> bool:
    return isinstance(plugin, ModelKind) and plugin.name == name


#: name -> ModelKind: rf, lightgbm, xgb, the temporal deep models (antares.deep), then plugins.
MODELS = Registry("antares.models", "model", {
    "rf": ModelKind("rf", "random forest (scikit-learn RandomForestClassifier; Breiman 2001)", _rf,
                    {"n_estimators": 150}, _RF_PARAMS, "RandomForestClassifier", rules=_RF_RULES),
    "lightgbm": ModelKind("lightgbm", "gradient-boosted trees (LightGBM LGBMClassifier; Ke et al. 2017)", _lightgbm,
                          {"n_estimators": 200, "learning_rate": 0.05, "verbose": -1}, _LIGHTGBM_PARAMS,
                          "LGBMClassifier", categorical_fit="categorical_feature"),
    "xgb": ModelKind("xgb", "gradient-boosted trees (XGBoost XGBClassifier; Chen & Guestrin 2016)", _xgb,
                     {"n_estimators": 200, "learning_rate": 0.1, "verbosity": 0}, _XGB_PARAMS, "XGBClassifier",
                     categorical_fit="categorical"),
    "pse_tae": "antares.deep.kinds:PSE_TAE",  # torch, imported on first use
    "ltae": "antares.deep.kinds:LTAE",
    "tempcnn": "antares.deep.kinds:TEMPCNN",
}, accepts=_is_model_kind)


def model_kind(name: str) -> ModelKind:
    """The registered model ``name``; UsageError listing the valid ones."""
    return MODELS.get(name)


def require_features(name: str, model: str | None = None) -> None:
    """Refuse a model kind that does not take a feature table (the pixel-set models of :mod:`antares.deep`).

    Parameters
    ----------
    name : str
        The kind (``-model``).
    model : str, optional
        A stored model's name, for messages when it is applied.

    Raises
    ------
    UsageError
        ``name`` takes pixel-set time series (one line naming the command that fits or applies it).
    """
    if name in MODELS and model_kind(name).inputs != "features":
        if model is None:
            raise UsageError(f"-model {name} takes pixel-set time series, not a feature product: fit it with "
                             "'antares model_fit_timeseries' (or antares.train.fit_timeseries).")
        raise UsageError(f"model '{model}' is a {name} model of pixel-set time series; it cannot classify a feature "
                         "product (apply it with antares.deep: predict_proba on the same sensors, channels and dates).")


def estimator_params(name: str) -> dict:
    """The parameters of model ``name`` with antares' defaults (else the library's), in declaration order."""
    kind = model_kind(name)
    return {**{p.name: p.default for p in kind.params}, **kind.defaults}


def parse_params(name: str, pairs, option: str = "-extra") -> dict:
    """``k=v`` strings into a dict, keys checked against model ``name``'s parameters.

    Raises
    ------
    UsageError
        A pair without ``=`` or an unknown key (the valid keys are listed).
    """
    valid = estimator_params(name)
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"{option} {pair!r} must be KEY=VALUE, e.g. n_estimators=300.")
        key, value = pair.split("=", 1)
        key = key.strip()
        if key not in valid:
            raise UsageError(f"{option}: {name} has no parameter '{key}'; valid parameters: {', '.join(sorted(valid))}.")
        out[key] = parse_value(value)
    return out


def make_estimator(name: str, params: dict | None = None, seed: int | None = None, n_jobs: int | None = None):
    """A new estimator of model ``name``, its parameters checked against the kind's declarations first.

    Parameters
    ----------
    name : str
        A name of :data:`MODELS` (``rf``, ``lightgbm``, ``xgb``, or a plugin's).
    params : dict, optional
        Overrides of antares' defaults (keys checked by :func:`parse_params`).
    seed : int, optional
        Random state (``random_state``) unless ``params`` sets it.
    n_jobs : int, optional
        Threads, unless ``params`` sets them.

    Raises
    ------
    UsageError
        Unknown model, unknown parameter, a value outside its declared constraint or a broken rule
        across parameters, prefixed with the model's name, e.g.
        ``rf: The 'n_estimators' parameter of RandomForestClassifier must be an int in the range [1, inf). Got 0.``
    """
    kind = model_kind(name)
    merged = dict(kind.defaults)
    if seed is not None:
        merged[kind.seed_param] = seed
    if n_jobs is not None:
        merged[kind.jobs_param] = n_jobs
    merged.update(params or {})
    try:
        values = check_params(kind.params, merged, kind.estimator)
    except UsageError as exc:
        raise UsageError(f"{name}: {exc}") from None
    for broken, message in kind.rules:
        if broken(values):
            raise UsageError(f"{name}: {message}")
    return kind.factory()(**merged)
