"""Per-object statistics from a label raster: the hot loop of object-based classification.

An *object* is the set of pixels that share one non-zero label (a segment, or a rasterised
training sample); label 0 is no object. ``values`` holds one row per measurement, NaN = nodata.
Labels are mapped to dense indices ``0 .. n-1`` (through a lookup table when they span at most
about twice the pixel count, else through a hash table: segment ids ``tile index * 2**32 + local
id`` are fine), then one compiled (numba) pass over the pixels accumulates all bands at once.

Statistics of an object split across blocks merge exactly (counts and sums add, minima and maxima
combine): :func:`partial_statistics` per block, :func:`merge_partials`, :func:`finalise`. Medians
do not merge: collect the pixels of the objects that cross block edges with :func:`select_pixels`,
concatenate them, and pass them to :func:`object_medians` (which takes 1-D labels with ``(b, m)``
values as well as rasters).

The standard deviation is the population one (``ddof=0``, like :func:`numpy.nanstd`), computed as
``sqrt(sumsq / count - mean**2)`` in float64; the relative error of the variance is about
``1e-16 * mean**2 / var`` (a constant object may get a tiny non-zero std instead of 0).

Example
-------
>>> labels = np.array([[1, 1, 2], [0, 2, 2]])
>>> values = np.array([[[1.0, 3.0, 5.0], [9.0, np.nan, 7.0]]], dtype=np.float32)
>>> ids, n_pixels, features = object_statistics(labels, values, ("mean", "count"))
>>> ids, n_pixels, features.tolist()
(array([1, 2]), array([2, 3]), [[2.0, 2.0], [6.0, 2.0]])
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit

from antares.errors import InvalidInputError

STATISTICS = ("mean", "min", "max", "std", "count", "median")
"""The statistics :func:`object_statistics` and :func:`feature_names` know."""
MERGEABLE_STATISTICS = ("mean", "min", "max", "std", "count")
"""The statistics :func:`finalise` computes from (merged) partial statistics."""


@dataclasses.dataclass(frozen=True)
class PartialStats:
    """Mergeable per-object accumulators over the pixels of one block (or several, merged).

    Attributes
    ----------
    ids : numpy.ndarray, (n,) int64
        Sorted unique non-zero labels.
    n_pixels : numpy.ndarray, (n,) int64
        Pixels of each object, valid or not.
    count : numpy.ndarray, (n, b) int64
        Valid (non-NaN) pixels per object and band.
    sum, sumsq : numpy.ndarray, (n, b) float64
        Sum and sum of squares of the valid values.
    min, max : numpy.ndarray, (n, b) float64
        Extremes of the valid values; NaN where ``count`` is 0.
    """

    ids: np.ndarray
    n_pixels: np.ndarray
    count: np.ndarray
    sum: np.ndarray
    sumsq: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @property
    def n_bands(self) -> int:
        """The number of measurements ``b``."""
        return self.count.shape[1]


# --------------------------------------------------------------------------- compiled kernels


@njit(cache=True, nogil=True)
def _dense_by_table(labels, size):
    """Dense indices through a lookup table from the smallest to the largest non-zero label; no
    ids and a (0, 0) ``inv`` when that span is ``size`` or more."""
    lo, hi = np.int64(2**63 - 1), np.int64(-(2**63) + 1)
    for v in labels.flat:
        if v != 0:
            lo, hi = min(lo, np.int64(v)), max(hi, np.int64(v))
    if lo > hi or (hi >> 1) - (lo >> 1) >= size >> 1:  # none, or a wider span (no overflow)
        return np.empty(0, np.int64), np.full(labels.shape if lo > hi else (0, 0), -1, np.int64)
    table = np.full(hi - lo + 1, -1, np.int64)
    for v in labels.flat:
        if v != 0:
            table[np.int64(v) - lo] = 0
    ids, n = np.empty(table.size, np.int64), 0
    for t in range(table.size):
        if table[t] == 0:
            table[t], ids[n] = n, t + lo
            n += 1
    inv = np.empty(labels.shape, np.int64)
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            v = np.int64(labels[i, j])
            inv[i, j] = table[v - lo] if v != 0 else -1
    return ids[:n].copy(), inv


@njit(cache=True, nogil=True)
def _slot(v, bits):
    """Fibonacci hashing of a label to one of ``2**bits`` slots."""
    h = (v ^ (v >> 32)) * -7046029254386353131  # 0x9E3779B97F4A7C15 as int64; wraps
    return (h >> (64 - bits)) & ((1 << bits) - 1)


@njit(cache=True, nogil=True)
def _find(table, keys, v, bits):
    """The slot of ``v`` in an open-addressing ``table`` of indices into ``keys``, or the empty
    slot where it would go (linear probing)."""
    h = _slot(v, bits)
    while table[h] >= 0 and keys[table[h]] != v:
        h = (h + 1) & ((1 << bits) - 1)
    return h


@njit(cache=True, nogil=True)
def _hash_table(keys, n, bits):
    """Open-addressing table of ``2**bits`` slots holding the indices of ``keys[:n]`` (-1 empty)."""
    table = np.full(1 << bits, -1, np.int64)
    for k in range(n):
        table[_find(table, keys, keys[k], bits)] = k
    return table


@njit(cache=True, nogil=True)
def _distinct(labels):
    """Sorted distinct non-zero labels, through a growing hash table (any label values)."""
    bits = 12
    keys = np.empty(1 << (bits - 1), np.int64)
    table = np.full(1 << bits, -1, np.int64)
    n = 0
    last = np.int64(0)
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            v = np.int64(labels[i, j])
            if v == last or v == 0:
                continue
            last = v
            h = _find(table, keys, v, bits)
            if table[h] >= 0:
                continue
            if 2 * (n + 1) > (1 << bits):  # keep the load at most 1/2
                bits += 1
                keys = np.concatenate((keys, np.empty_like(keys)))
                table = _hash_table(keys, n, bits)
                h = _find(table, keys, v, bits)
            table[h] = n
            keys[n] = v
            n += 1
    return np.sort(keys[:n])


@njit(cache=True, nogil=True)
def _map_to_ids(labels, ids):
    """Index of each label in ``ids`` (unique, no 0), -1 for 0 and for labels not in ``ids``."""
    bits = 4
    while (1 << bits) < 2 * ids.size:
        bits += 1
    table = _hash_table(ids, ids.size, bits)
    inv = np.empty(labels.shape, np.int64)
    last, last_k = np.int64(0), -1
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            v = np.int64(labels[i, j])
            if v != last:
                last, last_k = v, table[_find(table, ids, v, bits)]
            inv[i, j] = last_k
    return inv


@njit(cache=True, nogil=True)
def _accumulate(inv, values, n):
    """Pixels, valid count, sum, sum of squares, min and max per object and band, one pass."""
    nb = values.shape[0]
    n_pixels = np.zeros(n, np.int64)
    count = np.zeros((n, nb), np.int64)
    total = np.zeros((n, nb), np.float64)
    sumsq = np.zeros((n, nb), np.float64)
    vmin = np.full((n, nb), np.inf)
    vmax = np.full((n, nb), -np.inf)
    for i in range(inv.shape[0]):
        for j in range(inv.shape[1]):
            k = inv[i, j]
            if k < 0:
                continue
            n_pixels[k] += 1
            for b in range(nb):
                v = np.float64(values[b, i, j])
                if v == v:
                    count[k, b] += 1
                    total[k, b] += v
                    sumsq[k, b] += v * v
                    vmin[k, b] = min(vmin[k, b], v)
                    vmax[k, b] = max(vmax[k, b], v)
    return n_pixels, count, total, sumsq, vmin, vmax


@njit(cache=True, nogil=True)
def _select(a, k):
    """The k-th smallest of ``a``, moved to ``a[k]`` with smaller-or-equal values left of it.

    Quickselect with a median-of-3 pivot and branchless Lomuto partitions (no mispredicted
    branches on random data); values equal to the pivot are gathered in a second pass, so that
    constant runs cost O(n).
    """
    lo, hi = 0, a.size - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        x, y, z = a[lo], a[mid], a[hi]
        p = mid if (x <= y) == (y <= z) else (lo if (y <= x) == (x <= z) else hi)
        a[p], a[hi] = a[hi], a[p]
        pivot = a[hi]
        s = lo
        for i in range(lo, hi):  # a[lo:s] < pivot
            v = a[i]
            a[i] = a[s]
            a[s] = v
            s += v < pivot
        a[s], a[hi] = a[hi], a[s]
        if k <= s:
            if k == s:
                break
            hi = s - 1
            continue
        e = s + 1
        for i in range(s + 1, hi + 1):  # a[s:e] == pivot
            v = a[i]
            a[i] = a[e]
            a[e] = v
            e += v <= pivot
        if k < e:
            break
        lo = e
    return a[k]


@njit(cache=True, nogil=True)
def _medians(inv, values, n):
    """NaN-aware median per object and band. Band by band: the valid values are grouped by object
    (a counting sort, reading the raster in order), then the middle ones selected in place."""
    ny, nx = inv.shape
    start = np.zeros(n + 1, np.int64)
    for i in range(ny):
        for j in range(nx):
            if inv[i, j] >= 0:
                start[inv[i, j] + 1] += 1
    for k in range(n):
        start[k + 1] += start[k]
    buf = np.empty(start[n], values.dtype)
    fill = np.empty(n, np.int64)
    out = np.full((n, values.shape[0]), np.nan)
    for b in range(values.shape[0]):
        fill[:] = start[:n]
        for i in range(ny):
            for j in range(nx):
                k = inv[i, j]
                v = values[b, i, j]
                if k >= 0 and v == v:
                    buf[fill[k]] = v
                    fill[k] += 1
        for k in range(n):
            c = fill[k] - start[k]
            if c == 0:
                continue
            a = buf[start[k] : fill[k]]
            upper = np.float64(_select(a, c // 2))
            if c % 2:
                out[k, b] = upper
            else:  # the lower middle is the largest value left of c // 2
                out[k, b] = (np.float64(a[: c // 2].max()) + upper) / 2.0
    return out


# --------------------------------------------------------------------------- helpers


def _as_inputs(labels, values):
    """``labels`` 2-D int32/int64 and ``values`` 3-D float32/float64, no copy where possible;
    1-D labels with ``(b, m)`` values become ``(1, m)`` and ``(b, 1, m)``."""
    labels, values = np.asarray(labels), np.asarray(values)
    if labels.dtype.kind not in "iu" or labels.ndim not in (1, 2):
        raise InvalidInputError(
            f"labels must be a 1-D or 2-D integer array; got shape {labels.shape} "
            f"dtype {labels.dtype}."
        )
    if values.ndim != labels.ndim + 1 or values.shape[1:] != labels.shape:
        raise InvalidInputError(
            f"values must have shape (bands, {', '.join(map(str, labels.shape))}) to match "
            f"labels of shape {labels.shape}; got {values.shape}."
        )
    if labels.dtype not in (np.int32, np.int64):
        labels = labels.astype(np.int64)
    if values.dtype not in (np.float32, np.float64):
        values = values.astype(np.float64)
    if labels.ndim == 1:
        labels, values = labels[None, :], values[:, None, :]
    return labels, values


def _check_statistics(statistics, valid) -> tuple[str, ...]:
    statistics = (statistics,) if isinstance(statistics, str) else tuple(statistics)
    bad = [s for s in statistics if s not in valid]
    if bad or not statistics:
        raise InvalidInputError(
            f"Unknown statistic(s) {bad or '(none given)'}; valid statistics: {', '.join(valid)}."
        )
    return statistics


def _dense(labels):
    """(ids (n,) sorted int64, inv like ``labels`` int64 with -1 for label 0)."""
    ids, inv = _dense_by_table(labels, 2 * labels.size + (1 << 16))
    if inv.shape != labels.shape:  # labels too spread out for a table
        ids = _distinct(labels)
        inv = _map_to_ids(labels, ids)
    return ids, inv


def _ids_array(ids) -> np.ndarray:
    ids = np.unique(np.asarray(ids, dtype=np.int64).ravel())
    return ids[ids != 0]


def _partial(ids, inv, values) -> PartialStats:
    n_pixels, count, total, sumsq, vmin, vmax = _accumulate(inv, values, ids.size)
    vmin[count == 0] = vmax[count == 0] = np.nan
    return PartialStats(ids, n_pixels, count, total, sumsq, vmin, vmax)


def _columns(part: PartialStats, statistic: str) -> np.ndarray:
    if statistic == "count":
        return part.count.astype(np.float64)
    if statistic in ("min", "max"):
        return getattr(part, statistic)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = part.sum / part.count  # 0 / 0 = NaN where no valid pixel
        if statistic == "mean":
            return mean
        return np.sqrt(np.maximum(part.sumsq / part.count - mean * mean, 0.0))


# --------------------------------------------------------------------------- public API


def partial_statistics(labels, values) -> PartialStats:
    """Mergeable per-object accumulators over the pixels of one block.

    Parameters
    ----------
    labels : numpy.ndarray, (y, x) or (m,) integer
        Object labels, 0 = no object; any value of int64 (uint64 is read as int64).
    values : numpy.ndarray, (b, y, x) or (b, m) float32 or float64
        One row per measurement, NaN = nodata (other dtypes are converted to float64). Any
        memory layout.

    Returns
    -------
    PartialStats
        One row per non-zero label present, sorted by label; accumulated in float64.

    Raises
    ------
    InvalidInputError
        ``labels`` is not a 1-D or 2-D integer array, or ``values`` does not match it.
    """
    labels, values = _as_inputs(labels, values)
    return _partial(*_dense(labels), values)


def merge_partials(parts) -> PartialStats:
    """Combine the partial statistics of blocks (an object may appear in several of them).

    The result equals :func:`partial_statistics` on the union of the blocks' pixels (up to the
    order of the float64 summation).

    Raises
    ------
    InvalidInputError
        ``parts`` is empty or its members have different numbers of bands.
    """
    parts = list(parts)
    if not parts or len({p.n_bands for p in parts}) != 1:
        raise InvalidInputError(
            "merge_partials needs one or more PartialStats with the same number of bands; got "
            f"band counts {[p.n_bands for p in parts]}."
        )
    ids = np.concatenate([p.ids for p in parts])
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else np.empty(0, int)

    def combine(name, ufunc):  # fmin / fmax: NaN (no valid pixel in a block) loses
        stacked = np.concatenate([getattr(p, name) for p in parts])[order]
        return ufunc.reduceat(stacked, starts, axis=0) if ids.size else stacked

    fields = (("n_pixels", np.add), ("count", np.add), ("sum", np.add), ("sumsq", np.add))
    fields += (("min", np.fmin), ("max", np.fmax))
    return PartialStats(ids[starts], *(combine(name, ufunc) for name, ufunc in fields))


def finalise(part: PartialStats, statistics=("mean",)) -> np.ndarray:
    """Features from (merged) partial statistics.

    Parameters
    ----------
    part : PartialStats
        ``n`` objects, ``b`` bands.
    statistics : str or sequence of str
        Any of :data:`MERGEABLE_STATISTICS`: ``mean``, ``min``, ``max``, ``std`` (population,
        ``ddof=0``) and ``count`` (valid pixels).

    Returns
    -------
    numpy.ndarray, (n, len(statistics) * b) float64
        Statistic-major columns (every band of the first statistic, then of the next; names
        from :func:`feature_names`). NaN where an object has no valid pixel in a band, except
        ``count`` (0).

    Raises
    ------
    InvalidInputError
        An unknown statistic (``median`` does not merge: see :func:`object_medians`).
    """
    statistics = _check_statistics(statistics, MERGEABLE_STATISTICS)
    return np.concatenate([_columns(part, s) for s in statistics], axis=1)


def feature_names(measurements, statistics=("mean",)) -> list[str]:
    """Column names ``f"{measurement}_{statistic}"`` in the order of :func:`finalise`.

    >>> feature_names(["ndvi", "b04"], ["mean", "std"])
    ['ndvi_mean', 'b04_mean', 'ndvi_std', 'b04_std']
    """
    statistics = _check_statistics(statistics, STATISTICS)
    return [f"{m}_{s}" for s in statistics for m in measurements]


def select_pixels(labels, values, ids) -> tuple[np.ndarray, np.ndarray]:
    """The pixels whose label is in ``ids``, e.g. those of the objects crossing a tile edge.

    Parameters
    ----------
    labels, values : numpy.ndarray
        As for :func:`partial_statistics`.
    ids : array-like of int
        Labels to keep (0 is never kept).

    Returns
    -------
    labels : numpy.ndarray, (m,) int32 or int64
    values : numpy.ndarray, (b, m) float32 or float64
        In raster order. Concatenate those of several blocks along the last axis and pass them
        to :func:`object_medians`.
    """
    labels, values = _as_inputs(labels, values)
    keep = _map_to_ids(labels, _ids_array(ids)) >= 0
    return labels[keep], values[:, keep]


def object_medians(labels, values, ids=None) -> tuple[np.ndarray, np.ndarray]:
    """NaN-aware median of every object and band, equal to :func:`numpy.nanmedian`.

    Parameters
    ----------
    labels, values : numpy.ndarray
        As for :func:`partial_statistics` (e.g. the concatenated output of :func:`select_pixels`).
    ids : array-like of int, optional
        Only these objects; by default every non-zero label present.

    Returns
    -------
    ids : numpy.ndarray, (n,) int64
        Sorted unique labels (``ids`` sorted, without 0: an absent one gets a NaN row).
    medians : numpy.ndarray, (n, b) float64
        NaN where an object has no valid pixel in a band; the mean of the two middle values
        for an even count.
    """
    labels, values = _as_inputs(labels, values)
    if ids is None:
        ids, inv = _dense(labels)
    else:
        ids = _ids_array(ids)
        inv = _map_to_ids(labels, ids)
    return ids, _medians(inv, values, ids.size)


def object_statistics(labels, values, statistics=("mean",)):
    """Features of every object of one block, medians included.

    Parameters
    ----------
    labels, values : numpy.ndarray
        As for :func:`partial_statistics`.
    statistics : str or sequence of str
        Any of :data:`STATISTICS`: ``mean``, ``min``, ``max``, ``std``, ``count``, ``median``.

    Returns
    -------
    ids : numpy.ndarray, (n,) int64
        Sorted unique non-zero labels.
    n_pixels : numpy.ndarray, (n,) int64
        Pixels per object, valid or not.
    features : numpy.ndarray, (n, len(statistics) * b) float64
        Columns as in :func:`finalise` and :func:`feature_names`.

    Raises
    ------
    InvalidInputError
        Mismatched shapes, or an unknown statistic.
    """
    statistics = _check_statistics(statistics, STATISTICS)
    labels, values = _as_inputs(labels, values)
    ids, inv = _dense(labels)
    part = _partial(ids, inv, values)
    medians = _medians(inv, values, ids.size) if "median" in statistics else None
    columns = [medians if s == "median" else _columns(part, s) for s in statistics]
    return ids, part.n_pixels, np.concatenate(columns, axis=1)
