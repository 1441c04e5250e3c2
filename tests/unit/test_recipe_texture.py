"""A recipe's ``texture`` section: parsing, refusals, Recipe.compute against scikit-image, the block engine's split."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from skimage.feature import graycomatrix, graycoprops

from antares.errors import InvalidInputError
from antares.recipes.blockwise import BlockRecipe, Conversion
from helpers import write_recipe

RECIPE = """
    inputs: {product: p, measurements: [red, nir]}
    indices: [NDVI]
    reducers: {ndvi: [median, max], red: [mean]}
    texture:
      - {source: ndvi_median, window: 5, range: [-1, 1], levels: 16, distances: [1], angles: [0, 90],
         features: [contrast, homogeneity, correlation, entropy]}
      - {source: red_mean, window: 3, range: [0, 0.5], levels: 8, features: [asm]}
"""


def series(t=5, h=30, w=26, seed=0):
    rng = np.random.default_rng(seed)
    red = rng.uniform(0.02, 0.3, (t, h, w)).astype(np.float32)
    nir = rng.uniform(0.1, 0.5, (t, h, w)).astype(np.float32)
    red[:, 10, 10] = np.nan
    coords = {"time": pd.date_range("2021-01-01", periods=t).values, "y": np.arange(h, 0, -1) * 10.0,
              "x": np.arange(w) * 10.0}
    return xr.Dataset({"red": (("time", "y", "x"), red), "nir": (("time", "y", "x"), nir)}, coords=coords)


def skimage_value(image, y, x, half, angles, levels, value_range, feature):
    low, high = value_range
    q = np.clip(np.floor((image.astype(np.float64) - low) / (high - low) * levels), 0, levels - 1)
    win = q[max(0, y - half):y + half + 1, max(0, x - half):x + half + 1]
    assert np.isfinite(win).all()
    glcm = graycomatrix(win.astype(np.uint8), [1], np.radians(angles), levels=levels, symmetric=True, normed=True)
    return graycoprops(glcm, feature).mean()


def test_outputs_and_margin(tmp_path):
    recipe = write_recipe(tmp_path, RECIPE)
    assert recipe.texture_margin == 2
    assert recipe.texture_outputs == ("ndvi_median_glcm_contrast", "ndvi_median_glcm_homogeneity",
                                      "ndvi_median_glcm_correlation", "ndvi_median_glcm_entropy", "red_mean_glcm_asm")
    assert recipe.output_names[-5:] == list(recipe.texture_outputs)
    assert any("GLCM" in line for line in recipe.describe())


def test_compute_equals_skimage_on_the_reduced_image(tmp_path):
    recipe = write_recipe(tmp_path, RECIPE)
    data = series()
    out = recipe.compute(data)
    red, nir = data.red.values, data.nir.values
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):  # pixel (10, 10)
        ndvi_median = np.nanmedian((nir - red) / (nir + red), axis=0)
    np.testing.assert_allclose(out.ndvi_median.values, ndvi_median, rtol=1e-6)
    median = out.ndvi_median.values  # texture is of the stored output
    for y, x in [(0, 0), (5, 7), (15, 20), (29, 25), (20, 3)]:
        for f, name in (("contrast", "contrast"), ("homogeneity", "homogeneity"), ("correlation", "correlation"),
                        ("entropy", "entropy")):
            expected = skimage_value(median, y, x, 2, [0, 90], 16, (-1, 1), name)
            np.testing.assert_allclose(out[f"ndvi_median_glcm_{f}"].values[y, x], expected, rtol=2e-6, atol=1e-6)
    red_mean = out.red_mean.values
    assert np.isnan(out.red_mean_glcm_asm.values[10, 10])  # its source is NaN there
    expected = skimage_value(red_mean, 3, 4, 1, [0, 45, 90, 135], 8, (0, 0.5), "ASM")
    np.testing.assert_allclose(out.red_mean_glcm_asm.values[3, 4], expected, rtol=2e-6)
    assert out.ndvi_median_glcm_entropy.dtype == np.float32 and out.ndvi_median_glcm_entropy.attrs["units"] == "1"


def test_block_engine_leaves_texture_to_the_tile(tmp_path):
    recipe = write_recipe(tmp_path, RECIPE)
    engine = BlockRecipe(recipe, {"red": "B04", "nir": "B08"})
    data = series()
    raw = {"B04": np.ascontiguousarray(data.red.values), "B08": np.ascontiguousarray(data.nir.values)}
    bands = {m: Conversion(False) for m in raw}
    got = engine.compute(raw, bands)
    assert set(got) == set(recipe.output_names) - set(recipe.texture_outputs)
    reference = recipe.compute(data)
    texture = recipe.compute_texture(got)
    for name in recipe.texture_outputs:
        np.testing.assert_array_equal(texture[name], reference[name].values)


@pytest.mark.parametrize("texture, fragment", [
    ("{source: ndvi_median, window: 67, range: [-1, 1]}",
     "'texture[ndvi_median].window' 67 is larger than the tile margin of 32 pixels allows (at most 65)"),
    ("{source: ndvi_median, window: 6, range: [-1, 1]}", "must be odd"),
    ("{source: ndvi_mean, window: 5, range: [-1, 1]}", "unknown source 'ndvi_mean' in texture[0]"),
    ("{source: ndvi_median, window: 5}", "'texture[ndvi_median].range' is required"),
    ("{source: ndvi_median, window: 5, range: [1, -1]}", "low < high"),
    ("{source: ndvi_median, window: 5, range: [-1, 1], distances: [5]}", "'texture[ndvi_median].distances' must be"),
    ("{source: ndvi_median, window: 5, range: [-1, 1], levels: 300}", "'texture[ndvi_median].levels' must be"),
    ("{source: ndvi_median, window: 5, range: [-1, 1], features: [variance]}", "unknown texture feature 'variance'"),
    ("{source: ndvi_median, window: 5, range: [-1, 1], angles: [180]}", "0 <= a < 180"),
])
def test_bad_texture_sections_are_refused_in_one_line(tmp_path, texture, fragment):
    text = f"""
    inputs: {{product: p, measurements: [red, nir]}}
    indices: [NDVI]
    reducers: {{ndvi: [median]}}
    texture: [{texture}]
"""
    with pytest.raises(InvalidInputError) as err:
        write_recipe(tmp_path, text)
    message = str(err.value)
    assert fragment in message and "\n" not in message, message


def test_int16_source_is_refused(tmp_path):
    text = """
    inputs: {product: p, measurements: [red, nir]}
    indices: [NDVI]
    reducers: {ndvi: [median]}
    texture: [{source: ndvi_median, window: 5, range: [-1, 1]}]
    outputs: [{name: ndvi_median, dtype: int16, nodata: -32768, scale: 0.0001}, ndvi_median_glcm_contrast,
              ndvi_median_glcm_dissimilarity, ndvi_median_glcm_homogeneity, ndvi_median_glcm_asm,
              ndvi_median_glcm_energy, ndvi_median_glcm_correlation, ndvi_median_glcm_entropy]
"""
    with pytest.raises(InvalidInputError, match="texture source 'ndvi_median' must be a float32 output"):
        write_recipe(tmp_path, text)
