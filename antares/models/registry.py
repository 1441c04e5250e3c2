"""The model registry: name -> estimator factory with antares' defaults, and parameter checks."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from antares.errors import UsageError


@dataclass(frozen=True)
class ModelKind:
    """A registered classifier: how to build it and what antares sets by default."""

    name: str
    description: str
    factory: Callable
    defaults: dict
    seed_param: str = "random_state"
    jobs_param: str = "n_jobs"
    constraints: Callable | None = None  # () -> scikit-learn parameter constraints, for estimators without their own


def _rf():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier


def _lightgbm():
    from lightgbm import LGBMClassifier

    return LGBMClassifier


def _lightgbm_constraints() -> dict:
    """Valid values of LGBMClassifier's main parameters (LightGBM's docs, Parameters), checked before a fit.

    LightGBM's scikit-learn wrapper declares none: a bad value surfaces only inside ``fit``
    as a native ``[LightGBM] [Fatal]`` error.
    """
    from numbers import Integral, Real

    from sklearn.utils._param_validation import Interval, StrOptions

    positive = Interval(Real, 0, None, closed="neither")
    non_negative = Interval(Real, 0, None, closed="left")
    fraction = Interval(Real, 0, 1, closed="right")
    return {
        "boosting_type": [StrOptions({"gbdt", "dart", "rf", "goss"})],
        "num_leaves": [Interval(Integral, 2, 131072, closed="both")],
        "max_depth": [Integral],
        "learning_rate": [positive],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "subsample_for_bin": [Interval(Integral, 2, None, closed="left")],
        "objective": [str, callable, None],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "min_split_gain": [non_negative],
        "min_child_weight": [non_negative],
        "min_child_samples": [Interval(Integral, 0, None, closed="left")],
        "subsample": [fraction],
        "subsample_freq": [Interval(Integral, 0, None, closed="left")],
        "colsample_bytree": [fraction],
        "reg_alpha": [non_negative],
        "reg_lambda": [non_negative],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "importance_type": [StrOptions({"split", "gain"})],
    }


MODELS = {
    "rf": ModelKind("rf", "random forest (scikit-learn RandomForestClassifier; Breiman 2001)", _rf,
                    {"n_estimators": 150}),
    "lightgbm": ModelKind("lightgbm", "gradient-boosted trees (LightGBM LGBMClassifier; Ke et al. 2017)", _lightgbm,
                          {"n_estimators": 200, "learning_rate": 0.05, "verbose": -1}, constraints=_lightgbm_constraints),
}


def model_kind(name: str) -> ModelKind:
    """The registered model ``name``; UsageError listing the valid ones."""
    if name not in MODELS:
        raise UsageError(f"unknown model '{name}'; valid models: {', '.join(MODELS)}.")
    return MODELS[name]


def estimator_params(name: str) -> dict:
    """The parameters of model ``name`` with antares' defaults (else the library's)."""
    kind = model_kind(name)
    cls = kind.factory()
    params = {p: v.default for p, v in inspect.signature(cls.__init__).parameters.items()
              if p not in ("self",) and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)}
    params.update(kind.defaults)
    return params


def parse_value(text: str):
    """``-extra`` / ``--grid`` value: int, float, None, bool, else the string."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


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
    """A new, validated estimator of model ``name``.

    Parameters
    ----------
    params : dict, optional
        Overrides of antares' defaults (keys checked by :func:`parse_params`).
    seed : int, optional
        Random state (``random_state``) unless ``params`` sets it.
    n_jobs : int, optional
        Threads, unless ``params`` sets them.

    Raises
    ------
    UsageError
        A parameter value the estimator refuses (scikit-learn's own message).
    """
    kind = model_kind(name)
    cls = kind.factory()
    merged = dict(kind.defaults)
    if seed is not None:
        merged[kind.seed_param] = seed
    if n_jobs is not None:
        merged[kind.jobs_param] = n_jobs
    merged.update(params or {})
    estimator = cls(**merged)
    if kind.constraints is not None:
        from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

        constraints = kind.constraints()
        try:
            validate_parameter_constraints(constraints, {k: v for k, v in merged.items() if k in constraints},
                                           caller_name=cls.__name__)
        except InvalidParameterError as exc:
            raise UsageError(f"{name}: {exc}") from None
    validate = getattr(estimator, "_validate_params", None)
    if validate is not None and hasattr(estimator, "_parameter_constraints"):  # scikit-learn >= 1.2 declares its constraints
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{name}: {exc}") from None
    return estimator
