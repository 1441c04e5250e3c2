"""Sentinel-1 backscatter features: dB <-> linear power, composites in linear power, VH/VV ratio and dual-pol RVI.

Backscatter (sigma0 or gamma0) is averaged in linear power, never in dB: the mean of dB values is the
log of the geometric mean and is biased low wherever speckle varies (Ulaby & Long 2014, ch. 5). The
features are shown in dB (``10 log10(power)``) except the RVI, which is a ratio of powers in 0..1.

The dual-polarisation radar vegetation index (Trudel et al. 2012; Nasirzadehdizaji et al. 2019,
Applied Sciences 9(4) 655, eq. 2): ``RVI = 4 VH / (VV + VH)`` with VV and VH in linear power.
"""

from __future__ import annotations

import numpy as np

from antares.errors import InvalidInputError

#: The S1 features a recipe may ask for, and their units.
SAR_FEATURES = {"vv": "dB", "vh": "dB", "vh_vv": "dB", "rvi": "1"}


def db_to_linear(db: np.ndarray) -> np.ndarray:
    """Linear power of backscatter in dB: ``10 ** (dB / 10)``; NaN stays NaN. float32 in, float32 out."""
    return np.power(np.float32(10.0), np.asarray(db, np.float32) / np.float32(10.0))


def linear_to_db(power: np.ndarray) -> np.ndarray:
    """Backscatter in dB of linear power: ``10 log10(power)``; NaN where power is NaN or <= 0 (no echo, nodata)."""
    power = np.asarray(power, np.float32)
    out = np.full(power.shape, np.nan, np.float32)
    with np.errstate(invalid="ignore"):
        positive = power > 0
    out[positive] = np.float32(10.0) * np.log10(power[positive])
    return out


def composite_db(db: np.ndarray, axis: int = 0, how: str = "mean") -> np.ndarray:
    """A temporal composite of backscatter given in dB, computed in linear power and returned in dB.

    Parameters
    ----------
    db : numpy.ndarray, floating, dB, NaN = nodata
    axis : int
        The time axis.
    how : {"mean", "median"}
        The mean of the linear powers (the unbiased choice), or their median (a monotone transform: the same
        as the median in dB for an odd count).

    Returns
    -------
    numpy.ndarray of float32, dB, ``db``'s shape without ``axis``; NaN where no observation.

    Raises
    ------
    InvalidInputError
        ``how`` is neither mean nor median.
    """
    if how not in ("mean", "median"):
        raise InvalidInputError(f"The 'how' parameter of composite_db must be mean or median. Got {how!r}.")
    power = db_to_linear(db)
    valid = ~np.isnan(power)
    count = valid.sum(axis=axis)
    with np.errstate(invalid="ignore"):
        if how == "mean":
            reduced = np.where(valid, power, 0).sum(axis=axis, dtype=np.float64) / np.where(count > 0, count, 1)
        else:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
                reduced = np.nanmedian(power, axis=axis)
    reduced = np.where(count > 0, reduced, np.nan)
    return linear_to_db(reduced.astype(np.float32))


def sar_features(vv_power: np.ndarray, vh_power: np.ndarray, names=tuple(SAR_FEATURES)) -> dict:
    """S1 features from VV and VH linear power.

    Parameters
    ----------
    vv_power, vh_power : numpy.ndarray, floating, linear power, same shape, NaN = nodata
    names : iterable of str
        A subset of :data:`SAR_FEATURES`: ``vv`` and ``vh`` in dB, ``vh_vv`` = 10 log10(VH / VV) (dB), ``rvi`` =
        4 VH / (VV + VH).

    Returns
    -------
    dict of str to numpy.ndarray of float32
        NaN where either input is NaN (or, for the dB features, not positive).

    Raises
    ------
    InvalidInputError
        An unknown feature name, or inputs of different shapes.
    """
    vv = np.asarray(vv_power, np.float32)
    vh = np.asarray(vh_power, np.float32)
    if vv.shape != vh.shape:
        raise InvalidInputError(f"sar_features: VV and VH must have the same shape. Got {vv.shape} and {vh.shape}.")
    unknown = [n for n in names if n not in SAR_FEATURES]
    if unknown:
        raise InvalidInputError(f"unknown S1 feature(s) {', '.join(unknown)}; valid: {', '.join(SAR_FEATURES)}.")
    out = {}
    both = ~(np.isnan(vv) | np.isnan(vh))
    for name in names:
        if name == "vv":
            out[name] = np.where(both, linear_to_db(vv), np.nan).astype(np.float32)
        elif name == "vh":
            out[name] = np.where(both, linear_to_db(vh), np.nan).astype(np.float32)
        elif name == "vh_vv":
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = linear_to_db(np.where(both & (vv > 0), vh / vv, np.nan))
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                total = vv + vh
                out[name] = np.where(both & (total > 0), 4 * vh / total, np.nan).astype(np.float32)
    return out


#: Reducers of backscatter over a period in a reducer recipe (``s1.reducers``): quantities of power, so that each
#: result is a power again and can be shown in dB (``std`` and ``count`` are not; ``doy_max`` is not a power).
SAR_REDUCERS_TEXT = "mean, median, min, max, p0..p100 (e.g. p10, p90)"


def is_sar_reducer(name: str) -> bool:
    """True if ``name`` reduces backscatter in a reducer recipe: mean, median, min, max or ``pNN``."""
    from antares.recipes.reducers import _PERCENTILE

    return name in ("mean", "median", "min", "max") or bool(_PERCENTILE.match(name))


def reduce_backscatter(vv, vh, reducers, features=tuple(SAR_FEATURES), db: bool = True) -> dict:
    """Temporal statistics of S1 backscatter over a period, computed in linear power and shown in dB.

    VV and VH are converted to linear power (when given in dB); an observation counts where both are valid;
    each reducer is applied per pixel over time to the powers (:func:`antares.recipes.reducers.reduce_time`:
    mean in float64, percentiles by numpy's linear interpolation between order statistics); then the features
    of :func:`sar_features` are formed from the reduced VV and VH powers: ``vv``/``vh`` the reduced power in dB,
    ``vh_vv`` = 10 log10(r(VH) / r(VV)) in dB, ``rvi`` = 4 r(VH) / (r(VV) + r(VH)) (dual-pol RVI, Trudel et al.
    2012). The mean of dB values would be the log of the geometric mean, biased low (Ulaby & Long 2014, ch. 5):
    ``s1_vv_mean`` is ``10 log10(mean(10 ** (dB / 10)))``, not ``mean(dB)``.

    Parameters
    ----------
    vv, vh : numpy.ndarray, (time, y, x), floating, NaN = nodata
        Backscatter in dB (``db=True``) or linear power.
    reducers : sequence of str
        Names accepted by :func:`is_sar_reducer`.
    features : sequence of str
        A subset of :data:`SAR_FEATURES`.
    db : bool
        Whether ``vv`` and ``vh`` are in dB.

    Returns
    -------
    dict of str to numpy.ndarray of float32, (y, x)
        ``s1_<feature>_<reducer>`` for every feature and reducer (feature-major); NaN where a pixel has no
        observation with both polarisations.

    Raises
    ------
    InvalidInputError
        An unknown reducer or feature, or VV and VH of different shapes.
    """
    from antares.recipes.reducers import reduce_time

    bad = [r for r in reducers if not is_sar_reducer(r)]
    if bad:
        raise InvalidInputError(f"unknown S1 reducer(s) {', '.join(bad)}; valid: {SAR_REDUCERS_TEXT}.")
    vv = db_to_linear(vv) if db else np.asarray(vv, np.float32)
    vh = db_to_linear(vh) if db else np.asarray(vh, np.float32)
    if vv.shape != vh.shape or vv.ndim != 3:
        raise InvalidInputError(f"reduce_backscatter: VV and VH must be (time, y, x) of one shape. Got {vv.shape} "
                                f"and {vh.shape}.")
    both = ~(np.isnan(vv) | np.isnan(vh))
    reduced = [reduce_time(np.moveaxis(np.where(both, p, np.float32(np.nan)), 0, -1), tuple(reducers))
               for p in (vv, vh)]
    per_reducer = {r: sar_features(reduced[0][..., i], reduced[1][..., i], features) for i, r in enumerate(reducers)}
    return {f"s1_{f}_{r}": per_reducer[r][f] for f in features for r in reducers}


def orbit_of(properties: dict) -> tuple:
    """``(orbit state, relative orbit)`` of an S1 dataset from its eo3 properties (STAC ``sat`` extension:
    ``sat:orbit_state`` ascending/descending, ``sat:relative_orbit``); None for what it does not record."""
    state = properties.get("sat:orbit_state")
    relative = properties.get("sat:relative_orbit")
    try:
        relative = int(relative) if relative is not None and not isinstance(relative, bool) else None
    except (TypeError, ValueError):
        relative = None
    return (str(state).lower() if state else None, relative)
