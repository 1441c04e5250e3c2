"""Classifiers for object- and pixel-based land-cover mapping (scikit-learn estimator contract).

``rf`` is scikit-learn's RandomForestClassifier, ``lightgbm`` LightGBM's LGBMClassifier.
Parameters are checked against the declarations of :mod:`antares.models.registry`; models are stored with skops (a
format that cannot run code on load) plus JSON metadata (see :mod:`antares.models.store`).
"""

from antares.models.registry import MODELS, estimator_params, make_estimator, parse_params

__all__ = ["MODELS", "estimator_params", "make_estimator", "parse_params"]
