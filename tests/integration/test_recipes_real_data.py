"""antares.recipes and the block engine on the real Romania series (34 dates of 2018, SCL with clouds) against
independent numpy and the xarray reference (the synthetic cases: tests/unit/test_recipes.py and
tests/unit/test_recipes_blockwise.py)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

from antares.cube.reflectance import reflectance_into
from antares.recipes.blockwise import BlockRecipe, Conversion
from helpers import assert_blocks_identical as assert_identical
from helpers import write_recipe

F32 = {"rtol": 2e-5, "atol": 2e-6}
ROMANIA = "nrt-romania-s2l2a/geotiff"
ROMANIA_PRODUCT = {"name": "ro_test", "measurements": [{"name": n} for n in
                                                        ("B02", "B03", "B04", "B08", "B8A", "B11", "SCL")]}
CLEAR = [4, 5, 6, 7]
CORRECTED = [2, 4, 5, 6, 7, 11]


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



def test_block_path_equals_reference_on_the_real_romania_series(tmp_path, data_dir):
    """One block of the real 10 m series (34 dates, SCL with clouds) with a dilated mask."""
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [blue, green, red, nir]}
        mask: {scl: {keep: [2, 4, 5, 6, 7, 11], dilate: 1}}
        indices: [NDVI, EVI, BI2]
        reducers: {blue: [mean], green: [median, count], red: [mean, std], nir: [max, p75],
                   ndvi: [mean, min, max, doy_max, p10], evi: [p50], bi2: [mean]}
        clear_count: true
    """)
    root = data_dir / ROMANIA / "10m"
    days = sorted(p.name for p in root.iterdir() if p.name.startswith("2018"))
    stack = {}
    for name in ("B02", "B03", "B04", "B08", "SCL"):
        layers = []
        for day in days:
            with rasterio.open(root / day / f"{name}.tif") as src:
                layers.append(src.read(1))
        stack[name] = np.stack(layers)
    dates = pd.to_datetime(days)
    offset, scale = np.zeros(len(days), np.float32), np.full(len(days), 1e-4, np.float32)
    product = {"measurements": [{"name": n} for n in stack]}
    resolved = recipe.resolve_measurements(product)
    t, hh, ww = stack["SCL"].shape
    coords = {"time": dates.values, "y": np.arange(hh, dtype=float), "x": np.arange(ww, dtype=float)}
    data = xr.Dataset({n: (("time", "y", "x"), reflectance_into(v, offset, scale, 0)) for n, v in stack.items()
                       if n != "SCL"}, coords=coords)
    data["SCL"] = (("time", "y", "x"), stack["SCL"])
    full = recipe.compute(recipe.rename_to_aliases(data, resolved))
    engine = BlockRecipe(recipe, resolved)
    raw = {n: np.ascontiguousarray(v[:, 1:-1, 1:-1]) for n, v in stack.items() if n != "SCL"}
    got = engine.compute(raw, {n: Conversion(True, offset, scale, 0) for n in raw}, stack["SCL"], dates.day_of_year.values)
    assert_identical({name: full[name].values[1:-1, 1:-1] for name in recipe.output_names}, got)
    assert 0 < np.nanmean(got["clear_count"]) < t

