"""The compiled (numba) loops of :mod:`antares.timeseries`: the Whittaker solves, the V-curve, the median composite.

Per pixel: the banded system ``(W + λ DᵀD) z = W y`` (half-bandwidth d) is factorised as ``L Lᵀ``
(banded Cholesky) and solved by two banded triangular solves, ``O(n d²)`` per pixel. The loops a tile
runs (:func:`step_medians`, :func:`regularise_variables`) take LANES pixels at a time with the time
steps outermost and the pixels innermost, on contiguous rows of the (step, pixel) arrays, so LLVM
vectorises them; every pixel's arithmetic is that of the per-pixel loops (:func:`_solve`, :func:`_vcurve`,
:func:`gapfill_pixels`) operation for operation (no fastmath), so the values are the same bit for bit
(``tests/unit/test_timeseries_lanes.py`` keeps the per-pixel loops they replaced as the reference).
:func:`regularise_variables` factorises once per pixel for all variables with the same weights. Without
the GIL; the tile's loops are parallel over groups of pixels on numba's threads (``numba.set_num_threads``:
:func:`antares.pipeline.timeseries.series_tile` gives them the tile's share of the cores), the others
single-threaded.
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


def use_threads(threads: int) -> int:
    """Run the parallel loops on ``threads`` of numba's threads (at most its pool's size, at least 1); returns the number."""
    import numba

    n = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


# ------------------------------------------------------------------------------------------------ lanes
# The loops below process LANES pixels at a time with time as the outer loop and the pixels innermost
# (contiguous), so LLVM vectorises them; every pixel's arithmetic is the per-pixel loops' above, operation
# for operation in the same order (no fastmath, no FMA contraction), so the values are the same bit for bit.
LANES = 256


@njit(cache=True, nogil=True, error_model="numpy")
def _factor_lanes(w, lam, pen, b, low, ok, dd, nl):
    """:func:`_solve`'s banded Cholesky of ``diag(w[:, l]) + lam[l] * P`` for lanes ``l < nl``; ``ok[l]``: positive definite.

    ``w`` (n, LANES) float64, ``lam`` (LANES,), ``low`` (b + 1, n, LANES) gets L's bands, ``dd`` (LANES,) scratch.
    A lane that is not positive definite goes on with NaN (never read: ``ok`` is False).
    """
    n = w.shape[0]
    for l in range(nl):
        ok[l] = True
    for i in range(n):
        for k in range(min(i, b), 0, -1):
            j = i - k
            pk = pen[k, i]
            for l in range(nl):
                low[k, i, l] = lam[l] * pk
            for m in range(max(0, i - b), j):
                for l in range(nl):
                    low[k, i, l] = low[k, i, l] - low[i - m, i, l] * low[j - m, j, l]
            for l in range(nl):
                low[k, i, l] = low[k, i, l] / low[0, j, l]
        p0 = pen[0, i]
        for l in range(nl):
            dd[l] = w[i, l] + lam[l] * p0
            low[0, i, l] = dd[l]
        for m in range(max(0, i - b), i):
            for l in range(nl):
                low[0, i, l] = low[0, i, l] - low[i - m, i, l] * low[i - m, i, l]
        for l in range(nl):
            a = low[0, i, l]
            ok[l] = ok[l] and a > 1e-12 * max(dd[l], 1.0)
            low[0, i, l] = np.sqrt(a)


@njit(cache=True, nogil=True, error_model="numpy")
def _solve_lanes(y, w, low, b, u, z, nl):
    """:func:`_solve`'s two banded triangular solves for lanes ``l < nl`` with the factor ``low`` of :func:`_factor_lanes`."""
    n = y.shape[0]
    for i in range(n):
        for l in range(nl):
            u[i, l] = w[i, l] * y[i, l] if w[i, l] > 0 else 0.0
        for m in range(max(0, i - b), i):
            for l in range(nl):
                u[i, l] = u[i, l] - low[i - m, i, l] * u[m, l]
        for l in range(nl):
            u[i, l] = u[i, l] / low[0, i, l]
    for i in range(n - 1, -1, -1):
        for l in range(nl):
            z[i, l] = u[i, l]
        for m in range(i + 1, min(n, i + b + 1)):
            for l in range(nl):
                z[i, l] = z[i, l] - low[m - i, m, l] * z[m, l]
        for l in range(nl):
            z[i, l] = z[i, l] / low[0, i, l]


@njit(cache=True, nogil=True, error_model="numpy")
def _fit_rough_lanes(y, w, z, b, dz, fit, rough, nl):
    """:func:`_vcurve`'s ``log(fit)`` and ``log(roughness)`` of one λ's ``z`` for lanes ``l < nl`` into ``fit``, ``rough`` (LANES,)."""
    n = y.shape[0]
    for l in range(nl):
        fit[l] = 0.0
    for i in range(n):
        for l in range(nl):
            r = y[i, l] - z[i, l]
            fit[l] = fit[l] + (w[i, l] * r ** 2 if w[i, l] > 0 else 0.0)  # + 0.0 leaves a sum >= +0 unchanged
            dz[i, l] = z[i, l]
    m = n
    for _ in range(b):  # the b-th differences, in place
        for i in range(m - 1):
            for l in range(nl):
                dz[i, l] = dz[i + 1, l] - dz[i, l]
        m -= 1
    for l in range(nl):
        rough[l] = 0.0
    for i in range(m):
        for l in range(nl):
            rough[l] = rough[l] + dz[i, l] ** 2
    for l in range(nl):  # not vectorised (no vector log here): the same libm log as _vcurve
        fit[l] = np.log(fit[l] + 1e-12)
        rough[l] = np.log(rough[l] + 1e-12)


@njit(cache=True, nogil=True, error_model="numpy")
def _gapfill_lanes(y, j0, t, pv, pt, nv, nt, out, flag, nl):
    """:func:`gapfill_pixels` of lanes ``j0 .. j0 + nl`` of ``y`` (n, P) float32 into ``out``, ``flag`` (n, P).

    Scratch (n, LANES): ``pv``/``nv`` float32 the value of the last observed step <= i / the next >= i,
    ``pt``/``nt`` float64 their times (NaN: none). Carried forward and backward, so the last loop has
    no gathers and no branches (vectorised).
    """
    n = y.shape[0]
    nan32 = np.float32(np.nan)
    for i in range(n):
        row = y[i, j0:j0 + nl]  # contiguous rows: the loops are vectorised
        va, ta = pv[i], pt[i]
        vb, tb = pv[max(i - 1, 0)], pt[max(i - 1, 0)]
        ti = t[i]
        for l in range(nl):
            yi = row[l]
            obs = yi == yi
            va[l] = yi if obs else (vb[l] if i > 0 else nan32)
            ta[l] = ti if obs else (tb[l] if i > 0 else np.nan)
    for i in range(n - 1, -1, -1):
        row = y[i, j0:j0 + nl]
        va, ta = nv[i], nt[i]
        vb, tb = nv[min(i + 1, n - 1)], nt[min(i + 1, n - 1)]
        ti = t[i]
        for l in range(nl):
            yi = row[l]
            obs = yi == yi
            va[l] = yi if obs else (vb[l] if i < n - 1 else nan32)
            ta[l] = ti if obs else (tb[l] if i < n - 1 else np.nan)
    for i in range(n):
        ti = t[i]
        row = y[i, j0:j0 + nl]
        orow = out[i, j0:j0 + nl]
        frow = flag[i, j0:j0 + nl]
        pvi, pti, nvi, nti = pv[i], pt[i], nv[i], nt[i]
        for l in range(nl):
            yi = row[l]
            obs = yi == yi
            t0 = pti[l]
            hasp = t0 == t0
            hasn = nti[l] == nti[l]
            y0, y1 = np.float64(pvi[l]), np.float64(nvi[l])
            inner = np.float32(y0 + (y1 - y0) * ((ti - t0) / (nti[l] - t0)))
            both = hasp & hasn
            edge = pvi[l] if hasp else nvi[l]  # NaN when neither
            orow[l] = yi if obs else (inner if both else edge)
            frow[l] = np.uint8(0) if obs else (np.uint8(1) if both else (np.uint8(2) if hasp | hasn else np.uint8(255)))


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def regularise_variables(y, counts, t, smooth, lam, use_counts, vcurve, grid, pen, b, out, flag):
    """:func:`regularise_pixels` of V variables at once (``y``, ``out``, ``flag`` (V, n, P)), LANES pixels at a time.

    The same values as :func:`regularise_pixels` per variable, bit for bit. The factorisations of
    ``W + λ DᵀD`` are shared by the variables: a fixed λ is factorised once per pixel with the first
    variable's weights and reused by every variable whose weights (observed steps) are the same at
    every pixel of the lane group (else that variable is factorised with its own); the V-curve's grid
    factorisations likewise (each variable still chooses its own λ, then is solved with its own factor).
    """
    nv, n, p = y.shape
    g = grid.shape[0]
    mid = 10.0 ** grid[g // 2] if g > 0 else 1.0
    for c in prange((p + LANES - 1) // LANES):
        j0 = c * LANES
        nl = min(p, j0 + LANES) - j0
        pval = np.empty((n, LANES), np.float32)
        nval = np.empty((n, LANES), np.float32)
        ptime = np.empty((n, LANES))
        ntime = np.empty((n, LANES))
        for v in range(nv):
            _gapfill_lanes(y[v], j0, t, pval, ptime, nval, ntime, out[v], flag[v], nl)
        if not smooth:
            continue
        ys = np.empty((nv, n, LANES))
        ws = np.empty((nv, n, LANES))
        npos = np.zeros((nv, LANES), np.int64)
        first = np.full((nv, LANES), n, np.int64)  # the first and last observed steps (the edges)
        last = np.full((nv, LANES), -1, np.int64)
        for v in range(nv):
            for i in range(n):
                row = y[v, i, j0:j0 + nl]
                crow = counts[i, j0:j0 + nl] if use_counts else counts[0, :0]
                for l in range(nl):
                    yi = row[l]
                    ys[v, i, l] = np.float64(yi)
                    wi = (np.float64(crow[l]) if use_counts else 1.0) if yi == yi else 0.0
                    ws[v, i, l] = wi
                    npos[v, l] += wi > 0
            for i in range(n):
                row = y[v, i, j0:j0 + nl]
                for l in range(nl):
                    if row[l] == row[l]:
                        last[v, l] = i
            for i in range(n - 1, -1, -1):
                row = y[v, i, j0:j0 + nl]
                for l in range(nl):
                    if row[l] == row[l]:
                        first[v, l] = i
        shared = np.ones(nv, np.bool_)  # the variable's weights are variable 0's at every lane
        for v in range(1, nv):
            for i in range(n):
                for l in range(nl):
                    if ws[v, i, l] != ws[0, i, l]:
                        shared[v] = False
        low = np.empty((b + 1, n, LANES))
        own = np.empty((b + 1, n, LANES))
        ok = np.empty(LANES, np.bool_)
        ok_own = np.empty(LANES, np.bool_)
        dd = np.empty(LANES)
        lam_l = np.empty(LANES)
        u = np.empty((n, LANES))
        z = np.empty((n, LANES))
        lam_v = np.empty((nv, LANES))
        if vcurve:
            dz = np.empty((n, LANES))
            fit = np.empty((nv, g, LANES))
            rough = np.empty((nv, g, LANES))
            vok = np.ones((nv, LANES), np.bool_)
            for k in range(g):
                for l in range(nl):
                    lam_l[l] = 10.0 ** grid[k]
                _factor_lanes(ws[0], lam_l, pen, b, low, ok, dd, nl)
                for v in range(nv):
                    if shared[v]:
                        _solve_lanes(ys[v], ws[v], low, b, u, z, nl)
                        for l in range(nl):
                            vok[v, l] = vok[v, l] and ok[l]
                    else:
                        _factor_lanes(ws[v], lam_l, pen, b, own, ok_own, dd, nl)
                        _solve_lanes(ys[v], ws[v], own, b, u, z, nl)
                        for l in range(nl):
                            vok[v, l] = vok[v, l] and ok_own[l]
                    _fit_rough_lanes(ys[v], ws[v], z, b, dz, fit[v, k], rough[v, k], nl)
            for v in range(nv):
                for l in range(nl):
                    best = 0
                    vbest = np.inf
                    for k in range(g - 1):
                        d = np.sqrt((fit[v, k + 1, l] - fit[v, k, l]) ** 2 + (rough[v, k + 1, l] - rough[v, k, l]) ** 2)
                        if d < vbest:
                            best = k
                            vbest = d
                    if vok[v, l] and npos[v, l] > b:
                        lam_v[v, l] = 10.0 ** ((grid[best] + grid[best + 1]) / 2)
                    else:
                        lam_v[v, l] = mid
        else:
            for v in range(nv):
                for l in range(nl):
                    lam_v[v, l] = lam
        factored = False  # the shared factor (fixed λ, variable 0's weights) is in low / ok
        for v in range(nv):
            if vcurve or not shared[v]:  # its own λ per lane or its own weights
                _factor_lanes(ws[v], lam_v[v], pen, b, own, ok_own, dd, nl)
                _solve_lanes(ys[v], ws[v], own, b, u, z, nl)
                good = ok_own
            else:
                if not factored:
                    _factor_lanes(ws[0], lam_v[0], pen, b, low, ok, dd, nl)
                    factored = True
                _solve_lanes(ys[v], ws[v], low, b, u, z, nl)
                good = ok
            for i in range(n):
                orow = out[v, i, j0:j0 + nl]
                for l in range(nl):
                    if good[l]:
                        e = min(max(i, first[v, l]), last[v, l])
                        orow[l] = np.float32(z[e, l])


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
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

    LANES pixels at a time, the pixels innermost (vectorised): a step's m observations of each pixel
    go to an (m, LANES) buffer (+inf where not valid or NaN), sorted per pixel by an odd-even
    transposition network of min/max (m rounds), and the median is read at the pixel's count.
    """
    p = values.shape[1]
    s = starts.shape[0] - 1
    half = np.float32(0.5)
    inf = np.float32(np.inf)
    with_counts = counts.shape[1] == p
    mmax = 1
    for k in range(s):
        mmax = max(mmax, starts[k + 1] - starts[k])
    ok8 = valid.view(np.uint8)
    for c in prange((p + LANES - 1) // LANES):
        j0 = c * LANES
        nl = min(p, j0 + LANES) - j0
        buf = np.empty((mmax, LANES), np.float32)
        nfin = np.empty(LANES, np.int32)
        nvalid = np.empty(LANES, np.int32)
        for k in range(s):
            m = starts[k + 1] - starts[k]
            for l in range(nl):
                nfin[l] = 0
                nvalid[l] = 0
            for q in range(m):
                t = order[starts[k] + q]
                off = offset[t]
                sc = scale[t]
                row = values[t, j0:j0 + nl]  # contiguous rows: the loop is vectorised
                okrow = ok8[t, j0:j0 + nl]
                brow = buf[q]
                for l in range(nl):
                    x = (np.float32(row[l]) + off) * sc
                    ok = okrow[l]
                    good = (ok != 0) & (x == x)
                    brow[l] = x if good else inf
                    nfin[l] += np.int32(good)
                    nvalid[l] += np.int32(ok)
            for r in range(m):
                for q in range(r % 2, m - 1, 2):
                    lo = buf[q]
                    hi = buf[q + 1]
                    for l in range(nl):
                        x0 = lo[l]
                        x1 = hi[l]
                        lo[l] = min(x0, x1)
                        hi[l] = max(x0, x1)
            if with_counts:
                for l in range(nl):
                    counts[k, j0 + l] = nvalid[l]
            for l in range(nl):
                h = nfin[l]
                if h == 0:
                    out[k, j0 + l] = np.nan
                elif h % 2 == 1:
                    out[k, j0 + l] = buf[h // 2, l]
                else:
                    out[k, j0 + l] = np.float32(buf[h // 2 - 1, l] + buf[h // 2, l]) * half
