"""Segmenters (bis, slic, felzenszwalb) on synthetic arrays: registry, parameters, exact small cases; no database.

The same segmenters on real Sentinel-2 scenes: tests/integration/test_segmentation_real_data.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from antares.errors import InvalidInputError, UsageError


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
    assert str(info.value) == "unknown segmenter 'watershed'; valid segmenters: bis, felzenszwalb, slic"


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
