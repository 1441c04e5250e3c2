"""The compiled (numba) loops of :mod:`antares.recipes.blockwise`.

Only :mod:`antares.recipes.blockwise` imports this module (numba loads on the first block).
Every loop walks C-contiguous ``(time, y, x)`` blocks row by row: for each row ``y`` the
per-pixel accumulators of that row stay in cache while the dates stream past, so a block is
read once, without temporaries. The arithmetic is the reference's, operation for operation
(:meth:`antares.recipes.Recipe.compute`, :func:`antares.recipes.reducers.reduce_time`,
:func:`antares.cube.reflectance.to_reflectance`): float32 where the reference computes in
float32, float64 accumulators where it accumulates in float64, sums in time order. NaN means
"not observed"; comparisons with NaN are false, which the min / max / argmax loops rely on.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def prepare_band(dn, offset, scale, convert, has_nodata, nodata, clear, has_clear, out, store, count, total,
                 accumulate, complete, track):
    """One pass over a band's raw block: masked reflectance, and/or valid count and float64 sum, and clear_count.

    For each observation: ``x = (float32(dn) + offset[t]) * scale[t]`` (float32) when ``convert``,
    else ``x = dn``; it is valid when ``clear[t]`` (if ``has_clear``), ``dn != nodata`` (if
    ``has_nodata``) and ``x`` is not NaN. ``store``: ``out = x`` if valid else NaN.
    ``accumulate``: ``count += valid``, ``total += x`` if valid (float64, in time order).
    ``track``: ``complete &= valid``. The flags only choose which rows the one fused loop
    reads and writes (a row of ones, or scratch rows), so the loop has no branch and vectorises.
    """
    n_t, n_y, n_x = dn.shape
    row_count = np.zeros(n_x, np.int64)
    row_total = np.zeros(n_x, np.float64)
    ones = np.ones(n_x, np.bool_)
    scratch_ok = np.empty(n_x, np.bool_)
    scratch_x = np.empty(n_x, np.float32)
    any_nodata = not has_nodata
    nan = np.float32(np.nan)
    for i in range(n_y):
        row_count[:] = 0
        row_total[:] = 0.0
        for t in range(n_t):
            raw = dn[t, i]
            keep = clear[t, i] if has_clear else ones
            done = complete[t, i] if track else scratch_ok
            row = out[t, i] if store else scratch_x
            o = offset[t]
            s = scale[t]
            if convert and not store:
                for j in range(n_x):
                    x = (np.float32(raw[j]) + o) * s
                    ok = (x == x) & (any_nodata | (raw[j] != nodata)) & keep[j]
                    row_count[j] += ok
                    row_total[j] += x if ok else 0.0
                    done[j] = done[j] & ok
            elif convert:
                for j in range(n_x):
                    x = (np.float32(raw[j]) + o) * s
                    ok = (x == x) & (any_nodata | (raw[j] != nodata)) & keep[j]
                    row[j] = x if ok else nan
                    row_count[j] += ok
                    row_total[j] += x if ok else 0.0
                    done[j] = done[j] & ok
            else:
                for j in range(n_x):
                    x = np.float32(raw[j])
                    ok = (x == x) & keep[j]
                    row[j] = x if ok else nan
                    row_count[j] += ok
                    row_total[j] += x if ok else 0.0
                    done[j] = done[j] & ok
        if accumulate:
            count[i, :] = row_count
            total[i, :] = row_total


@njit(cache=True, nogil=True)
def basic_stats(values, count, total, want_total, vmin, want_min, vmax, want_max, argmax, want_argmax):
    """Valid count and, as asked, float64 sum, min, max and the first date of the max of a float32 block."""
    n_t, n_y, n_x = values.shape
    row_count = np.zeros(n_x, np.int64)
    row_total = np.zeros(n_x, np.float64)
    row_min = np.empty(n_x, np.float32)
    row_max = np.empty(n_x, np.float32)
    row_arg = np.zeros(n_x, np.int64)
    for i in range(n_y):
        row_count[:] = 0
        row_total[:] = 0.0
        row_min[:] = np.inf
        row_max[:] = -np.inf
        row_arg[:] = 0
        for t in range(n_t):
            row = values[t, i]
            for j in range(n_x):
                row_count[j] += row[j] == row[j]
            if want_total:
                for j in range(n_x):
                    row_total[j] += row[j] if row[j] == row[j] else 0.0
            if want_min:  # comparisons with NaN are false: NaN never wins
                for j in range(n_x):
                    row_min[j] = row[j] if row[j] < row_min[j] else row_min[j]
            if want_argmax:
                for j in range(n_x):
                    row_arg[j] = t if row[j] > row_max[j] else row_arg[j]
            if want_max or want_argmax:
                for j in range(n_x):
                    row_max[j] = row[j] if row[j] > row_max[j] else row_max[j]
        count[i, :] = row_count
        if want_total:
            total[i, :] = row_total
        if want_min:
            vmin[i, :] = row_min
        if want_max:
            vmax[i, :] = row_max
        if want_argmax:
            argmax[i, :] = row_arg


@njit(cache=True, nogil=True)
def squared_deviations(values, mean32, out):
    """``out = sum over valid dates of (x - mean32) ** 2``: differences and squares in float32, the sum in float64."""
    n_t, n_y, n_x = values.shape
    row = np.zeros(n_x, np.float64)
    for i in range(n_y):
        row[:] = 0.0
        for t in range(n_t):
            for j in range(n_x):
                x = values[t, i, j]
                if x == x:
                    d = x - mean32[i, j]
                    row[j] += d * d
        out[i, :] = row


@njit(cache=True, nogil=True)
def percentiles(values, fractions, out):
    """``out[k]``: the linear-interpolation percentile ``100 * fractions[k]`` of each pixel's valid values.

    As :func:`numpy.nanpercentile` (``method="linear"``): rank ``(n - 1) * fraction`` in the sorted
    valid values, ``a + (b - a) * (rank - floor(rank))`` in float64. Pixels without a valid value
    get 0 (the caller writes NaN there).
    """
    n_t, n_y, n_x = values.shape
    gathered = np.empty((n_x, n_t), np.float32)
    n = np.zeros(n_x, np.int64)
    for i in range(n_y):
        n[:] = 0
        for t in range(n_t):
            for j in range(n_x):
                x = values[t, i, j]
                if x == x:
                    gathered[j, n[j]] = x
                    n[j] += 1
        for j in range(n_x):
            m = n[j]
            row = gathered[j]
            for a in range(1, m):  # insertion sort: a few dozen dates
                x = row[a]
                b = a - 1
                while b >= 0 and row[b] > x:
                    row[b + 1] = row[b]
                    b -= 1
                row[b + 1] = x
            last = max(m - 1, 0)
            for k in range(fractions.shape[0]):
                rank = last * fractions[k]
                low = int(np.floor(rank))
                high = min(low + 1, last)
                lo = np.float64(row[low]) if m else 0.0
                hi = np.float64(row[high]) if m else 0.0
                out[k, i, j] = lo + (hi - lo) * (rank - low)


@njit(cache=True, nogil=True)
def normalized_difference(a, b, out):
    """``out = (a - b) / (a + b)`` in float32, NaN where ``a + b == 0`` (no inf); NaN propagates."""
    n_t, n_y, n_x = a.shape
    for t in range(n_t):
        for i in range(n_y):
            for j in range(n_x):
                x = a[t, i, j]
                y = b[t, i, j]
                den = x + y
                out[t, i, j] = (x - y) / den if den != 0 else np.float32(np.nan)


@njit(cache=True, nogil=True)
def count_true(mask, out):
    """``out = mask.sum(axis=0)`` for a (time, y, x) boolean block."""
    n_t, n_y, n_x = mask.shape
    row = np.zeros(n_x, np.int64)
    for i in range(n_y):
        row[:] = 0
        for t in range(n_t):
            for j in range(n_x):
                row[j] += mask[t, i, j]
        out[i, :] = row
