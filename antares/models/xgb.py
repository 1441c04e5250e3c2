"""The ``xgb`` model: XGBoost's gradient-boosted trees (Chen & Guestrin 2016) on legend codes, stored as XGBoost UBJSON.

:class:`XGBoostClassifier` wraps ``xgboost.XGBClassifier`` so that it takes what the other models take:
``y`` holds legend codes (XGBoost wants ``0 .. K-1``; the codes are encoded with ``numpy.unique`` and
``classes_`` holds them back), ``fit(X, y, categorical=...)`` marks columns as XGBoost native categorical
features. Its state (what :mod:`skops.io` stores and reads back) is plain values: the parameters, the
classes and the booster as XGBoost's own UBJSON model (``Booster.save_raw("ubj")``) -- never a pickle and
never XGBoost's memory snapshot. Reading it back builds a new ``XGBClassifier`` with ``load_model``, which
parses the model and runs nothing written into it.

Example
-------
>>> import numpy as np
>>> from antares.models.xgb import XGBoostClassifier
>>> X = np.random.default_rng(0).random((40, 3)); y = np.repeat([10, 20], 20); X[y == 20] += 1
>>> model = XGBoostClassifier(n_estimators=5).fit(X, y)
>>> model.classes_.tolist(), model.predict_proba(X).shape
([10, 20], (40, 2))
"""

from __future__ import annotations

import numpy as np

#: XGBClassifier parameters that XGBoostClassifier sets itself (from ``fit``'s ``categorical``)
_OWN = ("enable_categorical", "feature_types")


class XGBoostClassifier:
    """``xgboost.XGBClassifier`` on legend codes, with native categorical columns and a UBJSON state.

    Parameters
    ----------
    **params
        ``XGBClassifier`` parameters (declared in :mod:`antares.models.registry`, checked there).

    Attributes
    ----------
    classes_ : ndarray (k,) int64
        The legend codes, sorted; column ``i`` of :meth:`predict_proba` is ``classes_[i]``.
    model_ : xgboost.XGBClassifier
        The fitted estimator (labels ``0 .. k-1``).
    categorical_ : tuple of int
        Indices of the columns fitted as categorical features.
    """

    def __init__(self, **params):
        bad = [k for k in params if k in _OWN]
        if bad:
            raise TypeError(f"XGBoostClassifier sets {', '.join(bad)} itself; pass fit(..., categorical=[columns]).")
        self.params = dict(params)

    def get_params(self, deep: bool = True) -> dict:
        """The parameters given at construction (scikit-learn's contract)."""
        return dict(self.params)

    def set_params(self, **params):
        """Update parameters (scikit-learn's contract), of the fitted model too (e.g. ``n_jobs``); returns self."""
        self.params.update(params)
        if hasattr(self, "model_"):
            self.model_.set_params(**params)
        return self

    @property
    def n_jobs(self):
        """Threads of fit and predict (None: XGBoost's default, all cores)."""
        return self.params.get("n_jobs")

    def fit(self, X, y, categorical=()):
        """Fit on ``X`` (n, f) float and legend codes ``y`` (n,) int.

        Parameters
        ----------
        X : ndarray (n, f)
            Features; NaN is XGBoost's missing value. A categorical column holds non-negative
            integer category codes (as floats).
        y : ndarray (n,) int
            Legend codes (any integers).
        categorical : sequence of int
            Columns XGBoost treats as native categorical features (``feature_types='c'``).

        Returns
        -------
        XGBoostClassifier
            self

        Raises
        ------
        ValueError
            A categorical column holds negative or non-integer values (XGBoost's message), or
            fewer than two classes.
        """
        from xgboost import XGBClassifier

        X = np.asarray(X, dtype=np.float64)
        self.classes_, encoded = np.unique(np.asarray(y), return_inverse=True)
        self.categorical_ = tuple(sorted(int(c) for c in categorical))
        extra = {}
        if self.categorical_:
            extra = {"enable_categorical": True,
                     "feature_types": ["c" if i in self.categorical_ else "q" for i in range(X.shape[1])]}
        self.model_ = XGBClassifier(**self.params, **extra).fit(X, encoded)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, k) float, columns in the order of ``classes_``."""
        return self.model_.predict_proba(np.asarray(X, dtype=np.float64))

    def predict(self, X) -> np.ndarray:
        """The most probable legend code of each row, (n,) int64."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __getstate__(self) -> dict:
        state = {"params": self.params}
        if hasattr(self, "model_"):
            state.update(classes_=np.asarray(self.classes_), categorical_=list(self.categorical_),
                         n_features_in_=int(self.n_features_in_),
                         ubj=bytes(self.model_.get_booster().save_raw(raw_format="ubj")))
        return state

    def __setstate__(self, state: dict) -> None:
        self.params = dict(state["params"])
        if "ubj" in state:
            from xgboost import XGBClassifier

            model = XGBClassifier()
            model.load_model(bytearray(state["ubj"]))
            if self.params.get("n_jobs") is not None:  # threads are not part of XGBoost's model
                model.set_params(n_jobs=self.params["n_jobs"])
            self.model_ = model
            self.classes_ = np.asarray(state["classes_"])
            self.categorical_ = tuple(int(c) for c in state["categorical_"])
            self.n_features_in_ = int(state["n_features_in_"])
