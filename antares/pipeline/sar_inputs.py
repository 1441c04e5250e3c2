"""The S1 inputs of a recipe's ``s1:`` section: the product's VV/VH measurements, its datasets of the period
filtered by orbit (``s1.orbit``, ``s1.relative_orbit``), and per block the backscatter on the output grid.

Shared by the reducer recipes (:mod:`antares.pipeline.recipe`) and the ``steps:`` recipes
(:mod:`antares.pipeline.timeseries`).
"""

from __future__ import annotations

import logging

from antares.errors import InvalidInputError

log = logging.getLogger(__name__)


def filter_orbits(datasets: list, recipe) -> list:
    """The datasets that pass the orbit filter of ``recipe.sar`` (all when it has none).

    A dataset passes when its ``sat:orbit_state`` equals ``s1.orbit`` (if given) and its ``sat:relative_orbit``
    is one of ``s1.relative_orbit`` (if given); a dataset that does not record what is filtered on does not pass.

    Parameters
    ----------
    datasets : list of datacube.model.Dataset
        The S1 datasets of the period and area (not empty).
    recipe : antares.recipes.Recipe
        With an ``s1`` section (:class:`antares.recipes.specs.SarSpec`).

    Returns
    -------
    list of datacube.model.Dataset

    Raises
    ------
    InvalidInputError
        No dataset passes: the message names the product, the filter and the orbits the datasets have.
    """
    from antares.recipes.sar import orbit_of

    sar = recipe.sar
    if not sar.filtered:
        return datasets
    orbits = [orbit_of(d.metadata_doc.get("properties", {})) for d in datasets]
    kept = [d for d, (state, relative) in zip(datasets, orbits)
            if (sar.orbit is None or state == sar.orbit) and (not sar.relative_orbits or relative in sar.relative_orbits)]
    if not kept:
        found = {}
        for state, relative in orbits:
            found.setdefault(state or "direction unknown", set()).add(relative)
        available = "; ".join(f"{state} (relative orbits {', '.join(str(r) for r in sorted(r for r in rel if r)) or 'unknown'})"
                              for state, rel in sorted(found.items()))
        raise InvalidInputError(
            f"recipe {recipe.name}: no dataset of {sar.product} in the area and period has {sar.filter_text()}; "
            f"its {len(datasets)} dataset(s) there: {available}. Change s1.orbit / s1.relative_orbit, or index S1 "
            "with its orbit (sat:orbit_state, sat:relative_orbit: see docs/timeseries.md).")
    log.info("recipe %s: %d of %d %s dataset(s) have %s", recipe.name, len(kept), len(datasets), sar.product,
             sar.filter_text())
    return kept


def s1_inputs(dc, recipe, area, begin: str, end: str) -> tuple[tuple[str, str], bool, list]:
    """``((VV, VH) measurement names, holds dB, datasets)`` of the recipe's S1 product over the area and period,
    filtered by orbit (:func:`filter_orbits`).

    Raises
    ------
    NotFoundError
        The product has no dataset there (its time span is given).
    InvalidInputError
        The product lacks VV or VH or declares other units; no dataset passes the orbit filter.
    """
    from antares.cube.index import product_definition
    from antares.pipeline.recipe import period_datasets
    from antares.pipeline.timeseries import sar_measurements

    names, db = sar_measurements(recipe, product_definition(dc, recipe.sar.product))
    return names, db, filter_orbits(period_datasets(dc, recipe.sar.product, area, begin, end), recipe)


def load_backscatter(dc, geobox, names: tuple[str, str], datasets: list, resampling: str):
    """VV and VH of ``datasets`` on ``geobox`` as float32 ``(time, y, x)`` arrays, declared nodata as NaN.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        As the product stores them (dB or linear power), one time step per acquisition time.
    """
    import numpy as np

    from antares.cube.load import load_on

    loaded = load_on(dc, geobox, list(names), datasets=datasets, resampling=resampling)
    out = []
    for name in names:
        values = np.asarray(loaded[name].values, np.float32)
        nodata = loaded[name].attrs.get("nodata")
        if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
            values = np.where(loaded[name].values == nodata, np.float32(np.nan), values)
        out.append(values)
    return out[0], out[1]
