"""antares.recipes on synthetic inputs: indices, reducers, masks, dtypes against hand and numpy computations
(the real Romania series: tests/integration/test_recipes_real_data.py)."""

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from antares.errors import InvalidInputError
from antares.recipes import INDICES
from antares.recipes.masks import dilate
from antares.recipes.reducers import reduce_time
from helpers import write_recipe

F32 = {"rtol": 2e-5, "atol": 2e-6}


# ---------------------------------------------------------------- synthetic inputs
def synthetic(aliases, values, scl=None, dates=None):
    """A (time, y=1, x=n) dataset: ``values`` maps alias -> (time, n) reflectance."""
    first = np.asarray(next(iter(values.values())))
    t, n = first.shape
    dates = dates or [f"2020-01-{d + 1:02d}" for d in range(t)]
    coords = {"time": pd.to_datetime(dates).values, "y": [0.0], "x": np.arange(n, dtype=float)}
    ds = xr.Dataset({a: (("time", "y", "x"), np.asarray(values[a], dtype=np.float32)[:, None, :]) for a in aliases},
                    coords=coords)
    ds["scl"] = (("time", "y", "x"), (np.full((t, 1, n), 4) if scl is None else np.asarray(scl)[:, None, :]).astype(np.uint8))
    return ds


def test_every_index_formula_against_a_hand_computation():
    rng = np.random.default_rng(42)
    bands = {a: rng.uniform(0.01, 0.6, 50) for a in ("blue", "green", "red", "re1", "nir", "nir08", "swir1")}
    b = bands
    expected = {
        "NDVI": (b["nir"] - b["red"]) / (b["nir"] + b["red"]),
        "NDMI": (b["nir08"] - b["swir1"]) / (b["nir08"] + b["swir1"]),
        "NDWI": (b["green"] - b["nir"]) / (b["green"] + b["nir"]),
        "MNDWI": (b["green"] - b["swir1"]) / (b["green"] + b["swir1"]),
        "NDRE": (b["nir08"] - b["re1"]) / (b["nir08"] + b["re1"]),
        "NDBI": (b["swir1"] - b["nir"]) / (b["swir1"] + b["nir"]),
        "EVI": 2.5 * (b["nir"] - b["red"]) / (b["nir"] + 6 * b["red"] - 7.5 * b["blue"] + 1),
        "EVI2": 2.5 * (b["nir"] - b["red"]) / (b["nir"] + 2.4 * b["red"] + 1),
        "SAVI": 1.5 * (b["nir"] - b["red"]) / (b["nir"] + b["red"] + 0.5),
        "MSAVI2": (2 * b["nir"] + 1 - np.sqrt((2 * b["nir"] + 1) ** 2 - 8 * (b["nir"] - b["red"]))) / 2,
        "BI": ((b["swir1"] + b["red"]) - (b["nir"] + b["blue"])) / ((b["swir1"] + b["red"]) + (b["nir"] + b["blue"])),
        "BI2": np.sqrt((b["red"] ** 2 + b["green"] ** 2 + b["nir"] ** 2) / 3),
    }
    assert set(expected) == set(INDICES)
    arrays = {a: xr.DataArray(v.astype(np.float32), dims="x") for a, v in bands.items()}
    for name, values in expected.items():
        result = INDICES[name].compute(arrays)
        assert result.dtype == np.float32 and result.name == name.lower()
        np.testing.assert_allclose(result.values, values, rtol=1e-5, atol=1e-6, err_msg=name)


def test_zero_denominator_and_nan_give_nan_without_warnings():
    zero = xr.DataArray(np.array([0.0, 0.2, np.nan], dtype=np.float32), dims="x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ndvi = INDICES["NDVI"].compute({"nir": zero, "red": zero * 0})
    assert np.isnan(ndvi.values[0]) and ndvi.values[1] == 1.0 and np.isnan(ndvi.values[2])


def test_doy_max_takes_the_first_date_of_ties_and_nan_without_observation(tmp_path):
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [nir]}
        mask: {scl: {keep: [4]}}
        reducers: {nir: [doy_max, max, count]}
    """)
    nir = [[0.3, 0.1, 0.2], [0.5, 0.1, 0.2], [0.5, 0.4, 0.9]]
    scl = [[4, 4, 9], [4, 4, 9], [4, 4, 9]]
    data = synthetic(["nir"], {"nir": nir}, scl, dates=["2019-12-31", "2020-02-01", "2020-03-01"])
    out = recipe.compute(data)
    np.testing.assert_array_equal(out.nir_doy_max.values[0], [32, 61, np.nan])  # 0.5 on Feb 1 and Mar 1: Feb 1
    np.testing.assert_array_equal(out.nir_count.values[0], [3, 3, 0])
    assert out.nir_doy_max.attrs["units"] == "day"
    xr.testing.assert_identical(recipe.compute(data.isel(time=[2, 1, 0])), out)  # time is sorted first
    with pytest.raises(InvalidInputError, match="doy_max reducer needs a datetime64 'time' coordinate"):
        recipe.compute(data.assign_coords(time=[0, 1, 2]))


def test_reducers_against_numpy_nan_functions_with_all_nan_rows():
    rng = np.random.default_rng(7)
    values = rng.normal(size=(40, 12)).astype(np.float32)
    values[rng.random(values.shape) < 0.4] = np.nan
    values[3] = np.nan
    values[5, :] = np.nan
    values[5, 4] = 1.5  # a single observation
    names = ("mean", "median", "min", "max", "std", "p0", "p37", "p100", "count")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = reduce_time(values, names)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = [np.nanmean(values, -1), np.nanmedian(values, -1), np.nanmin(values, -1), np.nanmax(values, -1),
                    np.nanstd(values, -1), np.nanpercentile(values, 0, -1), np.nanpercentile(values, 37, -1),
                    np.nanpercentile(values, 100, -1), np.isfinite(values).sum(-1)]
    for i, name in enumerate(names):
        np.testing.assert_allclose(out[..., i], expected[i], **F32, err_msg=name)
    assert out[3, names.index("count")] == 0 and np.isnan(out[3, :-1]).all()
    assert out[5, names.index("std")] == 0 and out[5, names.index("p37")] == 1.5


def test_dilation_is_a_square_as_scipy_and_does_not_grow_nodata(tmp_path):
    single = np.zeros((7, 7), bool)
    single[3, 3] = True
    assert dilate(single, 1).sum() == 9 and dilate(single, 2).sum() == 25  # square, not a cross
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [red]}
        mask: {scl: {keep: [4], dilate: 1}}
        reducers: {red: [count]}
    """)
    scl = [[0, 4, 4, 4, 9, 4, 4]]  # nodata at the left edge, a cloud in the middle
    out = recipe.compute(synthetic(["red"], {"red": [[0.1] * 7]}, scl))
    np.testing.assert_array_equal(out.red_count.values[0], [0, 1, 1, 0, 0, 0, 1])

    import scipy.ndimage as ndimage
    masks = np.random.default_rng(3).random((3, 23, 17)) < 0.05
    for n in (1, 2, 3):
        expected = np.stack([ndimage.binary_dilation(m, structure=ndimage.generate_binary_structure(2, 2),
                                                     iterations=n) for m in masks])
        np.testing.assert_array_equal(dilate(masks, n), expected)


def test_measurement_mask_keeps_strictly_below_the_threshold(tmp_path):
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [red]}
        aliases: {clp: [CLP, clp]}
        mask: {measurement: {name: clp, threshold: 0.4, keep: below}}
        reducers: {red: [mean, count]}
        clear_count: true
    """)
    assert recipe.required == ("red", "clp")
    data = synthetic(["red"], {"red": [[0.1, 0.2, 0.3, 0.4], [0.3, 0.4, 0.5, 0.6]]})
    data["clp"] = (("time", "y", "x"), np.array([[0.1, 0.4, np.nan, 0.9], [0.39, 0.0, 0.5, 0.9]], np.float32)[:, None])
    out = recipe.compute(data.drop_vars("scl"))
    np.testing.assert_allclose(out.red_mean.values[0], [0.2, 0.4, np.nan, np.nan], rtol=1e-6)
    np.testing.assert_array_equal(out.clear_count.values[0], [2, 1, 0, 0])


def test_int16_scaled_output_round_trips(tmp_path):
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [nir, red]}
        indices: [NDVI]
        mask: {scl: {keep: [4]}}
        reducers: {ndvi: [mean, count]}
        outputs:
          - {name: ndvi_mean, dtype: int16, nodata: -32768, scale: 0.0001, units: '1'}
          - {name: ndvi_count, dtype: int16, nodata: -1}
    """)
    nir, red = [[0.5, 0.3, 0.2, 0.9]], [[0.1, 0.3, 0.6, 0.0]]
    out = recipe.compute(synthetic(["nir", "red"], {"nir": nir, "red": red}, [[4, 4, 4, 9]]))
    assert out.ndvi_mean.dtype == np.int16 and out.ndvi_count.dtype == np.int16
    np.testing.assert_array_equal(out.ndvi_mean.values[0], [6667, 0, -5000, -32768])
    assert out.ndvi_mean.attrs == {"nodata": -32768, "units": "1", "scale_factor": 0.0001, "add_offset": 0.0}
    decoded = recipe.outputs[0].decode(out.ndvi_mean)
    np.testing.assert_allclose(decoded.values[0], [2 / 3, 0.0, -0.5, np.nan], atol=0.5e-4)
    np.testing.assert_array_equal(out.ndvi_count.values[0], [1, 1, 1, 0])
    measurement = recipe.product_definition("ro_ndvi")["measurements"][0]
    assert measurement == {"name": "ndvi_mean", "dtype": "int16", "nodata": -32768, "units": "1",
                           "scale_factor": 0.0001, "add_offset": 0.0}


def test_terrain_is_copied_through_and_checked(tmp_path):
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [red]}
        reducers: {red: [mean]}
        terrain: {layers: [slope, elevation, terrain_filled]}
    """)
    data = synthetic(["red"], {"red": [[0.1, 0.2, 0.3]]})
    terrain = xr.Dataset({"elevation": (("time", "y", "x"), [[[100.0, np.nan, 104.0]]]),
                          "slope": (("y", "x"), [[1.0, 2.0, 3.0]])}, coords={"y": data.y, "x": data.x})
    out = recipe.compute(data, terrain)
    assert list(out.data_vars) == ["red_mean", "slope", "elevation", "terrain_filled"]
    # the DEM void (no elevation) is interpolated from its edge, every layer of it, and flagged
    assert out.elevation.dtype == np.float32
    np.testing.assert_allclose(out.elevation.values[0], [100, 102, 104])
    np.testing.assert_allclose(out.slope.values[0], [1, 2, 3])
    np.testing.assert_array_equal(out.terrain_filled.values[0], [0, 1, 0])
    assert out.elevation.attrs["units"] == "metre" and out.slope.attrs["units"] == "degree"
    assert out.terrain_filled.attrs["units"] == "1"
    with pytest.raises(InvalidInputError, match=r"needs terrain layers slope, elevation \(product 'srtm'\)"):
        recipe.compute(data)
    with pytest.raises(InvalidInputError, match="is not on the data's grid"):
        recipe.compute(data, terrain.assign_coords(x=[5.0, 6.0, 7.0]))


def test_compute_refuses_missing_variables_and_digital_numbers(tmp_path):
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [red, nir]}
        mask: {scl: {keep: [4]}}
        reducers: {red: [mean]}
    """)
    data = synthetic(["red", "nir"], {"red": [[0.1]], "nir": [[0.2]]})
    with pytest.raises(InvalidInputError, match=r"lacks variable\(s\) nir \(variables are named by alias\)"):
        recipe.compute(data.drop_vars("nir"))
    with pytest.raises(InvalidInputError, match="'red' must be floating reflectance .* Got uint16"):
        recipe.compute(data.assign(red=(data.red * 10000).astype(np.uint16)))


def test_import_does_no_work():
    code = ("import sys, antares.recipes; "
            "assert not {'numpy', 'xarray', 'yaml'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
