"""Per-object GLCM (antares.object_texture) against scikit-image on each object's masked pixels."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import graycomatrix, graycoprops

from antares.errors import InvalidInputError
from antares.object_texture import (FEATURES, glcm_counts, glcm_features, glcm_names, merge_glcm, object_glcm,
                                    quantisation_ranges)
from antares.recipes.texture import SKIMAGE_NAMES, quantize


def reference(labels, values, ranges, levels, distances, angles, symmetric=True):
    """{object: (b, features) float64} by scikit-image: the object's quantised image with every pixel outside it
    (and every NaN) set to an extra level ``levels``, whose row and column are dropped from the matrix."""
    out = {}
    for obj in np.unique(labels[labels > 0]):
        rows = []
        for b in range(values.shape[0]):
            q = quantize(values[b], levels, ranges[b]).astype(np.int64)
            q[(labels != obj) | (q < 0)] = levels
            P = graycomatrix(q.astype(np.uint16), distances, np.radians(angles), levels + 1, symmetric=symmetric)
            P = P[:levels, :levels]
            pairs = P.sum(axis=(0, 1))
            if not pairs.all():  # an offset without pair: average over the others (as antares does)
                keep = pairs > 0
                row = [graycoprops(P, SKIMAGE_NAMES[f])[keep].mean() if keep.any() else np.nan for f in FEATURES]
            else:
                row = [graycoprops(P, SKIMAGE_NAMES[f]).mean() for f in FEATURES]
            rows.append(row)
        out[int(obj)] = np.asarray(rows)
    return out


def synthetic(seed, shape=(40, 50), n_objects=12, bands=2, nan_share=0.05):
    rng = np.random.default_rng(seed)
    # Voronoi objects (irregular, some touching the border), label 0 around a few of them
    cy, cx = rng.uniform(0, shape[0], n_objects), rng.uniform(0, shape[1], n_objects)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.argmin((yy[..., None] - cy) ** 2 + (xx[..., None] - cx) ** 2, axis=2).astype(np.int64) + 1
    labels[rng.random(shape) < 0.03] = 0
    labels = labels * 7 + 1000  # ids neither dense nor starting at 1 (0 stays 1000: make it 0 again)
    labels[labels == 1000] = 0
    values = rng.normal(0.3, 0.1, (bands,) + shape) + 0.05 * np.sin(xx / 3.0)
    values[rng.random(values.shape) < nan_share] = np.nan
    return labels, values.astype(np.float32)


@pytest.mark.parametrize("seed, levels, distances, angles, symmetric", [
    (0, 8, (1,), (0, 45, 90, 135), True),
    (1, 32, (1, 2), (0, 45, 90, 135), True),
    (2, 16, (1,), (0, 90), False),
    (3, 5, (3,), (0, 45, 90, 135), True),
])
def test_equals_skimage_on_each_masked_object(seed, levels, distances, angles, symmetric):
    labels, values = synthetic(seed)
    ranges = [(0.1, 0.5), (0.0, 0.6)]
    ids, table = object_glcm(labels, values, ranges, levels, distances, angles, FEATURES, symmetric)
    ref = reference(labels, values, ranges, levels, distances, angles, symmetric)
    assert ids.tolist() == sorted(ref)
    for row, obj in enumerate(ids):
        got = table[row].reshape(len(FEATURES), 2).T  # (band, feature)
        np.testing.assert_allclose(got, ref[int(obj)], rtol=1e-9, atol=1e-12, err_msg=f"object {obj}")


def test_pairs_with_a_pixel_outside_are_excluded_by_hand():
    # object 1: a row 0 1 | object 2 on its right: 3 3; horizontal pairs only, 4 levels over [0, 4)
    labels = np.array([[1, 1, 2, 2]])
    values = np.array([[[0.0, 1.0, 3.0, 3.0]]])
    ids, table = object_glcm(labels, values, [(0.0, 4.0)], 4, (1,), (0,), ("contrast", "asm", "correlation"))
    # object 1: pairs (0,1),(1,0): contrast 1, ASM 2 * 0.5², correlation -1; object 2: (3,3) twice: contrast 0, ASM 1,
    # correlation 1 (zero spread). The pair (1, 3) across the objects' edge counts for neither.
    np.testing.assert_allclose(table, [[1.0, 0.5, -1.0], [0.0, 1.0, 1.0]])
    assert ids.tolist() == [1, 2]


def test_objects_without_pairs_are_nan_and_named_columns():
    labels = np.array([[1, 0, 2], [0, 0, 2]])
    values = np.array([[[0.2, 0.5, 0.4], [0.1, 0.1, np.nan]]])
    ids, table = object_glcm(labels, values, [(0.0, 1.0)], 8)
    assert ids.tolist() == [1, 2]
    assert np.isnan(table).all()  # one pixel; two pixels, one of them NaN
    assert glcm_names(["b04", "b08"], ("contrast", "entropy")) == [
        "b04_glcm_contrast", "b08_glcm_contrast", "b04_glcm_entropy", "b08_glcm_entropy"]


def test_blocks_with_a_margin_merge_to_the_whole():
    labels, values = synthetic(5, shape=(37, 45))
    ranges = [(0.1, 0.5), (0.0, 0.6)]
    whole = glcm_features(glcm_counts(labels, values, ranges, 16, (1, 2)))
    margin, parts = 2, []
    for r0, r1 in ((0, 20), (20, 37)):  # 2 x 2 blocks, each read with a margin of the largest offset
        for c0, c1 in ((0, 17), (17, 45)):
            R0, R1, C0, C1 = max(0, r0 - margin), min(37, r1 + margin), max(0, c0 - margin), min(45, c1 + margin)
            core = (slice(r0 - R0, r1 - R0), slice(c0 - C0, c1 - C0))
            parts.append(glcm_counts(labels[R0:R1, C0:C1], values[:, R0:R1, C0:C1], ranges, 16, (1, 2), core=core))
    merged = glcm_features(merge_glcm(parts))
    assert merged[0].tolist() == whole[0].tolist()
    np.testing.assert_allclose(merged[1], whole[1], rtol=1e-12, equal_nan=True)
    # without the margin pairs across the block edges are lost: the values differ (the test can fail)
    cut = [glcm_counts(labels[r0:r1, c0:c1], values[:, r0:r1, c0:c1], ranges, 16, (1, 2))
           for r0, r1 in ((0, 20), (20, 37)) for c0, c1 in ((0, 17), (17, 45))]
    assert not np.allclose(glcm_features(merge_glcm(cut))[1], whole[1], equal_nan=True)


def test_quantisation_ranges_are_percentiles():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(2, 1000))
    v[0, :10] = np.nan
    got = quantisation_ranges(v, (2, 98))
    np.testing.assert_allclose(got, np.nanpercentile(v, [2, 98], axis=1).T)
    const = quantisation_ranges(np.ones((1, 5)))
    assert const[0][0] == 1.0 and const[0][1] > 1.0


def test_refusals():
    labels = np.ones((3, 3), np.int64)
    values = np.zeros((1, 3, 3))
    with pytest.raises(InvalidInputError, match="levels"):
        object_glcm(labels, values, [(0, 1)], levels=1)
    with pytest.raises(InvalidInputError, match="ranges"):
        object_glcm(labels, values, [(1, 0)])
    with pytest.raises(InvalidInputError, match="unknown GLCM feature"):
        object_glcm(labels, values, [(0, 1)], features=("bogus",))
    with pytest.raises(InvalidInputError, match="same"):
        object_glcm(labels, np.zeros((1, 2, 3)), [(0, 1)])
    with pytest.raises(InvalidInputError, match="no valid training pixel"):
        quantisation_ranges(np.full((1, 4), np.nan))


def test_sp_names_parse_to_columns():
    from antares.models.samples import (canonical_aggregation, feature_columns, glcm_features_of, glcm_levels_of,
                                        parse_aggregation)

    assert parse_aggregation("mean std glcm shape") == (("mean", "std"), True)
    assert glcm_features_of("mean glcm") == FEATURES
    assert glcm_features_of("mean glcm_entropy glcm_contrast") == ("contrast", "entropy")
    assert glcm_features_of("mean std") == ()
    assert canonical_aggregation("glcm_entropy, mean, shape, glcm_contrast") == "mean glcm_contrast glcm_entropy shape"
    assert canonical_aggregation(["mean", "glcm"]) == "mean glcm"
    assert canonical_aggregation("mean glcm16") == "mean glcm16" and canonical_aggregation("mean glcm32") == "mean glcm"
    assert glcm_levels_of("mean glcm16 shape") == 16 and glcm_levels_of("mean glcm") == 32
    assert glcm_features_of("mean glcm64") == FEATURES
    assert feature_columns(["b4", "b8"], "mean glcm_contrast shape")[:4] == [
        "b4_mean", "b8_mean", "b4_glcm_contrast", "b8_glcm_contrast"]
    assert feature_columns(["b4"], "mean glcm")[-1] == "b4_glcm_entropy"
    for bad in ("glcm", "mean glcm glcm_contrast", "mean glcm_bogus", "mean glcm glcm", "mean glcm1", "mean glcm300",
                "mean glcm16 glcm_contrast"):
        with pytest.raises(ValueError):
            parse_aggregation(bad)


def test_fit_request_refuses_glcm_for_pixels():
    from antares.errors import UsageError
    from antares.pipeline.requests import FitRequest

    with pytest.raises(UsageError, match="glcm is the texture of an object"):
        FitRequest("rf", "prod", "train", "m", aggregation="mean glcm", unit="pixels")
    assert FitRequest("rf", "prod", "train", "m", aggregation="mean glcm").aggregation == "mean glcm"


def test_sorting_path_equals_the_bincount_path(monkeypatch):
    import antares.object_texture as ot

    labels, values = synthetic(7)
    ranges = [(0.1, 0.5), (0.0, 0.6)]
    dense = object_glcm(labels, values, ranges, 16, (1, 2))
    monkeypatch.setattr(ot, "DENSE_BINS", 0)  # objects x levels² over the limit: np.unique of the pair codes
    sparse = object_glcm(labels, values, ranges, 16, (1, 2))
    assert dense[0].tolist() == sparse[0].tolist()
    np.testing.assert_allclose(sparse[1], dense[1], rtol=1e-12, equal_nan=True)
    ref = reference(labels, values, ranges, 16, (1, 2), (0, 45, 90, 135))
    np.testing.assert_allclose(sparse[1][0].reshape(len(FEATURES), 2).T, ref[int(sparse[0][0])], rtol=1e-9)


def test_prediction_refuses_an_sp_without_the_models_glcm_and_pixel_sample_stride():
    from antares.pipeline.object_glcm import SAMPLE_PER_TILE, pixel_sample, ranges_from_samples
    from antares.pipeline.predict import _same_columns

    _same_columns("m", "mean glcm", "mean glcm")
    _same_columns("m", "mean glcm", "mean glcm64")  # the model's stored levels are used
    for asked in ("mean", "mean glcm_contrast", "mean glcm shape"):
        with pytest.raises(InvalidInputError, match="was fitted on -sp mean glcm"):
            _same_columns("m", "mean glcm", asked)
    values = np.arange(2 * 3 * SAMPLE_PER_TILE, dtype=np.float64).reshape(2, 3, SAMPLE_PER_TILE)
    mask = np.ones((3, SAMPLE_PER_TILE), bool)
    sample = pixel_sample(values, mask)
    assert sample.shape == (2, SAMPLE_PER_TILE) and (sample == values[:, mask][:, ::3]).all()
    with pytest.raises(InvalidInputError, match="segmentation s on product p: .*no valid training pixel"):
        ranges_from_samples([np.full((2, 5), np.nan)], 2, "segmentation s on product p")
