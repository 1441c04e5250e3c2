"""Model serialisation (joblib) and the checks made when a stored model is used again."""

from __future__ import annotations

import io

from antares.errors import InvalidInputError


def serialize(estimator) -> bytes:
    """The estimator pickled by joblib (zlib level 3), as bytes for the ``model.blob`` column."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump(estimator, buffer, compress=3)
    return buffer.getvalue()


def deserialize(blob: bytes):
    """An estimator from :func:`serialize`'s bytes. Only load models from your own database."""
    import joblib

    return joblib.load(io.BytesIO(bytes(blob)))


def library_versions() -> dict:
    """Versions of the libraries a stored model depends on."""
    import importlib.metadata as md

    out = {}
    for name in ("antares", "scikit-learn", "lightgbm", "numpy", "joblib", "datacube"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def check_features(model_name: str, features: list[str], available: list[str], product: str) -> list[str]:
    """The model's feature names, checked against a product's measurements.

    Raises
    ------
    InvalidInputError
        Features the product lacks, or measurements the model was not trained on (both listed).
    """
    missing = [f for f in features if f not in available]
    extra = [m for m in available if m not in features]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from the product: {', '.join(missing)}")
        if extra:
            parts.append(f"not in the model: {', '.join(extra)}")
        raise InvalidInputError(f"model {model_name} does not match product {product} ({'; '.join(parts)}); "
                                f"use a product computed with the same recipe as the model's ({len(features)} features).")
    return list(features)
