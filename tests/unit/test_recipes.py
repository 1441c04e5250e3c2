"""antares.recipes: compute against independent numpy on the real Romania series, indices, reducers, masks."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

from antares.errors import InvalidInputError
from antares.recipes import INDICES, load_recipe
from antares.recipes.masks import dilate
from antares.recipes.reducers import reduce_time

ROMANIA = "nrt-romania-s2l2a/geotiff"
ROMANIA_PRODUCT = {"name": "ro_test", "measurements": [{"name": n} for n in
                                                        ("B02", "B03", "B04", "B08", "B8A", "B11", "SCL")]}
CLEAR = [4, 5, 6, 7]
CORRECTED = [2, 4, 5, 6, 7, 11]
F32 = {"rtol": 2e-5, "atol": 2e-6}


def write_recipe(tmp_path, text, name="test_recipe"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return load_recipe(str(path))


def read_series(data_dir, resolution, measurements, year="2018"):
    """The Romania files of ``year``: a Dataset named by measurement (DN as read) and the dates."""
    root = data_dir / ROMANIA / resolution
    dates = sorted(p.name for p in root.iterdir() if p.name.startswith(year))
    arrays = {}
    for name in measurements:
        stack = []
        for date in dates:
            with rasterio.open(root / date / f"{name}.tif") as src:
                stack.append(src.read(1))
                transform = src.transform
        arrays[name] = np.stack(stack)
    ny, nx = arrays[measurements[0]].shape[1:]
    coords = {"time": pd.to_datetime(dates).values,
              "y": transform.f + transform.e * (np.arange(ny) + 0.5),
              "x": transform.c + transform.a * (np.arange(nx) + 0.5)}
    return xr.Dataset({n: (("time", "y", "x"), a) for n, a in arrays.items()}, coords=coords), dates


def to_alias_data(recipe, loaded):
    """Reflectance (DN / 10000, 0 -> NaN) named by alias, SCL kept as uint8: what the pipeline hands compute."""
    resolved = recipe.resolve_measurements(ROMANIA_PRODUCT)
    refl = loaded.copy()
    for name in loaded.data_vars:
        if name != "SCL":
            refl[name] = (loaded[name].where(loaded[name] != 0) / 10000).astype(np.float32)
    return recipe.rename_to_aliases(refl, resolved)


def nan_stats(values, fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(values, *args, axis=0)


def ratio(a, b):
    """Independent normalized difference in float64, NaN where a + b == 0."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(a + b == 0, np.nan, (a - b) / (a + b))


# ---------------------------------------------------------------- real data, independent numpy
@pytest.fixture(scope="module")
def romania_20m(data_dir):
    return read_series(data_dir, "20m", ["B03", "B04", "B8A", "B11", "SCL"])


@pytest.fixture(scope="module")
def romania_10m(data_dir):
    return read_series(data_dir, "10m", ["B02", "B03", "B04", "B08", "SCL"])


RECIPE_20M = """
    description: 20 m bands of the Romania series
    inputs: {product: ro_test, measurements: [green, red, nir, swir1]}
    aliases: {nir: [B8A]}
    mask: {scl: {keep: [4, 5, 6, 7]}}
    indices: [NDVI, NDMI, MNDWI]
    reducers:
      green: [mean, median]
      red: [mean, count]
      nir: [max]
      swir1: [min, p25]
      ndvi: [mean, min, max, std, p10, p90, median, count, doy_max]
      ndmi: [mean, min, max]
      mndwi: [p75]
    clear_count: true
"""


def test_compute_matches_numpy_on_real_20m_series(tmp_path, romania_20m):
    recipe = write_recipe(tmp_path, RECIPE_20M)
    loaded, dates = romania_20m
    assert len(dates) == 34
    loaded = loaded.copy(deep=True)
    loaded["SCL"][:, 0, 0] = 9  # one pixel cloudy on every date
    out = recipe.compute(to_alias_data(recipe, loaded))

    assert list(out.data_vars) == recipe.output_names
    assert all(out[v].dtype == np.float32 and out[v].dims == ("y", "x") for v in out.data_vars)
    keep = np.isin(loaded["SCL"].values, CLEAR)
    band = {n: np.where(keep & (loaded[n].values != 0), loaded[n].values / 10000.0, np.nan)
            for n in ("B03", "B04", "B8A", "B11")}
    ndvi, ndmi, mndwi = ratio(band["B8A"], band["B04"]), ratio(band["B8A"], band["B11"]), ratio(band["B03"], band["B11"])
    expected = {
        "green_mean": nan_stats(band["B03"], np.nanmean), "green_median": nan_stats(band["B03"], np.nanmedian),
        "red_mean": nan_stats(band["B04"], np.nanmean), "red_count": np.isfinite(band["B04"]).sum(axis=0),
        "nir_max": nan_stats(band["B8A"], np.nanmax),
        "swir1_min": nan_stats(band["B11"], np.nanmin), "swir1_p25": nan_stats(band["B11"], np.nanpercentile, 25),
        "ndvi_mean": nan_stats(ndvi, np.nanmean), "ndvi_min": nan_stats(ndvi, np.nanmin),
        "ndvi_max": nan_stats(ndvi, np.nanmax), "ndvi_std": nan_stats(ndvi, np.nanstd),
        "ndvi_p10": nan_stats(ndvi, np.nanpercentile, 10), "ndvi_p90": nan_stats(ndvi, np.nanpercentile, 90),
        "ndvi_median": nan_stats(ndvi, np.nanmedian), "ndvi_count": np.isfinite(ndvi).sum(axis=0),
        "ndmi_mean": nan_stats(ndmi, np.nanmean), "ndmi_min": nan_stats(ndmi, np.nanmin),
        "ndmi_max": nan_stats(ndmi, np.nanmax), "mndwi_p75": nan_stats(mndwi, np.nanpercentile, 75),
        "clear_count": (keep & np.all([np.isfinite(b) for b in band.values()], axis=0)).sum(axis=0),
    }
    # doy_max from float32 NDVI, as computed: at (26, 13) NDVI is 0.88235... on 2018-05-22 (3808, 238) and on
    # 2018-07-01 (3984, 249), a tie in exact arithmetic that float32 rounding breaks towards the later date
    nir32, red32 = (band[n].astype(np.float32) for n in ("B8A", "B04"))
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi32 = (nir32 - red32) / (nir32 + red32)
    doy = pd.to_datetime(dates).day_of_year.values
    doy_max = np.full(ndvi.shape[1:], np.nan)
    for iy, ix in zip(*np.nonzero(np.isfinite(ndvi32).any(axis=0))):
        doy_max[iy, ix] = doy[np.nanargmax(ndvi32[:, iy, ix])]
    expected["ndvi_doy_max"] = doy_max
    assert set(expected) == set(out.data_vars)
    for name, values in expected.items():
        np.testing.assert_allclose(out[name].values, values, **F32, err_msg=name)
    assert 0 < expected["clear_count"].mean() < 34  # the mask matters on this series
    assert out["clear_count"].values[0, 0] == 0 and out["ndvi_count"].values[0, 0] == 0
    assert all(np.isnan(out[v].values[0, 0]) for v in out.data_vars if not v.endswith("count"))
    assert np.isfinite(out["ndvi_mean"].values).sum() == out.sizes["y"] * out.sizes["x"] - 1


def test_compute_matches_numpy_on_real_10m_series_with_dilation(tmp_path, romania_10m):
    import scipy.ndimage as scipy_ndimage
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [blue, green, red, nir]}
        mask: {scl: {keep: [2, 4, 5, 6, 7, 11], dilate: 1}}
        indices: [NDVI, EVI]
        reducers: {blue: [mean], nir: [median], ndvi: [mean, max], evi: [p50, count]}
        clear_count: true
    """)
    loaded, _ = romania_10m
    out = recipe.compute(to_alias_data(recipe, loaded))
    scl = loaded["SCL"].values
    masked = ~np.isin(scl, CORRECTED) & (scl != 0)
    square = scipy_ndimage.generate_binary_structure(2, 2)
    grown = np.stack([scipy_ndimage.binary_dilation(m, structure=square, iterations=1) for m in masked])
    keep = np.isin(scl, CORRECTED) & ~grown
    assert grown.sum() > masked.sum() > 0  # the dilation matters on this series
    band = {n: np.where(keep & (loaded[n].values != 0), loaded[n].values / 10000.0, np.nan)
            for n in ("B02", "B03", "B04", "B08")}
    ndvi = ratio(band["B08"], band["B04"])
    with np.errstate(invalid="ignore"):
        evi = 2.5 * (band["B08"] - band["B04"]) / (band["B08"] + 6 * band["B04"] - 7.5 * band["B02"] + 1)
    np.testing.assert_allclose(out.blue_mean.values, nan_stats(band["B02"], np.nanmean), **F32)
    np.testing.assert_allclose(out.nir_median.values, nan_stats(band["B08"], np.nanmedian), **F32)
    np.testing.assert_allclose(out.ndvi_mean.values, nan_stats(ndvi, np.nanmean), **F32)
    np.testing.assert_allclose(out.ndvi_max.values, nan_stats(ndvi, np.nanmax), **F32)
    np.testing.assert_allclose(out.evi_p50.values, nan_stats(evi, np.nanpercentile, 50), **F32)
    np.testing.assert_array_equal(out.evi_count.values, np.isfinite(evi).sum(axis=0))
    complete = keep & np.all([np.isfinite(b) for b in band.values()], axis=0)
    np.testing.assert_array_equal(out.clear_count.values, complete.sum(axis=0))


def test_dask_backed_input_gives_the_same_result(tmp_path, romania_10m):
    import dask  # noqa: F401  (a dependency of datacube)
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [blue, green, red, nir]}
        mask: {scl: {keep: [2, 4, 5, 6, 7, 11], dilate: 2}}
        indices: [NDVI, BI2]
        reducers: {red: [mean, std], ndvi: [p10, p90, doy_max], bi2: [median]}
        clear_count: true
    """)
    data = to_alias_data(recipe, romania_10m[0])
    eager = recipe.compute(data)
    lazy = recipe.compute(data.chunk({"time": 5, "y": 37, "x": 23}))  # chunk borders inside dilated clouds
    assert lazy.ndvi_p10.chunks is not None
    xr.testing.assert_identical(eager, lazy.compute())


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
        terrain: {layers: [slope, elevation]}
    """)
    data = synthetic(["red"], {"red": [[0.1, 0.2]]})
    terrain = xr.Dataset({"elevation": (("time", "y", "x"), [[[100.0, np.nan]]]), "slope": (("y", "x"), [[1.0, 2.0]])},
                         coords={"y": data.y, "x": data.x})
    out = recipe.compute(data, terrain)
    assert list(out.data_vars) == ["red_mean", "slope", "elevation"]
    assert out.elevation.dtype == np.float32 and np.isnan(out.elevation.values[0, 1])
    assert out.elevation.attrs["units"] == "metre" and out.slope.attrs["units"] == "degree"
    with pytest.raises(InvalidInputError, match=r"needs terrain layers slope, elevation \(product 'srtm'\)"):
        recipe.compute(data)
    with pytest.raises(InvalidInputError, match="is not on the data's grid"):
        recipe.compute(data, terrain.assign_coords(x=[5.0, 6.0]))


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
