"""The vectorised loops of antares._timeseries_kernels (pixels in lanes, shared Whittaker factorisations) against
the per-pixel loops they replaced (kept below as the reference, unchanged), numpy.nanmedian, scipy.sparse solves of
the Whittaker system and an independent 21-point V-curve: the values must be the same bit for bit."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl
from numba import njit

from antares._timeseries_kernels import CHUNK, LANES, _solve, _vcurve  # noqa: F401  (the reference loops use them)
from antares.errors import InvalidInputError
from antares.timeseries import VCURVE_LOG10, _penalty_bands, median_composites, regularise, regularise_variables


# ------------------------------------------------------------------------- the per-pixel loops replaced (reference)
@njit
def reference_step_medians(values, offset, scale, valid, order, starts, out, counts):
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
    for c in range((p + CHUNK - 1) // CHUNK):
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


@njit
def reference_regularise_pixels(y, counts, t, smooth, lam, use_counts, vcurve, grid, pen, b, out, flag):
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
    for c in range((p + CHUNK - 1) // CHUNK):
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

# ------------------------------------------------------------------------------------------------ independent
def sparse_whittaker(y, w, lam, order):
    """z = (W + λ DᵀD)⁻¹ W y with scipy.sparse, one pixel."""
    n = len(y)
    d = sp.csr_matrix(np.diff(np.eye(n), n=order, axis=0))
    return spl.spsolve((sp.diags(w) + lam * (d.T @ d)).tocsc(), w * np.nan_to_num(y))


def grid_vcurve(y, w, order, grid):
    """The V-curve λ over every point of ``grid`` with scipy.sparse solves (None: some λ is singular)."""
    fit, pen = [], []
    for lg in grid:
        z = sparse_whittaker(y, w, 10.0 ** lg, order)
        fit.append(np.log(np.sum(w * (np.nan_to_num(y) - z) ** 2) + 1e-12))
        pen.append(np.log(np.sum(np.diff(z, n=order) ** 2) + 1e-12))
    k = int(np.argmin(np.hypot(np.diff(fit), np.diff(pen))))
    return 10.0 ** ((grid[k] + grid[k + 1]) / 2)


def hard_series(nv=3, n=12, p=3 * LANES + 37, seed=3):
    """(V, n, P) float32 composites: gaps, all-NaN pixels, pixels with 1 and 2 observations (singular for d = 2),
    one variable with its own gaps at some pixels (unequal weights), in a pixel count that is not a multiple of LANES."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, n)[:, None]
    base = (0.4 + 0.3 * np.sin(t) + rng.normal(scale=0.05, size=(n, p))).astype(np.float32)
    y = np.stack([base * (1 + 0.2 * v) for v in range(nv)])
    y[:, rng.random((n, p)) < 0.35] = np.nan
    y[:, :, 10] = np.nan  # no observation
    y[:, :, 11] = np.nan
    y[:, 4, 11] = 0.3  # one
    y[:, :, 12] = np.nan
    y[:, [2, 9], 12] = 0.3  # two: still singular for d = 2 (a line is free)
    y[:, :, 13] = np.nan
    y[:, [1, 5, 9], 13] = [[0.1], [0.5], [0.2]]  # three: the smallest solvable
    own = rng.random(p) < 0.1  # variable 1's own gaps (e.g. an index 0/0)
    own[[i for i in (20, 21, LANES + 3) if i < p]] = True
    y[1, 6, own] = np.nan
    y[1, :, 21] = np.nan  # variable 1 has nothing where the others do
    counts = np.where(np.isnan(y[0]), 0, rng.integers(1, 5, (n, p))).astype(np.int32)
    return y, counts, np.cumsum(rng.uniform(25, 35, n)), own


def reference(y, counts, t, lam, weights, order=2):
    """Per variable, the per-pixel loop replaced."""
    nv, n, p = y.shape
    vcurve = isinstance(lam, str)
    grid = np.asarray(VCURVE_LOG10 if vcurve else (), np.float64)
    pen = _penalty_bands(n, order) if lam is not None else np.zeros((order + 1, n))
    cnt = counts if weights == "count" else np.zeros((n, 1), np.int32)
    out = np.empty(y.shape, np.float32)
    flag = np.empty(y.shape, np.uint8)
    for v in range(nv):
        reference_regularise_pixels(y[v], cnt, t, lam is not None, 1.0 if lam is None or vcurve else float(lam),
                                    weights == "count", vcurve, grid, pen, order, out[v], flag[v])
    return out, flag


@pytest.mark.parametrize("lam, weights", [(1.0, "clear"), (10.0, "count"), ("vcurve", "clear"), ("vcurve", "count"),
                                          (None, "clear")])
def test_regularise_variables_equals_the_per_pixel_loop_bit_for_bit(lam, weights):
    y, counts, t, _ = hard_series()
    want, want_flag = reference(y, counts, t, lam, weights)
    series, flags = regularise_variables({f"v{i}": y[i] for i in range(len(y))}, counts, t, "linear", lam, 2, weights)
    for i in range(len(y)):
        assert np.array_equal(series[f"v{i}"].view(np.uint32), want[i].view(np.uint32)), i  # NaN too, bit for bit
        assert np.array_equal(flags[f"v{i}"], want_flag[i])
        one, one_flag = regularise(y[i], counts, t, "linear", lam, 2, weights)  # one variable alone: the same
        assert np.array_equal(one.view(np.uint32), want[i].view(np.uint32)) and np.array_equal(one_flag, want_flag[i])
    assert np.isnan(series["v0"][:, 10]).all() and (flags["v0"][:, 10] == 255).all()


def test_shared_factorisation_equals_scipy_with_each_variables_own_weights():
    """λ fixed: variable 1 at pixels with its own gaps is solved with its own weights, not variable 0's."""
    y, counts, t, own = hard_series()
    series, flags = regularise_variables({"a": y[0], "b": y[1], "c": y[2]}, counts, t, "linear", 3.0, 2, "count")
    checked = 0
    for j in list(np.flatnonzero(own)[:12]) + [13, 30, 31, LANES + 5, 3 * LANES + 36]:
        for v, name in enumerate("abc"):
            seen = np.flatnonzero(~np.isnan(y[v, :, j]))
            if seen.size <= 2:  # singular: the linear fill (equal to numpy.interp elsewhere in the tests)
                want = np.interp(t, t[seen], y[v, seen, j].astype(np.float64)) if seen.size else np.full(len(t), np.nan)
                np.testing.assert_allclose(series[name][:, j], want, rtol=1e-6, atol=1e-7)
                continue
            w = np.where(np.isnan(y[v, :, j]), 0.0, counts[:, j])
            z = sparse_whittaker(y[v, :, j].astype(np.float64), w, 3.0, 2)
            z[:seen[0]], z[seen[-1] + 1:] = z[seen[0]], z[seen[-1]]
            np.testing.assert_allclose(series[name][:, j], z, rtol=1e-6, atol=1e-7)
            checked += 1
    assert checked > 30
    assert not np.array_equal(np.isnan(y[0]), np.isnan(y[1]))  # the test has unequal weights


def test_vcurve_chooses_the_lambda_of_the_21_point_grid():
    """Each variable's λ (read back through its smoothed series) is the λ of the full 21-point V-curve solved by scipy."""
    y, counts, t, own = hard_series(p=160)
    series, _ = regularise_variables({"a": y[0], "b": y[1]}, counts, t, "linear", "vcurve", 2, "clear")
    grid = np.asarray(VCURVE_LOG10)
    assert len(grid) == 21
    checked = 0
    for j in list(range(13, 60)) + list(np.flatnonzero(own)):
        for v, name in enumerate("ab"):
            seen = np.flatnonzero(~np.isnan(y[v, :, j]))
            if seen.size <= 2:
                continue
            w = (~np.isnan(y[v, :, j])).astype(float)
            lam = grid_vcurve(y[v, :, j].astype(np.float64), w, 2, grid)
            z = sparse_whittaker(y[v, :, j].astype(np.float64), w, lam, 2)
            z[:seen[0]], z[seen[-1] + 1:] = z[seen[0]], z[seen[-1]]
            np.testing.assert_allclose(series[name][:, j], z, rtol=1e-6, atol=1e-7)
            # the neighbouring grid λ give other series: the comparison can tell a wrong choice
            other = sparse_whittaker(y[v, :, j].astype(np.float64), w, lam * 10 ** 0.25, 2)
            checked += not np.allclose(other[seen[0]:seen[-1] + 1], z[seen[0]:seen[-1] + 1], rtol=1e-6, atol=1e-7)
    assert checked > 40


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_step_medians_equal_the_per_pixel_loop_and_numpy(dtype):
    """Steps of 0 to 7 observations (interleaved times, one step empty), NaN values, a pixel count not a multiple of LANES."""
    rng = np.random.default_rng(8)
    nt, p = 40, 2 * LANES + 19
    raw = rng.integers(1, 3000, (nt, p)).astype(dtype)
    if dtype == np.float32:
        raw[rng.random((nt, p)) < 0.05] = np.nan
        raw[3, 5] = np.inf
    raw[:, 7] = raw[0, 7]  # ties
    valid = rng.random((nt, p)) < 0.7
    valid[:, 9] = False
    which = rng.choice(np.array([0, 1, 2, 3, 4, 6, -1]), nt)  # step 5 empty
    which[:7] = 6  # step 6: 7 observations at least
    offset = np.where(np.arange(nt) < 20, 0, -1000).astype(np.float32)
    scale = np.full(nt, 1e-4, np.float32)
    comps, counts = median_composites({"x": raw}, valid, which, 7, {"x": (offset, scale)})
    order = np.argsort(which, kind="stable")
    order = order[which[order] >= 0].astype(np.int64)
    starts = np.searchsorted(which[order], np.arange(8)).astype(np.int64)
    want = np.empty((7, p), np.float32)
    want_counts = np.empty((7, p), np.int32)
    reference_step_medians(raw, offset, scale, valid, order, starts, want, want_counts)
    assert np.array_equal(comps["x"], want, equal_nan=True) and np.array_equal(counts, want_counts)
    x = (raw.astype(np.float32) + offset[:, None]) * scale[:, None]
    for k in range(7):
        sel = which == k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(np.where(valid[sel], x[sel], np.nan), axis=0).astype(np.float32)
        np.testing.assert_array_equal(comps["x"][k], expected)
        assert np.array_equal(counts[k], valid[sel].sum(axis=0))
    assert np.isnan(comps["x"][5]).all() and (counts[5] == 0).all() and np.isnan(comps["x"][:, 9]).all()


def test_variables_of_one_stack_are_taken_without_a_copy():
    """median_composites' outputs are parts of one array, which regularise_variables reads in place; others are copied."""
    from antares.timeseries import _stacked

    s = np.random.default_rng(0).random((3, 12, 5, 4)).astype(np.float32)
    views = [s[i] for i in range(3)]
    assert np.shares_memory(_stacked(views, 12), s)
    for other in ([views[1], views[0], views[2]], views[:2], [v.copy() for v in views]):
        got = _stacked(other, 12)
        assert not np.shares_memory(got, s)
        assert all(np.array_equal(got[i], a.reshape(12, -1)) for i, a in enumerate(other))
    comps, _ = median_composites({"a": s[:, :6], "b": s[:, 6:]}, np.ones((3, 6, 5, 4), bool), np.array([0, 0, 1]), 2)
    assert comps["a"].base is comps["b"].base
    with pytest.raises(InvalidInputError, match="differ in shape from the mask"):  # not read out of bounds
        median_composites({"a": s[:, :2], "b": s[:, 2:]}, np.ones((3, 2, 5, 4), bool), np.array([0, 0, 1]), 2)
