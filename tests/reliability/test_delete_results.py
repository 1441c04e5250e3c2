"""`antares list KIND`, `antares delete KIND NAME` and `antares rename` on a real chain (issue 23).

One Romania L2A date is indexed (``rmd_ro``), segmented with SLIC into ``rmd_seg`` (its label
product's files under $ANTARES_HOME/products), sampled from the tree-cover raster
(``rmd_train`` + held-out ``rmd_val``), an RF fitted (``rmd_rf``), the objects classified
(``rmd_map``) and validated with --log. Deletion is refused while results depend on what
is named (listed; nothing changes), --dry-run changes nothing, --cascade removes the
dependants; deleting twice says the second time that nothing has that name; a crash between
the commit and the removal of files leaves no rows and the files are reported by the next run.
"""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from antares.cli.main import cli
from helpers import db_rows, db_state

ROMANIA = "nrt-romania-s2l2a/geotiff"
DATE = "2018-06-11"
BBOX = ["22.146", "45.2", "22.158", "45.209"]
TCD = "nrt-romania-s2l2a/labels/tree_cover_density_2018_20m.tif"


@pytest.fixture(scope="module")
def chain(settings, data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("delete")
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    for res in ("10m", "20m"):
        shutil.copytree(data_dir / ROMANIA / res / DATE, tmp / "ro" / res / DATE)
    runner = CliRunner()

    def ok(*args):
        result = runner.invoke(cli, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result

    ok("index", "--path", str(tmp / "ro"), "--dataset_name", "s2_bands", "--product", "rmd_ro")
    ok("segment", "-a", "slic", "-p", "rmd_ro", "-n", "rmd_seg", "--bbox", *BBOX, "-b", "B04", "-b", "B08",
       "-sc", "sync")
    ok("ingest_training_from_raster", str(data_dir / TCD), "--scheme", "rmd_tcd", "--dataset", "rmd_train",
       "--bins", "10", "--bins", "50", "--per-class", "40", "--seed", "3", "--holdout", "0.3",
       "--holdout-dataset", "rmd_val")
    ok("model_fit", "-model", "rf", "-p", "rmd_ro", "-t", "rmd_train", "--name", "rmd_rf", "-extra", "n_estimators=20",
       "-sc", "sync")
    ok("model_predict_object", "-p", "rmd_ro", "-m", "rmd_rf", "-s", "rmd_seg", "--name", "rmd_map", "-sc", "sync")
    ok("validate", "-c", "rmd_map", "-val", "rmd_val", "--log")
    return runner, env


def _invoke(chain, *args):
    runner, env = chain
    return runner.invoke(cli, list(map(str, args)), env=env)


def test_list_segmentations_and_classifications_are_typed_with_sizes(settings, chain):
    segs = {r["name"]: r for r in json.loads(_invoke(chain, "list", "segmentations", "--json").stdout)}
    n, area = db_rows(settings.db_url, "SELECT count(*), sum(area_m2) / 1e6 FROM antares.segment s JOIN "
                      "antares.segmentation g ON g.id = s.segmentation_id WHERE g.name = 'rmd_seg'")[0]
    assert segs["rmd_seg"]["objects"] == n and isinstance(segs["rmd_seg"]["objects"], int)
    assert segs["rmd_seg"]["area_km2"] == pytest.approx(area, abs=1e-4)
    assert segs["rmd_seg"]["classifications"] == 1
    maps = {r["name"]: r for r in json.loads(_invoke(chain, "list", "classifications", "--json").stdout)}
    predicted = db_rows(settings.db_url, "SELECT count(*) FROM antares.prediction p JOIN antares.classification c "
                        "ON c.id = p.classification_id WHERE c.name = 'rmd_map'")[0][0]
    assert maps["rmd_map"]["objects"] == predicted > 0
    assert (maps["rmd_map"]["segmentation"], maps["rmd_map"]["model"], maps["rmd_map"]["validations"]) == \
        ("rmd_seg", "rmd_rf", 1)
    vals = {v["name"]: v for v in json.loads(_invoke(chain, "list", "validation_sets", "--json").stdout)}
    assert vals["rmd_val"]["samples"] > 0 and vals["rmd_val"]["kind"] == "validation"
    assert "rmd_train" not in vals  # training sets are not listed as validation sets
    runs = json.loads(_invoke(chain, "list", "runs", "--json").stdout)
    done = [r for r in runs if r["status"] == "done"]
    assert done and all(isinstance(r["seconds"], float) for r in done)  # a number, not a string
    table = _invoke(chain, "list", "segmentations")
    assert table.exit_code == 0 and "rmd_seg" in table.stdout


def test_validate_and_load_take_bbox_and_lat_long(settings, chain):
    """Every area option on validate and load (issue 23): --bbox and -lat/-long of one box mean the same; the
    polygons counted are those a geopandas box intersects (before the deletions of the tests below)."""
    import geopandas as gpd
    import shapely
    from shapely.geometry import box

    west, south, east, north = 22.146, 45.2, 22.152, 45.209  # the western half of BBOX
    whole = json.loads(_invoke(chain, "validate", "-c", "rmd_map", "-val", "rmd_val", "--json").stdout)
    by_bbox = _invoke(chain, "validate", "-c", "rmd_map", "-val", "rmd_val", "--json", "--bbox", west, south, east, north)
    assert by_bbox.exit_code == 0, by_bbox.output
    by_degrees = _invoke(chain, "validate", "-c", "rmd_map", "-val", "rmd_val", "--json", "-lat", south, north,
                         "-long", west, east)
    assert by_degrees.exit_code == 0, by_degrees.output
    assert json.loads(by_bbox.stdout) == json.loads(by_degrees.stdout)
    srid = db_rows(settings.db_url, "SELECT ST_SRID(s.geom) FROM antares.segment s JOIN antares.segmentation g "
                   "ON g.id = s.segmentation_id WHERE g.name = 'rmd_seg' LIMIT 1")[0][0]
    samples = [shapely.from_wkt(r[0]) for r in db_rows(
        settings.db_url, f"SELECT ST_AsText(ST_Transform(s.geom, {int(srid)})) FROM antares.sample s "
        "JOIN antares.sample_set t ON t.id = s.set_id WHERE t.name = 'rmd_val' AND t.kind = 'validation'")]
    zone = gpd.GeoSeries([box(west, south, east, north).segmentize(1e-5)], crs=4326).to_crs(int(srid)).iloc[0]
    expected = sum(g.intersects(zone) for g in samples)
    assert 0 < json.loads(by_bbox.stdout)["validation_polygons"] == expected < whole["validation_polygons"]

    loads = [json.loads(_invoke(chain, "load", "-p", "rmd_ro", "--json", *area).stdout) for area in (
        ["--bbox", west, south, east, north], ["-lat", south, north, "-long", west, east], ["--bbox", *BBOX])]
    assert loads[0] == loads[1]
    assert loads[0]["shape"][2] < loads[2]["shape"][2]  # half the width


@pytest.mark.parametrize("kind, name, dependant", [
    ("segmentation", "rmd_seg", "classification(s) rmd_map"),
    ("classification", "rmd_map", "validation result(s) rmd_map:rmd_val"),
    ("model", "rmd_rf", "classification(s) rmd_map"),
    ("training_set", "rmd_train", "model(s) rmd_rf"),
    ("validation_set", "rmd_val", "validation result(s) rmd_map:rmd_val"),
])
def test_delete_with_dependants_is_refused_and_changes_nothing(settings, chain, kind, name, dependant):
    before = db_state(settings.db_url)
    refused = _invoke(chain, "delete", kind, name)
    assert refused.exit_code == 1
    assert f"cannot delete {kind.replace('_', ' ')} {name}: results depend on them: {dependant}" in refused.stderr
    assert "--cascade" in refused.stderr and "Traceback" not in refused.output
    dry = _invoke(chain, "delete", kind, name, "--cascade", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"dry run, nothing changed: would have deleted {kind.replace('_', ' ')} {name}" in dry.stdout
    assert db_state(settings.db_url) == before


def test_unknown_names_and_kinds(settings, chain):
    missing = _invoke(chain, "delete", "classification", "rmd_nothing")
    assert missing.exit_code == 1 and "no classification named 'rmd_nothing'. Existing: " in missing.stderr
    # the session's database holds other tests' classifications too: at most 20 are named, all of them real,
    # and the total is given when there are more
    names = {r[0] for r in db_rows(settings.db_url, "SELECT name FROM antares.classification")}
    listed = missing.stderr.split("Existing: ")[1].strip().rstrip(".")
    total = f", ... ({len(names)} in all)"
    assert listed.endswith(total) if len(names) > 20 else total not in listed
    shown = listed.removesuffix(total).split(", ")
    assert set(shown) <= names and len(shown) == min(20, len(names))
    assert "rmd_map" in names and ("rmd_map" in shown or len(names) > 20)
    kind = _invoke(chain, "delete", "maps", "rmd_map")
    assert kind.exit_code == 2 and "'maps' is not one of" in kind.stderr
    renamed = _invoke(chain, "rename", "segmentation", "rmd_seg", "x")
    assert renamed.exit_code == 2


def test_rename_then_delete_twice_then_cascade(settings, chain):
    home = settings.home
    # rename a model: the classification made with it now names the new model
    assert _invoke(chain, "rename", "model", "rmd_rf", "rmd_rf2").exit_code == 0
    maps = {r["name"]: r for r in json.loads(_invoke(chain, "list", "classifications", "--json").stdout)}
    assert maps["rmd_map"]["model"] == "rmd_rf2"
    clash = _invoke(chain, "rename", "model", "rmd_rf2", "rmd_rf2")
    assert clash.exit_code == 1 and "a model named 'rmd_rf2' exists" in clash.stderr
    # a training set renamed: its model's record follows
    assert _invoke(chain, "rename", "training_set", "rmd_train", "rmd_train2").exit_code == 0
    models = {r["name"]: r for r in json.loads(_invoke(chain, "list", "models", "--json").stdout)}
    assert models["rmd_rf2"]["training_set"] == "rmd_train2"

    # classification with its validation result, by cascade; deleting again finds nothing
    gone = _invoke(chain, "delete", "classification", "rmd_map", "--cascade")
    assert gone.exit_code == 0, gone.output
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.validation_result WHERE name = 'rmd_map:rmd_val'") == [(0,)]
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.classification WHERE name = 'rmd_map'") == [(0,)]
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.prediction p LEFT JOIN antares.classification c "
                   "ON c.id = p.classification_id WHERE c.id IS NULL") == [(0,)]  # no orphaned predictions
    again = _invoke(chain, "delete", "classification", "rmd_map")
    assert again.exit_code == 1 and "no classification named 'rmd_map'" in again.stderr

    # segmentation: rows, label product and its files under $ANTARES_HOME/products
    files = home / "products" / "rmd_seg"
    assert files.is_dir() and any(files.rglob("*.tif"))
    seg = _invoke(chain, "delete", "segmentation", "rmd_seg")
    assert seg.exit_code == 0, seg.output
    assert f"removed files {files}" in seg.stderr and not files.exists()
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.segmentation WHERE name = 'rmd_seg'") == [(0,)]
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.segment s LEFT JOIN antares.segmentation g "
                   "ON g.id = s.segmentation_id WHERE g.id IS NULL") == [(0,)]  # no orphaned segments
    products = json.loads(_invoke(chain, "list", "products", "--json").stdout)
    assert "rmd_seg" not in {p["name"] for p in products}

    # training set with its model, by cascade
    train = _invoke(chain, "delete", "training_set", "rmd_train2", "--cascade")
    assert train.exit_code == 0, train.output
    assert "--cascade includes model(s) rmd_rf2" in train.stderr
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.model WHERE name = 'rmd_rf2'") == [(0,)]


def test_crash_between_commit_and_file_removal_leaves_no_rows_and_reports_the_files(settings, chain, tmp_path):
    from antares.pipeline.results import delete_result

    runner, env = chain
    result = runner.invoke(cli, ["segment", "-a", "slic", "-p", "rmd_ro", "-n", "rmd_seg_crash", "--bbox", *BBOX,
                                 "-b", "B04", "-sc", "sync"], env=env)
    assert result.exit_code == 0, result.output
    files = settings.home / "products" / "rmd_seg_crash"
    assert files.is_dir()

    class Crash(Exception):
        pass

    def crash():
        raise Crash

    with pytest.raises(Crash):
        delete_result(settings, "segmentation", "rmd_seg_crash", after_commit=crash)
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.segmentation WHERE name = 'rmd_seg_crash'") == [(0,)]
    assert files.is_dir()  # the files outlived the crash ...
    nxt = _invoke(chain, "delete", "validation_set", "rmd_val", "--dry-run")
    assert nxt.exit_code == 0, nxt.output
    # ... and the next deletion reports them, with the command that removes them
    assert "orphaned files (no product of that name" in nxt.stderr and f"rm -r {files}" in nxt.stderr
