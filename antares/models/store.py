"""Model serialisation in a format that cannot run code on load, and the checks made when a stored model is used again.

A fitted estimator is stored with :mod:`skops.io` (a zip of JSON and ``.npy`` arrays):
loading rebuilds only the types skops trusts by default (scikit-learn estimators, numpy
arrays, Python builtins) and those of :data:`TRUSTED_TYPES`; any other type in a blob is
refused before anything is built, naming the type. Blobs written by earlier versions
of antares are joblib pickles, which run arbitrary code when loaded: they are loaded only when
the caller says it trusts the database (``--trust-pickle``), and then re-saved with skops.
"""

from __future__ import annotations

import io
import logging
import zipfile

from antares.errors import InvalidInputError, UntrustedModelError

log = logging.getLogger(__name__)

FORMAT = "skops"
PICKLE = "pickle"
SAFETENSORS = "safetensors"  # the temporal deep models (antares.deep.classifier): weights + JSON config
ZIP_MAGIC = b"PK\x03\x04"
#: a library installed under another distribution name (XGBoost's CPU-only wheel is ``xgboost-cpu``)
DISTRIBUTIONS = {"xgboost": ("xgboost", "xgboost-cpu")}
# Types that skops does not trust by default but that antares' estimators hold; each is rebuilt
# from arrays and plain values (a tree's node arrays; LightGBM's own text model string).
TRUSTED_TYPES = (
    "sklearn.tree._tree.Tree",  # the trees of RandomForestClassifier
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.basic.Booster",  # restored from LightGBM's text model (Booster.__setstate__)
    "collections.OrderedDict",  # LGBMClassifier's evaluation results
    "antares.models.xgb.XGBoostClassifier",  # its state: parameters, classes and XGBoost's UBJSON model (load_model)
)
LIBRARIES = ("antares", "scikit-learn", "lightgbm", "xgboost", "skops", "numpy", "datacube", "torch", "safetensors")


#: sklearn's vendored array-API adapters for torch and dask: packages that only import their library
SKLEARN_ARRAY_ADAPTERS = ("sklearn.externals.array_api_compat.torch", "sklearn.externals.array_api_compat.dask")


def _skops_io():
    """:mod:`skops.io`, imported without importing torch and dask.

    Importing ``skops.io`` lists scikit-learn's estimators (``sklearn.utils.all_estimators``),
    which walks every scikit-learn package with ``pkgutil.walk_packages``. The walk imports the
    packages it enters, ``sklearn.externals`` too, although ``all_estimators`` then skips it, so
    it imports the vendored array-API adapters for torch and dask and, through them, torch and
    dask.array: seconds (most of ``model_predict_object``'s start-up) for no estimator. While
    ``skops.io`` is first imported, these two adapter packages are marked absent in
    ``sys.modules`` (the walk skips a package whose import fails); the list of estimator types
    skops trusts is the same (a test compares it with a plain import), and the marks are removed
    afterwards, so a later array-API use of torch imports its adapter normally.
    """
    import importlib
    import sys

    if "skops.io" not in sys.modules:
        masked = [name for name in SKLEARN_ARRAY_ADAPTERS if name not in sys.modules]
        for name in masked:
            sys.modules[name] = None
        try:
            importlib.import_module("skops.io")
        finally:
            for name in masked:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]
    import skops.io as sio

    return sio


def serialize(estimator) -> bytes:
    """The estimator as a skops blob (zip, deflate), for the ``model.blob`` column.

    Raises
    ------
    UntrustedModelError
        The estimator holds a type that :func:`deserialize` would refuse (named): it is
        not stored, so that no model is written that cannot be read back.
    """
    sio = _skops_io()
    blob = sio.dumps(estimator, compression=zipfile.ZIP_DEFLATED)
    _check_types(blob, type(estimator).__name__)
    return blob


def blob_format(blob: bytes) -> str:
    """``"skops"`` for a skops zip, ``"safetensors"`` for a deep model, else ``"pickle"`` (earlier antares' joblib blobs)."""
    if bytes(blob[:4]) == ZIP_MAGIC:
        return FORMAT
    from antares.deep.classifier import is_safetensors

    return SAFETENSORS if is_safetensors(blob) else PICKLE


def deserialize(blob: bytes, name: str = "model", trust_pickle: bool = False):
    """An estimator from :func:`serialize`'s bytes (or a deep model's safetensors); a legacy pickle only with ``trust_pickle``.

    Parameters
    ----------
    blob : bytes
        A skops zip, or a joblib pickle written by an earlier antares.
    name : str
        The model's name, for messages.
    trust_pickle : bool
        Load a pickle. A pickle runs any code its writer put into it: only for a database
        that no one else can write to.

    Raises
    ------
    UntrustedModelError
        A pickle without ``trust_pickle``, or a skops blob holding a type outside the
        trusted ones (named). Nothing in the blob is executed.
    InvalidInputError
        The blob is neither a readable skops file nor a pickle.
    """
    blob = bytes(blob)
    if blob_format(blob) == SAFETENSORS:
        from antares.deep.classifier import from_bytes

        return from_bytes(blob, name)
    if blob_format(blob) == PICKLE:
        if not trust_pickle:
            raise UntrustedModelError(
                f"model '{name}' is stored as a pickle (by an earlier antares), which runs any code written into the database "
                "when loaded; refused. If only you can write to this database, re-run with --trust-pickle once: "
                "the model is then re-saved in the safe skops format.")
        import joblib

        try:
            return joblib.load(io.BytesIO(blob))
        except Exception as exc:  # a truncated or foreign blob: joblib/pickle raise many types
            raise InvalidInputError(f"model '{name}' cannot be read as a pickle: {type(exc).__name__}: {exc}"[:300]) from None
    sio = _skops_io()
    _check_types(blob, name)
    try:
        return sio.loads(blob, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises TypeError/ValueError/KeyError for a damaged file
        raise InvalidInputError(f"model '{name}' cannot be read as a skops file: {type(exc).__name__}: {exc}"[:300]) from None


def _check_types(blob: bytes, name: str) -> None:
    """Refuse a skops blob holding types that neither skops nor :data:`TRUSTED_TYPES` trust."""
    sio = _skops_io()
    try:
        found = sio.get_untrusted_types(data=blob)
    except Exception as exc:  # not a zip, no schema.json, a malformed schema
        raise InvalidInputError(f"model '{name}' is not a readable skops file: {type(exc).__name__}: {exc}"[:300]) from None
    untrusted = [t for t in found if t not in TRUSTED_TYPES]
    if untrusted:
        shown = ", ".join(untrusted)
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        raise UntrustedModelError(f"model '{name}' holds type(s) antares does not load: {shown}; refused "
                                  "(only scikit-learn, LightGBM and XGBoost estimators are loaded). Refit the model with 'antares model_fit'.")


def library_versions() -> dict:
    """Versions of the libraries a stored model depends on ({name: version or None})."""
    import importlib.metadata as md

    out = {}
    for name in LIBRARIES:
        out[name] = None
        for distribution in DISTRIBUTIONS.get(name, (name,)):
            try:
                out[name] = md.version(distribution)
                break
            except md.PackageNotFoundError:
                continue
    return out


def check_versions(name: str, stored: dict, libraries, installed: dict | None = None) -> list[str]:
    """Compare the versions a model was stored with against the installed ones.

    Parameters
    ----------
    name : str
        The model's name, for messages.
    stored : dict
        {library: version} from the model's metadata (``meta["versions"]``).
    libraries : iterable of str
        The libraries the model needs (e.g. scikit-learn, and lightgbm for a LightGBM model).
    installed : dict, optional
        {library: version}; default :func:`library_versions`.

    Returns
    -------
    list of str
        One warning per library whose minor version differs (also logged).

    Raises
    ------
    InvalidInputError
        A library's major version differs (both versions named): its estimators may be
        read wrongly or not at all. A library missing in this environment is refused too.
    """
    installed = library_versions() if installed is None else installed
    warnings = []
    for library in libraries:
        then, now = (stored or {}).get(library), installed.get(library)
        if not then:
            continue  # not recorded (a model stored before that library was used)
        if not now:
            raise InvalidInputError(f"model '{name}' needs {library} (stored with {then}), which is not installed; "
                                    f"install {library}=={then}.")
        major_then, minor_then = _major_minor(then)
        major_now, minor_now = _major_minor(now)
        if major_then != major_now:
            raise InvalidInputError(f"model '{name}' was stored with {library} {then}; this environment has {library} "
                                    f"{now} (another major version, which may read it wrongly). Install {library}=={then} "
                                    "or refit the model with 'antares model_fit'.")
        if minor_then != minor_now:
            message = (f"warning: model '{name}' was stored with {library} {then}; this environment has {now} "
                       "(another minor version): predictions may differ slightly.")
            log.warning(message)
            warnings.append(message)
    return warnings


def _major_minor(version: str) -> tuple[int, int]:
    """(major, minor) of a PEP 440 version string."""
    from packaging.version import InvalidVersion, Version

    try:
        release = Version(version).release
    except InvalidVersion:
        raise InvalidInputError(f"'{version}' is not a version number (stored with a model).") from None
    return release[0], (release[1] if len(release) > 1 else 0)


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
