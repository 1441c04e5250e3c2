"""mask: s2cloudless on real L1C: eo-learn's Slovenia patch, the five dates with all 13 bands (TOA reflectance 0..1),
against the cloud probability (CLP) and cloud mask (CLM) that Sentinel Hub computed with s2cloudless for the same
dates (README of eolearn-slovenia). Numbers in docs/timeseries.md ("Cloud masks for L1C")."""

import numpy as np
import pandas as pd
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
