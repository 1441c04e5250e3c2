"""Segmenters (bis, slic, felzenszwalb) on synthetic images: registry, parameters, exact small cases, and the
segment properties (valid, connected, deterministic, equal to scikit-image's) on two synthetic scenes; no database.

``scene``: seven bands, (7, 256, 256) float32 digital numbers: Voronoi parcels with their own band means,
a texture and 3 % noise, NaN in the bottom-right corner. ``clouded``: an xarray.Dataset of eight (101, 100)
float32 variables, parcels again, with two round clouds as NaN in the last one. The same tests run on the
real Brandenburg and Slovenia scenes in tests/integration/test_segmentation_real_data.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from antares.errors import InvalidInputError, UsageError
from helpers import synthetic_parcels


@pytest.fixture(scope="module")
def scene():
    """Seven bands, (7, 256, 256) float32, digital numbers; NaN in the bottom-right corner (outside [:128, :128])."""
    image = synthetic_parcels((256, 256), 7, seed=3)
    rows, cols = np.mgrid[0:256, 0:256]
    image[:, rows + cols > 470] = np.nan
    return image


@pytest.fixture(scope="module")
def clouded():
    """An xarray.Dataset of eight (101, 100) float32 variables, NaN under two clouds in the last one."""
    import xarray as xr

    image = synthetic_parcels((101, 100), 8, seed=5)
    rows, cols = np.mgrid[0:101, 0:100]
    cloud = ((rows - 30) ** 2 + (cols - 60) ** 2 < 23 ** 2) | ((rows - 80) ** 2 / 2 + (cols - 20) ** 2 < 15 ** 2)
    image[7][cloud] = np.nan
    names = ("B02", "B03", "B04", "B08", "B8A", "B11", "B12", "ndvi_20160605")
    return xr.Dataset({name: (("y", "x"), image[i]) for i, name in enumerate(names)})


def assert_valid_labels(labels, valid):
    """int64, 0 exactly on the invalid pixels, labels 1..n consecutive in order of first pixel."""
    assert labels.dtype == np.int64
    assert labels.shape == valid.shape
    assert (labels[~valid] == 0).all()
    assert (labels[valid] > 0).all()
    values, first_pixel = np.unique(labels.ravel(), return_index=True)
    assert values.tolist() == list(range(0 if (~valid).any() else 1, int(labels.max()) + 1))
    first_pixel = first_pixel[values > 0]
    assert (np.diff(first_pixel) > 0).all()  # numbered in the raster order of their first pixel


def n_components(labels, connectivity=1):
    """Number of connected regions of equal label (> 0)."""
    from skimage.measure import label

    return int(label(labels, background=0, connectivity=connectivity).max())


def perimeter_sq_over_area(labels, area_weighted=False):
    """Mean over segments of perimeter² / area (perimeter in pixel edges, counting the border)."""
    padded = np.pad(labels, 1)
    per = np.zeros(labels.max() + 1)
    for a, b in ((padded[1:, :], padded[:-1, :]), (padded[:, 1:], padded[:, :-1])):
        diff = a != b
        np.add.at(per, a[diff], 1)
        np.add.at(per, b[diff], 1)
    area = np.bincount(labels.ravel(), minlength=per.size)[1:]
    return float(np.average(per[1:] ** 2 / area, weights=area if area_weighted else None))


# --------------------------------------------------------------------------- registry, parameters


def test_registry_lists_three_segmenters():
    from antares.segmentation import SEGMENTERS, list_segmenters

    assert sorted(SEGMENTERS) == ["bis", "felzenszwalb", "slic"]
    listed = list_segmenters()
    assert [name for name, _ in listed] == ["bis", "felzenszwalb", "slic"]
    assert all(isinstance(text, str) and text and "\n" not in text for _, text in listed)


def test_unknown_segmenter():
    from antares.segmentation import get_segmenter

    with pytest.raises(UsageError) as info:
        get_segmenter("watershed")
    assert str(info.value) == "unknown segmenter 'watershed'; valid segmenters: bis, felzenszwalb, slic."


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("bis", {"q": 1}, "unknown parameter 'q' for bis; valid parameters: t, s, c, weights, max_passes"),
        ("bis", {"s": 1.5}, "The 's' parameter of bis must be a float in [0, 1]. Got 1.5."),
        ("bis", {"t": -1}, "The 't' parameter of bis must be a float > 0. Got -1."),
        ("bis", {"t": 0}, "The 't' parameter of bis must be a float > 0. Got 0."),
        ("bis", {"t": "40"}, "The 't' parameter of bis must be a float > 0. Got '40'."),
        ("bis", {"c": True}, "The 'c' parameter of bis must be a float in [0, 1]. Got True."),
        ("bis", {"max_passes": 0}, "The 'max_passes' parameter of bis must be an int >= 1. Got 0."),
        ("bis", {"max_passes": 2.5}, "The 'max_passes' parameter of bis must be an int >= 1. Got 2.5."),
        ("bis", {"weights": [1, -1]},
         "The 'weights' parameter of bis must be a list of floats >= 0 (not all 0) or None. Got [1, -1]."),
        ("bis", {"weights": [0, 0]},
         "The 'weights' parameter of bis must be a list of floats >= 0 (not all 0) or None. Got [0, 0]."),
        ("slic", {"compactness": -1}, "The 'compactness' parameter of slic must be a float > 0. Got -1."),
        ("slic", {"n_segments": 0}, "The 'n_segments' parameter of slic must be an int >= 1 or None. Got 0."),
        ("slic", {"enforce_connectivity": 1},
         "The 'enforce_connectivity' parameter of slic must be a bool. Got 1."),
        ("felzenszwalb", {"min_size": -3},
         "The 'min_size' parameter of felzenszwalb must be an int >= 1. Got -3."),
        ("felzenszwalb", {"k": 1},
         "unknown parameter 'k' for felzenszwalb; valid parameters: scale, sigma, min_size"),
    ],
)
def test_parameter_errors(name, params, message):
    from antares.segmentation import get_segmenter

    with pytest.raises(UsageError) as info:
        get_segmenter(name, **params)
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_parameter_declarations_and_defaults():
    from antares.segmentation import SEGMENTERS, Param, get_segmenter

    for name, cls in SEGMENTERS.items():
        assert cls.params and all(isinstance(p, Param) for p in cls.params)
        assert cls.reference
        seg = get_segmenter(name)
        for p in cls.params:
            assert p.constraint and p.description
            assert p.validator(p.default) == getattr(seg, p.name)
        assert set(seg.get_params()) == {p.name for p in cls.params}
    bis = get_segmenter("bis", t=20, weights=(1, 2))
    assert bis.get_params() == {"t": 20.0, "s": 0.5, "c": 0.7, "weights": (1.0, 2.0), "max_passes": 50}
    assert isinstance(bis.t, float)
    assert [(p.name, p.constraint) for p in SEGMENTERS["bis"].params] == [
        ("t", "float > 0"), ("s", "float in [0, 1]"), ("c", "float in [0, 1]"),
        ("weights", "list of floats >= 0 (not all 0) or None"), ("max_passes", "int >= 1")]


def test_bad_features():
    import xarray as xr

    from antares.segmentation import get_segmenter

    seg = get_segmenter("bis")
    with pytest.raises(InvalidInputError, match="array of shape \\(bands, y, x\\)"):
        seg.segment(np.zeros((1, 2, 3, 4), np.float32))
    ds = xr.Dataset({"a": (("time", "y", "x"), np.zeros((2, 3, 3), np.float32))})
    with pytest.raises(InvalidInputError, match="Select one time step"):
        seg.segment(ds)


# --------------------------------------------------------------------------- relabel


def test_relabel_by_first_pixel():
    from antares.segmentation import relabel_by_first_pixel

    labels = np.array([[9, 9, 0, 4], [2, 9, 4, 4], [2, 0, 0, 7]])
    np.testing.assert_array_equal(relabel_by_first_pixel(labels),
                                  [[1, 1, 0, 2], [3, 1, 2, 2], [3, 0, 0, 4]])


# --------------------------------------------------------------------------- bis


def test_fusion_cost_by_hand():
    """Region 1 = two pixels (1, 3) in a row, region 2 = one pixel (5) to their right; one band."""
    from antares.segmentation._bis_core import fusion_cost

    n = np.array([2.0, 1.0])
    S = np.array([[4.0], [5.0]])
    Q = np.array([[10.0], [25.0]])
    per = np.array([6.0, 4.0])
    bbox = np.array([[0, 0, 0, 1], [0, 2, 0, 2]])
    w = np.array([1.0])
    # sigma_1 = 1, sigma_2 = 0, sigma_m = sqrt(8/3); l_m = 6 + 4 - 2 = 8; b_1 = 6, b_2 = 4, b_m = 8
    h_colour = 3 * np.sqrt(8 / 3) - (2 * 1 + 1 * 0)
    h_compact = 3 * 8 / np.sqrt(3) - (2 * 6 / np.sqrt(2) + 1 * 4 / 1)
    h_smooth = 3 * 8 / 8 - (2 * 6 / 6 + 1 * 4 / 4)
    assert h_smooth == 0
    for s, c in ((0.0, 0.7), (0.5, 0.7), (1.0, 0.0), (0.3, 1.0)):
        expected = (1 - s) * h_colour + s * (c * h_compact + (1 - c) * h_smooth)
        assert fusion_cost(0, 1, 1.0, n, S, Q, per, bbox, w, s, c) == pytest.approx(expected, rel=1e-12)
    # two bands with weights: the colour terms add up, weighted
    S2 = np.array([[4.0, 0.0], [5.0, 2.0]])
    Q2 = np.array([[10.0, 0.0], [25.0, 4.0]])  # band 2: region 1 = (0, 0), region 2 = (2)
    h2 = 3 * np.sqrt(4 / 3 - (2 / 3) ** 2)
    got = fusion_cost(0, 1, 1.0, n, S2, Q2, per, bbox, np.array([0.5, 2.0]), 0.0, 0.5)
    assert got == pytest.approx(0.5 * h_colour + 2.0 * h2, rel=1e-12)


def test_bis_two_flat_halves():
    """Without shape (s=0), flat areas merge at no cost; two different halves stay apart."""
    from antares.segmentation import get_segmenter

    image = np.zeros((1, 12, 20), np.float32)
    image[0, :, 10:] = 1.0  # standardised: -1 and +1
    image[0, 0, 0] = np.nan
    labels = get_segmenter("bis", t=10, s=0.0).segment(image)
    expected = np.where(np.arange(20) < 10, 1, 2)[np.newaxis].repeat(12, axis=0)
    expected[0, 0] = 0
    np.testing.assert_array_equal(labels, expected)
    # joining the halves costs n_m sigma_m - 0 = 239 * 100 (sigma in % of a standard deviation): t^2 > 23900
    assert get_segmenter("bis", t=154, s=0.0).segment(image).max() == 2
    assert get_segmenter("bis", t=155, s=0.0).segment(image).max() == 1


def test_all_nodata_gives_zeros():
    from antares.segmentation import SEGMENTERS, get_segmenter

    for name in SEGMENTERS:
        labels = get_segmenter(name).segment(np.full((2, 5, 6), np.nan, np.float32))
        assert labels.dtype == np.int64 and not labels.any()


# --------------------------------------------------------------------------- segment properties on the two scenes


def test_weights_of_wrong_length(scene):
    from antares.segmentation import get_segmenter

    with pytest.raises(InvalidInputError, match="has 2 values but the features have 7 bands"):
        get_segmenter("bis", weights=[1, 1]).segment(scene[:, :32, :32])


def test_standardise(scene, clouded):
    from antares.segmentation import standardise

    z = standardise(scene)
    assert z.dtype == np.float32 and z.shape == scene.shape
    valid = np.isfinite(scene).all(axis=0)
    np.testing.assert_array_equal(np.isfinite(z).all(axis=0), valid)
    np.testing.assert_allclose(z[:, valid].astype(np.float64).mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(z[:, valid].astype(np.float64).std(axis=1), 1, atol=1e-6)

    zs = standardise(clouded)
    assert zs.shape == (8, 101, 100)
    cloud = np.isnan(clouded["ndvi_20160605"].values)
    assert 0 < cloud.sum() < cloud.size
    assert np.isnan(zs[:, cloud]).all() and np.isfinite(zs[:, ~cloud]).all()
    # statistics over the valid pixels only (all bands finite), not over each band's own finite pixels
    b02 = clouded["B02"].values[~cloud].astype(np.float64)
    np.testing.assert_allclose(zs[0, ~cloud], (b02 - b02.mean()) / b02.std(), atol=1e-5)

    constant = standardise(np.full((1, 3, 3), 7.0, np.float32))
    assert (constant == 0).all()
    shared = standardise(scene, mean=[1000.0] * 7, std=[100.0] * 7)
    np.testing.assert_allclose(shared[0, valid], (scene[0, valid] - 1000) / 100, rtol=1e-5)
    with pytest.raises(InvalidInputError, match="one finite value per band"):
        standardise(scene, mean=[0.0])


def test_bis_labels_valid_and_deterministic(scene, clouded):
    from antares.segmentation import get_segmenter

    seg = get_segmenter("bis")
    valid = np.isfinite(scene).all(axis=0)
    first = seg.segment(scene)
    assert_valid_labels(first, valid)
    np.testing.assert_array_equal(first, seg.segment(scene))
    np.testing.assert_array_equal(first, get_segmenter("bis").segment(scene.copy()))

    labels = seg.segment(clouded)
    cloud = np.isnan(clouded["ndvi_20160605"].values)
    assert_valid_labels(labels, ~cloud)
    as_array = np.stack([clouded[v].values for v in clouded.data_vars])
    np.testing.assert_array_equal(labels, seg.segment(as_array))


def test_bis_segments_are_4_connected(scene, clouded):
    from antares.segmentation import get_segmenter

    for features in (scene, clouded):
        for t in (10, 40):
            labels = get_segmenter("bis", t=t).segment(features)
            assert n_components(labels, connectivity=1) == labels.max()


def test_bis_statistics_match_the_labels(scene):
    """The incremental n, perimeter and bounding box equal those measured on the label raster."""
    from antares.segmentation import get_segmenter, standardise

    z = standardise(scene)
    valid = np.isfinite(z).all(axis=0)
    labels, n, per, bbox, passes = get_segmenter("bis", t=30).merge(z, valid)
    assert 1 < passes <= 50
    np.testing.assert_array_equal(n, np.bincount(labels.ravel())[1:])
    padded = np.pad(labels, 1)
    measured = np.zeros(labels.max() + 1)
    for a, b in ((padded[1:, :], padded[:-1, :]), (padded[:, 1:], padded[:, :-1])):
        diff = a != b
        np.add.at(measured, a[diff], 1)
        np.add.at(measured, b[diff], 1)
    np.testing.assert_array_equal(per, measured[1:])
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs] - 1
    for j, (values, reduce) in enumerate(((ys, np.minimum), (xs, np.minimum), (ys, np.maximum), (xs, np.maximum))):
        expected = np.full(n.size, -1 if reduce is np.maximum else 10**9)
        reduce.at(expected, lab, values)
        np.testing.assert_array_equal(bbox[:, j], expected)


def test_bis_larger_t_gives_fewer_larger_segments(scene):
    from antares.segmentation import get_segmenter

    counts, medians = [], []
    for t in (5, 10, 20, 40, 80):
        labels = get_segmenter("bis", t=t).segment(scene)
        sizes = np.bincount(labels.ravel())[1:]
        counts.append(sizes.size)
        medians.append(np.median(sizes))
    assert all(a > b for a, b in zip(counts, counts[1:])), counts
    assert all(a < b for a, b in zip(medians, medians[1:])), medians


def test_bis_shape_weight_makes_compact_segments(scene):
    """s = 0.9 gives lower perimeter² / area than s = 0 (colour only).

    At the same t, s = 0.9 also gives larger segments (the colour term weighs 0.1 instead of 1) and
    larger segments are more ragged, so the plain mean is compared at a t where s = 0.9 gives at
    least as many segments; at the same t, the area-weighted mean is compared.
    """
    from antares.segmentation import get_segmenter

    rough = get_segmenter("bis", t=40, s=0.0).segment(scene)
    compact = get_segmenter("bis", t=13, s=0.9).segment(scene)
    assert compact.max() >= rough.max()
    assert perimeter_sq_over_area(compact) < 0.8 * perimeter_sq_over_area(rough)
    same_t = get_segmenter("bis", t=40, s=0.9).segment(scene)
    assert perimeter_sq_over_area(same_t, area_weighted=True) < 0.8 * perimeter_sq_over_area(rough, area_weighted=True)


def test_bis_weights(scene):
    """A zero weight removes a band from the colour term: weights (1, 0, ...) = the first band alone."""
    from antares.segmentation import get_segmenter

    only_first = get_segmenter("bis", t=20, weights=[1, 0, 0, 0, 0, 0, 0]).segment(scene)
    valid = np.isfinite(scene).all(axis=0)
    first_band = np.where(valid, scene[0], np.nan)
    np.testing.assert_array_equal(only_first, get_segmenter("bis", t=20).segment(first_band))
    assert not np.array_equal(only_first, get_segmenter("bis", t=20).segment(scene))


def test_bis_max_passes(scene):
    from antares.segmentation import get_segmenter

    one = get_segmenter("bis", max_passes=1).segment(scene)
    sizes = np.bincount(one.ravel())[1:]
    assert sizes.max() == 2 and sizes.min() == 1  # one pass: each pixel merges at most once
    assert one.max() > get_segmenter("bis", max_passes=5).segment(scene).max()


@pytest.mark.parametrize("name", ["slic", "felzenszwalb"])
def test_skimage_segmenters_labels_valid(name, scene, clouded):
    from antares.segmentation import get_segmenter

    seg = get_segmenter(name)
    crop = scene[:, :128, :128]
    labels = seg.segment(crop)
    assert_valid_labels(labels, np.isfinite(crop).all(axis=0))
    assert labels.max() > 10
    np.testing.assert_array_equal(labels, seg.segment(crop))
    # slic (enforce_connectivity): 4-connected; felzenszwalb: 8-connected (its graph)
    connectivity = 1 if name == "slic" else 2
    assert n_components(labels, connectivity) == labels.max()
    cloud = np.isnan(clouded["ndvi_20160605"].values)
    labels = seg.segment(clouded)
    assert_valid_labels(labels, ~cloud)
    if name == "felzenszwalb":  # scikit-image's slic does not keep masked segments connected
        assert n_components(labels, connectivity) == labels.max()


@pytest.mark.parametrize("which", ["scene", "clouded"])
def test_slic_equals_skimage(which, scene, clouded):
    from skimage.segmentation import slic

    from antares.segmentation import get_segmenter, relabel_by_first_pixel, standardise

    features = scene[:, :128, :128] if which == "scene" else clouded
    params = dict(n_segments=60, compactness=0.02, max_num_iter=5, sigma=0.5)
    ours = get_segmenter("slic", **params).segment(features)
    z = standardise(features)
    valid = np.isfinite(z).all(axis=0)
    image = np.moveaxis(np.where(valid, z, 0), 0, -1)
    direct = slic(image, convert2lab=False, channel_axis=-1, start_label=1,
                  mask=None if valid.all() else valid, **params)
    direct[~valid] = 0
    np.testing.assert_array_equal(ours, relabel_by_first_pixel(direct))


def test_felzenszwalb_masks_nodata(clouded):
    from skimage.segmentation import felzenszwalb

    from antares.segmentation import get_segmenter, standardise

    ours = get_segmenter("felzenszwalb", scale=2.0, min_size=10).segment(clouded)
    z = standardise(clouded)
    valid = np.isfinite(z).all(axis=0)
    direct = felzenszwalb(np.moveaxis(np.where(valid, z, 0), 0, -1), scale=2.0, sigma=0.8, min_size=10,
                          channel_axis=-1)
    # every segment of ours lies inside one segment of scikit-image's (only split at the nodata)
    pairs = np.unique(np.stack([ours[valid], direct[valid]]), axis=1)
    assert pairs.shape[1] == ours.max()

