"""Pixel-set series of one sensor, date alignment between sensors and gap filling (numpy only).

The cube path (time-series products → pixel sets per object) and the table path
(:mod:`antares.deep.table`) both build :class:`SensorSeries`; the classifiers take a dict
``{sensor: SensorSeries}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from antares.errors import InvalidInputError, UsageError

SENSORS = ("s1", "s2")
INTERPOLATIONS = ("nn", "linear")


@dataclass(frozen=True)
class SensorSeries:
    """The pixel sets of N samples from one sensor.

    Attributes
    ----------
    values : ndarray (N, T, C, S) float32
        Samples × dates × channels × pixels; NaN = no valid value (filled by the classifier's
        normalisation with the channel mean).
    days : ndarray (T,) int64
        Day of each date, counted from a reference (1 January of the first year: day of year for one
        season), strictly increasing.
    channels : tuple of str
        Channel (measurement) names, in order.
    """

    values: np.ndarray
    days: np.ndarray
    channels: tuple

    def __post_init__(self):
        values, days = np.asarray(self.values), np.asarray(self.days)
        if values.ndim != 4:
            raise InvalidInputError(f"pixel sets must be an array (N, T, C, S); got {values.ndim} dimension(s) {values.shape}.")
        if days.ndim != 1 or len(days) != values.shape[1]:
            raise InvalidInputError(f"{len(days)} date(s) given for {values.shape[1]} time step(s) of the pixel sets.")
        if len(days) > 1 and not np.all(np.diff(days) > 0):
            raise InvalidInputError(f"the dates must increase strictly; got days {days.tolist()}.")
        if len(self.channels) != values.shape[2]:
            raise InvalidInputError(f"{len(self.channels)} channel name(s) given for {values.shape[2]} channel(s).")
        object.__setattr__(self, "values", values.astype(np.float32, copy=False))
        object.__setattr__(self, "days", days.astype(np.int64))
        object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))

    def __len__(self) -> int:
        return self.values.shape[0]

    def take(self, index) -> "SensorSeries":
        """The samples at ``index``."""
        return SensorSeries(self.values[index], self.days, self.channels)


def align_dates(values: np.ndarray, days: np.ndarray, target: np.ndarray, method: str = "nn") -> np.ndarray:
    """Values of a series resampled at other dates, along axis 1.

    Parameters
    ----------
    values : ndarray (N, T, ...) float
    days : ndarray (T,) increasing
    target : ndarray (T2,)
    method : {'nn', 'linear'}
        Nearest date (ties go to the earlier date), or linear interpolation between the two
        surrounding dates, constant beyond the ends (as :func:`numpy.interp`).

    Returns
    -------
    ndarray (N, T2, ...) float32
    """
    days, target = np.asarray(days, np.float64), np.asarray(target, np.float64)
    if method == "nn":
        right = np.clip(np.searchsorted(days, target), 0, len(days) - 1)
        left = np.clip(right - 1, 0, len(days) - 1)
        nearest = np.where(np.abs(target - days[left]) <= np.abs(days[right] - target), left, right)
        return values[:, nearest].astype(np.float32)
    if method == "linear":
        right = np.clip(np.searchsorted(days, target), 1, len(days) - 1) if len(days) > 1 else np.zeros(len(target), int)
        left = np.maximum(right - 1, 0)
        span = days[right] - days[left]
        w = np.clip(np.divide(target - days[left], span, out=np.zeros_like(target), where=span > 0), 0, 1)
        w = w.reshape((1, -1) + (1,) * (values.ndim - 2))
        return ((1 - w) * values[:, left] + w * values[:, right]).astype(np.float32)
    raise UsageError(f"--interpolate must be one of {', '.join(INTERPOLATIONS)}. Got {method!r}.")


def fill_gaps(values: np.ndarray, days: np.ndarray) -> np.ndarray:
    """NaN values of each series replaced by linear interpolation in time (constant beyond the ends).

    Parameters
    ----------
    values : ndarray (N, T, C, S) float
    days : ndarray (T,)

    Returns
    -------
    ndarray (N, T, C, S) float32
        A series without any valid value stays NaN.
    """
    out = np.array(values, dtype=np.float32)
    series = np.moveaxis(out, 1, -1).reshape(-1, out.shape[1])  # (N*C*S, T), a copy
    bad = np.isnan(series)
    for row in np.flatnonzero(bad.any(axis=1) & ~bad.all(axis=1)):
        good = ~bad[row]
        series[row, ~good] = np.interp(days[~good], days[good], series[row, good])
    n, t, c, s = out.shape
    return np.moveaxis(series.reshape(n, c, s, t), -1, 1).copy()


def arrange(sets: dict, fusion: str | None, interpolate: str = "nn"):
    """The network inputs for the sensors ``sets`` and a fusion strategy.

    Parameters
    ----------
    sets : dict {sensor: SensorSeries}
        One or two sensors with the same samples (and the same pixels per sample for early fusion).
    fusion : {'early', 'pse', 'tsa', 'decision'} or None
        Ignored (None) for one sensor. With two, the optical sensor's dates (``s2`` when present, else
        the first sensor) are the reference to which early and pse fusion align the other sensor.
    interpolate : {'nn', 'linear'}

    Returns
    -------
    mode : {'single', 'pse', 'tsa', 'decision'}
    inputs : list of SensorSeries
        early: one series, channels ``sensor:channel`` of both sensors on the reference dates.

    Raises
    ------
    UsageError
        No sensor, more than two, fusion with one sensor or without a fusion strategy.
    InvalidInputError
        Sensors with different sample counts, or different pixel counts for early fusion.
    """
    names = list(sets)
    if not names or len(names) > 2:
        raise UsageError(f"--sensors takes one or two sensors; got {len(names)} ({', '.join(names)}).")
    if len(names) == 1:
        if fusion not in (None, "none"):
            raise UsageError(f"--fusion {fusion} needs two sensors (e.g. --sensors s1,s2); got only {names[0]}.")
        return "single", [sets[names[0]]]
    if fusion not in ("early", "pse", "tsa", "decision"):
        raise UsageError(f"two sensors need --fusion early, pse, tsa or decision. Got {fusion!r}.")
    reference = "s2" if "s2" in sets else names[0]
    other = [n for n in names if n != reference][0]
    ref, oth = sets[reference], sets[other]
    if len(ref) != len(oth):
        raise InvalidInputError(f"sensors {reference} and {other} have {len(ref)} and {len(oth)} samples; they must "
                                "hold the same samples in the same order.")
    if fusion in ("tsa", "decision"):
        return fusion, [ref, oth]
    aligned = align_dates(oth.values, oth.days, ref.days, interpolate)
    if fusion == "pse":
        return "pse", [ref, SensorSeries(aligned, ref.days, oth.channels)]
    if ref.values.shape[3] != aligned.shape[3]:
        raise InvalidInputError(f"early fusion needs the same pixels in both sensors; {reference} has "
                                f"{ref.values.shape[3]} per sample, {other} {aligned.shape[3]}.")
    channels = [f"{reference}:{c}" for c in ref.channels] + [f"{other}:{c}" for c in oth.channels]
    return "single", [SensorSeries(np.concatenate([ref.values, aligned], axis=2), ref.days, channels)]
