"""Temporal reducers: (time, y, x) float with NaN = not observed -> (y, x) float32.

All reducers of one variable are computed in one pass over its time series
(:func:`reduce_time`), by numpy on blocks whose time axis is whole (dask or not), without
warnings on all-NaN pixels:

=========  ==================================================================================
mean       mean of the valid observations (accumulated in float64)
median     ``p50``
min, max   smallest / largest valid observation
std        population standard deviation (ddof = 0, as ``numpy.nanstd``), two-pass
pNN        NN-th percentile, 0 <= NN <= 100, linear interpolation between order statistics
           (numpy's default ``method="linear"``, as ``numpy.nanpercentile``); ``p05`` is spelled ``p5``
count      number of valid observations; 0 (never NaN) where there is none
doy_max    day of year (1..366, of the UTC date of the ``time`` coordinate) of the largest valid
           observation; ties go to the first date in time order; NaN where there is none
=========  ==================================================================================

Every reducer but ``count`` gives NaN where a pixel has no valid observation.

A package adds a reducer with an ``antares.reducers`` entry point naming a :class:`Reducer`
(its ``function`` reduces the last axis, see :class:`Reducer`); both recipe engines call it
after their one pass over the built-in reducers.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from antares.registry import Registry

log = logging.getLogger(__name__)

_BUILTIN = ("mean", "median", "min", "max", "std", "count", "doy_max")
_PERCENTILE = re.compile(r"^p(100|[1-9]?[0-9])$")


@dataclass(frozen=True)
class Reducer:
    """A temporal reducer added by a plugin.

    Attributes
    ----------
    name : str
        Its name in a recipe's ``reducers`` (lower case, not a built-in name nor ``pNN``).
    function : callable
        ``function(values, doys) -> numpy.ndarray``: ``values`` float32 ``(..., time)`` with NaN = not
        observed, ``doys`` int ``(time,)`` days of year or None; returns ``(...)`` floats. Pixels without
        any observation are set to NaN afterwards.
    description : str
        One line.
    """

    name: str
    function: Callable
    description: str = ""


def _is_plugin_reducer(name: str, plugin) -> bool:
    return (isinstance(plugin, Reducer) and plugin.name == name and name == name.lower()
            and not _PERCENTILE.match(name) and callable(plugin.function))


#: name -> reducer: the built-in ones (computed by the engines themselves; their value is the name), then
#: :class:`Reducer` plugins of ``antares.reducers`` entry points.
REDUCERS = Registry("antares.reducers", "reducer", {name: name for name in _BUILTIN}, accepts=_is_plugin_reducer)


def plugin_reducer(name: str) -> Reducer | None:
    """The :class:`Reducer` plugin ``name``, or None for a built-in reducer (or ``pNN``)."""
    plugin = REDUCERS[name] if name in REDUCERS else None
    return plugin if isinstance(plugin, Reducer) else None


def is_reducer(name: str) -> bool:
    """True if ``name`` is a reducer: one of :data:`REDUCERS` or ``pNN`` (``p0`` .. ``p100``)."""
    return name in REDUCERS or bool(_PERCENTILE.match(name))


def valid_reducers_text() -> str:
    """The valid reducer names, for error messages."""
    return ", ".join(sorted(REDUCERS)) + ", p0..p100 (e.g. p10, p90)"


def _percentile(ordered: np.ndarray, count: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolation percentile ``q`` (0..100) of each row's first ``count`` values of ``ordered``."""
    rank = (count - 1).clip(0) * (q / 100.0)
    low = np.floor(rank).astype(np.intp)
    high = np.minimum(low + 1, (count - 1).clip(0))
    a = np.take_along_axis(ordered, low[..., None], axis=-1)[..., 0].astype(np.float64)
    b = np.take_along_axis(ordered, high[..., None], axis=-1)[..., 0].astype(np.float64)
    return a + (b - a) * (rank - low)


def reduce_time(values: np.ndarray, reducers: tuple[str, ...], doys: np.ndarray | None = None) -> np.ndarray:
    """Reduce the last axis (time) of ``values`` with each of ``reducers``.

    Parameters
    ----------
    values : numpy.ndarray, (..., time), floating
        NaN = not observed (masked or nodata).
    reducers : tuple of str
        Names accepted by :func:`is_reducer`.
    doys : numpy.ndarray of int, (time,), optional
        Day of year of each date; required for ``doy_max``.

    Returns
    -------
    numpy.ndarray of float32, (..., len(reducers))
    """
    valid = ~np.isnan(values)
    count = valid.sum(axis=-1)
    empty = count == 0
    cache: dict[str, np.ndarray] = {}

    def mean() -> np.ndarray:
        if "mean" not in cache:
            total = np.where(valid, values, 0).sum(axis=-1, dtype=np.float64)
            cache["mean"] = total / np.maximum(count, 1)
        return cache["mean"]

    def ordered() -> np.ndarray:
        if "sorted" not in cache:
            cache["sorted"] = np.sort(values, axis=-1)  # NaN sorts last
        return cache["sorted"]

    out = np.empty(values.shape[:-1] + (len(reducers),), dtype=np.float32)
    for i, name in enumerate(reducers):
        if name == "mean":
            result = mean()
        elif name == "count":
            out[..., i] = count
            continue
        elif name == "min":
            result = np.where(valid, values, np.inf).min(axis=-1)
        elif name == "max":
            result = np.where(valid, values, -np.inf).max(axis=-1)
        elif name == "std":
            deviation = np.where(valid, values - mean()[..., None].astype(values.dtype), 0)
            result = np.sqrt(np.square(deviation).sum(axis=-1, dtype=np.float64) / np.maximum(count, 1))
        elif name == "doy_max":
            first = np.where(valid, values, -np.inf).argmax(axis=-1)  # argmax: first of ties
            result = np.asarray(doys, dtype=np.float64)[first]
        elif plugin_reducer(name) is not None:
            result = plugin_reducer(name).function(values, doys)
        else:
            q = 50.0 if name == "median" else float(name[1:])
            result = _percentile(ordered(), count, q)
        out[..., i] = np.where(empty, np.nan, result)
    return out


def reduce_variable(variable, reducers: tuple[str, ...], doys=None) -> list:
    """:func:`reduce_time` on a DataArray over ``time``, numpy- or dask-backed.

    Parameters
    ----------
    variable : xarray.DataArray, (time, y, x), floating, NaN = not observed
        If dask-backed, its ``time`` axis must be one chunk (the recipe rechunks it).
    reducers : tuple of str
    doys : numpy.ndarray of int, (time,), optional
        Day of year of each date, for ``doy_max``.

    Returns
    -------
    list of xarray.DataArray, (y, x), float32
        One per reducer, named ``<variable>_<reducer>``, with the non-time coordinates of ``variable``.
    """
    import xarray as xr

    stacked = xr.apply_ufunc(
        reduce_time, variable,
        input_core_dims=[["time"]], output_core_dims=[["reducer"]],
        kwargs={"reducers": tuple(reducers), "doys": doys},
        dask="parallelized", output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"reducer": len(reducers)}},
    )
    return [stacked.isel(reducer=i).rename(f"{variable.name}_{name}") for i, name in enumerate(reducers)]
