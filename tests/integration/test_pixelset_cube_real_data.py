"""Temporal deep models on the cube (issue 19): eo-learn's Slovenia patch (5 L1C dates x 13 bands, 84 land-use
polygons) → pixel sets drawn from the polygons at every date → pse_tae fitted through the CLI → model_predict_object
on a SLIC segmentation → every object's class and confidence equal an independent reading of the GeoTIFFs with
rasterio, the same draw and the stored model; a product with other dates is refused in one line."""

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from antares.cli.main import cli
from helpers import db_rows, invoke_ok

BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
SET_SIZE = 8


@pytest.fixture(scope="module")
def pxs(settings, data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pxs")
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    runner = CliRunner()
    product = {"name": "pxs_si", "metadata_type": "eo3", "metadata": {"product": {"name": "pxs_si"}},
               "description": "Slovenia L1C TOA reflectance stacks (eo-learn sample)",
               "measurements": [{"name": n, "dtype": "float32", "nodata": "NaN", "units": "1"} for n in BANDS]}
    (tmp / "pxs_si.yaml").write_text(yaml.safe_dump(product))
    invoke_ok(runner, ["product", "add", str(tmp / "pxs_si.yaml")], env)
    folder = data_dir / "eolearn-slovenia" / "geotiff" / "l1c_13band"
    invoke_ok(runner, ["index", "--path", str(folder), "--dataset_name", "s2_bands", "--product", "pxs_si",
                       "--pattern", r"(?P<date>\d{4}-\d{2}-\d{2}T\d{6})_L1C_13bands\.tif$"], env)
    invoke_ok(runner, ["ingest_training", str(data_dir / "eolearn-slovenia" / "lulc_polygons.gpkg"), "--field",
                       "LULC_NAME", "--dataset", "pxs_slo", "--where", "LULC_ID > 0"], env)
    fit = invoke_ok(runner, ["model_fit_timeseries", "-p", "pxs_si", "-t", "pxs_slo", "-model", "pse_tae",
                             "--set-size", str(SET_SIZE), "--val-spatial", "250", "--name", "pxs_pse", "--device", "cpu", "--seed", "3",
                             "-extra", "epochs=3", "-extra", "batch_size=16", "-sc", "sync"], env)
    geo = invoke_ok(runner, ["model_fit_timeseries", "-p", "pxs_si", "-t", "pxs_slo", "-model", "ltae", "--geometry",
                             "--set-size", str(SET_SIZE), "--name", "pxs_geo", "--device", "cpu", "--seed", "5",
                             "-extra", "epochs=2", "-extra", "batch_size=16", "-sc", "sync"], env)
    assert "model pxs_geo: ltae fitted on" in geo.stdout
    invoke_ok(runner, ["segment", "--algorithm", "slic", "-p", "pxs_si", "-b", "B04", "-b", "B08", "-n", "pxs_slic",
                       "--time", "2015-07-11", "--bbox", "14.54", "45.86", "14.58", "45.88", "-extra", "n_segments=60", "-extra", "compactness=1", "-sc", "sync", "--outdir", str(tmp / "seg")],
              env)
    return env, tmp, folder, fit


def test_fit_on_pixel_sets_of_the_polygons(settings, pxs):
    from antares.config import load_settings
    from antares.pipeline.train import load_model

    env, tmp, folder, fit = pxs
    assert "model pxs_pse: pse_tae fitted on" in fit.stdout
    assert f"x 5 step(s) x 13 measurement(s) x {SET_SIZE} pixel(s) from pxs_si" in fit.stdout
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    estimator, meta = load_model(s, "pxs_pse")
    assert meta["unit"] == "pixel_sets" and meta["set_size"] == SET_SIZE and meta["features"] == BANDS
    # days since 1 January 2015 of the five acquisitions
    dates = np.array(["2015-07-11", "2015-07-31", "2015-08-20", "2015-08-30", "2015-09-09"], "datetime64[D]")
    assert meta["days"] == (dates - np.datetime64("2015-01-01")).astype(int).tolist() == [191, 211, 231, 241, 251]
    assert sum(meta["samples_per_class"].values()) + len(meta["skipped_samples"]) == 84
    assert estimator.config["sensors"]["series"]["channels"] == BANDS and len(meta["history"]) == 3
    assert meta["validation_block"] == 250 and meta["validation_groups"] >= 4  # 1 km patch in 250 m blocks
    shown = invoke_ok(CliRunner(), ["model", "show", "pxs_pse"], env).output
    assert f"pixel sets: {SET_SIZE} pixels drawn per polygon or object (seed 3) at 5 time(s) of pxs_si" in shown
    assert "architecture pse_tae" in shown and "epoch 3: loss" in shown


def test_geometry_features_are_those_of_the_pixel_footprints(settings, pxs, data_dir):
    """--geometry: the stored normalisation mean of 'area' is the mean over polygons of (pixel centres inside) x pixel
    area, rasterised independently with rasterio on the files' grid."""
    import geopandas as gpd
    import rasterio
    from rasterio.features import rasterize

    from antares.config import load_settings
    from antares.object_features import GEOMETRY_FEATURES
    from antares.pipeline.train import load_model

    env, tmp, folder, _ = pxs
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    estimator, meta = load_model(s, "pxs_geo")
    assert meta["extra_features"] == list(GEOMETRY_FEATURES)
    with rasterio.open(sorted(folder.glob("*_L1C_13bands.tif"))[0]) as src:
        transform, shape, pixel, crs = src.transform, src.shape, abs(src.res[0] * src.res[1]), src.crs
    polygons = gpd.read_file(data_dir / "eolearn-slovenia" / "lulc_polygons.gpkg")
    polygons = polygons[polygons.LULC_ID > 0].to_crs(crs)
    counts = np.array([rasterize([g], out_shape=shape, transform=transform).sum() for g in polygons.geometry])
    areas = counts[counts > 0] * pixel
    assert estimator.config["extra"]["mean"][0] == pytest.approx(areas.mean(), rel=1e-5)
    assert estimator.config["extra"]["std"][0] == pytest.approx(areas.std(), rel=1e-4)


@pytest.mark.parametrize("model", ["pxs_pse", "pxs_geo"])
def test_predict_objects_equals_an_independent_reading(settings, pxs, model):
    import rasterio

    from antares.config import load_settings
    from antares.deep.data import SensorSeries
    from antares.deep.pixelsets import draw_pixel_sets
    from antares.pipeline.train import load_model

    env, tmp, folder, _ = pxs
    result = invoke_ok(CliRunner(), ["model_predict_object", "-p", "pxs_si", "-m", model, "-s", "pxs_slic",
                                     "--name", f"{model}_map", "-sc", "sync"], env)
    assert f"classification {model}_map:" in result.stdout
    rows = db_rows(settings.db_url, "SELECT p.segment_id, p.class_code, p.confidence FROM antares.prediction p JOIN "
                   "antares.classification c ON c.id = p.classification_id WHERE c.name = :n ORDER BY 1", n=f"{model}_map")
    files = sorted((tmp / "seg").rglob("*.tif"))
    assert len(files) == 1  # one tile: objects on its border and inside it
    with rasterio.open(files[0]) as src:
        labels = src.read(1).astype(np.int64)
    stacks = []
    for f in sorted(folder.glob("*_L1C_13bands.tif")):
        with rasterio.open(f) as src:
            stacks.append(src.read().astype(np.float32))
    series = np.stack(stacks)  # (5, 13, y, x)
    assert series.shape[2:] == labels.shape
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    estimator, meta = load_model(s, model)
    shapes = None
    if meta["extra_features"]:  # the stored segment polygons' shapes
        import shapely

        from antares.object_features import geometry_features

        polys = db_rows(settings.db_url, "SELECT s.segment_id, ST_AsBinary(s.geom) FROM antares.segment s JOIN "
                        "antares.segmentation g ON g.id = s.segmentation_id WHERE g.name = 'pxs_slic' ORDER BY 1")
        shapes = dict(zip([p[0] for p in polys], geometry_features(shapely.from_wkb([bytes(p[1]) for p in polys]))))
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    expected = {}
    for mask in ((labels > 0) & ~np.isin(labels, border), np.isin(labels, border)):  # inside, then border objects
        ids, index = np.unique(labels[mask], return_inverse=True)
        sets, _ = draw_pixel_sets(index, series[:, :, mask], len(ids), SET_SIZE, meta["seed"])
        extra = np.array([shapes[k] for k in ids]) if shapes is not None else None
        proba = estimator.predict_proba({"series": SensorSeries(sets, np.array(meta["days"]), BANDS)}, extra)
        for k, p in zip(ids, proba):
            expected[int(k)] = (int(estimator.classes_[np.argmax(p)]), float(p.max()))
    assert [r[0] for r in rows] == sorted(expected)
    assert len(rows) > 20 and len(border) > 0
    for seg_id, code, confidence in rows:
        assert code == expected[seg_id][0]
        assert confidence == pytest.approx(expected[seg_id][1], rel=1e-5)


def test_other_dates_and_bad_flags_refused_in_one_line(settings, pxs):
    env, *_ = pxs
    runner = CliRunner()
    other = runner.invoke(cli, ["model_predict_object", "-p", "pxs_si", "-m", "pxs_pse", "-s", "pxs_slic", "--name",
                                "pxs_map2", "-b", "2015-07-01", "-e", "2015-08-25", "-sc", "sync"], env=env)
    assert other.exit_code == 1 and other.stderr.count("\n") == 1, other.output
    assert "model pxs_pse was trained on steps at days [191, 211, 231, 241, 251]" in other.stderr
    assert not db_rows(settings.db_url, "SELECT 1 FROM antares.classification WHERE name = 'pxs_map2'")
    cases = [
        (["-p", "pxs_si", "--timeseries", __file__, "--label", "x"], "give either --timeseries"),
        (["-p", "pxs_si"], "-p PRODUCT and -t TRAINING_SET go together"),
        (["-p", "pxs_si", "-t", "pxs_slo", "--set-size", "0"], "--set-size must be an int >= 1"),
        (["-p", "pxs_si", "-t", "pxs_slo", "-extra", "fusion=tsa"], "not -extra"),
        (["-p", "pxs_si", "-t", "pxs_slo", "--val-spatial", "-5"], "--val-spatial must be a block size > 0"),
    ]
    for args, fragment in cases:
        result = runner.invoke(cli, ["model_fit_timeseries", *args, "-model", "ltae", "--name", "pxs_bad"], env=env)
        assert result.exit_code == 2 and fragment in result.stderr and result.stderr.count("\n") == 1, \
            (args, result.output)
    assert not db_rows(settings.db_url, "SELECT 1 FROM antares.model WHERE name = 'pxs_bad'")
