"""The compiled (numba) loops of :mod:`antares.timeseries`: the Whittaker solves, the V-curve, the median composite.

Per pixel: the banded system ``(W + λ DᵀD) z = W y`` (half-bandwidth d) is factorised as ``L Lᵀ``
(banded Cholesky) and solved by two banded triangular solves, ``O(n d²)`` per pixel, in scratch
arrays of the step count, allocated once per chunk of pixels. Single-threaded and without the GIL: a tile is one
task, and the tasks use the cores.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
def step_median(values, valid, times, out):
    """Per column of ``values`` (time, P) float32: the median of the rows ``times`` that are ``valid`` and not NaN.

    The same value as ``numpy.nanmedian`` in float32 (the mean of the two middle values when their
    number is even: ``(a + b) * 0.5`` in float32, as numpy's ``mean`` of two float32); NaN when there
    is none. Written into ``out`` (P,).
    """
    k = times.shape[0]
    p = values.shape[1]
    buf = np.empty(k, np.float32)
    half = np.float32(0.5)
    for j in range(p):
        n = 0
        for i in range(k):
            t = times[i]
            x = values[t, j]
            if valid[t, j] and not np.isnan(x):
                m = n  # insertion sort: few values per step
                while m > 0 and buf[m - 1] > x:
                    buf[m] = buf[m - 1]
                    m -= 1
                buf[m] = x
                n += 1
        if n == 0:
            out[j] = np.nan
        elif n % 2 == 1:
            out[j] = buf[n // 2]
        else:
            out[j] = np.float32(buf[n // 2 - 1] + buf[n // 2]) * half


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


@njit(cache=True, nogil=True)
def nearest_edges(z, flag):
    """Per row of ``z`` (P, n): steps flagged 2 (edges) take the value of the nearest step flagged 0 (observed)."""
    p, n = z.shape
    for j in range(p):
        first, last = -1, -1
        for i in range(n):
            if flag[j, i] == 0:
                if first < 0:
                    first = i
                last = i
        if first < 0:
            continue
        for i in range(first):
            z[j, i] = z[j, first]
        for i in range(last + 1, n):
            z[j, i] = z[j, last]
