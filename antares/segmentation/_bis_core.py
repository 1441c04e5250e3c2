"""The compiled core of the Baatz & Schäpe segmenter (numba, ``@njit(cache=True)``).

Only :mod:`antares.segmentation.bis` imports this module (numba is imported on first use, not
when :mod:`antares.segmentation` is imported). The algorithm and the cost are documented in
:mod:`antares.segmentation.bis`; this module holds the arithmetic.

Data structures (``R`` regions, ``E`` edges, ``B`` bands; all indices int64, statistics float64):

* per region ``r``: ``n[r]`` pixels, ``S[r, b]`` sum and ``Q[r, b]`` sum of squares of band ``b``,
  ``per[r]`` perimeter in pixel edges (to other regions, nodata or the raster border),
  ``bbox[r] = (ymin, xmin, ymax, xmax)`` inclusive pixel indices;
* the region adjacency graph as three edge arrays ``eu < ev`` (unique pairs) and ``el`` (shared
  boundary length in pixel edges). After a pass, merged regions are renumbered and the edge list is
  contracted in O(E + R): endpoints mapped, self-edges dropped, duplicates summed (counting sort
  by the smaller endpoint, then a mark array);
* a cost per edge, kept from pass to pass and recomputed only for edges next to a region that
  merged in the previous pass (the cost of two unchanged regions cannot have changed).

The colour term uses ``n σ = sqrt(n Q - S²)`` (no division), the shape terms keep ``l sqrt(n)`` and
``n l / b`` per region. Memory: about 400 bytes per pixel at the peak (1536 x 768 x 7 bands:
460 MB), mostly the per-region float64 sums and the edge arrays of the first pass.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _bbox_perimeter(ymin, xmin, ymax, xmax):
    return 2.0 * ((xmax - xmin + 1) + (ymax - ymin + 1))


@njit(cache=True)
def _self_colour(r, n, S, Q, w):
    """``sum_b w_b * n_r * sigma_{r,b}``, as ``sum_b w_b * sqrt(n_r Q_{r,b} - S_{r,b}^2)``.

    ``n σ = sqrt(n Q - S²)`` for the population standard deviation σ: no division.
    """
    nr = n[r]
    total = 0.0
    for b in range(S.shape[1]):
        total += w[b] * np.sqrt(max(nr * Q[r, b] - S[r, b] * S[r, b], 0.0))
    return total


@njit(cache=True)
def _self_shape(r, n, per, bbox, out_compact, out_smooth):
    """Store ``n l / sqrt(n) = l sqrt(n)`` and ``n l / b`` of region ``r``."""
    out_compact[r] = per[r] * np.sqrt(n[r])
    out_smooth[r] = n[r] * per[r] / _bbox_perimeter(bbox[r, 0], bbox[r, 1], bbox[r, 2], bbox[r, 3])


@njit(cache=True)
def _edge_cost(u, v, shared, n, S, Q, per, bbox, w, selfc, selfk, selfs, s, c):
    """Fusion cost ``f`` of merging regions ``u`` and ``v``.

    ``selfc``, ``selfk``, ``selfs`` hold each region's own colour term (:func:`_self_colour`),
    ``l sqrt(n)`` and ``n l / b`` (:func:`_self_shape`).
    """
    nm = n[u] + n[v]
    # colour: sum_b w_b (n_m sigma_m,b - (n_u sigma_u,b + n_v sigma_v,b))
    col = 0.0
    for b in range(S.shape[1]):
        sm = S[u, b] + S[v, b]
        col += w[b] * np.sqrt(max(nm * (Q[u, b] + Q[v, b]) - sm * sm, 0.0))
    h_colour = col - (selfc[u] + selfc[v])
    if s == 0.0:
        return h_colour
    # shape: l_m = l_u + l_v - 2 shared; b_m from the union of the bounding boxes
    lm = per[u] + per[v] - 2.0 * shared
    bm = _bbox_perimeter(min(bbox[u, 0], bbox[v, 0]), min(bbox[u, 1], bbox[v, 1]),
                         max(bbox[u, 2], bbox[v, 2]), max(bbox[u, 3], bbox[v, 3]))
    h_compact = lm * np.sqrt(nm) - (selfk[u] + selfk[v])
    h_smooth = nm * lm / bm - (selfs[u] + selfs[v])
    h_shape = c * h_compact + (1.0 - c) * h_smooth
    return (1.0 - s) * h_colour + s * h_shape


@njit(cache=True)
def fusion_cost(u, v, shared, n, S, Q, per, bbox, w, s, c):
    """Fusion cost of regions ``u`` and ``v`` from their statistics (the function the core uses).

    Parameters
    ----------
    u, v : int
        Region indices into the statistics arrays.
    shared : float
        Length of their common boundary, in pixel edges.
    n : (R,) float64
        Pixel counts.
    S, Q : (R, B) float64
        Per-band sums and sums of squares of the (standardised) values.
    per : (R,) float64
        Perimeters in pixel edges.
    bbox : (R, 4) int64
        ``(ymin, xmin, ymax, xmax)``, inclusive pixel indices.
    w : (B,) float64
        Band weights.
    s, c : float
        Shape weight and compactness weight, in [0, 1].

    Returns
    -------
    float
        ``f = (1 - s) h_colour + s (c h_compact + (1 - c) h_smooth)``.
    """
    r = n.shape[0]
    selfc = np.zeros(r)
    selfk = np.zeros(r)
    selfs = np.zeros(r)
    for i in (u, v):
        selfc[i] = _self_colour(i, n, S, Q, w)
        _self_shape(i, n, per, bbox, selfk, selfs)
    return _edge_cost(u, v, shared, n, S, Q, per, bbox, w, selfc, selfk, selfs, s, c)


@njit(cache=True)
def _initial_graph(values, valid):
    """Single-pixel regions (ids in raster order), their statistics and the 4-neighbour edges."""
    nb, h, wd = values.shape
    ids = np.full((h, wd), -1, np.int64)
    r = 0
    for y in range(h):
        for x in range(wd):
            if valid[y, x]:
                ids[y, x] = r
                r += 1
    n = np.ones(r)
    S = np.empty((r, nb))
    Q = np.empty((r, nb))
    per = np.full(r, 4.0)
    bbox = np.empty((r, 4), np.int64)
    n_edges = 0
    for y in range(h):
        for x in range(wd):
            i = ids[y, x]
            if i < 0:
                continue
            for b in range(nb):
                val = np.float64(values[b, y, x])
                S[i, b] = val
                Q[i, b] = val * val
            bbox[i, 0] = y
            bbox[i, 1] = x
            bbox[i, 2] = y
            bbox[i, 3] = x
            if x + 1 < wd and ids[y, x + 1] >= 0:
                n_edges += 1
            if y + 1 < h and ids[y + 1, x] >= 0:
                n_edges += 1
    eu = np.empty(n_edges, np.int64)
    ev = np.empty(n_edges, np.int64)
    el = np.ones(n_edges)
    e = 0
    for y in range(h):
        for x in range(wd):
            i = ids[y, x]
            if i < 0:
                continue
            if x + 1 < wd and ids[y, x + 1] >= 0:
                eu[e] = i
                ev[e] = ids[y, x + 1]
                e += 1
            if y + 1 < h and ids[y + 1, x] >= 0:
                eu[e] = i
                ev[e] = ids[y + 1, x]
                e += 1
    return ids, n, S, Q, per, bbox, eu, ev, el


@njit(cache=True)
def _contract(eu, ev, el, ec, n_edges, newid, n_regions):
    """Map edge endpoints through ``newid``, drop self-edges, sum duplicates. Returns the new count.

    ``el`` (shared length) and ``ec`` (cached cost) move with their edges; a duplicate only arises
    next to a merged region, whose edges' costs are recomputed anyway.
    """
    count = np.zeros(n_regions + 1, np.int64)
    m = 0
    for e in range(n_edges):
        a = newid[eu[e]]
        b = newid[ev[e]]
        if a == b:
            continue
        if a > b:
            a, b = b, a
        eu[m] = a
        ev[m] = b
        el[m] = el[e]
        ec[m] = ec[e]
        count[a + 1] += 1
        m += 1
    for a in range(n_regions):
        count[a + 1] += count[a]
    sv = np.empty(m, np.int64)
    sl = np.empty(m)
    sc = np.empty(m)
    fill = count[:-1].copy()
    for e in range(m):
        k = fill[eu[e]]
        sv[k] = ev[e]
        sl[k] = el[e]
        sc[k] = ec[e]
        fill[eu[e]] += 1
    mark = np.full(n_regions, -1, np.int64)
    pos = np.empty(n_regions, np.int64)
    out = 0
    for a in range(n_regions):
        for k in range(count[a], count[a + 1]):
            b = sv[k]
            if mark[b] == a:
                el[pos[b]] += sl[k]
            else:
                mark[b] = a
                pos[b] = out
                eu[out] = a
                ev[out] = b
                el[out] = sl[k]
                ec[out] = sc[k]
                out += 1
    return out


@njit(cache=True)
def bis_merge(values, valid, w, threshold, s, c, max_passes):
    """Multiresolution region merging (Baatz & Schäpe 2000) with local mutual best fitting.

    Parameters
    ----------
    values : (B, H, W) float32
        Standardised bands; only pixels where ``valid`` is True are read.
    valid : (H, W) bool
        Pixels to segment; the others get label 0 and take part in no region.
    w : (B,) float64
        Band weights.
    threshold : float
        Merge while ``f < threshold`` (``t ** 2``).
    s, c : float
        Shape and compactness weights.
    max_passes : int
        Upper bound on the number of passes; stops earlier after a pass without a merge.

    Returns
    -------
    labels : (H, W) int64
        0 = invalid, else ``1..R`` in the raster order of each region's first pixel.
    n, per : (R,) float64
        Pixel count and perimeter (pixel edges) of region ``label - 1``.
    bbox : (R, 4) int64
        Bounding box ``(ymin, xmin, ymax, xmax)`` of region ``label - 1``.
    passes : int
        Passes run (the last one may have made no merge).
    """
    ids, n, S, Q, per, bbox, eu, ev, el = _initial_graph(values, valid)
    r0 = n.shape[0]
    n_regions = r0
    n_edges = eu.shape[0]
    nb = S.shape[1]
    rmap = np.arange(r0)
    passes = 0
    selfc = np.empty(r0)
    selfk = np.empty(r0)
    selfs = np.empty(r0)
    bestc = np.empty(r0)
    taken = np.zeros(r0, np.bool_)
    cost = np.empty(n_edges)
    changed = np.ones(r0, np.bool_)  # region new or grown since its costs were computed
    grew = np.zeros(r0, np.bool_)
    target = np.empty(r0, np.int64)
    newid = np.empty(r0, np.int64)
    while passes < max_passes and n_edges > 0:
        passes += 1
        for r in range(n_regions):
            if changed[r]:
                selfc[r] = _self_colour(r, n, S, Q, w)
                _self_shape(r, n, per, bbox, selfk, selfs)
            bestc[r] = np.inf
            taken[r] = False
        # every region's lowest cost to a neighbour; the cost of an edge between two unchanged
        # regions is the one computed in an earlier pass
        for e in range(n_edges):
            u = eu[e]
            v = ev[e]
            if changed[u] or changed[v]:
                cost[e] = _edge_cost(u, v, el[e], n, S, Q, per, bbox, w, selfc, selfk, selfs, s, c)
            f = cost[e]
            if f < bestc[u]:
                bestc[u] = f
            if f < bestc[v]:
                bestc[v] = f
        # merge mutual best pairs under the threshold: f(u, v) is the lowest cost of u and of v.
        # Without ties the pairs are disjoint; with ties (flat areas) each region merges at most
        # once per pass, the pairs taken in the order of the edge list (grouped by lower index)
        for r in range(n_regions):
            target[r] = r
            grew[r] = False
        merges = 0
        for e in range(n_edges):
            u = eu[e]
            v = ev[e]
            f = cost[e]
            if f < threshold and f == bestc[u] and f == bestc[v] and not taken[u] and not taken[v]:
                taken[u] = True
                taken[v] = True
                n[u] += n[v]
                for b in range(nb):
                    S[u, b] += S[v, b]
                    Q[u, b] += Q[v, b]
                per[u] = per[u] + per[v] - 2.0 * el[e]
                bbox[u, 0] = min(bbox[u, 0], bbox[v, 0])
                bbox[u, 1] = min(bbox[u, 1], bbox[v, 1])
                bbox[u, 2] = max(bbox[u, 2], bbox[v, 2])
                bbox[u, 3] = max(bbox[u, 3], bbox[v, 3])
                target[v] = u
                grew[u] = True
                merges += 1
        if merges == 0:
            break
        # renumber the survivors in order (u < v keeps the first pixel's region index)
        k = 0
        for r in range(n_regions):
            if target[r] == r:
                newid[r] = k
                changed[k] = grew[r]
                n[k] = n[r]
                per[k] = per[r]
                selfc[k] = selfc[r]
                selfk[k] = selfk[r]
                selfs[k] = selfs[r]
                for b in range(nb):
                    S[k, b] = S[r, b]
                    Q[k, b] = Q[r, b]
                for j in range(4):
                    bbox[k, j] = bbox[r, j]
                k += 1
        for r in range(n_regions):
            if target[r] != r:
                newid[r] = newid[target[r]]
        for i in range(r0):
            rmap[i] = newid[rmap[i]]
        n_edges = _contract(eu, ev, el, cost, n_edges, newid, k)
        n_regions = k
    h, wd = valid.shape
    labels = np.zeros((h, wd), np.int64)
    for y in range(h):
        for x in range(wd):
            i = ids[y, x]
            if i >= 0:
                labels[y, x] = rmap[i] + 1
    return labels, n[:n_regions].copy(), per[:n_regions].copy(), bbox[:n_regions].copy(), passes
