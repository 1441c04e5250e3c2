"""Per-object statistics from a label raster: the hot loop of object-based classification.

An *object* is the set of pixels that share one non-zero label (a segment, or a rasterised
training sample); label 0 is no object. ``values`` holds one row per measurement, NaN = nodata.
Everything is one pass over the pixels for all bands at once, in compiled (numba) kernels, after
the labels are mapped to dense indices ``0 .. n-1``:

* labels within a moderate range (``max - min`` at most about twice the pixel count, e.g. the
  local ids of one tile) through a lookup table;
* any other labels (segment ids are ``tile index * 2**32 + local id``) through an open-addressing
  hash table, then sorted.

Statistics of an object split across blocks merge exactly (counts and sums add, minima and maxima
combine): :func:`partial_statistics` per block, :func:`merge_partials`, :func:`finalise`. Medians
do not merge: collect the pixels of the objects that cross block edges with :func:`select_pixels`,
concatenate them, and pass them to :func:`object_medians` (which takes 1-D labels with ``(b, m)``
values as well as rasters).

The standard deviation is the population one (``ddof=0``, like :func:`numpy.nanstd`), computed as
``sqrt(sumsq / count - mean**2)`` in float64; for float32 inputs its relative error is about
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

_INT64_MAX = np.iinfo(np.int64).max


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

    def __len__(self) -> int:
        return len(self.ids)


# --------------------------------------------------------------------------- compiled kernels


@njit(cache=True, nogil=True)
def _label_range(labels):
    """(min, max) of the non-zero labels; min > max when there is none."""
    lo = _INT64_MAX
    hi = -_INT64_MAX
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            v = np.int64(labels[i, j])
            if v != 0:
                lo = min(lo, v)
                hi = max(hi, v)
    return lo, hi


@njit(cache=True, nogil=True)
def _dense_by_table(labels, lo, size):
    """Dense indices through a lookup table of ``size`` entries from label ``lo``."""
    table = np.full(size, -1, np.int64)
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            v = np.int64(labels[i, j])
            if v != 0:
                table[v - lo] = 0
    n = 0
    for t in range(size):
        if table[t] == 0:
            table[t] = n
            n += 1
    ids = np.empty(n, np.int64)
    for t in range(size):
        if table[t] >= 0:
            ids[table[t]] = t + lo
    inv = np.empty(labels.shape, np.int64)
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            v = np.int64(labels[i, j])
            inv[i, j] = table[v - lo] if v != 0 else -1
    return ids, inv


@njit(cache=True, nogil=True)
def _slot(v, mask):
    h = v ^ (v >> 31)
    h *= -7046029254386353131  # 0x9E3779B97F4A7C15 as int64; wraps
    return (h ^ (h >> 29)) & mask


@njit(cache=True, nogil=True)
def _dense_by_hash(labels):
    """Dense indices through an open-addressing hash table (any label values)."""
    cap = 1 << 12
    keys = np.zeros(cap, np.int64)
    slots = np.full(cap, -1, np.int64)
    first = np.empty(cap // 2, np.int64)  # labels in order of first appearance
    n = 0
    inv = np.empty(labels.shape, np.int64)
    last, last_k = np.int64(0), -1
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            v = np.int64(labels[i, j])
            if v == 0:
                inv[i, j] = -1
                continue
            if v != last:
                h = _slot(v, cap - 1)
                while slots[h] >= 0 and keys[h] != v:
                    h = (h + 1) & (cap - 1)
                if slots[h] < 0:  # a new label: insert it, growing the table first if needed
                    if 2 * (n + 1) > cap:
                        cap *= 2
                        keys, slots = np.zeros(cap, np.int64), np.full(cap, -1, np.int64)
                        grown = np.empty(cap // 2, np.int64)
                        grown[:n] = first[:n]
                        first = grown
                        for k in range(n):
                            g = _slot(first[k], cap - 1)
                            while slots[g] >= 0:
                                g = (g + 1) & (cap - 1)
                            keys[g], slots[g] = first[k], k
                        h = _slot(v, cap - 1)
                        while slots[h] >= 0:
                            h = (h + 1) & (cap - 1)
                    keys[h], slots[h] = v, n
                    first[n] = v
                    n += 1
                last, last_k = v, slots[h]
            inv[i, j] = last_k
    order = np.argsort(first[:n])
    rank = np.empty(n, np.int64)
    for r in range(n):
        rank[order[r]] = r
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            if inv[i, j] >= 0:
                inv[i, j] = rank[inv[i, j]]
    return first[:n][order], inv


@njit(cache=True, nogil=True)
def _map_to_ids(labels, ids):
    """Index of each label in the sorted ``ids``, -1 for 0 and for labels not in ``ids``."""
    inv = np.empty(labels.shape, np.int64)
    last, last_k = np.int64(0), -1
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            v = np.int64(labels[i, j])
            if v != last:
                k = np.searchsorted(ids, v)
                last, last_k = v, (k if k < ids.size and ids[k] == v else -1)
            inv[i, j] = last_k if v != 0 else -1
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
    for k in range(n):
        for b in range(nb):
            if count[k, b] == 0:
                vmin[k, b] = np.nan
                vmax[k, b] = np.nan
    return n_pixels, count, total, sumsq, vmin, vmax


@njit(cache=True, nogil=True)
def _select(a, c, k):
    """The k-th smallest of ``a[:c]`` (Wirth's quickselect, in place)."""
    lo, hi = 0, c - 1
    while lo < hi:
        x = a[k]
        i, j = lo, hi
        while i <= j:
            while a[i] < x:
                i += 1
            while x < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if j < k:
            lo = i
        if k < i:
            hi = j
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
    buf = np.empty(start[n], np.float64)
    fill = np.empty(n, np.int64)
    out = np.full((n, values.shape[0]), np.nan)
    for b in range(values.shape[0]):
        fill[:] = start[:n]
        for i in range(ny):
            for j in range(nx):
                k = inv[i, j]
                v = np.float64(values[b, i, j])
                if k >= 0 and v == v:
                    buf[fill[k]] = v
                    fill[k] += 1
        for k in range(n):
            c = fill[k] - start[k]
            if c == 0:
                continue
            a = buf[start[k] : fill[k]]
            upper = _select(a, c, c // 2)
            if c % 2:
                out[k, b] = upper
            else:  # the lower middle is the largest value left of c // 2
                lower = a[0]
                for t in range(1, c // 2):
                    lower = max(lower, a[t])
                out[k, b] = (lower + upper) / 2.0
    return out


# --------------------------------------------------------------------------- validation


def _as_inputs(labels, values):
    """``labels`` as a 2-D int32/int64 array and ``values`` as 3-D float32/float64 (no copy if
    possible); 1-D labels with ``(b, m)`` values become ``(1, m)`` and ``(b, 1, m)``."""
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
    lo, hi = _label_range(labels)
    if lo > hi:
        return np.empty(0, np.int64), np.full(labels.shape, -1, np.int64)
    size = int(hi) - int(lo) + 1
    if size <= 2 * labels.size + (1 << 16):
        return _dense_by_table(labels, lo, size)
    return _dense_by_hash(labels)


def _ids_array(ids) -> np.ndarray:
    ids = np.unique(np.asarray(ids, dtype=np.int64).ravel())
    return ids[ids != 0]


# --------------------------------------------------------------------------- public API


def partial_statistics(labels, values) -> PartialStats:
    """Mergeable per-object accumulators over the pixels of one block.

    Parameters
    ----------
    labels : numpy.ndarray, (y, x) or (m,) integer
        Object labels, 0 = no object. Any value up to ``2**63 - 1``.
    values : numpy.ndarray, (b, y, x) or (b, m) float32 or float64
        One row per measurement, NaN = nodata (other dtypes are converted to float64).

    Returns
    -------
    PartialStats
        One row per non-zero label present, sorted by label; accumulated in float64.

    Raises
    ------
    InvalidInputError
        ``labels`` is not an integer array, or the shapes do not match.
    """
    labels, values = _as_inputs(labels, values)
    ids, inv = _dense(labels)
    return PartialStats(ids, *_accumulate(inv, values, ids.size))


def merge_partials(parts) -> PartialStats:
    """Combine the partial statistics of several blocks (an object may appear in several).

    The result equals :func:`partial_statistics` on the union of the blocks' pixels (up to the
    order of float64 summation).

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

    def combine(name, ufunc):
        stacked = np.concatenate([getattr(p, name) for p in parts])[order]
        return ufunc.reduceat(stacked, starts, axis=0) if ids.size else stacked

    return PartialStats(
        ids[starts],
        combine("n_pixels", np.add),
        combine("count", np.add),
        combine("sum", np.add),
        combine("sumsq", np.add),
        combine("min", np.fmin),
        combine("max", np.fmax),
    )


def _stat_columns(part: PartialStats, statistic: str) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        if statistic == "count":
            return part.count.astype(np.float64)
        if statistic in ("min", "max"):
            return getattr(part, statistic)
        mean = part.sum / part.count  # 0 / 0 = NaN where no valid pixel
        if statistic == "mean":
            return mean
        return np.sqrt(np.maximum(part.sumsq / part.count - mean * mean, 0.0))


def finalise(part: PartialStats, statistics=("mean",)) -> np.ndarray:
    """Features from (merged) partial statistics.

    Parameters
    ----------
    part : PartialStats
        ``n`` objects, ``b`` bands.
    statistics : sequence of str
        Any of :data:`MERGEABLE_STATISTICS`: ``mean``, ``min``, ``max``, ``std`` (population,
        ``ddof=0``) and ``count`` (valid pixels).

    Returns
    -------
    numpy.ndarray, (n, len(statistics) * b) float64
        Columns statistic-major (for each statistic, every band; see :func:`feature_names`).
        NaN where an object has no valid pixel in a band, except ``count`` (0).

    Raises
    ------
    InvalidInputError
        An unknown statistic (``median`` does not merge: see :func:`object_medians`).
    """
    statistics = _check_statistics(statistics, MERGEABLE_STATISTICS)
    return np.concatenate([_stat_columns(part, s) for s in statistics], axis=1)


def feature_names(measurements, statistics=("mean",)) -> list[str]:
    """Column names ``f"{measurement}_{statistic}"`` in the order of :func:`finalise`.

    >>> feature_names(["ndvi", "b04"], ["mean", "std"])
    ['ndvi_mean', 'b04_mean', 'ndvi_std', 'b04_std']
    """
    statistics = _check_statistics(statistics, STATISTICS)
    return [f"{m}_{s}" for s in statistics for m in measurements]


def select_pixels(labels, values, ids) -> tuple[np.ndarray, np.ndarray]:
    """The pixels whose label is in ``ids``, e.g. of the objects that cross a tile edge.

    Parameters
    ----------
    labels : numpy.ndarray, (y, x) or (m,) integer
    values : numpy.ndarray, (b, y, x) or (b, m) float
    ids : array-like of int
        Labels to keep (0 is never kept).

    Returns
    -------
    labels : numpy.ndarray, (k,) int32 or int64
    values : numpy.ndarray, (b, k) float32 or float64
        In raster order; concatenate those of several blocks along the last axis and pass them
        to :func:`object_medians`.
    """
    labels, values = _as_inputs(labels, values)
    keep = _map_to_ids(labels, _ids_array(ids)) >= 0
    return labels[keep], values[:, keep]


def object_medians(labels, values, ids=None) -> tuple[np.ndarray, np.ndarray]:
    """NaN-aware median of every object and band (equal to :func:`numpy.nanmedian`).

    Parameters
    ----------
    labels : numpy.ndarray, (y, x) or (m,) integer
        Object labels, 0 = no object.
    values : numpy.ndarray, (b, y, x) or (b, m) float
        NaN = nodata.
    ids : array-like of int, optional
        Only these objects; default every non-zero label present.

    Returns
    -------
    ids : numpy.ndarray, (n,) int64
        Sorted unique labels (``ids`` as given, sorted, without 0: absent ones get NaN rows).
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
    """Features of every object of one block (see :func:`partial_statistics` for the inputs).

    Parameters
    ----------
    statistics : sequence of str
        Any of :data:`STATISTICS` (``mean``, ``min``, ``max``, ``std``, ``count``, ``median``).

    Returns
    -------
    ids : numpy.ndarray, (n,) int64
        Sorted unique non-zero labels.
    n_pixels : numpy.ndarray, (n,) int64
        Pixels per object, valid or not.
    features : numpy.ndarray, (n, len(statistics) * b) float64
        Columns as :func:`feature_names`; NaN where an object has no valid pixel in a band.

    Raises
    ------
    InvalidInputError
        Mismatched shapes, or an unknown statistic.
    """
    statistics = _check_statistics(statistics, STATISTICS)
    labels, values = _as_inputs(labels, values)
    ids, inv = _dense(labels)
    part = PartialStats(ids, *_accumulate(inv, values, ids.size))
    medians = _medians(inv, values, ids.size) if "median" in statistics else None
    columns = [medians if s == "median" else _stat_columns(part, s) for s in statistics]
    return ids, part.n_pixels, np.concatenate(columns, axis=1)
