"""``pca_fit``: a PCA of a product's measurements, fitted on a random pixel sample stratified by dataset.

Each dataset of the product (a tile at a date) is a stratum with an equal share of the sample:
``ceil(N / datasets)`` pixel positions drawn without replacement on its native grid (seeded), read
one dataset at a time (memory: one dataset), nodata masked, scale_factor / add_offset applied;
pixels with any measurement missing are dropped and the union is cut to N at random. The fit is
scikit-learn's ``PCA`` (full SVD); its arrays are stored in table ``antares.pca`` as JSON
(:mod:`antares.db.pca`), never pickled, with the explained variance.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError, UsageError

log = logging.getLogger(__name__)


def _values(loaded, name: str, definition: dict) -> np.ndarray:
    """Float64 values of a loaded measurement: nodata -> NaN, then scale_factor / add_offset."""
    values = np.asarray(loaded[name].values, np.float64)
    nodata = definition.get("nodata")
    if nodata is not None and not (isinstance(nodata, str) and nodata.lower() == "nan"):
        values[np.asarray(loaded[name].values) == float(nodata)] = np.nan
    return values * float(definition.get("scale_factor", 1.0)) + float(definition.get("add_offset", 0.0))


def sample_pixels(dc, datasets, measurements: list[str], definitions: dict, n: int, seed: int = 0):
    """A random sample of complete pixels, stratified by dataset (equal shares).

    Parameters
    ----------
    dc : datacube.Datacube
    datasets : list of datacube.model.Dataset
    measurements : list of str
    definitions : dict of str to dict
        Measurement definitions (nodata, scale_factor, add_offset).
    n : int
        Pixels wanted.
    seed : int

    Returns
    -------
    numpy.ndarray of float64, (<= n, len(measurements))
        Rows in random order; fewer than ``n`` when the datasets hold fewer complete pixels.
    """
    from antares.cube.load import load_on, native_geobox

    rng = np.random.default_rng(seed)
    share = math.ceil(n / len(datasets))
    rows = []
    for ds in sorted(datasets, key=lambda d: str(d.id)):  # a stable order: the sample depends on the seed only
        geobox = native_geobox([ds], measurements)
        size = geobox.shape[0] * geobox.shape[1]
        picks = rng.choice(size, size=min(share, size), replace=False)
        loaded = load_on(dc, geobox, measurements, datasets=[ds]).isel(time=0)
        table = np.stack([_values(loaded, m, definitions[m]).ravel()[picks] for m in measurements], axis=1)
        rows.append(table[np.isfinite(table).all(axis=1)])
    table = np.concatenate(rows) if rows else np.empty((0, len(measurements)))
    order = rng.permutation(len(table))[:n]
    return table[order]


def pca_fit(settings: Settings, product: str, name: str, sample: int, components: int | None = None,
            measurements: list[str] | None = None, seed: int = 0, overwrite: bool = False):
    """Fit a PCA of ``product``'s measurements on ``sample`` random pixels and store it as ``name``.

    Parameters
    ----------
    product : str
        An indexed product.
    name : str
        The PCA's name (the name rule of :mod:`antares.names`).
    sample : int
        Pixels to sample (stratified by dataset), >= 2.
    components : int, optional
        Components to keep, 1..len(measurements) (default all).
    measurements : list of str, optional
        The measurements (default every measurement of the product).
    seed : int
    overwrite : bool
        Replace a PCA of the same name.

    Returns
    -------
    antares.pca.FittedPca

    Raises
    ------
    UsageError
        A bad name, ``sample`` < 2, ``components`` outside 1..m.
    NotFoundError
        Unknown product or measurement (the known ones listed); the product has no dataset.
    AlreadyExistsError
        PCA ``name`` exists and ``overwrite`` is False.
    InvalidInputError
        The datasets hold fewer complete pixels than components + 1.
    """
    from sklearn.decomposition import PCA

    from antares.cube.catalog import find_datasets
    from antares.cube.index import connect, product_definition
    from antares.db.engine import database_url, session_scope
    from antares.db.pca import pca_exists, replace_pca
    from antares.names import check_name
    from antares.pca import FittedPca
    from antares.pipeline.run import recorded_run

    check_name(name)
    if sample < 2:
        raise UsageError(f"--sample must be at least 2 pixels. Got {sample}.")
    with recorded_run(settings, "pca_fit", name) as run:
        with session_scope(settings) as session:
            if pca_exists(session, name) and not overwrite:
                raise AlreadyExistsError(f"PCA '{name}' exists; use --overwrite to replace it or choose another --name.")
        dc = connect(database_url(settings))
        try:
            definition = product_definition(dc, product)
            definitions = {m["name"]: m for m in definition.get("measurements") or []}
            chosen = list(measurements) if measurements else list(definitions)
            unknown = [m for m in chosen if m not in definitions]
            if unknown:
                raise NotFoundError(f"product '{product}' has no measurement {', '.join(unknown)}; its measurements: "
                                    f"{', '.join(definitions)}.")
            if len(set(chosen)) != len(chosen):
                raise UsageError(f"-m lists a measurement more than once: {', '.join(chosen)}.")
            k = len(chosen) if components is None else components
            if not 1 <= k <= len(chosen):
                raise UsageError(f"--components must be in 1..{len(chosen)} (the number of measurements: "
                                 f"{', '.join(chosen)}). Got {k}.")
            datasets = find_datasets(dc, product, ensure_location=True)
            if not datasets:
                raise NotFoundError(f"product '{product}' has no dataset to sample; index some first.")
            run.start({"product": product, "sample": sample, "components": k, "measurements": chosen, "seed": seed},
                      {"product": product, "datasets": len(datasets)})
            X = sample_pixels(dc, datasets, chosen, definitions, sample, seed)
        finally:
            dc.close()
        if len(X) < k + 1:
            raise InvalidInputError(f"product '{product}' has only {len(X)} pixel(s) with every measurement of "
                                    f"{', '.join(chosen)} valid; {k + 1} at least are needed for {k} component(s).")
        estimator = PCA(n_components=k, svd_solver="full").fit(X)
        fitted = FittedPca.from_estimator(name, product, chosen, estimator, len(X))
        with session_scope(settings) as session:  # replace atomically
            if not overwrite and pca_exists(session, name):
                raise AlreadyExistsError(f"PCA '{name}' was stored by another process while this one ran; "
                                         "use --overwrite to replace it or choose another --name.")
            replace_pca(session, name, product, run.id, chosen, fitted.components.tolist(), fitted.mean.tolist(),
                        fitted.explained_variance.tolist(), fitted.explained_variance_ratio.tolist(), len(X),
                        {"seed": seed, "sample_requested": sample, "datasets": len(datasets),
                         "strata": "dataset (equal shares)", "solver": "sklearn PCA full SVD"})
            run.finish(session=session)
        return fitted


def load_pca(settings: Settings, name: str):
    """Stored PCA ``name`` as a :class:`antares.pca.FittedPca`.

    Raises
    ------
    NotFoundError
        No PCA has that name (the stored ones are listed).
    """
    from antares.db.engine import session_scope
    from antares.db.pca import pca_names, read_pca
    from antares.pca import FittedPca

    with session_scope(settings) as session:
        record = read_pca(session, name)
        if record is None:
            known = pca_names(session)
            raise NotFoundError(f"PCA '{name}' does not exist; stored PCAs: {', '.join(known) or '(none)'}. "
                                "Fit one with 'antares pca_fit'.")
    return FittedPca.from_record(record)


def pca_record(fitted) -> dict:
    """A :class:`antares.pca.FittedPca` as the plain dict :meth:`FittedPca.from_record` reads (for workers)."""
    return {"name": fitted.name, "product": fitted.product, "measurements": list(fitted.measurements),
            "n_components": fitted.n_components, "components": fitted.components.tolist(), "mean": fitted.mean.tolist(),
            "explained_variance": fitted.explained_variance.tolist(),
            "explained_variance_ratio": fitted.explained_variance_ratio.tolist(), "n_samples": fitted.n_samples}
