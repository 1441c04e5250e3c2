"""mask: s2cloudless on real L1C: eo-learn's Slovenia patch, the five dates with all 13 bands (TOA reflectance 0..1),
against the cloud probability (CLP) and cloud mask (CLM) that Sentinel Hub computed with s2cloudless for the same
dates (README of eolearn-slovenia). Numbers in docs/timeseries.md ("Cloud masks for L1C")."""

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr

from antares.recipes.cloudless import S2CLOUDLESS_ALIASES, S2CLOUDLESS_BANDS, clear_s2cloudless, cloud_probability
from antares.recipes.parse import parse_recipe

ALL_BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
STAMPS = ["2015-07-11T100008", "2015-07-31T100009", "2015-08-20T100728", "2015-08-30T100547", "2015-09-09T100017"]


def _read(data_dir):
    folder = data_dir / "eolearn-slovenia" / "geotiff"
    bands, clp, clm = [], [], []
    for stamp in STAMPS:
        with rasterio.open(folder / "l1c_13band" / f"{stamp}_L1C_13bands.tif") as src:
            assert list(src.descriptions) == ALL_BANDS
            bands.append(src.read().astype(np.float32))
        with rasterio.open(folder / "l1c_13band" / f"{stamp}_CLM.tif") as src:
            clm.append(src.read(1).astype(bool))
        with rasterio.open(folder / "timeseries" / f"{stamp}_CLP.tif") as src:
            clp.append(src.read(1))
    stack = np.stack(bands, axis=1)  # (13, time, y, x)
    model = stack[[ALL_BANDS.index(b) for b in S2CLOUDLESS_BANDS]]
    return model, np.stack(clp), np.stack(clm)


def test_probability_and_mask_agree_with_sentinel_hubs_s2cloudless_layers(data_dir):
    bands, clp, clm = _read(data_dir)
    p = cloud_probability(bands)
    assert p.shape == clm.shape == (5, 101, 100) and not np.isnan(p).any()
    # per date, the mean |p - CLP|: measured 0.004, 0.064, 0.010, 0.009, 0.010 (Sentinel Hub computes CLP at
    # its own resolution and resamples; the partly cloudy 2015-07-31 differs most)
    diff = np.abs(p - clp).mean(axis=(1, 2))
    assert (diff < 0.08).all(), diff
    assert np.corrcoef(p.ravel(), clp.ravel())[0, 1] > 0.95
    spec = parse_recipe({"inputs": {"product": "l1c", "measurements": ["red"]}, "mask": {"s2cloudless": {}},
                         "reducers": {"red": ["mean"]}}, "slo").mask
    clear = clear_s2cloudless(bands, spec)
    agreement = (clear == ~clm).mean()
    assert agreement > 0.99, agreement  # measured 0.9997 (threshold 0.4, average_over 4, dilate 2)
    # the cloud-free and the cloudy dates are told apart: dates 1, 4, 5 clear; 2, 3 (nearly) all cloud
    np.testing.assert_array_equal(clear.mean(axis=(1, 2)) > 0.5, [True, False, False, True, True])


def test_recipe_clear_count_on_the_five_dates_matches_the_clm_layer(data_dir):
    bands, _, clm = _read(data_dir)
    coords = {"time": pd.to_datetime([s[:10] for s in STAMPS]).values, "y": np.arange(101.0), "x": np.arange(100.0)}
    data = xr.Dataset({a: (("time", "y", "x"), bands[k]) for k, a in enumerate(S2CLOUDLESS_ALIASES)}, coords=coords)
    recipe = parse_recipe({"inputs": {"product": "l1c", "measurements": ["red", "nir"]}, "indices": ["NDVI"],
                           "mask": {"s2cloudless": {"threshold": 0.4, "average_over": 4, "dilate": 2}},
                           "reducers": {"ndvi": ["median"]}, "clear_count": True}, "slo")
    out = recipe.compute(data)
    count = out["clear_count"].values
    expected = (~clm).sum(axis=0)
    assert (count == expected).mean() > 0.99
    ndvi = (bands[4] - bands[2]) / (bands[4] + bands[2])  # B08, B04
    median = np.nanmedian(np.where(~clm, ndvi, np.nan), axis=0)
    agree = np.isclose(out["ndvi_median"].values, median, rtol=1e-5, atol=1e-6)
    assert agree.mean() > 0.99


def _index_slovenia(settings, data_dir, runner, tmp_path, name):
    """Product ``name`` (13 float32 TOA bands) with the five Slovenia stacks indexed; returns the CLI env."""
    import yaml

    from helpers import invoke_ok

    env = {"ANTARES_DB_URL": settings.db_url}
    product = {"name": name, "metadata_type": "eo3", "metadata": {"product": {"name": name}},
               "description": "Slovenia L1C TOA reflectance stacks (eo-learn sample)",
               "measurements": [{"name": n, "dtype": "float32", "nodata": "NaN", "units": "1"} for n in ALL_BANDS]}
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(product))
    invoke_ok(runner, ["product", "add", str(tmp_path / f"{name}.yaml")], env)
    folder = data_dir / "eolearn-slovenia" / "geotiff" / "l1c_13band"
    invoke_ok(runner, ["index", "--path", str(folder), "--dataset_name", "s2_bands", "--product", name,
                       "--pattern", r"(?P<date>\d{4}-\d{2}-\d{2}T\d{6})_L1C_13bands\.tif$"], env)
    return env


def test_monthly_steps_with_s2cloudless_count_the_clm_clear_dates(settings, data_dir, runner, tmp_path):
    """A `steps:` recipe (monthly NDVI, July to September 2015) masked with s2cloudless: clear_count per month
    against CLM's clear dates of the month (July: 07-11 clear, 07-31 cloud; August: 08-20 cloud, 08-30 clear;
    September: 09-09 clear)."""
    import yaml

    from antares.config import load_settings
    from antares.pipeline.inspect import load_product
    from helpers import invoke_ok

    env = _index_slovenia(settings, data_dir, runner, tmp_path, "cl_ts_si")
    doc = {"description": "monthly NDVI of the s2cloudless-clear dates (test recipe)",
           "inputs": {"product": "cl_ts_si", "measurements": ["red", "nir"]}, "indices": ["NDVI"],
           "mask": {"s2cloudless": {}},
           "steps": {"every": "1M", "variables": ["ndvi"], "composite": "median", "gapfill": "none"}}
    recipe_file = tmp_path / "cl_ts_recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    invoke_ok(runner, ["apply_recipe", "-recipe", str(recipe_file), "-b", "2015-07-01", "-e", "2015-09-30",
                       "--bbox", "465100", "5079200", "466300", "5080300", "--bbox-crs", "EPSG:32633",
                       "--tile-size", "48", "--name", "cl_ts_monthly", "-sc", "sync",
                       "--outdir", str(tmp_path / "out")], env)
    out = load_product(load_settings(flags={"db_url": settings.db_url}, environ={}), "cl_ts_monthly")[0]
    out = out.isel(y=slice(0, 101))
    assert out.sizes["time"] == 3
    _, _, clm = _read(data_dir)
    clear = ~clm
    expected = [clear[0:2].sum(0), clear[2:4].sum(0), clear[4:5].sum(0)]
    for k in range(3):
        assert (out["clear_count"].values[k] == expected[k]).mean() > 0.99, k


def test_apply_recipe_with_s2cloudless_across_tiles_matches_the_clm_layer(settings, data_dir, runner, tmp_path):
    """The same recipe through `antares apply_recipe` (tiles of 48 px: the mask's 6 px margin crosses tile seams):
    equal to Recipe.compute on the whole patch, and clear_count against Sentinel Hub's CLM."""
    import yaml

    from antares.config import load_settings
    from antares.pipeline.inspect import load_product
    from helpers import invoke_ok

    env = _index_slovenia(settings, data_dir, runner, tmp_path, "cl_si")
    doc = {"description": "NDVI median of the s2cloudless-clear dates (test recipe)",
           "inputs": {"product": "cl_si", "measurements": ["red", "nir"]}, "indices": ["NDVI"],
           "mask": {"s2cloudless": {}}, "reducers": {"ndvi": ["median"]}, "clear_count": True}
    recipe_file = tmp_path / "cl_recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = invoke_ok(runner, ["apply_recipe", "-recipe", str(recipe_file), "-b", "2015-07-01", "-e", "2015-09-30",
                                "--bbox", "465100", "5079200", "466300", "5080300", "--bbox-crs", "EPSG:32633",
                                "--tile-size", "48", "--name", "cl_features", "-sc", "sync",
                                "--outdir", str(tmp_path / "out")], env)
    assert "tile(s) written and indexed into cl_features" in result.output
    # a product without the bands the mask needs (L2A has no B10): one line naming them, exit 1, nothing made
    from antares.cli.main import cli

    bad = runner.invoke(cli, ["apply_recipe", "-recipe", str(recipe_file), "-p", "s2_l2a", "-b", "2015-07-01",
                              "-e", "2015-09-30", "--bbox", "465100", "5079200", "466300", "5080300", "--bbox-crs",
                              "EPSG:32633", "--name", "cl_bad", "-sc", "sync", "--outdir", str(tmp_path / "bad")], env=env)
    assert bad.exit_code == 1 and "no measurement for cirrus (B10, cirrus)" in bad.stderr, bad.output
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.output
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").rglob("*.tif"))
    from antares.cube.index import connect

    dc = connect(settings.db_url)
    try:
        assert dc.index.products.get_by_name("cl_bad") is None
    finally:
        dc.close()
    out = load_product(load_settings(flags={"db_url": settings.db_url}, environ={}), "cl_features")[0]
    bands, _, clm = _read(data_dir)
    # the native grid of the files (9.995 m x 9.997 m, origin 465181.05, 5080254.63) rounded up to whole rows: the
    # output starts at the files' first pixel and its one extra row lies outside them (nodata)
    assert out.x.values[0] == pytest.approx(465181.0522 + 9.9947 / 2, abs=0.01)
    assert out.y.values[0] == pytest.approx(5080254.6335 - 9.9974 / 2, abs=0.01)
    assert out.sizes["x"] == 100 and out.sizes["y"] in (101, 102)
    assert np.isnan(out["ndvi_median"].values[0, 101:]).all()
    out = out.isel(y=slice(0, 101))
    count = out["clear_count"].values[0]
    expected = (~clm).sum(axis=0)
    assert (count == expected).mean() > 0.99  # measured 0.9985 (the 6-px averaging/dilation near the patch edge)
    coords = {"time": pd.to_datetime([s[:10] for s in STAMPS]).values, "y": np.arange(101.0), "x": np.arange(100.0)}
    data = xr.Dataset({a: (("time", "y", "x"), bands[k]) for k, a in enumerate(S2CLOUDLESS_ALIASES)}, coords=coords)
    whole = parse_recipe(doc, "cl").compute(data)
    # tiling changes nothing: equal to the whole patch at once, across the seams at rows and columns 48 and 96. Only
    # within the mask's 6 px margin of the patch's own edge may they differ: there the pipeline reads nodata outside
    # the files (left out of the averages) where Recipe.compute on the bare patch reflects its edge
    inner = (slice(6, -6), slice(6, -6))
    np.testing.assert_array_equal(count[inner], whole["clear_count"].values[inner])
    np.testing.assert_allclose(out["ndvi_median"].values[0][inner], whole["ndvi_median"].values[inner], rtol=1e-6,
                               equal_nan=True)
