"""The training table before a fit: categorical columns, outlier removal (antares3's ``--remove-outliers``), a Parquet dump.

The table is ``X`` (n, f) float64 features, ``y`` (n,) legend codes and ``groups`` (n,) or None, as
:func:`antares.train.sample_table` builds it.

* Categorical columns hold non-negative integer category codes (NaN: missing). LightGBM and XGBoost
  take them natively (:attr:`antares.models.registry.ModelKind.categorical_fit`); any other model gets
  them one-hot encoded by :func:`one_hot` (scikit-learn's ``OneHotEncoder`` inside a ``Pipeline``, stored
  with the model, so that prediction encodes the same way).
* :func:`remove_outliers` drops, per class, the samples that scikit-learn's ``IsolationForest``
  (Liu, Ting & Zhou 2008) scores as the most anomalous ``contamination`` share, as antares3 did
  (``BaseModel.remove_outliers``: 101 trees, ``max_samples=0.632``, bootstrap, contamination 0.25).
* :func:`write_table` writes the table to Parquet (temporary file, then rename; mode 0600).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from antares.errors import InvalidInputError, UsageError

log = logging.getLogger(__name__)

#: antares3's IsolationForest settings (madmex.modeling.BaseModel.remove_outliers)
OUTLIER_TREES = 101
OUTLIER_MAX_SAMPLES = 0.632
OUTLIER_CONTAMINATION = 0.25


def categorical_columns(names, categorical, product: str = "the product") -> tuple[int, ...]:
    """Indices of the columns named in ``categorical`` (sorted).

    Raises
    ------
    UsageError
        A name that is not a measurement of the product (the measurements are listed).
    """
    missing = [c for c in categorical if c not in names]
    if missing:
        raise UsageError(f"-categorical_variables: {product} has no measurement {', '.join(missing)}; "
                         f"its measurements: {', '.join(names)}.")
    return tuple(sorted({list(names).index(c) for c in categorical}))


def check_categorical(X: np.ndarray, columns, names=None) -> None:
    """Refuse a categorical column holding anything but non-negative integers or NaN.

    Raises
    ------
    InvalidInputError
        The column, an offending value and the fix (categories are integer codes; a polygon's
        mean of codes is not a code: use ``--unit pixels`` or ``-sp min``/``max`` on a column
        constant within polygons).
    """
    for c in columns:
        name = names[c] if names is not None else f"column {c}"
        values = X[:, c]
        values = values[np.isfinite(values)]
        bad = values[(values < 0) | (values != np.round(values))]
        if len(bad):
            raise InvalidInputError(
                f"categorical variable {name} holds {len(bad)} value(s) that are not non-negative integer "
                f"category codes (e.g. {bad[0]:g}); give category codes (0, 1, 2, ...), and with polygons "
                "aggregate them with -sp min or max (a mean of codes is no code) or use --unit pixels.")


def one_hot(estimator, columns):
    """``estimator`` behind scikit-learn's ``OneHotEncoder`` of ``columns`` (the others pass through).

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``fit``, ``predict``, ``predict_proba`` and ``classes_`` of ``estimator``; a category unseen
        in training encodes as all zeros (``handle_unknown='ignore'``), a NaN as its own category.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    encoder = ColumnTransformer([("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                                  list(columns))], remainder="passthrough")
    return Pipeline([("encode", encoder), ("classify", estimator)])


def remove_outliers(X: np.ndarray, y: np.ndarray, groups=None, contamination: float = OUTLIER_CONTAMINATION,
                    seed: int = 0):
    """Drop, per class, the ``contamination`` share of samples an IsolationForest finds most anomalous.

    Parameters
    ----------
    X : ndarray (n, f) float64
        Finite features.
    y : ndarray (n,) int64
        Legend codes.
    groups : ndarray (n,), optional
        Subset alongside.
    contamination : float in (0, 0.5]
        Share of each class's samples removed (antares3: 0.25).
    seed : int
        ``random_state`` of the forests.

    Returns
    -------
    X, y, groups, removed
        The kept rows (order kept) and {code: samples removed}.

    Raises
    ------
    UsageError
        ``contamination`` outside (0, 0.5].
    """
    from sklearn.ensemble import IsolationForest

    if not 0 < contamination <= 0.5:
        raise UsageError(f"--contamination must be a fraction in (0, 0.5]. Got {contamination}.")
    keep = np.ones(len(y), dtype=bool)
    removed = {}
    for code in np.unique(y):
        members = np.flatnonzero(y == code)
        if len(members) < 3:  # a forest cannot rank one or two samples
            removed[int(code)] = 0
            continue
        forest = IsolationForest(n_estimators=OUTLIER_TREES, max_samples=OUTLIER_MAX_SAMPLES,
                                 contamination=contamination, bootstrap=True, random_state=seed, n_jobs=1)
        inlier = forest.fit(X[members]).predict(X[members]) == 1
        keep[members[~inlier]] = False
        removed[int(code)] = int((~inlier).sum())
    log.info("outlier removal: %s sample(s) removed per class", removed)
    return X[keep], y[keep], (groups[keep] if groups is not None else None), removed


def write_table(path, X: np.ndarray, y: np.ndarray, names, groups=None) -> Path:
    """Write the training table to Parquet: one column per feature (float64), ``class`` (int64) and ``group``.

    Written to a temporary file in the same folder, then renamed: a failure leaves no partial file.

    Parameters
    ----------
    path : str or Path
        The Parquet file (created 0600; replaced when it exists).
    X, y, groups : see the module
    names : list of str
        Feature names (the product's measurements), one per column of ``X``.

    Returns
    -------
    Path

    Raises
    ------
    InvalidInputError
        The folder does not exist or cannot be written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidInputError(f"-filename {path}: folder {path.parent} does not exist; create it or give another path.")
    columns = {name: pa.array(X[:, i], pa.float64()) for i, name in enumerate(names)}
    columns["class"] = pa.array(y, pa.int64())
    if groups is not None:
        columns["group"] = pa.array(groups, pa.int64())
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as sink:
            pq.write_table(pa.table(columns), sink)
        os.replace(temp, path)
    except OSError as exc:
        raise InvalidInputError(f"-filename {path} cannot be written: {exc.strerror or exc}.") from None
    finally:
        if temp.exists():
            temp.unlink()
    return path
