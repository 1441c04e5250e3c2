"""Per-object GLCM texture: the grey-level co-occurrence matrix of each object's own pixels.

For every object (a non-zero label) and measurement, one GLCM per pixel offset (``distances`` x
``angles``, :func:`antares.recipes.texture.offsets`) counts the pairs of pixels **both inside the
object** (same label) and both with a grey level; ``symmetric`` adds the transposed counts
(Haralick, Shanmugam & Dinstein 1973). Each feature (:data:`FEATURES`, the definitions of
scikit-image's ``graycoprops``, see :mod:`antares.recipes.texture`) is computed on each offset's
normalised GLCM and averaged over the offsets that have at least one pair; NaN when none has (a
one-pixel object, or one without two valid neighbours).

Where every offset of an object has a pair, the value equals
``graycoprops(graycomatrix(q, distances, angles, levels, symmetric, normed=True), f).mean()`` of
scikit-image on the object's masked, quantised image (``q``: the object's levels, pairs with a pixel
outside the object excluded) — tests/unit/test_object_texture.py.

Quantisation (:func:`antares.recipes.texture.quantize`) is fixed per measurement by a ``(low,
high)`` range (:func:`quantisation_ranges`: percentiles of the training pixels, stored with the
model), so a grey level means the same value at fit and at prediction.

Vectorised, no per-object loop: per band and offset every valid pair becomes one int64 code
``(object L + i) L + j``, counted by ``numpy.bincount`` (``numpy.unique`` when objects x L² is
over :data:`DENSE_BINS`) and kept where non-zero: a sparse GLCM per object, band and offset. The
features are ``numpy.bincount`` sums over the entries of each (object, band, offset). Counts from several blocks merge exactly (:func:`merge_glcm`) when each block counts
only the pairs whose first pixel lies in its core (``core``) and is read with a margin of the
largest offset, so a pair across a block edge is counted once.

Example
-------
>>> labels = np.array([[1, 1, 2], [1, 1, 2]])
>>> values = np.array([[[0.1, 0.9, 0.5], [0.1, 0.9, 0.5]]])
>>> ids, table = object_glcm(labels, values, [(0.0, 1.0)], levels=4, angles=(0,), features=("contrast",))
>>> ids.tolist(), table[:, 0].tolist()  # object 2 has no horizontal pair
([1, 2], [9.0, nan])
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from antares.errors import InvalidInputError

FEATURES = ("contrast", "dissimilarity", "homogeneity", "asm", "energy", "correlation", "entropy")
"""Per-object GLCM features (the names of :data:`antares.recipes.specs.TEXTURE_FEATURES`)."""
DEFAULT_LEVELS = 32
DEFAULT_DISTANCES = (1,)
DEFAULT_ANGLES = (0, 45, 90, 135)
DEFAULT_PERCENTILES = (1.0, 99.0)
DENSE_BINS = 1 << 24
"""Count pairs with ``numpy.bincount`` into ``objects x levels²`` bins up to this many bins (128 MB of int64) per band
and offset; beyond, by ``numpy.unique`` of the pair codes (a sort)."""


@dataclasses.dataclass(frozen=True)
class GlcmCounts:
    """Sparse co-occurrence counts of the objects of one block (or several, merged).

    Attributes
    ----------
    labels : numpy.ndarray, (m,) int64
        The object of each entry.
    codes : numpy.ndarray, (m,) int64
        ``((band * k + offset) * levels + i) * levels + j`` of each entry (``k`` offsets).
    counts : numpy.ndarray, (m,) int64
        Pairs counted (each pair twice on the diagonal when symmetric, as ``P + Pᵀ``).
    n_bands, n_offsets, levels : int
    """

    labels: np.ndarray
    codes: np.ndarray
    counts: np.ndarray
    n_bands: int
    n_offsets: int
    levels: int


def _check(levels, distances, angles, features, value_ranges, n_bands):
    from antares.recipes.texture import MAX_LEVELS

    if not 2 <= int(levels) <= MAX_LEVELS:
        raise InvalidInputError(f"GLCM levels must be an int in 2..{MAX_LEVELS}. Got {levels!r}.")
    if not len(distances) or any(int(d) != d or d < 1 for d in distances) or not len(angles):
        raise InvalidInputError(f"GLCM distances must be ints >= 1 and angles non-empty. Got {list(distances)!r}, "
                                f"{list(angles)!r}.")
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not len(features):
        raise InvalidInputError(f"unknown GLCM feature(s) {unknown or '(none given)'}; valid: {', '.join(FEATURES)}.")
    if value_ranges is not None:
        ranges = np.asarray(value_ranges, np.float64)
        if ranges.shape != (n_bands, 2) or not np.all(np.isfinite(ranges)) or np.any(ranges[:, 0] >= ranges[:, 1]):
            raise InvalidInputError(f"GLCM quantisation ranges must be {n_bands} finite (low, high) pairs with low < high; "
                                    f"got {np.asarray(value_ranges).tolist()}.")


def glcm_counts(labels, values, value_ranges, levels: int = DEFAULT_LEVELS, distances=DEFAULT_DISTANCES,
                angles=DEFAULT_ANGLES, symmetric: bool = True, core=None) -> GlcmCounts:
    """Sparse per-object GLCM counts of one block.

    Parameters
    ----------
    labels : numpy.ndarray, (y, x) integer
        Object labels, 0 = no object.
    values : numpy.ndarray, (b, y, x) float
        NaN = nodata (no grey level).
    value_ranges : sequence of b (low, high)
        Quantisation range per measurement (:func:`antares.recipes.texture.quantize`).
    levels : int
        Grey levels, 2..256.
    distances : sequence of int
        Pair distances in pixels (>= 1).
    angles : sequence of float
        Pair angles in degrees (scikit-image's convention, :func:`antares.recipes.texture.offsets`).
    symmetric : bool
        Count each pair in both orders.
    core : (slice, slice), optional
        Count only pairs whose first pixel is in ``labels[core]`` (the block read with a margin of the
        largest offset; see the module docstring). Default: every pair.

    Returns
    -------
    GlcmCounts

    Raises
    ------
    InvalidInputError
        Mismatched shapes; parameters out of range.
    """
    from antares.features import _dense
    from antares.recipes.texture import offsets, quantize

    labels, values = np.asarray(labels), np.asarray(values)
    if labels.ndim != 2 or labels.dtype.kind not in "iu" or values.ndim != 3 or values.shape[1:] != labels.shape:
        raise InvalidInputError(f"object GLCM needs labels (y, x) integer and values (b, y, x) of the same (y, x); "
                                f"got {labels.shape} {labels.dtype} and {values.shape}.")
    nb = values.shape[0]
    _check(levels, distances, angles, FEATURES, value_ranges, nb)
    offs = offsets(distances, angles)
    k, L = len(offs), int(levels)
    ids, inv = _dense(labels.astype(np.int64, copy=False))
    ny, nx = labels.shape
    origin_ok = np.zeros((ny, nx), bool)
    origin_ok[core if core is not None else (slice(None), slice(None))] = True
    origin_ok &= inv >= 0
    q = np.stack([quantize(values[b], L, value_ranges[b]) for b in range(nb)]) if nb else np.zeros((0, ny, nx), np.int16)
    n = len(ids)
    dense = n * L * L <= DENSE_BINS  # count by bincount into n x L x L bins, else by sorting the pair codes
    labels_out, codes_out, counts_out = [], [], []
    for o, (dr, dc) in enumerate(offs):
        # origin (r, c), partner (r + dr, c + dc), both inside the block
        r0, r1 = max(0, -dr), min(ny, ny - dr)
        c0, c1 = max(0, -dc), min(nx, nx - dc)
        if r0 >= r1 or c0 >= c1:
            continue
        a = (slice(r0, r1), slice(c0, c1))
        p = (slice(r0 + dr, r1 + dr), slice(c0 + dc, c1 + dc))
        same = origin_ok[a] & (inv[a] == inv[p])
        obj = inv[a][same]
        for b in range(nb):
            qa, qp = q[b][a][same].astype(np.int64), q[b][p][same].astype(np.int64)
            ok = (qa >= 0) & (qp >= 0)
            key = (obj[ok] * L + qa[ok]) * L + qp[ok]  # (object, i, j)
            if dense:
                m = np.bincount(key, minlength=n * L * L).reshape(n, L, L)
                if symmetric:
                    m = m + m.transpose(0, 2, 1)
                key = np.flatnonzero(m)
                count = m.reshape(-1)[key]
            else:
                if symmetric:
                    key = np.concatenate([key, (obj[ok] * L + qp[ok]) * L + qa[ok]])
                key, count = np.unique(key, return_counts=True)
            labels_out.append(ids[key // (L * L)])
            codes_out.append((b * k + o) * L * L + key % (L * L))
            counts_out.append(count.astype(np.int64))
    if not labels_out:
        empty = np.zeros(0, np.int64)
        return GlcmCounts(empty, empty, empty, nb, k, L)
    return GlcmCounts(np.concatenate(labels_out), np.concatenate(codes_out), np.concatenate(counts_out), nb, k, L)


def merge_glcm(parts) -> GlcmCounts:
    """Sum the counts of several blocks (an object may appear in several).

    Raises
    ------
    InvalidInputError
        ``parts`` is empty or was counted with other band, offset or level numbers.
    """
    parts = list(parts)
    if not parts or len({(p.n_bands, p.n_offsets, p.levels) for p in parts}) != 1:
        raise InvalidInputError("merge_glcm needs one or more GlcmCounts of the same bands, offsets and levels; got "
                                f"{[(p.n_bands, p.n_offsets, p.levels) for p in parts]}.")
    labels = np.concatenate([p.labels for p in parts])
    codes = np.concatenate([p.codes for p in parts])
    counts = np.concatenate([p.counts for p in parts])
    if not len(labels):
        return parts[0]
    order = np.lexsort((codes, labels))
    labels, codes, counts = labels[order], codes[order], counts[order]
    starts = np.flatnonzero(np.r_[True, (labels[1:] != labels[:-1]) | (codes[1:] != codes[:-1])])
    p = parts[0]
    return GlcmCounts(labels[starts], codes[starts], np.add.reduceat(counts, starts), p.n_bands, p.n_offsets, p.levels)


def glcm_features(part: GlcmCounts, features=FEATURES, ids=None) -> tuple[np.ndarray, np.ndarray]:
    """Features of (merged) counts: each offset's normalised GLCM, averaged over the offsets with pairs.

    Parameters
    ----------
    part : GlcmCounts
    features : sequence of str
        Names from :data:`FEATURES`.
    ids : array-like of int, optional
        Return rows for these objects (sorted; an object without pairs gets NaN). Default: the objects
        of ``part``.

    Returns
    -------
    ids : numpy.ndarray, (n,) int64
    table : numpy.ndarray, (n, len(features) * b) float64
        Feature-major columns (every band of the first feature, then of the next; names from
        :func:`glcm_names`), unitless; NaN where an object has no pair in a band.
    """
    features = tuple(features)
    _check(part.levels, (1,), (0,), features, None, part.n_bands)
    nb, k, L = part.n_bands, part.n_offsets, part.levels
    ids = np.unique(part.labels) if ids is None else np.unique(np.asarray(ids, np.int64))
    out = np.full((len(ids), len(features) * nb), np.nan)
    if not len(part.labels) or not len(ids):
        return ids, out
    pos = np.minimum(np.searchsorted(ids, part.labels), len(ids) - 1)
    keep = ids[pos] == part.labels
    obj, codes, counts = pos[keep], part.codes[keep], part.counts[keep].astype(np.float64)
    group = (obj * nb * k) + codes // (L * L)  # (object, band, offset), dense over n * b * k
    n_groups = len(ids) * nb * k
    i, j = (codes % (L * L)) // L, codes % L
    i, j = i.astype(np.float64), j.astype(np.float64)

    def total(w):
        return np.bincount(group, weights=w, minlength=n_groups)

    n = total(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / n[group]
        values = {}
        want = set(features)
        if "contrast" in want:
            values["contrast"] = total(p * (i - j) ** 2)
        if "dissimilarity" in want:
            values["dissimilarity"] = total(p * np.abs(i - j))
        if "homogeneity" in want:
            values["homogeneity"] = total(p / (1.0 + (i - j) ** 2))
        if want & {"asm", "energy"}:
            asm = total(p * p)
            values["asm"], values["energy"] = asm, np.sqrt(asm)
        if "entropy" in want:
            values["entropy"] = total(-p * np.log(p))
        if "correlation" in want:
            mu_i, mu_j = total(p * i), total(p * j)
            di, dj = i - mu_i[group], j - mu_j[group]
            s_i, s_j = np.sqrt(total(p * di * di)), np.sqrt(total(p * dj * dj))
            cov = total(p * di * dj)
            flat = (s_i < 1e-15) | (s_j < 1e-15)
            values["correlation"] = np.where(flat, 1.0, cov / np.where(flat, 1.0, s_i * s_j))
    has = n > 0
    for f_index, f in enumerate(features):
        v = np.where(has, values[f], np.nan).reshape(len(ids), nb, k)
        with warnings.catch_warnings():  # 'Mean of empty slice': an object without pairs is NaN by definition
            warnings.simplefilter("ignore", RuntimeWarning)
            out[:, f_index * nb:(f_index + 1) * nb] = np.nanmean(v, axis=2)
    return ids, out


def object_glcm(labels, values, value_ranges, levels: int = DEFAULT_LEVELS, distances=DEFAULT_DISTANCES,
                angles=DEFAULT_ANGLES, features=FEATURES, symmetric: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """GLCM texture of every object of one block from its own pixels (see the module docstring).

    Parameters
    ----------
    labels, values, value_ranges, levels, distances, angles, symmetric
        As for :func:`glcm_counts`.
    features : sequence of str
        Names from :data:`FEATURES`.

    Returns
    -------
    ids : numpy.ndarray, (n,) int64
        Sorted unique non-zero labels.
    table : numpy.ndarray, (n, len(features) * b) float64
        As :func:`glcm_features`.

    Raises
    ------
    InvalidInputError
        Mismatched shapes; parameters out of range; an unknown feature.
    """
    from antares.features import _ids_array

    part = glcm_counts(labels, values, value_ranges, levels, distances, angles, symmetric)
    return glcm_features(part, features, _ids_array(labels))


def glcm_names(measurements, features=FEATURES) -> list[str]:
    """Column names ``f"{measurement}_glcm_{feature}"`` in the order of :func:`glcm_features`.

    >>> glcm_names(["b04", "b08"], ["contrast"])
    ['b04_glcm_contrast', 'b08_glcm_contrast']
    """
    return [f"{m}_glcm_{f}" for f in features for m in measurements]


def quantisation_ranges(values, percentiles=DEFAULT_PERCENTILES) -> list[tuple[float, float]]:
    """Per-measurement quantisation ranges: the ``percentiles`` of the valid values (e.g. the training pixels).

    Parameters
    ----------
    values : numpy.ndarray, (b, m) float
        NaN = nodata.
    percentiles : (float, float)
        Low and high percentile, 0 <= low < high <= 100 (:func:`numpy.nanpercentile`, linear).

    Returns
    -------
    list of b (low, high) float
        ``high`` is nudged above ``low`` when the two percentiles are equal (a constant measurement).

    Raises
    ------
    InvalidInputError
        A measurement without a valid value; percentiles out of order.
    """
    values = np.asarray(values, np.float64)
    lo_q, hi_q = (float(p) for p in percentiles)
    if not 0 <= lo_q < hi_q <= 100:
        raise InvalidInputError(f"GLCM quantisation percentiles must satisfy 0 <= low < high <= 100; got {percentiles}.")
    empty = [b for b in range(values.shape[0]) if not np.isfinite(values[b]).any()]
    if empty:
        raise InvalidInputError(f"GLCM quantisation: measurement(s) {empty} have no valid training pixel.")
    lo, hi = np.nanpercentile(values, [lo_q, hi_q], axis=1)
    hi = np.where(hi > lo, hi, lo + np.maximum(np.abs(lo) * 1e-6, 1e-6))
    return [(float(a), float(b)) for a, b in zip(lo, hi)]
