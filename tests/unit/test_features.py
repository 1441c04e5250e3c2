"""Per-object statistics (antares.features) against a naive per-object numpy loop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from antares.errors import InvalidInputError
from antares.features import (
    MERGEABLE_STATISTICS,
    STATISTICS,
    PartialStats,
    feature_names,
    finalise,
    merge_partials,
    object_medians,
    object_statistics,
    partial_statistics,
    select_pixels,
)

NAIVE = {
    "mean": np.nanmean,
    "min": np.nanmin,
    "max": np.nanmax,
    "std": np.nanstd,
    "median": np.nanmedian,
    "count": lambda a: np.count_nonzero(~np.isnan(a)),
}


def naive(labels, values, statistics):
    """(ids, n_pixels, features) with one numpy call per object, band and statistic."""
    values = np.asarray(values, dtype=np.float64)
    ids = np.unique(labels[labels != 0])
    features = np.empty((ids.size, len(statistics) * values.shape[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        for row, i in enumerate(ids):
            pixels = values[:, labels == i]
            features[row] = [NAIVE[s](band) for s in statistics for band in pixels]
    return ids, np.array([np.count_nonzero(labels == i) for i in ids]), features


def make_labels(rng, shape=(61, 73), kind="small"):
    """Irregular objects (blocks of random sizes, some one pixel), 0 = no object, shuffled ids."""
    ny, nx = shape
    rows = np.cumsum(rng.random(ny) < 0.2)  # objects about 5 x 7 pixels
    cols = np.cumsum(rng.random(nx) < 0.15)
    cell = rows[:, None] * 1000 + cols[None, :]
    _, local = np.unique(cell, return_inverse=True)
    local = rng.permutation(local.max() + 1)[local.reshape(shape)] + 1
    local[rng.random(shape) < 0.1] = 0
    local[5, 5] = local.max() + 1  # a one-pixel object
    if kind == "small":
        return local.astype(np.int64)
    if kind == "int32":
        return local.astype(np.int32)
    # segment ids of several tiles: tile index * 2**32 + local id (far beyond any lookup table)
    tile = np.array([3, 7, 2**29 + 5])[(np.arange(nx)[None, :] * 3) // nx].repeat(ny, 0)
    return np.where(local > 0, tile * 2**32 + local, 0).astype(np.int64)


def make_values(rng, labels, bands=3, nan_fraction=0.2):
    values = (rng.standard_normal((bands,) + labels.shape) * 3 + 10).astype(np.float32)
    values[rng.random(values.shape) < nan_fraction] = np.nan
    return values


@pytest.fixture(params=["small", "int32", "huge"])
def block(request):
    rng = np.random.default_rng(42)
    labels = make_labels(rng, kind=request.param)
    values = make_values(rng, labels)
    values[:, labels == labels[5, 5]] = np.nan  # an all-NaN object
    return labels, values


def test_object_statistics_equal_naive_loop(block):
    labels, values = block
    statistics = ("mean", "min", "max", "std", "count", "median")
    ids, n_pixels, features = object_statistics(labels, values, statistics)
    expected_ids, expected_n, expected = naive(labels, values, statistics)
    assert ids.dtype == np.int64 and n_pixels.dtype == np.int64 and features.dtype == np.float64
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_array_equal(n_pixels, expected_n)
    np.testing.assert_allclose(features, expected, rtol=1e-12, atol=0, equal_nan=True)
    assert np.isnan(features).any() and ids.size > 40


def test_partial_statistics_fields(block):
    labels, values = block
    part = partial_statistics(labels, values)
    ids, n_pixels, expected = naive(labels, values, ("count", "min", "max"))
    b = values.shape[0]
    np.testing.assert_array_equal(part.ids, ids)
    np.testing.assert_array_equal(part.n_pixels, n_pixels)
    np.testing.assert_array_equal(part.count, expected[:, :b].astype(np.int64))
    np.testing.assert_array_equal(part.min, expected[:, b : 2 * b])
    np.testing.assert_array_equal(part.max, expected[:, 2 * b :])
    assert part.count.dtype == np.int64 and part.sum.dtype == part.sumsq.dtype == np.float64
    assert part.n_bands == b and part.ids.size == ids.size
    inside = np.where(labels != 0, values.astype(np.float64), np.nan)
    np.testing.assert_allclose(part.sum.sum(axis=0), np.nansum(inside, axis=(1, 2)), rtol=1e-12)
    sumsq = np.nansum(inside**2, axis=(1, 2))
    np.testing.assert_allclose(part.sumsq.sum(axis=0), sumsq, rtol=1e-12)


def test_noncontiguous_inputs_and_dtypes(block):
    labels, values = block
    expected = object_statistics(labels, values, STATISTICS)
    labels_f = np.asfortranarray(labels)
    values_t = np.ascontiguousarray(values.transpose(1, 2, 0)).transpose(2, 0, 1)  # (y, x, b) view
    assert not values_t.flags.c_contiguous and not labels_f.flags.c_contiguous
    got = object_statistics(labels_f, values_t, STATISTICS)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    strided = object_statistics(labels[::2, 1::3], values[:, ::2, 1::3], ("mean", "median"))
    ref = naive(labels[::2, 1::3], values[:, ::2, 1::3], ("mean", "median"))
    np.testing.assert_allclose(strided[2], ref[2], rtol=1e-12, equal_nan=True)
    in64 = object_statistics(labels.astype(np.uint16 if labels.max() < 2**16 else np.uint64),
                             values.astype(np.float64), STATISTICS)
    np.testing.assert_allclose(in64[2], expected[2], rtol=1e-12, equal_nan=True)


def test_one_band_and_integer_values():
    rng = np.random.default_rng(3)
    labels = make_labels(rng, (40, 50))
    values = rng.integers(0, 4, (1,) + labels.shape)  # many ties: exercises the selection
    ids, _, features = object_statistics(labels, values, ("median", "std"))
    np.testing.assert_allclose(features, naive(labels, values, ("median", "std"))[2], rtol=1e-12)
    assert features.shape == (ids.size, 2)


def test_large_objects_medians_with_ties():
    rng = np.random.default_rng(5)
    labels = np.repeat([1, 2, 3, 2**40], 25_000).reshape(200, 500)
    values = np.round(rng.random((2, 200, 500)) * 5).astype(np.float32)
    values[1, :100] = 7.0  # objects 1 and 2: constant in band 1
    values[0, rng.random((200, 500)) < 0.3] = np.nan
    ids, medians = object_medians(labels, values)
    np.testing.assert_array_equal(medians, naive(labels, values, ("median",))[2].reshape(4, 2))
    ids, _, std = object_statistics(labels, values, "std")
    assert np.all(std[:2, 1] < 1e-6) and np.all(std >= 0)  # constant objects: ~0, never NaN


CUT_Y, CUT_X = 23, 31


def split_blocks(labels, values, y=CUT_Y, x=CUT_X):
    """Four blocks (2 x 2) of unequal sizes cut at row y and column x; objects cross the cuts."""
    return [
        (labels[sy, sx], values[:, sy, sx])
        for sy in (slice(None, y), slice(y, None))
        for sx in (slice(None, x), slice(x, None))
    ]


def test_merge_partials_equals_whole(block):
    labels, values = block
    statistics = MERGEABLE_STATISTICS
    top, bottom = np.s_[:CUT_Y, :CUT_X], np.s_[CUT_Y:, :CUT_X]
    crossing = np.setdiff1d(np.intersect1d(labels[top], labels[bottom]), [0])
    assert len(crossing) > 3
    values = values.copy()
    values[0][top][labels[top] == crossing[0]] = np.nan  # no valid pixel in block 0
    values[0][bottom][labels[bottom] == crossing[0]] = 4.0
    whole = partial_statistics(labels, values)
    parts = [partial_statistics(lab, val) for lab, val in split_blocks(labels, values)]
    assert parts[0].count[np.searchsorted(parts[0].ids, crossing[0]), 0] == 0
    for order in ([0, 1, 2, 3], [3, 1, 0, 2]):
        merged = merge_partials([parts[k] for k in order])
        np.testing.assert_array_equal(merged.ids, whole.ids)
        np.testing.assert_array_equal(merged.n_pixels, whole.n_pixels)
        np.testing.assert_array_equal(merged.count, whole.count)
        np.testing.assert_array_equal(merged.min, whole.min)
        np.testing.assert_array_equal(merged.max, whole.max)
        np.testing.assert_allclose(
            finalise(merged, statistics), finalise(whole, statistics), rtol=1e-12, equal_nan=True
        )
    one = merge_partials([parts[0]])
    np.testing.assert_array_equal(one.sum, parts[0].sum)


def test_medians_of_crossing_objects_via_select_pixels(block):
    labels, values = block
    whole_ids, whole = object_medians(labels, values)
    blocks = split_blocks(labels, values)
    per_block = [object_medians(lab, val) for lab, val in blocks]
    seen = np.concatenate([ids for ids, _ in per_block])
    uniq, times = np.unique(seen, return_counts=True)
    crossing = uniq[times > 1]
    selected = [select_pixels(lab, val, crossing) for lab, val in blocks]
    assert all(lab.ndim == 1 and val.shape == (values.shape[0], lab.size) for lab, val in selected)
    assert set(np.concatenate([lab for lab, _ in selected])) == set(crossing)
    ids, medians = object_medians(
        np.concatenate([lab for lab, _ in selected]), np.concatenate([v for _, v in selected], 1)
    )
    np.testing.assert_array_equal(ids, crossing)
    rows = np.searchsorted(whole_ids, crossing)
    np.testing.assert_array_equal(medians, whole[rows])
    for ids_b, med_b in per_block:  # objects inside one block: their block median is final
        inside = ~np.isin(ids_b, crossing)
        rows = np.searchsorted(whole_ids, ids_b[inside])
        np.testing.assert_array_equal(med_b[inside], whole[rows])


def test_object_medians_with_ids():
    labels = np.array([[1, 1, 2], [5, 2, 2]])
    values = np.array([[[1.0, 3.0, 5.0], [9.0, np.nan, 8.0]]], dtype=np.float32)
    ids, medians = object_medians(labels, values, ids=[5, 2, 99, 0])
    np.testing.assert_array_equal(ids, [2, 5, 99])
    np.testing.assert_array_equal(medians[:, 0], [6.5, 9.0, np.nan])
    assert select_pixels(labels, values, [7])[0].shape == (0,)


def test_all_nan_object():
    labels = np.array([[1, 1, 2, 2], [1, 3, 3, 2]], dtype=np.int32)
    values = np.stack([np.where(labels == 2, np.nan, labels * 1.5), np.full(labels.shape, np.nan)])
    ids, n_pixels, features = object_statistics(labels, values.astype(np.float32), STATISTICS)
    np.testing.assert_array_equal(ids, [1, 2, 3])
    np.testing.assert_array_equal(n_pixels, [3, 3, 2])
    names = feature_names(["a", "b"], STATISTICS)
    table = dict(zip(names, features.T))
    for s in ("mean", "min", "max", "std", "median"):
        assert np.isnan(table[f"a_{s}"][1]) and np.isnan(table[f"b_{s}"]).all()
    np.testing.assert_array_equal(table["a_count"], [3, 0, 2])
    np.testing.assert_array_equal(table["b_count"], [0, 0, 0])
    np.testing.assert_array_equal(table["a_mean"][[0, 2]], [1.5, 4.5])
    assert table["a_std"][0] == 0.0


def test_empty_labels():
    values = np.ones((4, 6, 7), np.float32)
    part = partial_statistics(np.zeros((6, 7), np.int64), values)
    assert part.ids.shape == (0,) and part.count.shape == (0, 4) and part.min.shape == (0, 4)
    assert finalise(part, ("mean", "std")).shape == (0, 8)
    merged = merge_partials([part, part])
    assert merged.ids.shape == (0,) and merged.sum.shape == (0, 4)
    ids, n_pixels, features = object_statistics(np.zeros((6, 7), np.int32), values, STATISTICS)
    assert ids.shape == n_pixels.shape == (0,) and features.shape == (0, 24)
    assert object_medians(np.zeros((6, 7), int), values)[1].shape == (0, 4)
    assert object_medians(np.zeros(0, int), np.zeros((4, 0)))[1].shape == (0, 4)


def test_feature_names_order_matches_columns():
    rng = np.random.default_rng(0)
    labels = make_labels(rng, (30, 30))
    values = make_values(rng, labels, bands=2)
    names = feature_names(["ndvi", "b04"], ["mean", "std"])
    assert names == ["ndvi_mean", "b04_mean", "ndvi_std", "b04_std"]
    _, _, features = object_statistics(labels, values, ["mean", "std"])
    ids, n_pixels = np.unique(labels[labels > 0], return_counts=True)
    big = np.argmax(n_pixels)
    pixels = values[:, labels == ids[big]].astype(np.float64)
    got = features[big, names.index("b04_std")]
    np.testing.assert_allclose(got, np.nanstd(pixels[1]), rtol=1e-12)


@pytest.mark.parametrize(
    "labels, values, match",
    [
        (np.zeros((4, 5), int), np.zeros((2, 5, 4)), r"\(bands, 4, 5\).*\(2, 5, 4\)"),
        (np.zeros((4, 5), int), np.zeros((4, 5)), r"\(bands, 4, 5\)"),
        (np.zeros((4, 5)), np.zeros((1, 4, 5)), "integer"),
        (np.zeros((2, 4, 5), int), np.zeros((1, 2, 4, 5)), "1-D or 2-D"),
    ],
)
def test_bad_shapes_raise(labels, values, match):
    for call in (partial_statistics, object_statistics, object_medians):
        with pytest.raises(InvalidInputError, match=match):
            call(labels, values)
    with pytest.raises(InvalidInputError, match=match):
        select_pixels(labels, values, [1])


def test_unknown_statistic_raises():
    labels, values = np.ones((2, 2), int), np.ones((1, 2, 2))
    with pytest.raises(InvalidInputError, match="'mode'.*mean, min, max, std, count, median"):
        object_statistics(labels, values, ("mean", "mode"))
    with pytest.raises(InvalidInputError, match="'median'.*mean, min, max, std, count"):
        finalise(partial_statistics(labels, values), ("median",))
    with pytest.raises(InvalidInputError, match="valid statistics"):
        feature_names(["a"], ["p90"])
    with pytest.raises(InvalidInputError, match="valid statistics"):
        finalise(partial_statistics(labels, values), ())


def test_merge_partials_rejects_bad_input():
    with pytest.raises(InvalidInputError, match="same number of bands"):
        merge_partials([])
    a = partial_statistics(np.ones((2, 2), int), np.ones((1, 2, 2)))
    b = partial_statistics(np.ones((2, 2), int), np.ones((2, 2, 2)))
    with pytest.raises(InvalidInputError, match=r"\[1, 2\]"):
        merge_partials([a, b])
    assert isinstance(merge_partials([a, a]), PartialStats)
