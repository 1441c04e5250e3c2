"""Monitoring of time series for breaks with the ``nrt`` package (JRC): EWMA, CuSum, MoSum, CCDC, IQR.

A monitoring method fits a harmonic (and trend) regression to each pixel's clear observations of a
*history* period, then follows the observations of a *monitoring* period one date at a time and
confirms a break where its process value (the EWMA of the residuals, their cumulative or moving sum,
a run of outliers) leaves the boundary fitted on the history. The methods are ``nrt``'s classes
(``nrt.monitor.ewma.EWMA`` ...); :func:`monitor_array` runs one on an array exactly as ``nrt``'s own
``fit`` / ``monitor`` loop does, and adds what ``nrt`` does not report: the magnitude of the break
(observed minus predicted on the date the break is confirmed).

Methods are plugins: the registry :data:`METHODS` (entry-point group ``antares.monitor_methods``)
holds :class:`MonitorMethod` objects; ``antares monitor --method NAME -extra k=v`` picks one and sets
its declared parameters.

Monitoring states (``nrt``'s mask codes, the ``state`` output):

====  =====================================================================
0     not monitored (no clear observation in the history)
1     monitored, no break confirmed
2     unstable history (the stable-history test of ROC / CCDC-stable failed)
3     confirmed break
4     too few clear observations in the history to fit the regression
====  =====================================================================

References: Brooks et al. 2014 (EWMA, IEEE TGRS 52(6)); Verbesselt et al. 2012 and Zeileis 2005
(MoSum / CuSum monitoring, RSE 123); Zhu & Woodcock 2014 (CCDC, RSE 144); nrt: Dutrieux et al.,
JOSS 2024, https://github.com/ec-jrc/nrt.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from antares.errors import InvalidInputError
from antares.params import bool_param, check_params, float_param, int_param
from antares.registry import Registry

log = logging.getLogger(__name__)

#: ``state`` codes (nrt's mask values) and their meaning.
STATES = {0: "not monitored", 1: "monitored, no break", 2: "unstable history", 3: "confirmed break",
          4: "too few clear observations in the history"}
BREAK = 3
EPOCH = np.datetime64("1970-01-01", "D")


def _common_params(harmonic_order: int, sensitivity: float, sensitivity_text: str) -> tuple:
    return (
        bool_param("trend", True, description="Fit a linear trend besides the harmonics."),
        int_param("harmonic_order", harmonic_order, 0, 4,
                  description="Number of harmonics (1 = annual, 2 = annual + semi-annual, ...)."),
        float_param("sensitivity", sensitivity, 0, low_open=True, description=sensitivity_text),
    )


@dataclass(frozen=True)
class MonitorMethod:
    """One ``nrt`` monitoring method: its class, declared parameters and how it fits the history.

    Attributes
    ----------
    name : str
        Lower-case name (``ewma``).
    description, reference : str
    cls : str
        ``"module:Class"`` of the ``nrt`` class (imported on use).
    params : tuple of antares.params.Param
        Parameters of the class (``trend``, ``harmonic_order``, ``sensitivity``, ...); values are
        passed to its constructor.
    fit_params : tuple of antares.params.Param
        Parameters of its ``fit`` (passed as keywords).
    fit_fixed : dict
        Keywords always passed to ``fit`` (e.g. CCDC without its green/SWIR outlier screening).
    """

    name: str
    description: str
    reference: str
    cls: str
    params: tuple
    fit_params: tuple = ()
    fit_fixed: dict = field(default_factory=dict)

    @property
    def all_params(self) -> tuple:
        """The class's then the fit's parameters, as ``antares monitor_params`` lists them."""
        return tuple(self.params) + tuple(self.fit_params)

    def check(self, values: dict) -> dict[str, Any]:
        """Every parameter's value, checked (:func:`antares.params.check_params`); raises UsageError."""
        return check_params(self.all_params, values, self.name)

    def regressors(self, values: dict) -> int:
        """Columns of the design matrix: intercept, trend (if any) and 2 per harmonic."""
        return 1 + int(bool(values["trend"])) + 2 * int(values["harmonic_order"])

    def minimum_observations(self, values: dict) -> int:
        """The fewest clear history observations a pixel needs: ``nrt`` masks series shorter than 1.5 x the regressors."""
        return math.ceil(1.5 * self.regressors(values))

    def build(self, values: dict, mask: np.ndarray | None = None):
        """The ``nrt`` monitoring object with the class's parameter values (``mask``: pixels to monitor, 1)."""
        import importlib

        module, _, attribute = self.cls.partition(":")
        cls = getattr(importlib.import_module(module), attribute)
        names = {p.name for p in self.params}
        return cls(mask=mask, **{k: v for k, v in values.items() if k in names})

    def fit_kwargs(self, values: dict) -> dict:
        """Keywords for the ``nrt`` object's ``fit``."""
        names = {p.name for p in self.fit_params}
        return {**self.fit_fixed, **{k: v for k, v in values.items() if k in names}}


_ALPHA = "Significance level of the boundary (lower: fewer breaks)."
#: The built-in methods, then those of the ``antares.monitor_methods`` entry points.
METHODS = Registry("antares.monitor_methods", "monitoring method", {
    "ewma": MonitorMethod(
        "ewma", "EWMA control chart of the residuals (OLS fit, Shewhart outlier screening)",
        "Brooks et al. 2014, IEEE TGRS 52(6):3316-3332", "nrt.monitor.ewma:EWMA",
        _common_params(2, 2.0, "Boundary in standard deviations of the EWMA (lower: more breaks).") + (
            float_param("lambda_", 0.3, 0, 1, low_open=True, description="Weight of the newest residual (1: no memory)."),
            float_param("threshold_outlier", 10.0, 0, low_open=True,
                        description="Residuals beyond this many sigma are skipped as outliers."),
        ),
        (float_param("L", 5.0, 0, low_open=True, description="Shewhart control limit of the history screening, sigma."),),
        {"method": "OLS", "screen_outliers": "Shewhart"}),
    "cusum": MonitorMethod(
        "cusum", "OLS-CUSUM of the residuals after a reverse-ordered CUSUM (ROC) stable-history fit",
        "Zeileis 2005, Econometric Reviews 24(4); Verbesselt et al. 2012, RSE 123:98-108",
        "nrt.monitor.cusum:CuSum", _common_params(2, 0.05, _ALPHA),
        (float_param("alpha", 0.05, 0, 1, low_open=True, high_open=True,
                     description="Significance level of the ROC stable-history test."),),
        {"method": "ROC"}),
    "mosum": MonitorMethod(
        "mosum", "OLS-MOSUM of the residuals after a ROC stable-history fit",
        "Verbesselt et al. 2012, RSE 123:98-108 (BFAST Monitor)", "nrt.monitor.mosum:MoSum",
        _common_params(2, 0.05, _ALPHA) + (
            float_param("h", 0.25, 0, 1, low_open=True, description="Moving window as a share of the history length."),),
        (float_param("alpha", 0.05, 0, 1, low_open=True, high_open=True,
                     description="Significance level of the ROC stable-history test."),),
        {"method": "ROC"}),
    "ccdc": MonitorMethod(
        "ccdc", "CCDC: consecutive outliers beyond sensitivity x RMSE, after a CCDC stable-history fit "
                "(without the green/SWIR outlier screening)",
        "Zhu & Woodcock 2014, RSE 144:152-171", "nrt.monitor.ccdc:CCDC",
        _common_params(2, 3.0, "Outlier limit in RMSE.") + (
            int_param("boundary", 3, 1, description="Consecutive outliers that confirm a break."),),
        (), {"method": "CCDC-stable", "screen_outliers": None}),
    "iqr": MonitorMethod(
        "iqr", "Consecutive residuals outside the interquartile fence of the history residuals (OLS fit)",
        "Tukey 1977 (fences); nrt's IQR monitor", "nrt.monitor.iqr:IQR",
        _common_params(3, 1.5, "Fence in interquartile ranges beyond the quartiles.") + (
            int_param("boundary", 3, 1, description="Consecutive outliers that confirm a break."),),
        (), {"method": "OLS"}),
}, accepts=lambda name, plugin: isinstance(plugin, MonitorMethod) and plugin.name == name)


@dataclass
class MonitorResult:
    """The outcome of monitoring one array (y, x).

    Attributes
    ----------
    state : numpy.ndarray of uint8
        :data:`STATES` codes.
    break_days : numpy.ndarray of int32
        The date each break was confirmed, in days since 1970-01-01 (0 where there is none).
    magnitude : numpy.ndarray of float32
        Observed minus predicted index value on that date (NaN where there is no break).
    process : numpy.ndarray of float32
        The method's process value at the end of the monitoring period (its meaning depends on the
        method: the EWMA of the residuals, the CuSum / MoSum, the count of consecutive outliers).
    history_count : numpy.ndarray of int16
        Clear (finite) history observations per pixel.
    """

    state: np.ndarray
    break_days: np.ndarray
    magnitude: np.ndarray
    process: np.ndarray
    history_count: np.ndarray


def _as_dataarray(values: np.ndarray, times: np.ndarray):
    import xarray as xr

    h, w = values.shape[1:]
    return xr.DataArray(values, dims=("time", "y", "x"),
                        coords={"time": times, "y": np.arange(h, 0, -1, dtype=np.float64),
                                "x": np.arange(w, dtype=np.float64)})


def split_periods(times: np.ndarray, history: tuple, monitoring: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Boolean selections of ``times`` inside the history and the monitoring periods (inclusive dates).

    Parameters
    ----------
    times : numpy.ndarray of datetime64, (time,)
    history, monitoring : (str or date, str or date)
        First and last day of each period.
    """
    days = times.astype("datetime64[D]")

    def inside(period):
        first, last = (np.datetime64(str(p)[:10], "D") for p in period)
        return (days >= first) & (days <= last)

    return inside(history), inside(monitoring)


def monitor_array(values: np.ndarray, times: np.ndarray, history: tuple, monitoring: tuple,
                  method: MonitorMethod | str, params: dict | None = None) -> MonitorResult:
    """Fit ``method`` on the history observations of ``values`` and monitor the monitoring period.

    Runs the ``nrt`` object's ``fit`` on the history dates and its ``monitor`` on each monitoring
    date in time order, as ``nrt``'s documentation does; every pixel is independent, so the result of
    an array cut into blocks equals that of the whole array.

    Parameters
    ----------
    values : numpy.ndarray of float, (time, y, x)
        The index (e.g. NDVI) per date; NaN where the observation is not clear.
    times : numpy.ndarray of datetime64, (time,)
        Acquisition dates, ascending.
    history, monitoring : (str, str)
        First and last day (inclusive, YYYY-MM-DD) of the fitting and of the monitoring period.
    method : MonitorMethod or str
        A method or its name in :data:`METHODS`.
    params : dict, optional
        The method's parameter values (others take their defaults).

    Returns
    -------
    MonitorResult

    Raises
    ------
    antares.errors.InvalidInputError
        ``times`` is not ascending, the periods overlap, or the history holds fewer dates than the
        method needs (:meth:`MonitorMethod.minimum_observations`).
    antares.errors.UsageError
        Unknown method or parameter, or a value outside its constraint.
    """
    method = METHODS.get(method) if isinstance(method, str) else method
    values_ok = method.check(params or {})
    times = np.asarray(times).astype("datetime64[ns]")
    if times.size > 1 and np.any(np.diff(times) < np.timedelta64(0)):
        raise InvalidInputError("the dates of the time series must be ascending.")
    if np.datetime64(str(monitoring[0])[:10]) <= np.datetime64(str(history[1])[:10]):
        raise InvalidInputError(f"the monitoring period ({monitoring[0]} to {monitoring[1]}) must begin after the "
                                f"history ({history[0]} to {history[1]}) ends.")
    in_history, in_monitoring = split_periods(times, history, monitoring)
    minimum = method.minimum_observations(values_ok)
    if in_history.sum() < minimum:
        raise InvalidInputError(f"the history {history[0]} to {history[1]} holds {int(in_history.sum())} date(s); "
                                f"{method.name} with {method.regressors(values_ok)} regressors needs at least {minimum} "
                                "clear observations per pixel: give a longer history.")
    data = np.asarray(values, dtype=np.float64)
    shape = data.shape[1:]
    history_values = data[in_history]
    count = np.isfinite(history_values).sum(axis=0).astype(np.int16)
    state = np.zeros(shape, np.uint8)
    result = MonitorResult(state, np.zeros(shape, np.int32), np.full(shape, np.nan, np.float32),
                           np.full(shape, np.nan, np.float32), count)
    if not count.any():
        return result
    model = method.build(values_ok)  # no mask: every pixel, as nrt does by default
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nrt warns about the short series it masks (state 4), numba about np.dot
        try:
            model.fit(_as_dataarray(history_values, times[in_history]), **method.fit_kwargs(values_ok))
        except ValueError as exc:
            if "sufficient" not in str(exc):  # "There are no time-series with sufficient (N) data points."
                raise
            result.state[:] = np.where(count > 0, 4, 0)
            return result
        for when, array in zip(times[in_monitoring], data[in_monitoring]):
            before = model.mask == BREAK
            date = dt.datetime.fromisoformat(str(when.astype("datetime64[s]")))
            model.monitor(array=array, date=date)
            new = (model.mask == BREAK) & ~before
            if new.any():
                result.magnitude[new] = (array - model.predict(date))[new]
    result.state[:] = np.where(count > 0, model.mask, 0)  # nrt says 4 (too few) for no observation at all
    if model.detection_date is not None:
        result.break_days[:] = np.where(model.mask == BREAK, model.detection_date, 0)
    process = getattr(model, "process", None)
    if process is not None:
        result.process[:] = np.asarray(process, dtype=np.float32)
    return result


def break_year_doy(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar year and day of year (1-366) of days since 1970-01-01; 0 and 0 where ``days`` is 0 (no break).

    Returns
    -------
    (numpy.ndarray of int16, numpy.ndarray of int16)
    """
    dates = EPOCH + np.asarray(days).astype("timedelta64[D]")
    year = dates.astype("datetime64[Y]")
    doy = (dates - year.astype("datetime64[D]")).astype(np.int64) + 1
    none = np.asarray(days) == 0
    return (np.where(none, 0, year.astype(np.int64) + 1970).astype(np.int16),
            np.where(none, 0, doy).astype(np.int16))


@dataclass
class ObjectSummary:
    """Per object (segment) of a segmentation: pixels, monitored pixels, breaks and the first break.

    Attributes
    ----------
    ids : numpy.ndarray of int64
        Segment ids (> 0), ascending.
    pixels, monitored, breaks : numpy.ndarray of int64
        Pixels of the object; those monitored to the end or until a break (state 1 or 3); those with a break.
    first_break : numpy.ndarray of int32
        Earliest break date, days since 1970-01-01 (0: no break).
    """

    ids: np.ndarray
    pixels: np.ndarray
    monitored: np.ndarray
    breaks: np.ndarray
    first_break: np.ndarray

    @property
    def break_share(self) -> np.ndarray:
        """Share of the monitored pixels with a break (NaN where none is monitored)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.monitored > 0, self.breaks / self.monitored, np.nan)

    def merge(self, other: "ObjectSummary") -> "ObjectSummary":
        """The summary of both parts (e.g. two tiles that an object straddles)."""
        ids = np.union1d(self.ids, other.ids)
        out = ObjectSummary(ids, *(np.zeros(ids.size, np.int64) for _ in range(3)), np.zeros(ids.size, np.int32))
        for part in (self, other):
            at = np.searchsorted(ids, part.ids)
            out.pixels[at] += part.pixels
            out.monitored[at] += part.monitored
            out.breaks[at] += part.breaks
            first = out.first_break[at]
            out.first_break[at] = np.where((first == 0) | ((part.first_break > 0) & (part.first_break < first)),
                                           part.first_break, first)
        return out


def summarise_objects(labels: np.ndarray, state: np.ndarray, break_days: np.ndarray) -> ObjectSummary:
    """Per segment of ``labels``: pixels, monitored pixels, pixels with a break and the first break date.

    Parameters
    ----------
    labels : numpy.ndarray of int, (y, x)
        Segment ids, 0 = no object.
    state, break_days : numpy.ndarray, (y, x)
        A ``monitor`` result on the same pixels (:class:`MonitorResult` ``state`` and ``break_days``).

    Returns
    -------
    ObjectSummary
    """
    labels = np.asarray(labels).ravel()
    inside = labels > 0
    ids, inverse = np.unique(labels[inside], return_inverse=True)
    state = np.asarray(state).ravel()[inside]
    days = np.asarray(break_days).ravel()[inside].astype(np.int64)
    broken = state == BREAK
    first = np.full(ids.size, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, inverse[broken], days[broken])
    return ObjectSummary(ids.astype(np.int64), np.bincount(inverse, minlength=ids.size).astype(np.int64),
                         np.bincount(inverse, (state == 1) | broken, ids.size).astype(np.int64),
                         np.bincount(inverse, broken, ids.size).astype(np.int64),
                         np.where(first == np.iinfo(np.int64).max, 0, first).astype(np.int32))
