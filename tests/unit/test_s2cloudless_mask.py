"""mask: s2cloudless on synthetic inputs: the shipped model's integrity check, its probabilities on clear and cloud
spectra, the averaging/threshold/dilation against an explicit numpy loop and scikit-image, and the recipe parts
(the agreement with Sentinel Hub's own cloud mask on real L1C: tests/integration/test_s2cloudless_real_data.py)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from skimage.morphology import dilation, disk

from antares.errors import InvalidInputError, NotFoundError
from antares.recipes.cloudless import (S2CLOUDLESS_ALIASES, S2CLOUDLESS_BANDS, cloud_mask, cloud_probability,
                                       load_model, model_path, model_text)
from antares.recipes.parse import parse_recipe

# TOA reflectance of B01 B02 B04 B05 B08 B8A B09 B10 B11 B12: a dense forest and a thick cloud
VEGETATION = [0.09, 0.07, 0.04, 0.07, 0.30, 0.33, 0.10, 0.002, 0.15, 0.07]
CLOUD = [0.55, 0.55, 0.55, 0.56, 0.60, 0.60, 0.30, 0.05, 0.45, 0.35]

MASKED = {"inputs": {"product": "l1c", "measurements": ["red", "nir"]}, "indices": ["NDVI"],
          "mask": {"s2cloudless": {}}, "reducers": {"ndvi": ["mean"]}, "clear_count": True}


def test_the_installed_model_loads_and_a_changed_or_missing_file_is_refused(tmp_path):
    path = model_path()
    assert path.parts[-3:] == ("s2cloudless", "models", "pixel_s2_cloud_detector_lightGBM_v0.1.txt")
    booster = load_model()
    assert booster.num_feature() == len(S2CLOUDLESS_BANDS) == 10
    text = model_text()
    assert text == path.read_text() and text.startswith("tree\n") and "objective=binary sigmoid:1" in text
    tampered = tmp_path / "model.txt"
    tampered.write_text(text.replace("num_class=1", "num_class=2", 1))
    with pytest.raises(InvalidInputError, match="SHA-256 .* is not the one of s2cloudless 1.7.3.*pip install --no-deps"):
        model_text(tampered)
    with pytest.raises(NotFoundError, match="no such file; install it with `pip install --no-deps s2cloudless==1.7.3`"):
        model_text(tmp_path / "absent.txt")


def test_cloud_probability_high_on_a_cloud_low_on_vegetation_nan_on_nodata():
    bands = np.array([VEGETATION, CLOUD, VEGETATION], np.float32).T.reshape(10, 1, 3)
    bands[7, 0, 2] = np.nan  # one band missing: nodata
    p = cloud_probability(bands)
    assert p.shape == (1, 3) and p.dtype == np.float32
    assert p[0, 0] < 0.1 and p[0, 1] > 0.9 and np.isnan(p[0, 2])
    with pytest.raises(InvalidInputError, match="10 bands .* Got shape \\(9, 1, 3\\)"):
        cloud_probability(bands[:9])


def _explicit_mask(p, threshold, radius, grow):
    """Averaging over a disk by an explicit loop (borders mirrored with the edge repeated, as OpenCV's BORDER_REFLECT),
    then threshold, then scikit-image's binary dilation by a disk."""
    fp = disk(radius)
    padded = np.pad(p, radius, mode="symmetric")
    avg = np.zeros_like(p)
    for i in range(p.shape[0]):
        for j in range(p.shape[1]):
            window = padded[i:i + 2 * radius + 1, j:j + 2 * radius + 1]
            avg[i, j] = window[fp.astype(bool)].mean()
    return dilation(avg > threshold, disk(grow)).astype(bool)


@pytest.mark.parametrize("radius,grow", [(1, 1), (4, 2), (3, 0)])
def test_cloud_mask_equals_an_explicit_average_threshold_and_skimage_dilation(radius, grow):
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 0.6, (2, 23, 31))
    p[1, 5:9, 10:14] = 0.95  # a cloud
    got = cloud_mask(p, 0.4, radius, grow)
    for k in range(2):
        np.testing.assert_array_equal(got[k], _explicit_mask(p[k], 0.4, radius, grow))
    assert got[1, 5:9, 10:14].all()


def test_cloud_mask_leaves_nodata_out_of_averages_and_never_calls_it_cloud():
    p = np.full((9, 9), 0.45)
    p[:, :3] = np.nan  # swath edge
    got = cloud_mask(p, 0.4, 2, 0)
    assert not got[:, :3].any() and got[:, 3:].all()  # the averages beside the edge use the valid pixels only


def test_recipe_s2cloudless_section_parses_with_defaults_and_reads_ten_bands():
    recipe = parse_recipe(MASKED, "l1c_test")
    m = recipe.mask
    assert (m.kind, m.threshold, m.average_over, m.dilate, m.margin) == ("s2cloudless", 0.4, 4, 2, 6)
    assert set(recipe.required) == set(S2CLOUDLESS_ALIASES) | {"red", "nir"}
    assert recipe.measurements == ("red", "nir")
    assert "s2cloudless" in m.describe() and "> 0.4" in m.describe()
    product = {"name": "l1c", "measurements": [{"name": b} for b in
                                               ("B01", "B02", "B03", "B04", "B05", "B08", "B8A", "B09", "B11", "B12")]}
    with pytest.raises(InvalidInputError, match=r"no measurement for cirrus \(B10, cirrus\)"):
        recipe.resolve_measurements(product)
    for bad, message in (({"threshold": 1.5}, "strictly between 0 and 1. Got 1.5"),
                         ({"dilate": -1}, "'mask.s2cloudless.dilate' must be an int"),
                         ({"radius": 3}, "unknown key 'radius' in mask.s2cloudless")):
        with pytest.raises(InvalidInputError, match=message):
            parse_recipe(dict(MASKED, mask={"s2cloudless": bad}), "bad")


def test_recipe_compute_with_s2cloudless_drops_the_cloudy_date():
    t, n = 3, 12
    spectra = np.tile(np.array(VEGETATION, np.float32)[:, None, None, None], (1, t, 1, n))
    spectra[:, 1, 0, :6] = np.array(CLOUD, np.float32)[:, None]  # date 2: cloud over the first half
    coords = {"time": pd.to_datetime(["2020-06-01", "2020-06-11", "2020-06-21"]).values, "y": [0.0],
              "x": np.arange(n, dtype=float)}
    data = xr.Dataset({a: (("time", "y", "x"), spectra[k]) for k, a in enumerate(S2CLOUDLESS_ALIASES)}, coords=coords)
    data["nir"] = data["nir"] + xr.DataArray([0.0, 0.5, 0.0], dims="time")  # the cloudy date's NDVI differs
    recipe = parse_recipe(dict(MASKED, mask={"s2cloudless": {"average_over": 0, "dilate": 0}}), "l1c_test")
    out = recipe.compute(data)
    count = out["clear_count"].values[0]
    np.testing.assert_array_equal(count, [2] * 6 + [3] * 6)
    nir, red = data["nir"].values[:, 0, :], data["red"].values[:, 0, :]
    ndvi = (nir - red) / (nir + red)
    expected = np.where(np.arange(n) < 6, ndvi[[0, 2]].mean(0), ndvi.mean(0))
    np.testing.assert_allclose(out["ndvi_mean"].values[0], expected, rtol=1e-6)
