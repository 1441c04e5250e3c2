"""model_fit_timeseries -p -t splits its early-stopping validation in 1 km blocks by default (Slovenia patch);
--val-spatial 0 opts out. The number of blocks equals an independent count of the polygons' centroid blocks."""

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from helpers import invoke_ok

BANDS = ["B02", "B03", "B04", "B08"]
FIT = ["-model", "tempcnn", "--set-size", "4", "--device", "cpu", "-extra", "epochs=2", "-extra", "batch_size=16",
       "-sc", "sync"]


@pytest.fixture(scope="module")
def product(settings, data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vblk")
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    runner = CliRunner()
    all_bands = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    doc = {"name": "vblk_si", "metadata_type": "eo3", "metadata": {"product": {"name": "vblk_si"}},
           "description": "Slovenia L1C TOA reflectance stacks (eo-learn sample)",
           "measurements": [{"name": n, "dtype": "float32", "nodata": "NaN", "units": "1"} for n in all_bands]}
    (tmp / "vblk_si.yaml").write_text(yaml.safe_dump(doc))
    invoke_ok(runner, ["product", "add", str(tmp / "vblk_si.yaml")], env)
    folder = data_dir / "eolearn-slovenia" / "geotiff" / "l1c_13band"
    invoke_ok(runner, ["index", "--path", str(folder), "--dataset_name", "s2_bands", "--product", "vblk_si",
                       "--pattern", r"(?P<date>\d{4}-\d{2}-\d{2}T\d{6})_L1C_13bands\.tif$"], env)
    invoke_ok(runner, ["ingest_training", str(data_dir / "eolearn-slovenia" / "lulc_polygons.gpkg"), "--field",
                       "LULC_NAME", "--dataset", "vblk_slo", "--where", "LULC_ID > 0"], env)
    return env


def _meta(settings, name):
    from antares.config import load_settings
    from antares.pipeline.train import load_model

    return load_model(load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={}), name,
                      estimator=False)[1]


def test_blocked_by_default_and_opt_out(settings, product, data_dir):
    import geopandas as gpd
    import rasterio
    from rasterio.features import rasterize

    env = product
    runner = CliRunner()
    fit = invoke_ok(runner, ["model_fit_timeseries", "-p", "vblk_si", "-t", "vblk_slo", "--name", "vblk_default", *FIT],
                    env)
    meta = _meta(settings, "vblk_default")
    polygons = gpd.read_file(data_dir / "eolearn-slovenia" / "lulc_polygons.gpkg")
    polygons = polygons[polygons["LULC_ID"] > 0].to_crs(32633).reset_index(drop=True)
    # the polygons with a pixel centre inside, on the files' grid (rasterio), are those fitted
    with rasterio.open(next((data_dir / "eolearn-slovenia" / "geotiff" / "l1c_13band").glob("*_L1C_13bands.tif"))) as src:
        shape, transform = (src.height, src.width), src.transform
    covered = np.zeros(len(polygons), bool)
    for i in range(len(polygons)):  # each alone (polygons may overlap)
        covered[i] = rasterize([(polygons.geometry[i], 1)], out_shape=shape, transform=transform, fill=0,
                               dtype="uint8").any()
    kept = polygons[covered]
    assert len(kept) == sum(meta["samples_per_class"].values())
    centres = np.column_stack([kept.centroid.x, kept.centroid.y])
    blocks = {tuple(b) for b in np.floor(centres / 1000).astype(int)}  # the patch straddles 465/466 km, 5079/5080 km
    assert meta["validation_block"] == 1000
    assert meta["validation_groups"] == len(blocks) >= 2
    assert f"spatially blocked, the polygons' centroids in {len(blocks)} blocks of 1000 m" in fit.stdout

    random = invoke_ok(runner, ["model_fit_timeseries", "-p", "vblk_si", "-t", "vblk_slo", "--name", "vblk_random",
                                "--val-spatial", "0", *FIT], env)
    meta = _meta(settings, "vblk_random")
    assert meta["validation_block"] is None and meta["validation_groups"] is None
    assert "a stratified random split of the polygons (--val-spatial 0)" in random.stdout
