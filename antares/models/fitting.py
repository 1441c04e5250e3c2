"""Fitting a classifier on a table of training samples: stratified sampling, (spatial) cross-validation, grid search.

The table is ``X`` (n, f) float64 features, ``y`` (n,) legend codes and ``groups`` (n,)
ints (the polygon of a pixel sample, or the spatial block of a sample). Cross-validation
is scikit-learn's ``StratifiedKFold`` (no groups) or ``StratifiedGroupKFold`` (groups
never straddle a split); each fold is assessed with :func:`antares.accuracy.assess`
(overall accuracy, kappa, macro-F1, user's and producer's accuracy per class). A grid
search keeps the parameter combination with the best mean macro-F1 (ties: the first).
"""

from __future__ import annotations

import itertools
import logging
import warnings
from dataclasses import dataclass, field

import numpy as np

from antares.errors import InvalidInputError, UsageError

log = logging.getLogger(__name__)


@dataclass
class FitOutcome:
    """A fitted estimator with its cross-validation report and the parameters kept."""

    estimator: object
    params: dict
    cv: dict | None = None
    grid: list = field(default_factory=list)
    samples_per_class: dict = field(default_factory=dict)


def stratified_subsample(y: np.ndarray, groups: np.ndarray | None, per_class: int | None = None,
                         fraction: float | None = None, seed: int = 0) -> np.ndarray:
    """Indices of a class-stratified random subsample (sorted), uniform within each class.

    ``per_class`` caps each class at that many samples; ``fraction`` keeps that share of
    each class (at least one). Neither: all indices.
    """
    rng = np.random.default_rng(seed)
    keep = []
    for code in np.unique(y):
        members = np.flatnonzero(y == code)
        n = len(members)
        if fraction is not None:
            n = max(1, int(round(fraction * n)))
        if per_class is not None:
            n = min(n, per_class)
        keep.append(members if n >= len(members) else rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def check_classes(y: np.ndarray, names: dict) -> None:
    """Refuse fewer than two classes, or a class with fewer than two samples."""
    codes, counts = np.unique(y, return_counts=True)
    if len(codes) < 2:
        only = ", ".join(names.get(int(c), str(c)) for c in codes) or "none"
        raise InvalidInputError(f"the training samples hold {len(codes)} class(es) ({only}); a classifier needs at least 2.")
    few = [f"{names.get(int(c), c)} ({n})" for c, n in zip(codes, counts) if n < 2]
    if few:
        raise InvalidInputError(f"class(es) with fewer than 2 training samples: {', '.join(few)}; "
                                "add samples or leave the class out of the training set.")


def _splits(y, groups, k: int, seed: int):
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    if groups is None:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(len(y)), y))
    n_groups = len(np.unique(groups))
    if n_groups < k:
        raise InvalidInputError(f"--cv {k} needs at least {k} groups of samples (polygons or spatial blocks); "
                                f"there are {n_groups}. Lower --cv or the --cv-spatial block size.")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y, groups))


def cross_validate(make_estimator, X, y, groups, k: int, seed: int, codes, fit_kwargs: dict | None = None,
                   fitted=None, weights=None) -> dict:
    """K-fold cross-validation report.

    Parameters
    ----------
    make_estimator : callable
        Returns a new unfitted estimator.
    X : ndarray (n, f) float64
    y : ndarray (n,) int64
        Legend codes.
    groups : ndarray (n,) or None
        Group of each sample; a group is never split between training and test.
    k : int
        Number of folds (>= 2).
    codes : sequence of int
        The legend's codes (the order of the per-class figures).
    fit_kwargs : dict, optional
        Keywords of ``fit`` (native categorical columns).
    fitted : callable, optional
        ``fitted()`` after each fold's estimator is fitted and assessed.
    weights : ndarray (n,), optional
        The area (pixels) of each sample: each fold's and the mean ``overall_accuracy_area``, the
        share of the held-out area whose class is right (samples weighted by their area).

    Returns
    -------
    dict
        ``folds``: per fold the test size and the accuracy report (``assess(...).to_dict()``);
        ``mean``: mean overall accuracy, kappa and macro-F1, and per class the mean
        user's and producer's accuracy (NaN-ignoring).
    """
    from antares.accuracy import assess

    if k < 2:
        raise UsageError(f"--cv must be at least 2. Got {k}.")
    folds = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        splits = _splits(y, groups, k, seed)
    for train, test in splits:
        estimator = _fit(make_estimator(), X[train], y[train], fit_kwargs)
        predicted = estimator.predict(X[test])
        report = assess(y[test], predicted, codes)
        folds.append({"n_train": int(len(train)), "n_test": int(len(test)), **report.to_dict()})
        if weights is not None:
            folds[-1]["overall_accuracy_area"] = assess(y[test], predicted, codes, weights[test]).overall_accuracy
        log.debug("fold %d/%d: overall accuracy %.3f", len(folds), k, report.overall_accuracy)
        if fitted:
            fitted()

    def mean_of(key):
        return float(np.nanmean([f[key] if f[key] is not None else np.nan for f in folds]))

    def per_class(key):
        table = np.array([[np.nan if v is None else v for v in f[key]] for f in folds], dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return [None if np.isnan(v) else float(v) for v in np.nanmean(table, axis=0)]

    return {"k": k, "grouped": groups is not None, "folds": folds,
            "mean": {"overall_accuracy": mean_of("overall_accuracy"), "kappa": mean_of("kappa"),
                     "macro_f1": mean_of("macro_f1"), "users_accuracy": per_class("users_accuracy"),
                     "producers_accuracy": per_class("producers_accuracy"), "codes": [int(c) for c in codes],
                     **({"overall_accuracy_area": mean_of("overall_accuracy_area")} if weights is not None else {})}}


def _fit(estimator, X, y, fit_kwargs: dict | None = None):
    """``estimator.fit(X, y)``; a ValueError or TypeError from the library becomes an InvalidInputError naming it.

    The parameters were checked against their declarations before (:func:`make_estimator`), so what
    fails here is the fit on these samples (e.g. NaN in ``X`` for an estimator that refuses it).
    """
    try:
        return estimator.fit(X, y, **(fit_kwargs or {}))
    except (ValueError, TypeError) as exc:
        message = " ".join(str(exc).split())
        raise InvalidInputError(f"{type(estimator).__name__} could not be fitted on the {len(y)} training samples: "
                                f"{message}") from None


def single_threaded(estimator):
    """``estimator`` set to predict on one thread (a dask worker each; a fixed summation order); returns it.

    Works on an estimator with ``n_jobs`` and on a scikit-learn ``Pipeline`` (the one-hot encoded
    categorical columns of :func:`antares.models.table.one_hot`) whose last step has it.
    """
    steps = getattr(estimator, "steps", None)
    if steps and hasattr(steps[-1][1], "n_jobs"):
        estimator.set_params(**{f"{steps[-1][0]}__n_jobs": 1})
    elif hasattr(estimator, "n_jobs"):
        estimator.set_params(n_jobs=1)
    return estimator


def parse_grid(kind: str, specs) -> dict:
    """``--grid k=v1,v2`` strings into {parameter: [values]} (keys checked against the model)."""
    from antares.models.registry import parse_params
    from antares.params import parse_value

    grid = {}
    for spec in specs:
        key = spec.split("=", 1)[0]
        parse_params(kind, [f"{key}=0"] if "=" in spec else [spec], option="--grid")  # key check
        values = [parse_value(v) for v in spec.split("=", 1)[1].split(",") if v.strip() != ""]
        if not values:
            raise UsageError(f"--grid {spec!r} lists no values; write KEY=V1,V2,...")
        grid[key] = values
    return grid


def fit_count(cv: int | None, grid: dict | None) -> int:
    """The fits :func:`fit_model` makes: ``cv`` folds (5 with a grid and no ``cv``) per grid combination, then the final fit."""
    combos = int(np.prod([len(v) for v in grid.values()])) if grid else 0
    return (combos * (cv or 5) if grid else (cv or 0)) + 1


def fit_model(kind: str, X, y, groups=None, params: dict | None = None, cv: int | None = None,
              grid: dict | None = None, seed: int = 0, n_jobs: int | None = None, codes=None,
              categorical=(), feature_names=None, progress=None, weights=None) -> FitOutcome:
    """Cross-validate (optionally over a parameter grid) and fit ``kind`` on all samples.

    Parameters
    ----------
    kind : {'rf', 'lightgbm', 'xgb'} or a plugin's
    X, y, groups : see :func:`cross_validate`
    params : dict
        Fixed parameters (checked against the model's declared parameters).
    cv : int, optional
        Folds; a grid without ``cv`` uses 5.
    grid : dict, optional
        {parameter: [values]}; every combination is cross-validated.
    categorical : sequence of int
        Columns of category codes: native categorical features of a kind that declares
        ``categorical_fit`` (LightGBM, XGBoost), else one-hot encoded before the estimator
        (:func:`antares.models.table.one_hot`, stored with the model). Checked to hold
        non-negative integers.
    feature_names : list of str, optional
        Names of the columns, for messages.
    progress : callable, optional
        ``progress(done, total)`` after each fit: every fold of every grid combination, then
        the final fit on all samples (``total`` is :func:`fit_count`).
    weights : ndarray (n,), optional
        Each sample's area: the cross-validation also reports OA counted in area (:func:`cross_validate`).

    Raises
    ------
    UsageError
        Invalid parameters or grid values.
    InvalidInputError
        Too few classes, samples or groups.
    """
    from antares.models.registry import require_features

    require_features(kind)
    from antares.models.registry import make_estimator as new_estimator, model_kind

    from antares.models.table import check_categorical

    categorical = tuple(sorted(int(c) for c in categorical))
    check_categorical(X, categorical, feature_names)
    fit_kwargs = {}
    if categorical and model_kind(kind).categorical_fit:
        fit_kwargs = {model_kind(kind).categorical_fit: list(categorical)}

    def make_estimator(kind, trial, seed, n_jobs):
        from antares.models.table import one_hot

        estimator = new_estimator(kind, trial, seed, n_jobs)
        return one_hot(estimator, categorical) if categorical and not fit_kwargs else estimator

    params = dict(params or {})
    codes = list(codes) if codes is not None else sorted(int(c) for c in np.unique(y))
    make_estimator(kind, params, seed, n_jobs)  # validate early
    outcome = FitOutcome(None, params)
    total, done = fit_count(cv, grid), 0

    def fitted():
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    if grid:
        k = cv or 5
        best = None
        for combo in itertools.product(*grid.values()):
            trial = {**params, **dict(zip(grid.keys(), combo))}
            make_estimator(kind, trial, seed, n_jobs)
            report = cross_validate(lambda t=trial: make_estimator(kind, t, seed, n_jobs), X, y, groups, k, seed, codes,
                                    fit_kwargs, fitted, weights)
            row = {"params": dict(zip(grid.keys(), combo)), **{m: report["mean"][m]
                   for m in ("overall_accuracy", "kappa", "macro_f1")}}
            outcome.grid.append(row)
            log.info("grid %s: macro-F1 %.3f", row["params"], row["macro_f1"])
            if best is None or row["macro_f1"] > best[0]:
                best = (row["macro_f1"], trial, report)
        outcome.params, outcome.cv = best[1], best[2]
    elif cv:
        outcome.cv = cross_validate(lambda: make_estimator(kind, params, seed, n_jobs), X, y, groups, cv, seed, codes,
                                    fit_kwargs, fitted, weights)
    outcome.estimator = _fit(make_estimator(kind, outcome.params, seed, n_jobs), X, y, fit_kwargs)
    fitted()
    unique, counts = np.unique(y, return_counts=True)
    outcome.samples_per_class = {int(c): int(n) for c, n in zip(unique, counts)}
    return outcome
