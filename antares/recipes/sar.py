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
