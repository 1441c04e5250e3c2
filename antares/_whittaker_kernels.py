"""The compiled (numba) loops of :func:`antares.timeseries.whittaker` and :func:`antares.timeseries.vcurve_lambda`.

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
