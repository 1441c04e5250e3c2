"""Stratified sampling of training samples from synthetic rasters, and spatial CV blocks (the real tree cover
density raster: tests/integration/test_sampling_real_data.py)."""

import numpy as np
import pytest
from affine import Affine

from antares.errors import InvalidInputError
from antares.sampling import bin_values, sample_polygons, spatial_blocks, stratified_sample
from helpers import sample_counts as _counts


def _raster() -> np.ndarray:
    """12 x 12: class 1 top-left 6 x 6, class 2 top-right, class 3 bottom, a few nodata (0) and 4s."""
    a = np.ones((12, 12), dtype=np.int32)
    a[:6, 6:] = 2
    a[6:, :] = 3
    a[11, 11] = 0
    a[0, 0] = 4
    a[7, 2] = 4
    return a


# -- bin_values ------------------------------------------------------------------------


def test_bin_values_left_closed_edges_nan_and_nodata():
    values = np.array([[0.0, 9.99, 10.0, 49.9], [50.0, 100.0, np.nan, 255.0]])
    out = bin_values(values, [10, 50], nodata=255)
    assert out.dtype == np.uint16
    assert out.tolist() == [[1, 1, 2, 2], [3, 3, 0, 0]]
    # same convention as numpy.digitize(right=False) + 1 on valid values
    valid = values[np.isfinite(values) & (values != 255)]
    assert np.array_equal(bin_values(valid, [10, 50]), np.digitize(valid, [10, 50]) + 1)
    # integer input, no nodata given: 255 is an ordinary value
    assert bin_values(np.array([255, 10], dtype=np.uint8), [10, 50]).tolist() == [3, 2]


@pytest.mark.parametrize("bins", [[50, 10], [10, 10, 50], [], [10, np.nan]])
def test_bin_values_rejects_bad_edges(bins):
    with pytest.raises(InvalidInputError, match="strictly increasing"):
        bin_values(np.arange(5), bins)


# -- stratified_sample -----------------------------------------------------------------


def test_per_class_exact_counts_and_shortfall():
    a = _raster()
    s = stratified_sample(a, per_class=5, seed=3)
    assert s.available == {1: 35, 2: 36, 3: 70, 4: 2}
    assert _counts(s) == {1: 5, 2: 5, 3: 5, 4: 2}
    assert s.shortfall == {4: 3}
    assert s.size == 1 and len(s) == 17
    assert s.rows.dtype == np.int64 and s.cols.dtype == np.int64
    # sorted by (code, row, col), no duplicates, and every sample really has its class
    keys = list(zip(s.codes.tolist(), s.rows.tolist(), s.cols.tolist()))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(a[r, c] == k for k, r, c in keys)
    # more than available: all candidates of each class
    s = stratified_sample(a, per_class=1000)
    assert _counts(s) == {1: 35, 2: 36, 3: 70, 4: 2}
    assert s.shortfall == {1: 965, 2: 964, 3: 930, 4: 998}


def test_fraction_rounds_half_up_and_keeps_at_least_one():
    a = _raster()
    # 35 * 0.1 = 3.5 -> 4; 36 * 0.1 = 3.6 -> 4; 70 * 0.1 = 7 -> 7; 2 * 0.1 = 0.2 -> 1 (at least one)
    s = stratified_sample(a, fraction=0.1)
    assert _counts(s) == {1: 4, 2: 4, 3: 7, 4: 1}
    assert s.shortfall == {}
    assert _counts(stratified_sample(a, fraction=1.0)) == {1: 35, 2: 36, 3: 70, 4: 2}
    # 0.3: 10.5 -> 11, 10.8 -> 11, 21 -> 21, 0.6 -> 1
    assert _counts(stratified_sample(a, fraction=0.3)) == {1: 11, 2: 11, 3: 21, 4: 1}


def test_deterministic_for_a_seed():
    a = np.random.default_rng(0).integers(1, 4, size=(40, 40))
    s1 = stratified_sample(a, per_class=20, seed=7)
    s2 = stratified_sample(a, per_class=20, seed=7)
    s3 = stratified_sample(a, per_class=20, seed=8)
    for f in ("rows", "cols", "codes"):
        assert np.array_equal(getattr(s1, f), getattr(s2, f))
    assert not (np.array_equal(s1.rows, s3.rows) and np.array_equal(s1.cols, s3.cols))
    assert np.array_equal(s1.codes, s3.codes)  # same counts per class, other pixels


def test_sampling_is_roughly_uniform_within_a_class():
    a = np.ones((10, 10), dtype=np.int16)
    hits = np.zeros((10, 10))
    for seed in range(400):
        s = stratified_sample(a, per_class=5, seed=seed)
        np.add.at(hits, (s.rows, s.cols), 1)
    # expected 20 per pixel; every pixel drawn, none hugely over-represented
    assert hits.sum() == 2000 and hits.min() > 5 and hits.max() < 40


def test_patches_are_pure_aligned_and_do_not_overlap():
    rng = np.random.default_rng(1)
    # blocks of 3 x 3 mostly pure, then noise so that some blocks are mixed; 31 x 32 -> partial edges
    a = np.kron(rng.integers(1, 4, size=(11, 11)), np.ones((3, 3), dtype=np.int64))[:31, :32]
    noise = rng.random(a.shape) < 0.02
    a[noise] = rng.integers(0, 4, size=noise.sum())
    s = stratified_sample(a, per_class=1000, patch=3, seed=5)
    assert s.size == 3 and len(s) > 0
    assert np.all(s.rows % 3 == 0) and np.all(s.cols % 3 == 0)
    assert np.all(s.rows + 3 <= 31) and np.all(s.cols + 3 <= 32)  # the partial last row/col is never used
    cover = np.zeros(a.shape, dtype=int)
    for k, r, c in zip(s.codes, s.rows, s.cols):
        window = a[r:r + 3, c:c + 3]
        assert window.shape == (3, 3) and np.all(window == k)
        cover[r:r + 3, c:c + 3] += 1
    assert cover.max() == 1
    # naive count of pure blocks per class = available, and all of them taken (per_class is large)
    naive = {}
    for i in range(31 // 3):
        for j in range(32 // 3):
            w = a[3 * i:3 * i + 3, 3 * j:3 * j + 3]
            if np.all(w == w[0, 0]) and w[0, 0] != 0:
                naive[int(w[0, 0])] = naive.get(int(w[0, 0]), 0) + 1
    assert s.available == naive and _counts(s) == naive


def test_patch_with_even_side():
    a = np.array([[1, 1, 2, 2], [1, 1, 2, 1], [3, 3, 0, 0], [3, 3, 0, 0]])
    s = stratified_sample(a, per_class=5, patch=2)
    assert s.available == {1: 1, 2: 0, 3: 1}
    assert list(zip(s.codes.tolist(), s.rows.tolist(), s.cols.tolist())) == [(1, 0, 0), (3, 2, 0)]
    assert s.shortfall == {1: 4, 2: 5, 3: 4}


def test_classes_wanted_filter_and_error():
    a = _raster()
    s = stratified_sample(a, per_class=3, classes_wanted=[3, 1, 3])
    assert _counts(s) == {1: 3, 3: 3}
    assert s.available == {1: 35, 3: 70}
    with pytest.raises(InvalidInputError) as err:
        stratified_sample(a, per_class=3, classes_wanted=[1, 7])
    msg = str(err.value)
    assert "7" in msg and "1 (35 candidates)" in msg and "3 (70 candidates)" in msg and "4 (2 candidates)" in msg
    with pytest.raises(InvalidInputError, match="nodata is 0"):
        stratified_sample(a, per_class=3, classes_wanted=[0])
    # a wanted code present in the raster but without a pure patch is a shortfall, not an error
    s = stratified_sample(a, per_class=3, classes_wanted=[4], patch=2)
    assert len(s) == 0 and s.available == {4: 0} and s.shortfall == {4: 3}


def test_no_candidates_gives_an_empty_result():
    s = stratified_sample(np.zeros((5, 5), dtype=np.uint16), per_class=10)
    assert len(s) == 0 and s.available == {} and s.shortfall == {}
    assert s.rows.dtype == np.int64 and s.codes.size == 0
    # classes present, but no pure patch (and a raster smaller than the patch)
    s = stratified_sample(np.array([[1, 2], [2, 1]]), fraction=0.5, patch=2)
    assert len(s) == 0 and s.available == {1: 0, 2: 0} and s.shortfall == {}
    s = stratified_sample(np.ones((2, 2), dtype=int), per_class=1, patch=3)
    assert len(s) == 0 and s.available == {1: 0} and s.shortfall == {1: 1}
    assert sample_polygons(s, Affine.identity()) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "exactly one"),
        ({"per_class": 2, "fraction": 0.5}, "exactly one"),
        ({"per_class": 0}, "'per_class' parameter of stratified_sample must be an int >= 1. Got 0"),
        ({"per_class": 2.5}, "'per_class'"),
        ({"fraction": 0}, "'fraction' parameter .* must be a float in \\(0, 1\\]. Got 0"),
        ({"fraction": 1.5}, "'fraction'"),
        ({"per_class": 1, "patch": 0}, "'patch' parameter .* int >= 1. Got 0"),
    ],
)
def test_parameter_errors(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        stratified_sample(_raster(), **kwargs)


def test_rejects_float_or_3d_rasters():
    with pytest.raises(InvalidInputError, match="bin_values"):
        stratified_sample(np.ones((3, 3)), per_class=1)
    with pytest.raises(InvalidInputError, match="2-D"):
        stratified_sample(np.ones((2, 3, 3), dtype=int), per_class=1)


def test_results_are_read_only():
    s = stratified_sample(_raster(), per_class=2)
    with pytest.raises(ValueError):
        s.rows[0] = 5
    with pytest.raises(AttributeError):
        s.size = 2


# -- sample_polygons -------------------------------------------------------------------


@pytest.mark.parametrize("patch", [1, 3])
def test_sample_polygons_match_pixel_bounds(patch):
    transform = Affine(20.0, 0.0, 5271982.5766, 0.0, -20.0, 2533004.2149)
    a = np.ones((9, 9), dtype=np.uint8)
    s = stratified_sample(a, per_class=4, patch=patch, seed=2)
    polys = sample_polygons(s, transform)
    assert len(polys) == len(s) == 4
    for poly, r, c in zip(polys, s.rows, s.cols):
        x0, y0 = transform * (c, r)
        x1, y1 = transform * (c + patch, r + patch)
        assert poly.bounds == pytest.approx((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        assert poly.area == pytest.approx((patch * 20.0) ** 2)
        assert poly.is_valid


# -- spatial_blocks --------------------------------------------------------------------


def test_spatial_blocks_groups_and_negative_coordinates():
    x = [5, 15, 7, -1, -10, -10.5, 0, 9.99, 1000]
    y = [5, 5, 9, 5, -0.1, 3, 0, -0.01, 1000]
    ids = spatial_blocks(x, y, 10)
    assert ids.dtype == np.int64
    # blocks (floor(x/10), floor(y/10)): (0,0) (1,0) (0,0) (-1,0) (-1,-1) (-2,0) (0,0) (0,-1) (100,100)
    assert ids[0] == ids[2] == ids[6]
    assert ids[4] != ids[3] and ids[7] != ids[0] and ids[5] != ids[3]
    assert len(set(ids.tolist())) == 7 and sorted(set(ids.tolist())) == list(range(7))
    # dense ids in the order of (block column, block row)
    assert ids.tolist() == [4, 5, 4, 2, 1, 0, 4, 3, 6]
    assert spatial_blocks([], [], 10).tolist() == []


@pytest.mark.parametrize("size", [0, -5, float("nan"), float("inf")])
def test_spatial_blocks_rejects_bad_size(size):
    with pytest.raises(InvalidInputError, match="'block_size' parameter of spatial_blocks must be a float > 0"):
        spatial_blocks([1.0], [1.0], size)


def test_spatial_blocks_rejects_mismatched_or_nan():
    with pytest.raises(InvalidInputError, match="same length"):
        spatial_blocks([1, 2], [1], 10)
    with pytest.raises(InvalidInputError, match="finite"):
        spatial_blocks([np.nan], [1], 10)


def test_nodata_outside_the_raster_dtype():
    a = np.array([[1, 1, 2, 2], [1, 1, 2, 1]], dtype=np.uint8)
    s = stratified_sample(a, per_class=3, patch=2, nodata=-1)
    assert s.available == {1: 1, 2: 0} and s.rows.tolist() == [0] and s.cols.tolist() == [0]
    assert stratified_sample(a, per_class=3, nodata=-1).available == {1: 5, 2: 3}
