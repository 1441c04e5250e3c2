"""Pixel sets drawn from the pixels of objects or polygons (the cube path of issue 19; numpy only).

Garnot et al. (2020) classify a parcel from a random set of ``S`` of its pixels, each with its whole
series (``T × C``): drawn without replacement when the parcel has at least ``S`` pixels, with
replacement when fewer (their ``S = 64``). :func:`draw_pixel_sets` does that for the pixels of many
objects at once; :func:`series_days` turns a product's step times into the day numbers the models
take as positional encoding.
"""

from __future__ import annotations

import numpy as np

from antares.errors import InvalidInputError

#: Side (metres; the product's CRS units) of the square blocks of the early-stopping validation split that
#: ``model_fit_timeseries -p -t`` uses unless ``--val-spatial`` says otherwise (``0``: a stratified random
#: split). 1 km keeps neighbouring parcels (autocorrelated series) on one side of the split while leaving
#: several blocks on a 10 m product's tile; Roberts et al. 2017 (Ecography 40:913) on blocked validation.
DEFAULT_VALIDATION_BLOCK = 1000.0


def draw_pixel_sets(index: np.ndarray, values: np.ndarray, n: int, size: int, seed: int = 0):
    """``size`` pixels of each of ``n`` objects, with their series.

    Parameters
    ----------
    index : ndarray (m,) int
        The object (0 .. n-1) of each pixel.
    values : ndarray (T, C, m) float
        Each pixel's series; NaN = no valid value (the classifier fills it with the channel mean).
    n : int
        Number of objects.
    size : int >= 1
        Pixels per set ``S``.
    seed : int
        Seed of the draw (:func:`numpy.random.default_rng`): the same inputs give the same sets.

    Returns
    -------
    sets : ndarray (n, T, C, S) float32
        NaN for an object without a pixel.
    n_pixels : ndarray (n,) int64
        Pixels of each object: drawn without replacement where ``n_pixels >= S``, with replacement
        where fewer.

    Raises
    ------
    InvalidInputError
        Shapes that do not match, an object index outside ``0 .. n-1``, ``size`` < 1.
    """
    index, values = np.asarray(index, np.int64), np.asarray(values)
    if values.ndim != 3 or values.shape[2] != len(index):
        raise InvalidInputError(f"pixel values must be (T, C, m) with m = {len(index)} pixels; got {values.shape}.")
    if size < 1:
        raise InvalidInputError(f"the pixel-set size must be an int >= 1. Got {size}.")
    if len(index) and (index.min() < 0 or index.max() >= n):
        raise InvalidInputError(f"pixel object indices must be in 0..{n - 1}; got {index.min()}..{index.max()}.")
    rng = np.random.default_rng(seed)
    order = np.argsort(index, kind="stable")
    counts = np.bincount(index, minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # per object: a random permutation's first S (without replacement), or S uniform draws (with)
    keys = rng.random(len(index))
    by_key = np.lexsort((keys, index[order]))  # within each object, pixels in random order
    shuffled = order[by_key]
    pick = np.zeros((n, size), np.int64)
    has = counts > 0
    enough = counts >= size
    j = np.arange(size)
    pick[enough] = shuffled[starts[enough, None] + j]
    few = has & ~enough
    if few.any():
        draws = np.floor(rng.random((int(few.sum()), size)) * counts[few, None]).astype(np.int64)
        pick[few] = shuffled[starts[few, None] + draws]
    sets = np.ascontiguousarray(np.moveaxis(values[:, :, pick], 2, 0), dtype=np.float32)  # (n, T, C, S), C order
    sets[~has] = np.nan
    return sets, counts.astype(np.int64)


def draw_sensor_sets(index: np.ndarray, values: list, n: int, size: int, seed: int = 0):
    """:func:`draw_pixel_sets` of several sensors at the SAME pixel positions (one draw for all).

    Parameters
    ----------
    index : ndarray (m,) int
    values : list of ndarray (T_k, C_k, m) float
        Each sensor's series of the same ``m`` pixels (its own dates and channels).
    n, size, seed
        As :func:`draw_pixel_sets`.

    Returns
    -------
    sets : list of ndarray (n, T_k, C_k, S) float32
    n_pixels : ndarray (n,) int64
    """
    shapes = [v.shape[:2] for v in values]
    packed = np.concatenate([np.asarray(v).reshape(-1, 1, len(index)) for v in values], axis=0)
    sets, counts = draw_pixel_sets(index, packed, n, size, seed)
    return unpack_sets(sets, shapes), counts


def unpack_sets(sets: np.ndarray, shapes) -> list:
    """Packed sets ``(n, sum T_k·C_k, 1, S)`` → per sensor ``(n, T_k, C_k, S)`` (the inverse of the packing of
    :func:`draw_sensor_sets`)."""
    out, start = [], 0
    for t, c in shapes:
        out.append(sets[:, start:start + t * c, 0].reshape(len(sets), t, c, -1))
        start += t * c
    return out


def series_days(times, origin=None) -> np.ndarray:
    """Day numbers of step times: whole days since 1 January of the first time's year (day of year for one season).

    Parameters
    ----------
    times : array-like of datetime64
        Increasing.
    origin : int, optional
        The year whose 1 January is day 0 (default: the first time's); two sensors' products share one.

    Returns
    -------
    ndarray (T,) int64

    Raises
    ------
    InvalidInputError
        Times that do not increase strictly by day (two steps on one day).
    """
    times = np.asarray(times, "datetime64[ns]")
    if not len(times):
        return np.zeros(0, np.int64)
    year = str(times[0])[:4] if origin is None else f"{int(origin):04d}"
    first = np.datetime64(year + "-01-01", "D")
    days = (times.astype("datetime64[D]") - first).astype(np.int64)
    if len(days) > 1 and not np.all(np.diff(days) > 0):
        raise InvalidInputError(f"the product's times must fall on distinct, increasing days; got "
                                f"{', '.join(str(t)[:10] for t in times[:6])}.")
    return days
