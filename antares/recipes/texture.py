"""Grey-level co-occurrence (GLCM) texture of an image, per moving window.

Haralick, Shanmugam & Dinstein (1973), "Textural features for image classification", IEEE
Trans. SMC-3(6); the feature definitions are scikit-image's ``graycoprops`` (0.19+), which the
tests compare with window by window:

=============  ==============================================  ====================
feature        formula (P: the normalised GLCM of one offset)  scikit-image name
=============  ==============================================  ====================
contrast       sum P(i,j) (i - j)^2                             ``contrast``
dissimilarity  sum P(i,j) |i - j|                               ``dissimilarity``
homogeneity    sum P(i,j) / (1 + (i - j)^2)                     ``homogeneity``
asm            sum P(i,j)^2                                     ``ASM``
energy         sqrt(asm)                                        ``energy``
correlation    sum P(i,j) (i - mu_i)(j - mu_j) / (s_i s_j),     ``correlation``
               1 where s_i or s_j < 1e-15
entropy        -sum P(i,j) ln P(i,j)  (natural log, 0 ln 0 = 0) ``entropy``
=============  ==============================================  ====================

How a value is computed at a pixel: the image is quantised to ``levels`` grey levels over a
fixed ``value_range`` (:func:`quantize`; NaN stays "no level"); the window of ``window`` x
``window`` pixels centred on the pixel (clipped at the image's edges) gives one GLCM per offset
(``distances`` x ``angles``, scikit-image's offsets: row ``round(sin(angle) d)``, column
``round(cos(angle) d)``, both pixels of a pair inside the window), counting only pairs whose
two pixels have a level; ``symmetric`` adds the transposed counts. Each feature is computed on
each offset's normalised GLCM and averaged over the offsets that have at least one pair. A
pixel without a level, or whose offsets have no pair, is NaN.

Where every pixel of the window has a level, the value equals
``graycoprops(graycomatrix(q[window], distances, angles, levels, symmetric, normed=True),
feature).mean()`` (tests/unit/test_texture.py; float64 sums in another order: equal to ~1e-12).
The compiled loop keeps the counts in a dense ``levels x levels`` matrix per offset but visits
only the cells the window touched, so a pixel costs O(window^2 x offsets), not O(levels^2).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from antares.recipes.specs import TEXTURE_FEATURES as FEATURES  # in the order of the compiled loop's planes
#: scikit-image's ``graycoprops`` name of each feature.
SKIMAGE_NAMES = {"contrast": "contrast", "dissimilarity": "dissimilarity", "homogeneity": "homogeneity",
                 "asm": "ASM", "energy": "energy", "correlation": "correlation", "entropy": "entropy"}
MAX_LEVELS = 256


def offsets(distances, angles) -> np.ndarray:
    """The (row, column) pixel offsets of GLCM pairs, as scikit-image's ``graycomatrix`` forms them.

    Parameters
    ----------
    distances : sequence of int
        Pair distances in pixels (>= 1).
    angles : sequence of float
        Angles in degrees (0: to the right along the row; 90: scikit-image's ``pi/2``).

    Returns
    -------
    numpy.ndarray of int64, (len(distances) * len(angles), 2)
        ``(round(sin(a) d), round(cos(a) d))`` with C's ``round`` (halves away from zero), angles
        in the outer loop as in scikit-image.
    """
    out = []
    for angle in angles:
        rad = math.radians(angle)
        for d in distances:
            row, col = math.sin(rad) * d, math.cos(rad) * d
            out.append((int(math.copysign(math.floor(abs(row) + 0.5), row)),
                        int(math.copysign(math.floor(abs(col) + 0.5), col))))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def quantize(values, levels: int, value_range) -> np.ndarray:
    """Grey levels of ``values``: ``floor((v - low) / (high - low) * levels)`` clipped to ``0..levels - 1``.

    Parameters
    ----------
    values : numpy.ndarray, float
        Any shape; NaN = nodata.
    levels : int
        Number of grey levels, 2..256.
    value_range : (float, float)
        ``(low, high)``, ``low < high``: the values mapped to the first and just past the last level.
        Fixed per recipe, so that a level means the same value in every tile.

    Returns
    -------
    numpy.ndarray of int16
        Levels ``0..levels - 1``; -1 where ``values`` is NaN.
    """
    low, high = float(value_range[0]), float(value_range[1])
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        q = np.floor((values - low) / (high - low) * levels)
    q = np.clip(np.nan_to_num(q, nan=-1.0), 0, levels - 1)
    q[np.isnan(values)] = -1
    return q.astype(np.int16)


def glcm_features(values, window: int, distances=(1,), angles=(0, 45, 90, 135), levels: int = 32,
                  value_range=(0.0, 1.0), features=FEATURES, symmetric: bool = True) -> dict:
    """GLCM texture features of a 2-D image per moving window (see the module docstring).

    Parameters
    ----------
    values : numpy.ndarray, float, (y, x)
        The image (e.g. a band's median reflectance or an index); NaN = nodata.
    window : int
        Odd window size in pixels (>= 3).
    distances : sequence of int
        Pair distances in pixels, each >= 1 and < ``window``.
    angles : sequence of float
        Pair angles in degrees.
    levels : int
        Grey levels, 2..256.
    value_range : (float, float)
        Quantisation range (:func:`quantize`).
    features : sequence of str
        Names from :data:`FEATURES`.
    symmetric : bool
        Count each pair in both orders (Haralick's GLCM; scikit-image's ``symmetric=True``).

    Returns
    -------
    dict of str to numpy.ndarray of float32, (y, x)
        One array per requested feature (unitless), NaN where ``values`` is NaN or no pair is valid.

    Raises
    ------
    ValueError
        A parameter is outside the ranges above (the recipe parser reports them first, with the
        recipe's key).
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"glcm_features: values must be 2-D (y, x). Got shape {values.shape}.")
    if window < 3 or window % 2 == 0:
        raise ValueError(f"glcm_features: window must be an odd int >= 3. Got {window!r}.")
    if not 2 <= levels <= MAX_LEVELS:
        raise ValueError(f"glcm_features: levels must be in 2..{MAX_LEVELS}. Got {levels!r}.")
    if not distances or any(int(d) != d or not 1 <= d < window for d in distances):
        raise ValueError(f"glcm_features: distances must be ints in 1..{window - 1}. Got {list(distances)!r}.")
    if not angles:
        raise ValueError("glcm_features: angles must list at least one angle.")
    unknown = [f for f in features if f not in FEATURES]
    if unknown or not features:
        raise ValueError(f"glcm_features: unknown feature(s) {unknown}; valid: {', '.join(FEATURES)}.")
    q = quantize(values, levels, value_range)
    out = np.empty((len(FEATURES),) + q.shape, np.float32)
    want = np.array([f in features for f in FEATURES])
    _glcm_window(q, window // 2, offsets(distances, angles), levels, symmetric, want, out)
    return {f: out[FEATURES.index(f)] for f in features}


@njit(cache=True, nogil=True)
def _glcm_window(q, half, offs, levels, symmetric, want, out):
    """For each pixel: the GLCMs of its window (one per offset), their features, averaged over offsets."""
    n_y, n_x = q.shape
    n_off = offs.shape[0]
    counts = np.zeros((n_off, levels, levels), np.int32)
    touched = np.empty((n_off, 2 * (2 * half + 1) ** 2, 2), np.int64)  # cells with a count, per offset
    n_touched = np.zeros(n_off, np.int64)
    n_pairs = np.zeros(n_off, np.int64)
    sums = np.empty(7, np.float64)
    nan = np.float32(np.nan)
    for y in range(n_y):
        y0, y1 = max(0, y - half), min(n_y, y + half + 1)
        for x in range(n_x):
            if q[y, x] < 0:
                for f in range(7):
                    out[f, y, x] = nan
                continue
            x0, x1 = max(0, x - half), min(n_x, x + half + 1)
            for k in range(n_off):
                dr, dc = offs[k, 0], offs[k, 1]
                for r in range(max(y0, y0 - dr), min(y1, y1 - dr)):
                    for c in range(max(x0, x0 - dc), min(x1, x1 - dc)):
                        i = q[r, c]
                        j = q[r + dr, c + dc]
                        if i < 0 or j < 0:
                            continue
                        if counts[k, i, j] == 0:
                            touched[k, n_touched[k], 0] = i
                            touched[k, n_touched[k], 1] = j
                            n_touched[k] += 1
                        counts[k, i, j] += 1
                        n_pairs[k] += 1
                        if symmetric:
                            if counts[k, j, i] == 0:
                                touched[k, n_touched[k], 0] = j
                                touched[k, n_touched[k], 1] = i
                                n_touched[k] += 1
                            counts[k, j, i] += 1
                            n_pairs[k] += 1
            sums[:] = 0.0
            used = 0
            for k in range(n_off):
                if n_pairs[k] == 0:
                    continue
                used += 1
                total = float(n_pairs[k])
                con = dis = hom = asm = ent = mu_i = mu_j = 0.0
                for t in range(n_touched[k]):
                    i, j = touched[k, t, 0], touched[k, t, 1]
                    p = counts[k, i, j] / total
                    d = float(i - j)
                    con += p * d * d
                    dis += p * abs(d)
                    hom += p / (1.0 + d * d)
                    asm += p * p
                    ent -= p * math.log(p)
                    mu_i += p * i
                    mu_j += p * j
                corr = 1.0
                if want[5]:
                    var_i = var_j = cov = 0.0
                    for t in range(n_touched[k]):
                        i, j = touched[k, t, 0], touched[k, t, 1]
                        p = counts[k, i, j] / total
                        var_i += p * (i - mu_i) ** 2
                        var_j += p * (j - mu_j) ** 2
                        cov += p * (i - mu_i) * (j - mu_j)
                    s_i, s_j = math.sqrt(var_i), math.sqrt(var_j)
                    if s_i >= 1e-15 and s_j >= 1e-15:
                        corr = cov / (s_i * s_j)
                sums[0] += con
                sums[1] += dis
                sums[2] += hom
                sums[3] += asm
                sums[4] += math.sqrt(asm)
                sums[5] += corr
                sums[6] += ent
                for t in range(n_touched[k]):  # reset only what this window touched
                    counts[k, touched[k, t, 0], touched[k, t, 1]] = 0
                n_touched[k] = 0
                n_pairs[k] = 0
            for f in range(7):
                out[f, y, x] = np.float32(sums[f] / used) if used else nan
