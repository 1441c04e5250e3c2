"""`antares demo` on the staged Romanian sample data, and the staging of the nrt wheel's files."""

import json

import numpy as np
import pytest
import rasterio

from antares.cli.main import cli

NRT = "nrt-romania-s2l2a"


def test_staging_the_wheel_files_equals_the_reference_staging(data_dir, tmp_path):
    """The nrt wheel's netCDF cube (as shipped; ../shared/data keeps a copy) staged to per-date GeoTIFFs."""
    from antares.demo import check_staged, stage_nrt

    out = stage_nrt(data_dir / NRT / "original", tmp_path / "staged", year=2018)
    bands, labels = check_staged(out)
    dates = sorted(p.name for p in bands.iterdir())
    assert len(dates) == 34  # the 2018 acquisitions
    for date in dates[::5]:
        for band in ("B02", "B08", "SCL"):
            with rasterio.open(bands / date / f"{band}.tif") as a, \
                    rasterio.open(data_dir / NRT / "geotiff" / "10m" / date / f"{band}.tif") as b:
                assert a.crs == b.crs and a.transform == b.transform
                assert np.array_equal(a.read(), b.read())
    with rasterio.open(labels) as a, rasterio.open(data_dir / NRT / "labels" / "tree_cover_density_2018_20m.tif") as b:
        assert a.crs == b.crs and a.transform == b.transform and np.array_equal(a.read(), b.read())


def test_demo_chain_on_real_data(runner, settings, data_dir, tmp_path):
    import geopandas as gpd

    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home), "ANTARES_SCHEDULER": "sync"}
    out = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--data", str(data_dir / NRT), "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    for step in ("index", "apply_recipe", "segment", "ingest_training_from_raster", "model_fit",
                 "model_predict_object", "db_to_vector", "db_to_raster", "validate"):
        assert f"$ antares {step} " in result.stdout
    report = json.loads((out / "validation.json").read_text())
    oa = report["by_area_of_overlap_m2"]["overall_accuracy"]
    assert 0.5 < oa <= 1.0  # forest / sparse / open classes of a real forest site, well above chance (1/3)
    assert report["area_adjusted_ha"]["area"] and report["validation_polygons"] > 0
    objects = gpd.read_file(out / "demo_map.gpkg", layer="demo_map")
    assert {"code", "class", "confidence", "entropy", "area_m2"} <= set(objects.columns)
    assert objects.geometry.is_valid.all() and objects.segment_id.is_unique
    with rasterio.open(out / "demo_map.tif") as src:
        assert src.colormap(1) and src.overviews(1) is not None
    import matplotlib.image

    assert matplotlib.image.imread(out / "demo_map.png").shape[0] > 300
    again = runner.invoke(cli, ["demo", "--data", str(data_dir / NRT), "--out", str(out)], env=env)
    assert again.exit_code == 0, again.output  # safe to re-run: results replaced, not duplicated
    from helpers import db_rows

    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.classification WHERE name = 'demo_map'") == [(1,)]
    assert json.loads((out / "validation.json").read_text())["by_area_of_overlap_m2"]["overall_accuracy"] == \
        pytest.approx(oa)
