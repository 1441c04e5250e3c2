"""Regular time series from irregular, cloudy observations: step calendars, composites, gap filling, smoothing.

The pieces of a recipe's ``steps:`` section (:mod:`antares.pipeline.timeseries` runs them tile by
tile), all numpy, vectorised over pixels: an array of observations is ``(time, n)`` (or
``(time, y, x)``; every function works along axis 0 on the pixels of the other axes).

1. :func:`step_calendar`: the steps of a period, every ``10D``, ``16D``, ``1M`` (any ``<N>D`` or
   ``<N>M``) or explicit periods.
2. :func:`composite`: per step, the median, mean or max-NDVI composite of the clear observations,
   and their count.
3. :func:`gapfill_linear`: steps without a composite filled linearly in time between the neighbouring
   composites (``numpy.interp`` per pixel); steps before the first or after the last composite take
   the nearest one, and are flagged apart (:data:`FILLED_EDGE`).
4. :func:`whittaker`: the Whittaker smoother (Eilers 2003) with a fixed λ, or λ chosen per pixel by
   the V-curve (:func:`whittaker_vcurve`, Frasso & Eilers 2015).

References
----------
P. H. C. Eilers, "A perfect smoother", Analytical Chemistry 75(14), 3631-3636, 2003. doi:10.1021/ac034173t
G. Frasso and P. H. C. Eilers, "L- and V-curves for optimal smoothing", Statistical Modelling 15(1),
91-111, 2015. doi:10.1177/1471082X14549288
"""

from __future__ import annotations

import datetime as dt
import re
import warnings

import numpy as np

from antares.errors import InvalidInputError

#: The filled flag's values (QA band ``filled``).
OBSERVED, FILLED_INSIDE, FILLED_EDGE = 0, 1, 2
#: The composite methods of :func:`composite`.
COMPOSITES = ("median", "mean", "max_ndvi")
#: log10 λ of the V-curve's search grid (:func:`whittaker_vcurve`).
VCURVE_LOG10 = tuple(np.arange(-1.0, 4.01, 0.25).round(2))

_EVERY = re.compile(r"^([1-9][0-9]*)([DM])$")


# ---------------------------------------------------------------------------------------------- calendars
def _utc(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    try:
        return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise InvalidInputError(f"step dates must be YYYY-MM-DD. Got {value!r}.") from None


def _add_months(day: dt.datetime, months: int) -> dt.datetime:
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1, day=1)


def check_every(every: str) -> tuple[int, str]:
    """``(N, "D" or "M")`` of a step length ``<N>D`` (days) or ``<N>M`` (calendar months).

    Raises
    ------
    InvalidInputError
        ``every`` is not of that form (e.g. ``10D``, ``16D``, ``1M``).
    """
    match = _EVERY.match(str(every).strip().upper()) if isinstance(every, str) else None
    if match is None:
        raise InvalidInputError(f"unknown step length {every!r}; valid: <N>D (days, e.g. 10D, 16D) or <N>M "
                                "(calendar months, e.g. 1M), or explicit periods.")
    return int(match.group(1)), match.group(2)


def step_calendar(start, end, every: str | None = None, periods=None) -> list[tuple[dt.datetime, dt.datetime]]:
    """The steps of the period ``[start, end]``: half-open intervals ``[step start, step stop)``, UTC.

    Parameters
    ----------
    start, end : datetime.datetime, datetime.date or str (YYYY-MM-DD)
        The period; a date ``end`` is the last day included (the period stops at the next midnight).
    every : str, optional
        ``<N>D``: steps of N days from ``start`` (``10D``, ``16D``); ``<N>M``: N calendar months
        (``1M``), the first from ``start`` to the end of its month(s). The last step is cut at ``end``.
    periods : list of (start, end), optional
        Explicit steps, each given as inclusive dates; instead of ``every``. They are cut to the
        period and must be in order and not overlap.

    Returns
    -------
    list of (datetime.datetime, datetime.datetime)
        ``(step start, step stop)``, UTC, stop exclusive; consecutive.

    Raises
    ------
    InvalidInputError
        Neither or both of ``every`` and ``periods``; an unknown ``every``; periods unordered,
        overlapping, empty or all outside ``[start, end]``.
    """
    start = _utc(start)
    stop = _utc(end)
    if stop.time() == dt.time(0):
        stop = stop + dt.timedelta(days=1)
    if stop <= start:
        raise InvalidInputError(f"the period ends ({end}) before it begins ({start:%Y-%m-%d}).")
    if (every is None) == (periods is None):
        raise InvalidInputError("steps need exactly one of 'every' (10D, 16D, 1M, ...) or 'periods'.")
    steps = []
    if every is not None:
        n, unit = check_every(every)
        left = start
        while left < stop:
            if unit == "D":
                right = left + dt.timedelta(days=n)
            else:
                right = _add_months(left, n)
            steps.append((left, min(right, stop)))
            left = right
        return steps
    previous = None
    for period in periods:
        if not isinstance(period, (list, tuple)) or len(period) != 2:
            raise InvalidInputError(f"each step period must be [start, end] (inclusive dates). Got {period!r}.")
        left, right = _utc(period[0]), _utc(period[1]) + dt.timedelta(days=1)
        if right <= left:
            raise InvalidInputError(f"step period {period[0]}..{period[1]} ends before it begins.")
        if previous is not None and left < previous:
            raise InvalidInputError(f"step periods must be in order and not overlap; {period[0]} is before the end "
                                    "of the period before it.")
        previous = right
        left, right = max(left, start), min(right, stop)
        if left < right:
            steps.append((left, right))
    if not steps:
        raise InvalidInputError(f"no step period lies inside {start:%Y-%m-%d}..{stop - dt.timedelta(days=1):%Y-%m-%d}; "
                                "give -b/-e that cover the periods.")
    return steps


def step_index(times, steps) -> np.ndarray:
    """The step of each observation time, -1 outside every step.

    Parameters
    ----------
    times : array of datetime64, (time,)
        UTC, naive.
    steps : list of (datetime, datetime)
        From :func:`step_calendar`.

    Returns
    -------
    numpy.ndarray of int64, (time,)
    """
    times = np.asarray(times).astype("datetime64[ns]")
    out = np.full(times.shape, -1, np.int64)
    for k, (left, right) in enumerate(steps):
        lo = np.datetime64(left.replace(tzinfo=None), "ns")
        hi = np.datetime64(right.replace(tzinfo=None), "ns")
        out[(times >= lo) & (times < hi)] = k
    return out


def step_centres_days(steps) -> np.ndarray:
    """The centre of each step in days since the first step's start (float64), the time axis of gap filling."""
    origin = steps[0][0]
    return np.array([((a - origin) + (b - a) / 2).total_seconds() / 86400.0 for a, b in steps])


# ---------------------------------------------------------------------------------------------- composites
def composite(values: dict, valid: np.ndarray, steps_of_time: np.ndarray, n_steps: int, method: str = "median",
              key: str = "ndvi") -> tuple[dict, np.ndarray]:
    """Per step, the composite of the valid observations of each variable, and how many there were.

    Parameters
    ----------
    values : dict of str to numpy.ndarray, (time, ...)
        Floating observations per variable (NaN = nodata), all the same shape.
    valid : numpy.ndarray of bool, (time, ...)
        The observations to use (clear and every input finite); others are ignored.
    steps_of_time : numpy.ndarray of int, (time,)
        Each time's step (:func:`step_index`), -1: in no step.
    n_steps : int
    method : {"median", "mean", "max_ndvi"}
        ``median``/``mean``: per variable, NaN-ignoring median/mean of the step's valid observations
        (``numpy.nanmedian``/``nanmean``). ``max_ndvi``: every variable taken from the step's
        observation with the largest ``values[key]`` (the first on ties), so the composite is one
        real observation (Holben 1986, "Characteristics of maximum-value composite images from
        temporal AVHRR data", Int. J. Remote Sens. 7(11)).
    key : str
        The variable ``max_ndvi`` maximises.

    Returns
    -------
    (dict of str to numpy.ndarray (step, ...), numpy.ndarray of int32 (step, ...))
        float32 composites (NaN where the step has no valid observation) and the counts.

    Raises
    ------
    InvalidInputError
        Unknown ``method``; ``max_ndvi`` without ``values[key]``.
    """
    if method not in COMPOSITES:
        raise InvalidInputError(f"unknown composite {method!r}; valid: {', '.join(COMPOSITES)}.")
    if method == "max_ndvi" and key not in values:
        raise InvalidInputError(f"the max_ndvi composite needs the variable '{key}' (add the NDVI index).")
    if method == "median":  # numpy.nanmedian's value, in a compiled loop (numpy's is ~20x slower on few dates)
        return median_composites(values, valid, steps_of_time, n_steps)
    valid = np.asarray(valid, bool)
    shape = (n_steps,) + valid.shape[1:]
    counts = np.zeros(shape, np.int32)
    out = {name: np.full(shape, np.nan, np.float32) for name in values}
    for k in range(n_steps):
        idx = np.flatnonzero(steps_of_time == k)
        if not idx.size:
            continue
        ok = valid[idx]
        counts[k] = ok.sum(axis=0)
        if method == "max_ndvi":
            score = np.where(ok, values[key][idx], -np.inf)
            score = np.where(np.isnan(score), -np.inf, score)
            best = np.argmax(score, axis=0)[None]
            has = np.take_along_axis(score, best, axis=0)[0] > -np.inf
            for name, v in values.items():
                picked = np.take_along_axis(v[idx], best, axis=0)[0]
                out[name][k] = np.where(has, picked, np.nan)
            continue
        with warnings.catch_warnings():  # all-NaN slices give NaN, as wanted
            warnings.simplefilter("ignore", RuntimeWarning)
            for name, v in values.items():
                out[name][k] = np.nanmean(np.where(ok, v[idx], np.nan), axis=0)
    return out, counts


def median_composites(values: dict, valid: np.ndarray, steps_of_time: np.ndarray, n_steps: int,
                      conversions: dict | None = None) -> tuple[dict, np.ndarray]:
    """:func:`composite`'s median, optionally of raw values converted on the fly, in one compiled pass per variable.

    Parameters
    ----------
    values, valid, steps_of_time, n_steps
        As :func:`composite`; ``values`` may hold raw integers (DN) when ``conversions`` converts them.
    conversions : dict of str to (offset, scale), optional
        Per variable, float32 offset and scale, each a number or one per time: the variable's
        observation is ``(float32(dn) + offset) * scale`` (:func:`antares.pipeline.timeseries.reflectance`
        without its nodata, which ``valid`` must exclude), so a block's reflectances need not be
        materialised as (time, y, x) float32 arrays.

    Returns
    -------
    (dict of str to numpy.ndarray of float32 (step, ...), numpy.ndarray of int32 (step, ...))
        As :func:`composite`.

    Raises
    ------
    InvalidInputError
        A variable whose shape is not ``valid``'s.
    """
    from antares._timeseries_kernels import step_medians

    valid = np.asarray(valid, bool)
    bad = {name: np.shape(v) for name, v in values.items() if np.shape(v) != valid.shape}
    if bad:  # the compiled loop reads every variable by the mask's shape
        raise InvalidInputError(f"median composite: variables {bad} differ in shape from the mask {valid.shape}.")
    shape = (n_steps,) + valid.shape[1:]
    nt = valid.shape[0]
    counts = np.zeros(shape, np.int32)
    stack = np.empty((len(values),) + shape, np.float32)  # one array: regularise_variables takes it without a copy
    out = {name: stack[i] for i, name in enumerate(values)}
    steps_of_time = np.asarray(steps_of_time)
    order = np.argsort(steps_of_time, kind="stable")  # by step, times ascending within a step
    order = order[steps_of_time[order] >= 0].astype(np.int64)
    starts = np.searchsorted(steps_of_time[order], np.arange(n_steps + 1)).astype(np.int64)
    flat_valid = valid.reshape(nt, -1)
    if not values:
        counts[:] = np.stack([valid[steps_of_time == k].sum(axis=0) for k in range(n_steps)]) if n_steps else 0
    for i, (name, v) in enumerate(values.items()):
        offset, scale = (conversions or {}).get(name, (0.0, 1.0))
        v = np.asarray(v)
        if v.dtype.kind == "f":
            v = v.astype(np.float32, copy=False)
        offset, scale = (np.ascontiguousarray(np.broadcast_to(np.asarray(a, np.float32).reshape(-1), nt))
                         for a in (offset, scale))
        step_medians(v.reshape(nt, -1), offset, scale, flat_valid, order, starts, out[name].reshape(n_steps, -1),
                     counts.reshape(n_steps, -1) if i == 0 else np.empty((n_steps, 0), np.int32))
    return out, counts


# ---------------------------------------------------------------------------------------------- gap filling
def gapfill_linear(y: np.ndarray, t=None) -> tuple[np.ndarray, np.ndarray]:
    """Fill the NaN steps of each pixel linearly in time; edges take the nearest value.

    For every pixel the same as ``numpy.interp(t, t[observed], y[observed])``: linear between the
    neighbouring observed steps, constant (the nearest observed value) before the first and after
    the last.

    Parameters
    ----------
    y : numpy.ndarray, (step, ...)
        Floating; NaN = no composite.
    t : array of float, (step,), optional
        Step times (e.g. :func:`step_centres_days`), increasing; default ``0, 1, 2, ...``.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray of uint8)
        The filled series (``y``'s dtype; all NaN where the pixel has no observation) and the flag
        per step: :data:`OBSERVED` (0), :data:`FILLED_INSIDE` (1, interpolated), :data:`FILLED_EDGE`
        (2, nearest, before the first or after the last observation); 255 where the pixel has none.
    """
    from antares._timeseries_kernels import gapfill_pixels

    y = np.asarray(y)
    n, rest = y.shape[0], y.shape[1:]
    t = np.arange(n, dtype=np.float64) if t is None else np.ascontiguousarray(t, np.float64)
    rows = np.ascontiguousarray(y.reshape(n, -1).T, np.float32)  # pixels by rows
    filled = np.empty_like(rows)
    flag = np.empty(rows.shape, np.uint8)
    gapfill_pixels(rows, t, filled, flag)
    filled = np.ascontiguousarray(filled.T).reshape((n,) + rest).astype(y.dtype, copy=False)
    flag = np.ascontiguousarray(flag.T).reshape((n,) + rest)
    return filled, flag


# ---------------------------------------------------------------------------------------------- Whittaker
def difference_penalty(n: int, order: int = 2) -> np.ndarray:
    """``DᵀD`` (n × n, float64) of the order-``order`` difference matrix D ((n - order) × n)."""
    d = np.diff(np.eye(n), n=order, axis=0)
    return d.T @ d


def _penalty_bands(n: int, order: int) -> np.ndarray:
    """The lower bands of ``DᵀD``: ``out[k, i] = (DᵀD)[i, i - k]`` for k = 0..order (0 where i < k)."""
    penalty = difference_penalty(n, order)
    out = np.zeros((order + 1, n))
    for k in range(order + 1):
        out[k, k:] = np.diagonal(penalty, -k)
    return out


def _check_smoothing(n: int, lam, order: int) -> None:
    """Refuse an order outside 1 .. n - 1 and a λ that is not a finite number > 0 (one or per pixel)."""
    if not 1 <= order < max(n, 2):
        raise InvalidInputError(f"whittaker: the order must be >= 1 and below the number of steps ({n}). Got {order}.")
    lam = np.asarray(lam, np.float64)
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise InvalidInputError("whittaker: lambda must be a number > 0 (e.g. 10; larger is smoother).")


def whittaker(y: np.ndarray, w: np.ndarray, lam, order: int = 2) -> np.ndarray:
    """The Whittaker smoother of every pixel's series: ``z`` minimising ``|W^½(y − z)|² + λ|Dᵈz|²``.

    Eilers (2003), eq. 1-3: with ``W = diag(w)`` and D the order-``d`` difference matrix, ``z``
    solves ``(W + λ DᵀD) z = W y``. The system is banded (half-bandwidth ``d``) and differs per
    pixel only through ``w`` (and λ), so it is solved by a banded Cholesky factorisation
    ``LLᵀ`` computed for all pixels at once, row by row (``O(n d²)`` vector operations over the
    pixels), then two banded triangular solves. Steps are taken as equally spaced.

    Parameters
    ----------
    y : numpy.ndarray, (step, ...)
        The series; NaN (or any value) where ``w`` is 0 is ignored.
    w : numpy.ndarray, (step, ...)
        Weights >= 0 (0: a gap, interpolated by the smoother).
    lam : float or numpy.ndarray (...)
        λ > 0, one for all pixels or one per pixel.
    order : int
        d, the order of the differences (1 or 2 usual; 2: the default, a discrete cubic-spline-like fit).

    Returns
    -------
    numpy.ndarray of float64, (step, ...)
        ``z``; NaN for pixels with fewer than ``order`` positive weights (the system is singular:
        the penalty leaves polynomials of degree < d free).

    Raises
    ------
    InvalidInputError
        λ <= 0 or not finite, negative weights, ``order`` < 1 or >= the number of steps.

    References
    ----------
    P. H. C. Eilers, "A perfect smoother", Analytical Chemistry 75(14), 3631-3636, 2003.
    """
    y = np.asarray(y, np.float64)
    w = np.asarray(w, np.float64)
    n = y.shape[0]
    rest = y.shape[1:]
    if w.shape != y.shape:
        raise InvalidInputError(f"whittaker: the weights' shape {w.shape} differs from the series' {y.shape}.")
    lam = np.broadcast_to(np.asarray(lam, np.float64), rest)
    _check_smoothing(n, lam, order)
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise InvalidInputError("whittaker: weights must be finite and >= 0.")
    from antares._timeseries_kernels import whittaker_pixels

    z = np.empty((int(np.prod(rest, dtype=np.int64)), n))  # pixels by rows: each pixel's series contiguous
    whittaker_pixels(np.ascontiguousarray(y.reshape(n, -1).T), np.ascontiguousarray(w.reshape(n, -1).T),
                     np.ascontiguousarray(lam.reshape(-1)), _penalty_bands(n, order), order, z)
    return np.ascontiguousarray(z.T).reshape((n,) + rest)


def vcurve_lambda(y: np.ndarray, w: np.ndarray, order: int = 2, log10_grid=VCURVE_LOG10) -> np.ndarray:
    """λ per pixel by the V-curve (Frasso & Eilers 2015): the flattest point of the L-curve.

    For each λ of the grid the smoother gives the fit ``ψ = log |W^½(y − z)|²`` and the roughness
    ``φ = log |Dᵈz|²``; the V-curve is the distance between consecutive points
    ``v_k = sqrt((ψ_{k+1} − ψ_k)² + (φ_{k+1} − φ_k)²)`` and λ is the geometric mean of the two
    grid λ at its minimum.

    Parameters
    ----------
    y, w : numpy.ndarray, (step, ...)
        As :func:`whittaker`.
    order : int
    log10_grid : sequence of float
        log10 λ tried, increasing (default -1 ... 4 by 0.25).

    Returns
    -------
    numpy.ndarray of float64, (...)
        The chosen λ per pixel (the grid's middle where the pixel has too few observations).

    References
    ----------
    G. Frasso and P. H. C. Eilers, "L- and V-curves for optimal smoothing", Statistical Modelling 15(1), 2015.
    """
    from antares._timeseries_kernels import vcurve_pixels

    y = np.asarray(y, np.float64)
    w = np.asarray(w, np.float64)
    grid = np.asarray(log10_grid, np.float64)
    n, rest = y.shape[0], y.shape[1:]
    whittaker(y[:, :0] if y.ndim > 1 else y, w[:, :0] if w.ndim > 1 else w, 1.0, order)  # the same checks
    lam = np.empty(int(np.prod(rest, dtype=np.int64)))
    vcurve_pixels(np.ascontiguousarray(y.reshape(n, -1).T), np.ascontiguousarray(w.reshape(n, -1).T), grid,
                  _penalty_bands(n, order), order, lam)
    few = ~((w > 0).sum(axis=0) > order).reshape(-1) | np.isnan(lam)
    lam[few] = 10.0 ** grid[len(grid) // 2]
    return lam.reshape(rest)


def whittaker_vcurve(y: np.ndarray, w: np.ndarray, order: int = 2, log10_grid=VCURVE_LOG10):
    """:func:`whittaker` with λ chosen per pixel by :func:`vcurve_lambda`; returns ``(z, λ)``."""
    lam = vcurve_lambda(y, w, order, log10_grid)
    return whittaker(y, w, lam, order), lam


# ---------------------------------------------------------------------------------------------- the chain
def regularise(y: np.ndarray, counts: np.ndarray, t=None, gapfill: str = "linear", lam=None, order: int = 2,
               weights: str = "clear") -> tuple[np.ndarray, np.ndarray]:
    """Composites -> gap-filled and/or smoothed series, with the filled flag.

    Parameters
    ----------
    y : numpy.ndarray, (step, ...)
        Composites (NaN: none).
    counts : numpy.ndarray of int, (step, ...)
        Observations per composite (weights when ``weights == "count"``).
    t : array of float, (step,), optional
        Step centres in days (for the linear fill).
    gapfill : {"linear", "none"}
    lam : None, float or "vcurve"
        None: no smoothing. A number: :func:`whittaker` with that λ; ``"vcurve"``: λ per pixel
        (:func:`whittaker_vcurve`). Smoothing uses weight 0 on steps without a composite, so it
        fills inner gaps itself; steps before the first or after the last composite take the
        smoothed value of the nearest observed step (flagged :data:`FILLED_EDGE`).
    order : int
        The Whittaker difference order d.
    weights : {"clear", "count"}
        Whittaker weights: 1 per step with a composite, or its number of clear observations.

    Returns
    -------
    (numpy.ndarray of float32, numpy.ndarray of uint8), both (step, ...)
        The series and the flag (:func:`gapfill_linear`'s values; without filling or smoothing,
        :data:`OBSERVED` or 255 where the step has no composite).
    """
    series, flags = regularise_variables({"y": y}, counts, t, gapfill, lam, order, weights)
    return series["y"], flags["y"]


def _stacked(arrays: list, n: int) -> np.ndarray:
    """The (V, n, P) float32 stack of ``arrays``: without a copy when they are the consecutive parts of one array."""
    base = arrays[0].base
    if (isinstance(base, np.ndarray) and base.dtype == np.float32 and base.flags.c_contiguous
            and base.shape[0] == len(arrays) and base[0].shape == arrays[0].shape
            and all(a.dtype == np.float32 and a.flags.c_contiguous
                    and a.__array_interface__["data"][0] == base[i].__array_interface__["data"][0]
                    for i, a in enumerate(arrays))):
        return base.reshape(len(arrays), n, -1)
    y = np.empty((len(arrays), n, arrays[0].size // max(n, 1)), np.float32)
    for i, a in enumerate(arrays):
        y[i] = a.reshape(n, -1)
    return y


def regularise_variables(ys: dict, counts: np.ndarray, t=None, gapfill: str = "linear", lam=None, order: int = 2,
                         weights: str = "clear") -> tuple[dict, dict]:
    """:func:`regularise` of several variables of the same pixels at once (the same values, in one pass).

    Per pixel, the Whittaker system ``W + λ DᵀD`` is factorised once and solved for every variable
    whose weights are the same there (the same steps with a composite: a variable with its own gaps
    gets its own factorisation); with ``lam="vcurve"`` the factorisations of the λ grid are shared
    likewise and each variable still chooses its own λ. Pixels are processed in groups, the time
    steps outermost, so the compiled loops run on vectors of pixels.

    Parameters
    ----------
    ys : dict of str to numpy.ndarray, (step, ...)
        Composites per variable (NaN: none), all the same shape.
    counts, t, gapfill, lam, order, weights
        As :func:`regularise` (``counts`` shared by the variables).

    Returns
    -------
    (dict of str to numpy.ndarray of float32, dict of str to numpy.ndarray of uint8), each (step, ...)
        Per variable, :func:`regularise`'s series and flag.

    Raises
    ------
    InvalidInputError
        As :func:`whittaker` (λ <= 0, ``order`` out of range); variables of different shapes.
    """
    names = list(ys)
    if not names:
        return {}, {}
    shape = np.shape(ys[names[0]])
    if any(np.shape(ys[k]) != shape for k in names):
        raise InvalidInputError(f"regularise: the variables' shapes differ: "
                                f"{', '.join(f'{k} {np.shape(v)}' for k, v in ys.items())}.")
    if gapfill == "none" and lam is None:
        series = {k: np.asarray(ys[k], np.float32) for k in names}
        return series, {k: np.where(~np.isnan(v), OBSERVED, 255).astype(np.uint8) for k, v in series.items()}
    from antares._timeseries_kernels import regularise_variables as kernel

    n = shape[0]
    t = np.arange(n, dtype=np.float64) if t is None else np.ascontiguousarray(t, np.float64)
    vcurve = isinstance(lam, str)
    if lam is not None:
        _check_smoothing(n, 1.0 if vcurve else lam, order)
    grid = np.asarray(VCURVE_LOG10 if vcurve else (), np.float64)
    pen = _penalty_bands(n, order) if lam is not None else np.zeros((order + 1, n))
    if weights == "count":
        counts = np.ascontiguousarray(np.broadcast_to(np.asarray(counts), shape).reshape(n, -1), np.int32)
    else:
        counts = np.zeros((n, 1), np.int32)
    y = _stacked([np.asarray(ys[k]) for k in names], n)
    out = np.empty(y.shape, np.float32)
    flag = np.empty(y.shape, np.uint8)
    # one pass per group of pixels (gap filling, Whittaker, edges), parallel over the groups, without (step, pixel)
    # float64 temporaries; per pixel the arithmetic of gapfill_linear, whittaker / whittaker_vcurve and the edge rule
    kernel(y, counts, t, lam is not None, 1.0 if lam is None or vcurve else float(lam), weights == "count", vcurve,
           grid, pen, order, out, flag)
    return ({k: out[i].reshape(shape) for i, k in enumerate(names)},
            {k: flag[i].reshape(shape) for i, k in enumerate(names)})
