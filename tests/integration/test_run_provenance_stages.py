"""index, register_region, db_to_vector, db_to_raster and validate record runs (issue 21).

Each run, shown by ``antares run show ID --json``, holds what it read (dataset ids, names, the
SHA-256 of the vector file read), what it made (dataset ids, regions, files with size and
SHA-256) and the command line; each is checked against an independent reading (ODC's index,
hashlib, rasterio, pyogrio). The recorded command of an export, run again with --overwrite,
writes the same features. A refused input (an unknown classification) and a re-index that adds
nothing leave no run.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import sqlalchemy as sa
from shapely.geometry import box

from antares.cli.main import cli
from antares.cube.index import connect
from helpers import db_rows, invoke_ok

X0, Y0, S, N = 500000.0, 4990000.0, 100.0, 3
CODES = {j * N + i + 1: (1, 7)[(i + j) % 2] for j in range(N) for i in range(N)}
SQUARES = {j * N + i + 1: box(X0 + i * S, Y0 + j * S, X0 + (i + 1) * S, Y0 + (j + 1) * S) for j in range(N) for i in range(N)}


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url, "ANTARES_HOME": str(settings.home)}


@pytest.fixture(scope="module")
def prv_map(settings):
    """Classification prv_map: nine 100 m squares (EPSG:32633), classes 1 and 7 of scheme prv_scheme."""
    engine = sa.create_engine(settings.db_url)
    q = sa.text
    with engine.begin() as conn:
        for table in ("classification", "model", "segmentation", "class_scheme"):
            conn.execute(q(f"DELETE FROM antares.{table} WHERE name LIKE 'prv\\_%'"))
        sid = conn.execute(q("INSERT INTO antares.class_scheme (name) VALUES ('prv_scheme') RETURNING id")).scalar()
        conn.execute(q("INSERT INTO antares.legend_class (scheme_id, code, name, colour) VALUES (:s, :c, :n, :col)"),
                     [{"s": sid, "c": 1, "n": "forest", "col": "#33a02c"}, {"s": sid, "c": 7, "n": "water", "col": "#1f78b4"}])
        model = conn.execute(q("INSERT INTO antares.model (name, kind, scheme_id, product, blob, metadata) VALUES "
                               "('prv_model', 'rf', :s, 'prv_product', :b, '{}'::jsonb) RETURNING id"),
                             {"s": sid, "b": b"x"}).scalar()
        seg = conn.execute(q("INSERT INTO antares.segmentation (name, product, algorithm, crs, n_segments) "
                             "VALUES ('prv_seg', 'prv_product', 'test', 'EPSG:32633', :n) RETURNING id"),
                           {"n": len(SQUARES)}).scalar()
        conn.execute(q("INSERT INTO antares.segment (segmentation_id, segment_id, geom, area_m2, pixel_count) "
                       "VALUES (:seg, :id, ST_Multi(ST_GeomFromText(:wkt, 32633)), :area, 100)"),
                     [{"seg": seg, "id": i, "wkt": g.wkt, "area": g.area} for i, g in SQUARES.items()])
        cid = conn.execute(q("INSERT INTO antares.classification (name, segmentation_id, model_id) "
                             "VALUES ('prv_map', :s, :m) RETURNING id"), {"s": seg, "m": model}).scalar()
        conn.execute(q("INSERT INTO antares.prediction (classification_id, segment_id, class_code, confidence, entropy) "
                       "VALUES (:c, :i, :k, 0.9, 0.1)"), [{"c": cid, "i": i, "k": k} for i, k in CODES.items()])
    engine.dispose()
    return "prv_map"


def _runs(settings, kind, name=None):
    sql = "SELECT id FROM antares.run WHERE kind = :k" + (" AND name = :n" if name is not None else "") + " ORDER BY id"
    return [i for i, in db_rows(settings.db_url, sql, k=kind, n=name)]


def _show(runner, env, run_id) -> tuple[dict, str]:
    shown = json.loads(invoke_ok(runner, ["run", "show", str(run_id), "--json"], env).stdout)
    text = invoke_ok(runner, ["run", "show", str(run_id)], env).stdout
    assert shown["status"] == "done" and shown["inputs"]["environment"]["antares"]
    assert f"re-run: {shown['inputs']['command']}" in text
    return shown, text


def test_index_records_the_ids_of_the_datasets_it_indexed(settings, runner, env, data_dir, tmp_path):
    for res in ("10m",):
        shutil.copytree(data_dir / "nrt-romania-s2l2a/geotiff" / res / "2018-03-13", tmp_path / "ro" / res / "2018-03-13")
        shutil.copytree(data_dir / "nrt-romania-s2l2a/geotiff" / res / "2018-06-11", tmp_path / "ro" / res / "2018-06-11")
    args = ["index", "--path", str(tmp_path / "ro"), "--dataset_name", "s2_bands", "--product", "prv_ro"]
    invoke_ok(runner, args, env)
    (run_id,) = _runs(settings, "index", "prv_ro")
    shown, text = _show(runner, env, run_id)
    dc = connect(settings.db_url)
    try:
        indexed = sorted(str(d.id) for d in dc.index.datasets.search(product="prv_ro"))
    finally:
        dc.close()
    assert len(indexed) == 2 and shown["outputs"]["datasets"] == indexed and shown["outputs"]["added"] == 2
    assert shown["inputs"]["path"] == str((tmp_path / "ro").resolve())
    assert shown["inputs"]["command"] == "antares " + shlex.join(args)
    assert "datasets made: 2" in text and all(i in text for i in indexed)

    invoke_ok(runner, args, env)  # indexing the same files again adds nothing and records no run
    assert _runs(settings, "index", "prv_ro") == [run_id]


def test_register_region_records_the_file_read_and_the_regions_made(settings, runner, env, tmp_path):
    path = tmp_path / "site.gpkg"
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(12.0, 52.0, 12.1, 52.05)], crs="EPSG:4326").to_file(path)
    invoke_ok(runner, ["register_region", "prv_site", str(path), "--overwrite"], env)
    shown, text = _show(runner, env, _runs(settings, "register_region", "prv_site")[-1])
    assert shown["inputs"]["file"] == str(path.resolve()) and shown["inputs"]["sha256"] == _sha256(path)
    (area,), = db_rows(settings.db_url, "SELECT area_km2 FROM antares.region WHERE name = 'prv_site'")
    assert shown["outputs"]["regions"] == {"prv_site": {"area_km2": pytest.approx(area), "features": 1}}
    assert "prv_site" in text


def test_exports_record_the_files_they_wrote_and_their_command_rewrites_them(settings, runner, env, prv_map, tmp_path):
    path = tmp_path / "map.gpkg"
    invoke_ok(runner, ["db_to_vector", "-n", prv_map, "-f", str(path)], env)
    (run_id,) = _runs(settings, "db_to_vector", str(path))
    shown, text = _show(runner, env, run_id)
    assert shown["inputs"]["results"] == [prv_map]
    assert shown["outputs"]["files"] == {str(path): {"bytes": path.stat().st_size, "sha256": _sha256(path)}}
    assert shown["outputs"]["features"] == len(CODES) and shown["outputs"]["classes"] == [1, 7]
    assert f"files written: 1\n  {path} ({path.stat().st_size} bytes, sha256 {_sha256(path)})" in text
    before = pyogrio.read_dataframe(path, layer=prv_map).sort_values("segment_id")
    invoke_ok(runner, shlex.split(shown["inputs"]["command"])[1:] + ["--overwrite"], env)
    after = pyogrio.read_dataframe(path, layer=prv_map).sort_values("segment_id")
    assert after.drop(columns="geometry").equals(before.drop(columns="geometry"))
    assert all(a.equals(b) for a, b in zip(after.geometry, before.geometry))
    assert len(_runs(settings, "db_to_vector", str(path))) == 2

    tif = tmp_path / "map.tif"
    invoke_ok(runner, ["db_to_raster", "-n", prv_map, "-f", str(tif), "--resolution", "10"], env)
    shown, _ = _show(runner, env, _runs(settings, "db_to_raster", str(tif))[-1])
    with rasterio.open(tif) as src:
        classified = int(np.count_nonzero(src.read(1)))
    assert classified == 900 and shown["outputs"]["pixels"] == classified
    qml = tif.with_suffix(".qml")
    assert shown["outputs"]["files"] == {str(p): {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in (tif, qml)}

    refused = runner.invoke(cli, ["db_to_vector", "-n", "prv_nope", "-f", str(tmp_path / "nope.gpkg")], env=env)
    assert refused.exit_code == 1 and "prv_nope" in refused.stderr
    assert _runs(settings, "db_to_vector", str(tmp_path / "nope.gpkg")) == []  # a refused input leaves no run


def test_validate_records_what_it_compared_and_its_accuracy(settings, runner, env, prv_map, tmp_path):
    wrong = 5  # one validation polygon labelled with the other class
    reference = {i: (CODES[i] if i != wrong else 8 - CODES[i]) for i in CODES}
    polygons = gpd.GeoDataFrame({"cls": list(reference.values())},
                                geometry=[g.buffer(-20) for g in SQUARES.values()], crs="EPSG:32633")
    polygons.to_file(tmp_path / "val.gpkg")
    invoke_ok(runner, ["ingest_validation", str(tmp_path / "val.gpkg"), "--field", "cls", "--dataset", "prv_val",
                       "--scheme", "prv_scheme", "--overwrite"], env)
    report = tmp_path / "accuracy.json"
    invoke_ok(runner, ["validate", "-c", prv_map, "-val", "prv_val", "--report", str(report)], env)
    shown, _ = _show(runner, env, _runs(settings, "validate", "prv_map:prv_val")[-1])
    assert shown["inputs"]["results"] == [prv_map, "validation set prv_val"]
    expected = (len(CODES) - 1) / len(CODES)  # equal areas: the share of polygons labelled as mapped
    assert shown["outputs"]["overall_accuracy"] == pytest.approx(expected)
    assert json.loads(report.read_text())["by_area_of_overlap_m2"]["overall_accuracy"] == pytest.approx(expected)
    assert shown["outputs"]["files"] == {str(report): {"bytes": report.stat().st_size, "sha256": _sha256(report)}}


def test_recorded_step_keeps_a_failure_drops_a_refusal_and_a_no_op(settings):
    from antares.errors import InvalidInputError
    from antares.pipeline.run import recorded_step

    def fails():
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        recorded_step(settings, "prv_step", "failing", {"p": 1}, fails)
    (row,) = db_rows(settings.db_url, "SELECT status, error, params, outputs FROM antares.run "
                     "WHERE kind = 'prv_step' AND name = 'failing'")
    assert row == ("failed", "RuntimeError: disk on fire", {"p": 1}, {})

    def refused():
        raise InvalidInputError("bad input")

    with pytest.raises(InvalidInputError):
        recorded_step(settings, "prv_step", "refused", {}, refused)
    assert recorded_step(settings, "prv_step", "noop", {}, lambda: ("result", {"a": 1}, None)) == "result"
    assert recorded_step(settings, "prv_step", "made", {"p": 2}, lambda: (7, {"read": ["x"]}, {"made": ["y"]})) == 7
    rows = db_rows(settings.db_url, "SELECT name, status, params, inputs->'read', outputs FROM antares.run "
                   "WHERE kind = 'prv_step' AND name IN ('refused', 'noop', 'made')")
    assert rows == [("made", "done", {"p": 2}, ["x"], {"made": ["y"]})]
