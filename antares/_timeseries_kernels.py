"""The compiled (numba) loops of :mod:`antares.timeseries`: the Whittaker solves, the V-curve, the median composite.

Per pixel: the banded system ``(W + λ DᵀD) z = W y`` (half-bandwidth d) is factorised as ``L Lᵀ``
(banded Cholesky) and solved by two banded triangular solves, ``O(n d²)`` per pixel, in scratch
arrays of the step count, allocated once per chunk of pixels. Without the GIL; the loops a tile runs
(:func:`step_medians`, :func:`regularise_pixels`) are parallel over chunks of pixels on numba's threads
(``numba.set_num_threads``: :func:`antares.pipeline.timeseries.series_tile` gives them the tile's share of
the cores), the others single-threaded.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def _solve(y, w, lam, pen, b, low, u, z):
    """One pixel: z of (diag(w) + lam * P) z = w y, with P's lower bands ``pen[k][i] = P[i, i-k]``.

    Returns False (z unspecified) when the matrix is not positive definite (too few weights).
    """
    n = y.shape[0]
    for i in range(n):
        for k in range(min(i, b), 0, -1):
            j = i - k
            acc = lam * pen[k, i]
            for m in range(max(0, i - b), j):
                acc -= low[i - m, i] * low[j - m, j]
            low[k, i] = acc / low[0, j]
        d = w[i] + lam * pen[0, i]
        acc = d
        for m in range(max(0, i - b), i):
            acc -= low[i - m, i] * low[i - m, i]
        if not acc > 1e-12 * max(d, 1.0):
            return False
        low[0, i] = np.sqrt(acc)
    for i in range(n):
        acc = w[i] * y[i] if w[i] > 0 else 0.0
        for m in range(max(0, i - b), i):
            acc -= low[i - m, i] * u[m]
        u[i] = acc / low[0, i]
    for i in range(n - 1, -1, -1):
        acc = u[i]
        for m in range(i + 1, min(n, i + b + 1)):
            acc -= low[m - i, m] * z[m]
        z[i] = acc / low[0, i]
    return True


CHUNK = 1024  # pixels per parallel chunk (scratch arrays are allocated once per chunk)


@njit(cache=True, nogil=True)
def whittaker_pixels(y, w, lam, pen, b, out):
    """Smooth every row of ``y`` (P, n) with weights ``w`` (P, n) and ``lam`` (P,) into ``out`` (P, n); NaN if singular."""
    p, n = y.shape
    for c in range((p + CHUNK - 1) // CHUNK):
        low = np.zeros((b + 1, n))
        u = np.empty(n)
        z = np.empty(n)
        for j in range(c * CHUNK, min(p, (c + 1) * CHUNK)):
            if _solve(y[j], w[j], lam[j], pen, b, low, u, z):
                out[j] = z
            else:
                out[j] = np.nan


@njit(cache=True, nogil=True)
def _vcurve(y, w, grid, pen, b, low, u, z, fit, rough):
    """One pixel's V-curve λ (NaN when some λ of the grid gives a singular system)."""
    n = y.shape[0]
    g = grid.shape[0]
    dz = np.empty(n)
    for k in range(g):
        if not _solve(y, w, 10.0 ** grid[k], pen, b, low, u, z):
            return np.nan
        f = 0.0
        for i in range(n):
            if w[i] > 0:
                f += w[i] * (y[i] - z[i]) ** 2
        for i in range(n):
            dz[i] = z[i]
        m = n
        for _ in range(b):  # the b-th differences, in place
            for i in range(m - 1):
                dz[i] = dz[i + 1] - dz[i]
            m -= 1
        r = 0.0
        for i in range(m):
            r += dz[i] ** 2
        fit[k] = np.log(f + 1e-12)
        rough[k] = np.log(r + 1e-12)
    best = 0
    vbest = np.inf
    for k in range(g - 1):
        v = np.sqrt((fit[k + 1] - fit[k]) ** 2 + (rough[k + 1] - rough[k]) ** 2)
        if v < vbest:
            best = k
            vbest = v
    return 10.0 ** ((grid[best] + grid[best + 1]) / 2)


@njit(cache=True, nogil=True)
def vcurve_pixels(y, w, grid, pen, b, out):
    """λ per row of ``y`` (P, n) by the V-curve over ``grid`` (log10 λ, increasing) into ``out`` (P,)."""
    p, n = y.shape
    g = grid.shape[0]
    for c in range((p + CHUNK - 1) // CHUNK):
        low = np.zeros((b + 1, n))
        u = np.empty(n)
        z = np.empty(n)
        fit = np.empty(g)
        rough = np.empty(g)
        for j in range(c * CHUNK, min(p, (c + 1) * CHUNK)):
            out[j] = _vcurve(y[j], w[j], grid, pen, b, low, u, z, fit, rough)


@njit(cache=True, nogil=True)
def gapfill_pixels(y, t, out, flag):
    """Per row of ``y`` (P, n) float32: NaN steps linear in ``t`` between the neighbouring observed steps, edges nearest.

    ``numpy.interp(t, t[observed], y[observed])`` per row (the interpolation in float64, stored as
    float32); ``flag``: 0 observed, 1 interpolated, 2 edge, 255 for a row without any observation
    (its ``out`` all NaN).
    """
    p, n = y.shape
    for j in range(p):
        prev = -1
        for i in range(n):
            if not np.isnan(y[j, i]):
                out[j, i] = y[j, i]
                flag[j, i] = 0
                if prev < 0:
                    for e in range(i):  # leading edge: the first observation
                        out[j, e] = y[j, i]
                        flag[j, e] = 2
                elif i - prev > 1:
                    y0, y1 = np.float64(y[j, prev]), np.float64(y[j, i])
                    span = t[i] - t[prev]
                    for m in range(prev + 1, i):
                        out[j, m] = np.float32(y0 + (y1 - y0) * ((t[m] - t[prev]) / span))
                        flag[j, m] = 1
                prev = i
        if prev < 0:
            for i in range(n):
                out[j, i] = np.nan
                flag[j, i] = 255
        else:
            for e in range(prev + 1, n):  # trailing edge: the last observation
                out[j, e] = y[j, prev]
                flag[j, e] = 2


@njit(cache=True, nogil=True, parallel=True)
def step_medians(values, offset, scale, valid, order, starts, out, counts):
    """The median of every step's observations, parallel over pixels, and the count of valid observations.

    ``values`` (time, P), any real dtype (raw DN or float32), taken as ``(float32(v) + offset[t]) *
    scale[t]`` (float32; ``offset`` and ``scale`` (time,) float32: the DN -> reflectance conversion of
    :func:`antares.pipeline.timeseries.reflectance`, or 0 and 1); ``valid`` (time, P) bool; the times
    of step k are ``order[starts[k]:starts[k + 1]]`` (ascending). ``out`` (step, P) float32 gets each
    step's median of the valid, non-NaN values (``numpy.nanmedian``'s value in float32: the mean of the
    two middle values is ``(a + b) * 0.5`` in float32, as numpy's ``mean`` of two float32; NaN where
    none); ``counts`` (step, P) int32 the number of valid observations (written when it has P
    columns; pass a (step, 0) array to skip it).
    """
    p = values.shape[1]
    s = starts.shape[0] - 1
    half = np.float32(0.5)
    with_counts = counts.shape[1] == p
    for c in prange((p + CHUNK - 1) // CHUNK):
        buf = np.empty(max(order.shape[0], 1), np.float32)
        for j in range(c * CHUNK, min(p, (c + 1) * CHUNK)):
            for k in range(s):
                n = 0
                nvalid = 0
                for q in range(starts[k], starts[k + 1]):
                    t = order[q]
                    if valid[t, j]:
                        nvalid += 1
                        x = (np.float32(values[t, j]) + offset[t]) * scale[t]
                        if not np.isnan(x):
                            m = n  # insertion sort: few values per step
                            while m > 0 and buf[m - 1] > x:
                                buf[m] = buf[m - 1]
                                m -= 1
                            buf[m] = x
                            n += 1
                if with_counts:
                    counts[k, j] = nvalid
                if n == 0:
                    out[k, j] = np.nan
                elif n % 2 == 1:
                    out[k, j] = buf[n // 2]
                else:
                    out[k, j] = np.float32(buf[n // 2 - 1] + buf[n // 2]) * half


@njit(cache=True, nogil=True, parallel=True)
def regularise_pixels(y, counts, t, smooth, lam, use_counts, vcurve, grid, pen, b, out, flag):
    """:func:`antares.timeseries.regularise` of every pixel in one pass: gap filling, Whittaker, nearest edges.

    ``y`` (n, P) float32 composites (NaN: none), ``counts`` (n, P) int, ``t`` (n,) step times.
    ``smooth``: False: only :func:`gapfill_pixels`; True: the Whittaker solve of :func:`whittaker_pixels`
    with λ = ``lam`` or, with ``vcurve``, the λ of :func:`_vcurve` over ``grid`` (the grid's middle
    where the pixel has at most ``b`` weighted steps or the V-curve is singular), weights 1 or
    ``counts`` (``use_counts``) on the observed steps; edges take the smoothed value of the nearest
    observed step; a pixel whose system is singular keeps its gap-filled series. ``out`` (n, P)
    float32, NaN where the pixel has no observation; ``flag`` (n, P) uint8 as :func:`gapfill_pixels`.
    Every pixel's arithmetic is that of the separate loops (float64 solves), parallel over pixels.
    """
    n, p = y.shape
    g = grid.shape[0]
    mid = 10.0 ** grid[g // 2] if g > 0 else 1.0
    for c in prange((p + CHUNK - 1) // CHUNK):
        low = np.zeros((b + 1, n))
        u = np.empty(n)
        z = np.empty(n)
        ys = np.empty(n)
        ws = np.empty(n)
        filled = np.empty(n, np.float32)
        fl = np.empty(n, np.uint8)
        fit = np.empty(max(g, 1))
        rough = np.empty(max(g, 1))
        for j in range(c * CHUNK, min(p, (c + 1) * CHUNK)):
            prev = -1
            first = -1
            for i in range(n):
                yi = y[i, j]
                if not np.isnan(yi):
                    filled[i] = yi
                    fl[i] = 0
                    if prev < 0:
                        first = i
                        for e in range(i):
                            filled[e] = yi
                            fl[e] = 2
                    elif i - prev > 1:
                        y0, y1 = np.float64(y[prev, j]), np.float64(yi)
                        span = t[i] - t[prev]
                        for m in range(prev + 1, i):
                            filled[m] = np.float32(y0 + (y1 - y0) * ((t[m] - t[prev]) / span))
                            fl[m] = 1
                    prev = i
            if prev < 0:
                for i in range(n):
                    out[i, j] = np.nan
                    flag[i, j] = 255
                continue
            for e in range(prev + 1, n):
                filled[e] = y[prev, j]
                fl[e] = 2
            for i in range(n):
                flag[i, j] = fl[i]
            if not smooth:
                for i in range(n):
                    out[i, j] = filled[i]
                continue
            npos = 0
            for i in range(n):
                yi = y[i, j]
                ys[i] = np.float64(yi)
                if np.isnan(yi):
                    ws[i] = 0.0
                else:
                    ws[i] = np.float64(counts[i, j]) if use_counts else 1.0
                if ws[i] > 0:
                    npos += 1
            lam_j = lam
            if vcurve:
                lam_j = _vcurve(ys, ws, grid, pen, b, low, u, z, fit, rough)
                if not npos > b or np.isnan(lam_j):
                    lam_j = mid
            if _solve(ys, ws, lam_j, pen, b, low, u, z):
                last = prev
                for e in range(first):
                    z[e] = z[first]
                for e in range(last + 1, n):
                    z[e] = z[last]
                for i in range(n):
                    out[i, j] = np.float32(z[i])
            else:  # too few observations to smooth: the filled series
                for i in range(n):
                    out[i, j] = filled[i]


def use_threads(threads: int) -> int:
    """Run the parallel loops on ``threads`` of numba's threads (at most its pool's size, at least 1); returns the number."""
    import numba

    n = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n
