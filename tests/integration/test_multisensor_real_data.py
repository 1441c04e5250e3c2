"""A time-series recipe with an ``s1:`` section on WorldCereal's Belgium patch (monthly S2 L2A composites and S1
VV/VH sigma0 in dB, both on the same 10 m grid): per month NDVI from S2 and the S1 features, checked against numpy
on the GeoTIFFs (rasterio) at every pixel."""

import numpy as np
import rasterio
import yaml

from antares.config import load_settings
from antares.pipeline.inspect import load_product
from helpers import invoke_ok

BE = "worldcereal-belgium/geotiff"
MONTHS = [f"2020-{m:02d}" for m in (11, 12)] + [f"2021-{m:02d}" for m in range(1, 11)]


def test_monthly_ndvi_and_s1_features_equal_numpy(settings, data_dir, runner, tmp_path):
    env = {"ANTARES_DB_URL": settings.db_url}
    be = data_dir / BE
    invoke_ok(runner, ["index", "--path", str(be / "s2_monthly"), "--dataset_name", "s2_bands", "--product", "ms_be_s2",
                       "--pattern", r"(?P<date>\d{4}-\d{2})_S2L2A\.tif$"], env)
    invoke_ok(runner, ["index", "--path", str(be / "s1_monthly"), "--dataset_name", "s1_grd", "--product", "ms_be_s1"],
              env)
    doc = {"description": "monthly NDVI and S1 features (test recipe)",
           "inputs": {"product": "ms_be_s2", "measurements": ["red", "nir"]}, "aliases": {"nir": ["B08"]},
           "indices": ["NDVI"],
           "steps": {"every": "1M", "variables": ["ndvi"], "composite": "median", "gapfill": "none"},
           "s1": {"product": "ms_be_s1", "features": ["vv", "vh", "vh_vv", "rvi"]}}
    recipe = tmp_path / "ms_recipe.yaml"
    recipe.write_text(yaml.safe_dump(doc, sort_keys=False))
    invoke_ok(runner, ["apply_recipe", "-recipe", str(recipe), "-b", "2020-11-01", "-e", "2021-10-31",
                       "--bbox", "664000", "5611120", "665000", "5612120", "--bbox-crs", "EPSG:32631",
                       "--tile-size", "64", "--name", "ms_be_monthly", "-sc", "sync",
                       "--outdir", str(tmp_path / "out")], env)
    out = load_product(load_settings(flags={"db_url": settings.db_url}, environ={}), "ms_be_monthly")[0]
    assert out.sizes["time"] == 12
    assert out.x.values[0] == 664005 and out.y.values[0] == 5612115
    out = out.isel(y=slice(0, 100), x=slice(0, 100))
    for k, month in enumerate(MONTHS):
        with rasterio.open(be / "s1_monthly" / f"{month}_S1_sigma0_dB.tif") as src:
            vv_db, vh_db = src.read().astype(np.float64)
        with rasterio.open(be / "s2_monthly" / f"{month}_S2L2A.tif") as src:
            red, nir = src.read(3).astype(np.float64), src.read(7).astype(np.float64)  # B04, B08
            bad = (red == 65535) | (nir == 65535)
        vv, vh = 10 ** (vv_db / 10), 10 ** (vh_db / 10)
        expected = {"s1_vv": vv_db, "s1_vh": vh_db, "s1_vh_vv": vh_db - vv_db, "s1_rvi": 4 * vh / (vv + vh)}
        expected = {n: np.where(np.isnan(vv_db) | np.isnan(vh_db), np.nan, v) for n, v in expected.items()}
        for name, values in expected.items():
            np.testing.assert_allclose(out[name].values[k], values, atol=2e-4, equal_nan=True, err_msg=f"{name} {month}")
        ndvi = np.where(bad, np.nan, (nir - red) / (nir + red))
        np.testing.assert_allclose(out["ndvi"].values[k], ndvi, atol=1e-6, equal_nan=True, err_msg=f"ndvi {month}")
    assert np.isfinite(out["s1_rvi"].values).mean() > 0.9
    assert np.isnan(out["ndvi"].values[1:3]).all()  # S2 2020-12 and 2021-01 are entirely nodata; S1 is not
    assert np.isfinite(out["s1_vv"].values[1:3]).mean() > 0.9
