"""segment -> RF on the built-in ``s1_s2_monthly`` product, end to end on WorldCereal's Belgium patch.

The built-in recipe (with the stated adaptation that the monthly S2 composites are already cloud-masked: no SCL,
``mask`` removed) writes 12 monthly steps of S2 bands and indices, S1 VV/VH/ratio/RVI and terrain; the July step is
segmented (SLIC on NIR, NDVI and S1 VH); training samples (3 x 3 pixel squares) are drawn from WorldCereal's
cropland classification (model output: the score is AGREEMENT with it, not accuracy, see belgium_labels.py); an RF
fitted on the July step's 18 measurements classifies every object; the map is exported with db_to_vector and
rasterised back onto the grid (rasterio) to compare with the WorldCereal raster at every pixel not used for training.
"""

import yaml

from belgium_labels import cropland_labels
from helpers import db_rows, invoke_ok

BE = "worldcereal-belgium/geotiff"
BBOX = ["--bbox", "664000", "5611120", "665000", "5612120", "--bbox-crs", "EPSG:32631"]
JULY = ["-b", "2021-07-01", "-e", "2021-07-31"]


def test_segment_rf_on_s1_s2_monthly_agrees_with_worldcereal(settings, data_dir, runner, tmp_path):
    import geopandas as gpd
    import rasterio.features
    import sqlalchemy as sa

    from antares.recipes import recipes_dir

    env = {"ANTARES_DB_URL": settings.db_url}
    be = data_dir / BE
    invoke_ok(runner, ["index", "--path", str(be / "s2_monthly"), "--dataset_name", "s2_bands", "--product", "rf_b_s2",
                       "--pattern", r"(?P<date>\d{4}-\d{2})_S2L2A\.tif$"], env)
    invoke_ok(runner, ["index", "--path", str(be / "s1_monthly"), "--dataset_name", "s1_grd", "--product", "rf_b_s1"],
              env)
    invoke_ok(runner, ["index", "--path", str(be / "dem" / "elevation.tif"), "--dataset_name", "dem", "--product",
                       "rf_b_dem", "--outdir", str(tmp_path / "dem")], env)
    doc = yaml.safe_load((recipes_dir() / "s1_s2_monthly.yaml").read_text())
    doc.pop("mask")
    doc["inputs"]["product"], doc["s1"]["product"], doc["terrain"]["product"] = "rf_b_s2", "rf_b_s1", "rf_b_dem"
    recipe = tmp_path / "s1_s2_monthly_rf.yaml"
    recipe.write_text(yaml.safe_dump(doc, sort_keys=False))
    invoke_ok(runner, ["apply_recipe", "-recipe", str(recipe), "-b", "2020-11-01", "-e", "2021-10-31", *BBOX,
                       "--tile-size", "128", "--name", "rf_b_monthly", "-sc", "sync", "--outdir", str(tmp_path / "out")],
              env)
    invoke_ok(runner, ["segment", "--algorithm", "slic", "-p", "rf_b_monthly", "-n", "rf_b_seg", "--time", "2021-07-16",
                       "-b", "nir", "-b", "ndvi", "-b", "s1_vh", "-extra", "n_segments=250", *BBOX,
                       "--tile-size", "256", "-sc", "sync", "--outdir", str(tmp_path / "seg")], env)
    labels, legend, reference, transform = cropland_labels(data_dir, tmp_path / "labels")
    invoke_ok(runner, ["ingest_training_from_raster", str(labels), "--scheme", "rf_b_cropland", "--dataset", "rf_b_train",
                       "--legend", str(legend), "--per-class", "40", "--min-patch", "3", "--seed", "1"], env)
    invoke_ok(runner, ["model_fit", "-model", "rf", "-p", "rf_b_monthly", "-t", "rf_b_train", "--name", "rf_b_rf",
                       *JULY, "-extra", "n_estimators=100", "-sc", "sync"], env)
    invoke_ok(runner, ["model_predict_object", "-p", "rf_b_monthly", "-m", "rf_b_rf", "-s", "rf_b_seg",
                       "--name", "rf_b_map", *JULY, "-sc", "sync"], env)
    invoke_ok(runner, ["db_to_vector", "-n", "rf_b_map", "-f", str(tmp_path / "rf_b_map.gpkg")], env)

    features = db_rows(settings.db_url, "SELECT m.metadata->'features' FROM antares.model m "
                       "WHERE m.name = 'rf_b_rf'")[0][0]
    assert {"nir", "ndvi", "s1_vv", "s1_vh", "s1_vh_vv", "s1_rvi", "elevation", "slope"} <= set(features)
    objects = gpd.read_file(tmp_path / "rf_b_map.gpkg", layer="rf_b_map")
    segments = db_rows(settings.db_url, "SELECT count(*) FROM antares.segment s JOIN antares.segmentation g "
                       "ON g.id = s.segmentation_id WHERE g.name = 'rf_b_seg'")[0][0]
    assert len(objects) > 50 and set(objects["code"]) <= {1, 2}
    assert len(objects) >= 0.95 * segments  # objects without a valid feature get no prediction
    predicted = rasterio.features.rasterize(zip(objects.geometry, objects["code"]), out_shape=(100, 100),
                                            transform=transform, fill=0, dtype="uint16")
    engine = sa.create_engine(settings.db_url)
    try:
        training = gpd.read_postgis(
            "SELECT s.geom FROM antares.sample s JOIN antares.sample_set t ON t.id = s.set_id "
            "WHERE t.name = 'rf_b_train' AND t.kind = 'training'", engine, geom_col="geom")
    finally:
        engine.dispose()
    assert len(training) == 80
    trained = rasterio.features.rasterize(((g, 1) for g in training.geom), out_shape=(100, 100), transform=transform,
                                          fill=0, dtype="uint8").astype(bool)
    scored = (predicted > 0) & ~trained
    assert scored.mean() > 0.85  # every object predicted (objects without valid features would be left out)
    agreement = (predicted[scored] == reference[scored]).mean()
    majority = max((reference[scored] == c).mean() for c in (1, 2))
    print(f"features: {features}\nagreement with WorldCereal cropland on {scored.sum()} pixels not used for training: "
          f"{agreement:.3f}; majority-class rate {majority:.3f}")
    assert agreement > majority + 0.05
    stored = db_rows(settings.db_url, "SELECT count(*) FROM antares.prediction p JOIN antares.classification c "
                     "ON c.id = p.classification_id WHERE c.name = 'rf_b_map'")[0][0]
    assert stored == len(objects)
