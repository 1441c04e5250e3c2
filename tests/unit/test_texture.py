"""GLCM texture (antares.recipes.texture) equals scikit-image's graycomatrix / graycoprops window by window."""

import math

import numpy as np
import pytest
from skimage.feature import graycomatrix, graycoprops

from antares.recipes.texture import FEATURES, SKIMAGE_NAMES, glcm_features, offsets, quantize


def _reference(q, y, x, half, distances, angles, levels, symmetric):
    """scikit-image on the window around (y, x), clipped at the edges; pixels without a level (-1) become an
    extra level whose row and column are dropped, so only pairs of two valid pixels count."""
    win = q[max(0, y - half):y + half + 1, max(0, x - half):x + half + 1].astype(np.int64)
    win = np.where(win < 0, levels, win).astype(np.uint16)
    glcm = graycomatrix(win, distances, np.radians(angles), levels=levels + 1, symmetric=symmetric)
    glcm = glcm[:levels, :levels].astype(np.float64)
    sums = glcm.sum(axis=(0, 1))
    used = sums > 0
    out = {}
    for f in FEATURES:
        props = graycoprops(glcm / np.where(sums == 0, 1, sums), SKIMAGE_NAMES[f])
        out[f] = props[used].mean() if used.any() else np.nan
    return out


@pytest.mark.parametrize("window, distances, angles, levels, symmetric", [
    (5, [1], [0, 45, 90, 135], 8, True),
    (7, [1, 2], [0, 90], 32, False),
    (9, [3], [0, 30, 60, 120, 150], 16, True),
])
def test_equals_skimage_on_sampled_windows(window, distances, angles, levels, symmetric):
    rng = np.random.default_rng(window)
    # smooth field + noise, so that windows have both structure and constant patches
    yy, xx = np.mgrid[0:60, 0:70]
    img = (np.sin(yy / 7.0) * np.cos(xx / 5.0) + rng.normal(0, 0.3, yy.shape)).astype(np.float32)
    img[20:24, 30:33] = 0.25  # constant patch: correlation's 1 where a std is 0
    img[rng.random(img.shape) < 0.03] = np.nan
    img[50:, 60:] = np.nan  # a nodata corner
    value_range = (-1.5, 1.5)
    got = glcm_features(img, window, distances, angles, levels, value_range, symmetric=symmetric)
    q = quantize(img, levels, value_range)
    half = window // 2
    pixels = [(0, 0), (59, 69), (21, 31), (30, 0), (49, 59)] + \
        [tuple(p) for p in rng.integers(0, (60, 70), size=(60, 2))]
    checked = 0
    for y, x in pixels:
        if q[y, x] < 0:
            assert all(np.isnan(got[f][y, x]) for f in FEATURES)
            continue
        ref = _reference(q, y, x, half, distances, angles, levels, symmetric)
        for f in FEATURES:
            np.testing.assert_allclose(got[f][y, x], ref[f], rtol=2e-6, atol=1e-6, err_msg=f"{f} at {(y, x)}")
        checked += 1
    assert checked > 40


def test_full_windows_equal_skimage_without_masking():
    """Where no pixel is missing: the plain graycomatrix(normed=True) / graycoprops call, averaged over offsets."""
    rng = np.random.default_rng(3)
    img = rng.random((25, 25)).astype(np.float32)
    got = glcm_features(img, 7, [1], [0, 45, 90, 135], 16, (0, 1))
    q = quantize(img, 16, (0, 1)).astype(np.uint8)
    for y, x in [(3, 3), (12, 12), (21, 17)]:
        glcm = graycomatrix(q[y - 3:y + 4, x - 3:x + 4], [1], np.radians([0, 45, 90, 135]), levels=16,
                            symmetric=True, normed=True)
        for f in FEATURES:
            assert math.isclose(got[f][y, x], graycoprops(glcm, SKIMAGE_NAMES[f]).mean(), rel_tol=2e-6, abs_tol=1e-6)


def test_quantize_equals_digitize():
    values = np.array([-0.2, 0.0, 0.124, 0.125, 0.5, 0.999, 1.0, 3.0, np.nan])
    got = quantize(values, 8, (0.0, 1.0))
    expected = np.clip(np.digitize(values, np.linspace(0, 1, 9)) - 1, 0, 7)
    expected[np.isnan(values)] = -1
    np.testing.assert_array_equal(got, expected)


def test_offsets_are_skimages():
    # skimage's _glcm_loop: row = round(sin(a) d), col = round(cos(a) d), C round (halves away from zero)
    np.testing.assert_array_equal(offsets([1, 2], [0, 90]), [[0, 1], [0, 2], [1, 0], [2, 0]])
    np.testing.assert_array_equal(offsets([1], [30, 135]), [[1, 1], [1, -1]])


def test_constant_image():
    got = glcm_features(np.full((9, 9), 0.3, np.float32), 3, [1], [0, 90], 4, (0, 1))
    assert np.all(got["contrast"] == 0) and np.all(got["asm"] == 1) and np.all(got["correlation"] == 1)
    assert np.all(got["entropy"] == 0) and np.all(got["homogeneity"] == 1)


@pytest.mark.parametrize("kwargs", [dict(window=4), dict(window=5, distances=[5]), dict(window=5, levels=1),
                                    dict(window=5, features=["variance"])])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        glcm_features(np.zeros((8, 8), np.float32), **kwargs)
