"""One block of a time-series recipe's tile: its inputs and its regular series (:mod:`antares.pipeline.timeseries`).

Two routes give the same values: :func:`_raw_block_series` takes a median composite of input
measurements straight from the DN (no float32 reflectance arrays of the block), when
:func:`_raw_conversions` allows it; otherwise :func:`_block_inputs` makes the reflectances, masks and
indices and :func:`series_block` composites them. Both end in :func:`_regularised` (gap filling,
smoothing, the QA bands).
"""

from __future__ import annotations

import numpy as np

from antares.errors import InvalidInputError


def reflectance(raw: np.ndarray, conversion, name: str = "?") -> np.ndarray:
    """Raw values -> float32 input as :func:`antares.cube.reflectance.to_reflectance`: ``(dn + offset) * scale``, NaN = nodata.

    Raises
    ------
    InvalidInputError
        Measurement ``name`` is neither converted (no scale declared) nor floating.
    """
    if not conversion.convert:
        if raw.dtype.kind != "f":
            raise InvalidInputError(
                f"measurement {name} must be floating reflectance (0..1, NaN = nodata) or declare a scale_factor "
                f"(e.g. 0.0001 for reflectance x 10000; antares product add FILE). Got {raw.dtype}.")
        return raw.astype(np.float32)
    off = np.asarray(conversion.offset, np.float32).reshape(-1, 1, 1)
    scale = np.asarray(conversion.scale, np.float32).reshape(-1, 1, 1)
    out = (raw.astype(np.float32) + off) * scale
    nodata = conversion.nodata
    if nodata is not None and not np.isnan(nodata):
        out[raw == nodata] = np.nan
    return out


def series_block(recipe, variables: dict, valid: np.ndarray, times, steps) -> dict:
    """A block's regular series: composites per step, then gap filling and smoothing (:mod:`antares.timeseries`).

    Parameters
    ----------
    recipe : antares.recipes.Recipe
        With ``recipe.steps``.
    variables : dict of str to numpy.ndarray, (time, y, x)
        float32 inputs by variable name (the aliases and lower-case indices of ``recipe.steps.variables``,
        and ``ndvi`` for a ``max_ndvi`` composite), NaN = nodata.
    valid : numpy.ndarray of bool, (time, y, x)
        The observations to use: clear and every spectral input finite.
    times : numpy.ndarray of datetime64, (time,)
    steps : list of (datetime, datetime)

    Returns
    -------
    dict of str to numpy.ndarray of float32, (step, y, x)
        One per step variable, ``clear_count`` and ``filled`` (NaN where the pixel has no observation).
    """
    from antares.timeseries import composite, step_index

    which = step_index(times, steps)
    composites, counts = composite(variables, valid, which, len(steps), recipe.steps.composite, key="ndvi")
    return _regularised(recipe, composites, counts, steps)


def _regularised(recipe, composites: dict, counts: np.ndarray, steps) -> dict:
    """:func:`series_block` after the composites: gap filling, smoothing, the QA bands."""
    from antares.timeseries import regularise_variables, step_centres_days

    spec = recipe.steps
    t = step_centres_days(steps)
    out = {}
    flag = None
    # all variables in one pass: the Whittaker factorisations are shared where their weights are the same
    series, flags = regularise_variables({var: composites[var] for var in spec.variables}, counts, t, spec.gapfill,
                                         spec.smooth, spec.order, spec.weights)
    for var in spec.variables:
        var_flag = flags[var]
        out[var] = series[var]
        flag = var_flag if flag is None else np.maximum(flag, np.where(var_flag == 255, 0, var_flag)).astype(np.uint8)
    out["clear_count"] = counts.astype(np.float32)
    filled = flag.astype(np.float32)
    filled[flag == 255] = np.nan
    out["filled"] = filled
    return out


def _block_inputs(recipe, job, block, definitions: dict, properties: list):
    """(variables, valid) of one :class:`~antares.cube.blockread.TileBlock`."""
    from antares.pipeline.recipe import _bands, _mask_values
    from antares.recipes.indices import get_index
    from antares.recipes.masks import clear_numpy

    conversions = _bands(recipe, job.measurements, definitions, block, properties)
    values = {}
    for alias in recipe.measurements:
        name = job.measurements[alias]
        values[alias] = reflectance(block.raw[name], conversions[name], name)
    first = next(iter(values.values()))
    valid = np.ones(first.shape, bool)
    if recipe.mask is not None:
        m = recipe.mask.margin
        clear = clear_numpy(_mask_values(recipe, job.measurements, definitions, block, properties), recipe.mask)
        valid &= clear[:, m:m + first.shape[1], m:m + first.shape[2]]
    for v in values.values():
        valid &= ~np.isnan(v)
    for name in recipe.indices:
        index = get_index(name)
        with np.errstate(invalid="ignore", divide="ignore"):
            values[name.lower()] = np.asarray(index.function(*[values[a] for a in index.requires]), np.float32)
    wanted = set(recipe.steps.variables) | ({"ndvi"} if recipe.steps.composite == "max_ndvi" else set())
    invalid = ~valid
    out = {}
    for k, v in values.items():  # every array here is this block's own: masked in place
        if k in wanted:
            v[invalid] = np.nan
            out[k] = v
    return out, valid


def _raw_conversions(recipe, job, block, definitions: dict, properties: list) -> dict | None:
    """``{variable: Conversion}`` when the block's composites can be taken from its raw DN directly, else None.

    That is a median composite of input measurements only (no index among the variables), every
    input an integer DN converted to reflectance: then :func:`_raw_block_series` gives what
    :func:`_block_inputs` + :func:`series_block` give without the (time, y, x) float32 reflectances.
    """
    from antares.pipeline.recipe import _bands

    spec = recipe.steps
    if spec.composite != "median" or not set(spec.variables) <= set(recipe.measurements):
        return None
    conversions = _bands(recipe, job.measurements, definitions, block, properties)
    for alias in recipe.measurements:
        name = job.measurements[alias]
        if not conversions[name].convert or block.raw[name].dtype.kind not in "ui":
            return None
    return conversions


def _raw_block_series(recipe, job, block, conversions: dict, definitions: dict, properties: list, steps) -> dict:
    """:func:`series_block` of one block straight from its DN (see :func:`_raw_conversions`): the same values.

    The observations used are the clear ones (the mask) where no input measurement holds its
    nodata, as :func:`_block_inputs`; each variable's median is taken of ``(float32(dn) + offset) * scale``
    in one compiled pass (:func:`antares.timeseries.median_composites`).
    """
    from antares.pipeline.recipe import _mask_values
    from antares.recipes.masks import clear_numpy
    from antares.timeseries import median_composites, step_index

    first = block.raw[job.measurements[next(iter(recipe.measurements))]]
    if recipe.mask is not None:
        m = recipe.mask.margin
        clear = clear_numpy(_mask_values(recipe, job.measurements, definitions, block, properties), recipe.mask)
        valid = np.ascontiguousarray(clear[:, m:m + first.shape[1], m:m + first.shape[2]])
    else:
        valid = np.ones(first.shape, bool)
    for alias in recipe.measurements:
        name = job.measurements[alias]
        nodata = conversions[name].nodata
        if nodata is not None and not np.isnan(nodata):
            valid &= block.raw[name] != nodata
    which = step_index(block.times, steps)
    raw = {v: block.raw[job.measurements[v]] for v in recipe.steps.variables}
    conv = {v: (conversions[job.measurements[v]].offset, conversions[job.measurements[v]].scale) for v in raw}
    composites, counts = median_composites(raw, valid, which, len(steps), conv)
    return _regularised(recipe, composites, counts, steps)
