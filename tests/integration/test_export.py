"""db_to_vector, db_to_raster and generate_style on a classification inserted directly into PostGIS.

The fixture holds 200 objects in EPSG:32633 (a 14 x 14 grid of 350 m squares plus a
multipolygon, a triangle, a polygon with a hole and an irregular quadrilateral), 195 of
them predicted, and a region (EPSG:4326) over the western half that cuts a column of
squares in two. Every check compares with an independent computation (shapely,
geopandas, one rasterio.features.rasterize of all polygons at once).
"""

import json
import os
import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import sqlalchemy as sa
from affine import Affine
from rasterio.features import geometry_mask, rasterize
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.ops import unary_union

from antares.cli.main import cli

X0, Y0, S, N = 400003.0, 5800003.0, 350.0, 14
LEGEND = [(1, "forest", "#33a02c"), (2, "Bosque 'alto' ñ", "#b2df8a"), (7, "water", "#1f78b4")]
REGION_UTM = box(399000, 5799000, X0 + 6.5 * S, 5806000)  # cuts grid column 6 in two


def _segments():
    shapes = {j * N + i + 1: box(X0 + i * S, Y0 + j * S, X0 + (i + 1) * S, Y0 + (j + 1) * S)
              for j in range(N) for i in range(N)}
    e = X0 + N * S + 50
    shapes[197] = MultiPolygon([box(e, Y0, e + 150, Y0 + 150), box(e + 250, Y0 + 300, e + 350, Y0 + 400)])
    shapes[198] = Polygon([(e, Y0 + 1000), (e + 450, Y0 + 1000), (e + 150, Y0 + 1500)])
    shapes[199] = box(e, Y0 + 2000, e + 500, Y0 + 2500).difference(box(e + 150, Y0 + 2150, e + 350, Y0 + 2350))
    shapes[200] = Polygon([(e, Y0 + 3000), (e + 1050, Y0 + 3100), (e + 850, Y0 + 4800), (e + 50, Y0 + 4500)])
    return shapes


SEGMENTS = _segments()
PREDICTED = {i: g for i, g in SEGMENTS.items() if i % 37}
CODE = {i: LEGEND[(i * 5) % 3][0] for i in PREDICTED}
CONF = {i: 0.4 + ((i * 37) % 60) / 100 for i in PREDICTED}
NAMES = {c: n for c, n, _ in LEGEND}


@pytest.fixture(scope="module")
def exp(settings):
    """Scheme, model, segmentation, segments, predictions (exp_map, and exp_map16 with code 300) and region."""
    engine = sa.create_engine(settings.db_url)
    q = sa.text
    with engine.begin() as conn:
        conn.execute(q("DELETE FROM antares.classification WHERE name LIKE 'exp\\_%'"))
        conn.execute(q("DELETE FROM antares.model WHERE name LIKE 'exp\\_%'"))
        conn.execute(q("DELETE FROM antares.segmentation WHERE name LIKE 'exp\\_%'"))
        conn.execute(q("DELETE FROM antares.class_scheme WHERE name LIKE 'exp\\_%'"))
        conn.execute(q("DELETE FROM antares.region WHERE name LIKE 'exp\\_%'"))
        ids = {}
        for scheme, legend in (("exp_scheme", LEGEND), ("exp_scheme16", [(1, "low", "#ff0000"), (300, "high", "#0000ff")])):
            sid = conn.execute(q("INSERT INTO antares.class_scheme (name) VALUES (:n) RETURNING id"), {"n": scheme}).scalar()
            conn.execute(q("INSERT INTO antares.legend_class (scheme_id, code, name, colour) VALUES (:s, :c, :n, :col)"),
                         [{"s": sid, "c": c, "n": n, "col": col} for c, n, col in legend])
            meta = json.dumps({"legend": [{"code": c, "name": n, "colour": col} for c, n, col in legend]})
            ids[scheme] = conn.execute(q(
                "INSERT INTO antares.model (name, kind, scheme_id, product, blob, metadata) "
                "VALUES (:n, 'rf', :s, 'exp_product', :b, CAST(:m AS jsonb)) RETURNING id"),
                {"n": scheme.replace("scheme", "model"), "s": sid, "b": b"x", "m": meta}).scalar()
        seg = conn.execute(q("INSERT INTO antares.segmentation (name, product, algorithm, crs, n_segments) "
                             "VALUES ('exp_seg', 'exp_product', 'test', 'EPSG:32633', :n) RETURNING id"),
                           {"n": len(SEGMENTS)}).scalar()
        conn.execute(q("INSERT INTO antares.segment (segmentation_id, segment_id, geom, area_m2, pixel_count) "
                       "VALUES (:seg, :id, ST_Multi(ST_GeomFromText(:wkt, 32633)), :area, :px)"),
                     [{"seg": seg, "id": i, "wkt": g.wkt, "area": g.area, "px": round(g.area / 100)}
                      for i, g in SEGMENTS.items()])
        for name, model, codes in (("exp_map", "exp_scheme", CODE),
                                   ("exp_map16", "exp_scheme16", {i: (1, 300)[i % 2] for i in PREDICTED})):
            cid = conn.execute(q("INSERT INTO antares.classification (name, segmentation_id, model_id) "
                                 "VALUES (:n, :s, :m) RETURNING id"), {"n": name, "s": seg, "m": ids[model]}).scalar()
            conn.execute(q("INSERT INTO antares.prediction (classification_id, segment_id, class_code, confidence, entropy)"
                           " VALUES (:c, :i, :k, :conf, :ent)"),
                         [{"c": cid, "i": i, "k": codes[i], "conf": CONF[i], "ent": 1.01 - CONF[i]} for i in PREDICTED])
        region = gpd.GeoSeries([REGION_UTM.segmentize(50)], crs="EPSG:32633").to_crs("EPSG:4326").iloc[0]
        conn.execute(q("INSERT INTO antares.region (name, geom, area_km2) VALUES "
                       "('exp_half', ST_Multi(ST_GeomFromText(:wkt, 4326)), 1)"), {"wkt": region.wkt})
    engine.dispose()
    return gpd.GeoSeries([region], crs="EPSG:4326").to_crs("EPSG:32633").iloc[0]  # the region as stored, in UTM


@pytest.fixture
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url}


def export(runner, env, *args):
    return runner.invoke(cli, list(map(str, args)), env=env)


def one_error_line(result, code=1):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("antares: error: "), result.stderr
    return lines[0]


def test_gpkg_attributes_geometries_and_style(runner, env, exp, tmp_path):
    path = tmp_path / "map.gpkg"
    result = export(runner, env, "db_to_vector", "-n", "exp_map", "-f", path)
    assert result.exit_code == 0, result.output
    assert str(path) in result.stdout and f"{len(PREDICTED)} feature(s), 3 class(es)" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["map.gpkg"]  # no temporary file left, no sidecar
    frame = pyogrio.read_dataframe(path, layer="exp_map")
    assert list(frame.columns) == ["segment_id", "code", "class", "confidence", "entropy", "area_m2", "geometry"]
    assert frame.crs.to_epsg() == 32633 and frame.geometry.is_valid.all()
    assert sorted(frame.segment_id) == sorted(PREDICTED)
    for row in frame.itertuples():
        assert row.code == CODE[row.segment_id] and row._3 == NAMES[row.code]
        assert row.confidence == pytest.approx(CONF[row.segment_id]) and row.entropy == pytest.approx(1.01 - row.confidence)
        assert row.area_m2 == pytest.approx(SEGMENTS[row.segment_id].area)
        assert row.geometry.symmetric_difference(SEGMENTS[row.segment_id]).area < 1e-6
    assert set(frame["class"]) == set(NAMES.values())  # quote and non-ASCII kept
    with sqlite3.connect(path) as conn:
        styles = conn.execute("SELECT f_table_name, useAsDefault, styleQML FROM layer_styles").fetchall()
    assert len(styles) == 1 and styles[0][:2] == ("exp_map", 1)
    categories = ET.fromstring(styles[0][2].split("\n", 1)[1]).findall(".//category")
    assert [(int(c.get("value")), c.get("label")) for c in categories] == [(c, n) for c, n, _ in LEGEND]


def test_region_clip_and_dissolve(runner, env, exp, tmp_path):
    inside = {i for i, g in PREDICTED.items() if g.intersects(exp)}
    assert 0 < len(inside) < len(PREDICTED) // 2 + N
    result = export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "r.gpkg", "-region", "exp_half")
    assert result.exit_code == 0, result.output
    assert set(pyogrio.read_dataframe(tmp_path / "r.gpkg", layer="exp_map").segment_id) == inside

    result = export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "c.gpkg", "-region", "exp_half", "--clip")
    assert result.exit_code == 0, result.output
    clipped = pyogrio.read_dataframe(tmp_path / "c.gpkg", layer="exp_map")
    assert set(clipped.segment_id) == inside and clipped.geometry.is_valid.all()
    assert (clipped.area_m2 <= clipped.segment_id.map(lambda i: SEGMENTS[i].area) + 1e-6).all()
    assert np.allclose(clipped.area_m2, clipped.geometry.area)
    cut = clipped[clipped.area_m2 < clipped.segment_id.map(lambda i: SEGMENTS[i].area) - 1]
    assert len(cut) == N  # the squares of column 6, halved
    assert np.allclose(cut.area_m2, S * S / 2, rtol=1e-3)
    assert unary_union(clipped.geometry).difference(exp.buffer(1e-6)).area < 1e-6

    result = export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "d.gpkg", "--dissolve")
    assert result.exit_code == 0, result.output
    dissolved = pyogrio.read_dataframe(tmp_path / "d.gpkg", layer="exp_map").set_index("code")
    assert list(dissolved.columns) == ["class", "objects", "area_m2", "confidence", "geometry"]
    for code, name, _ in LEGEND:
        ids = [i for i in PREDICTED if CODE[i] == code]
        area = sum(SEGMENTS[i].area for i in ids)
        row = dissolved.loc[code]
        assert (row["class"], row.objects) == (name, len(ids))
        assert row.area_m2 == pytest.approx(area) and row.geometry.area == pytest.approx(area)
        assert row.confidence == pytest.approx(sum(CONF[i] * SEGMENTS[i].area for i in ids) / area)
        assert row.geometry.is_valid and row.geometry.geom_type == "MultiPolygon"


@pytest.mark.parametrize("suffix, driver", [(".shp", "ESRI Shapefile"), (".fgb", "FlatGeobuf"), (".geojson", "GeoJSON")])
def test_other_formats_with_qml_sidecar(runner, env, exp, tmp_path, suffix, driver):
    path = tmp_path / f"map{suffix}"
    result = export(runner, env, "db_to_vector", "-n", "exp_map", "-f", path)
    assert result.exit_code == 0, result.output
    assert f"({driver})" in result.stdout and str(tmp_path / "map.qml") in result.stdout
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]
    frame = pyogrio.read_dataframe(path)
    assert len(frame) == len(PREDICTED) and frame.geometry.is_valid.all()
    assert dict(zip(frame.segment_id, frame["class"])) == {i: NAMES[c] for i, c in CODE.items()}
    qml = ET.fromstring((tmp_path / "map.qml").read_text(encoding="utf-8").split("\n", 1)[1])
    assert qml.find("renderer-v2").get("attr") == "code"
    assert [int(c.get("value")) for c in qml.findall(".//category")] == [1, 2, 7]


def test_crs_4326_in_degrees(runner, env, exp, tmp_path):
    result = export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "g.geojson", "--crs", "4326")
    assert result.exit_code == 0, result.output
    frame = pyogrio.read_dataframe(tmp_path / "g.geojson")
    minx, miny, maxx, maxy = frame.total_bounds
    assert 13.5 < minx < maxx < 14.0 and 52.3 < miny < maxy < 52.4
    back = frame.to_crs("EPSG:32633").set_index("segment_id")
    for i in (1, 100, 199):
        assert back.geometry[i].symmetric_difference(SEGMENTS[i]).area < 1e-3 * SEGMENTS[i].area
    assert np.allclose(frame.area_m2, [SEGMENTS[i].area for i in frame.segment_id])  # metres, not degrees


def test_existing_file_refused_then_overwritten(runner, env, exp, tmp_path):
    path = tmp_path / "map.shp"
    assert export(runner, env, "db_to_vector", "-n", "exp_map", "-f", path).exit_code == 0
    before = path.read_bytes()
    (tmp_path / "map.qix").write_bytes(b"stale index")
    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", path, "-region", "exp_half"))
    assert "exists; use --overwrite" in line and path.read_bytes() == before
    result = export(runner, env, "db_to_vector", "-n", "exp_map", "-f", path, "-region", "exp_half", "--overwrite")
    assert result.exit_code == 0, result.output
    assert len(pyogrio.read_dataframe(path)) == len([g for g in PREDICTED.values() if g.intersects(exp)])
    assert not (tmp_path / "map.qix").exists()  # a stale part of the old Shapefile is removed
    assert sorted(os.listdir(tmp_path)) == ["map.cpg", "map.dbf", "map.prj", "map.qml", "map.shp", "map.shx"]


def test_style_sidecar_of_another_file_not_replaced_silently(runner, env, exp, tmp_path):
    assert export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "map.fgb").exit_code == 0
    vector_style = (tmp_path / "map.qml").read_text(encoding="utf-8")
    line = one_error_line(export(runner, env, "db_to_raster", "-n", "exp_map", "-f", tmp_path / "map.tif",
                                 "--resolution", "10"))
    assert str(tmp_path / "map.qml") in line and "--overwrite" in line
    assert sorted(os.listdir(tmp_path)) == ["map.fgb", "map.qml"]
    assert (tmp_path / "map.qml").read_text(encoding="utf-8") == vector_style
    result = export(runner, env, "db_to_raster", "-n", "exp_map", "-f", tmp_path / "map.tif", "--resolution", "10",
                    "--overwrite")
    assert result.exit_code == 0, result.output
    assert "<rasterrenderer" in (tmp_path / "map.qml").read_text(encoding="utf-8")


def test_unwritable_or_missing_directory(runner, env, exp, tmp_path):
    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "no" / "map.gpkg"))
    assert "does not exist" in line and not (tmp_path / "no").exists()
    line = one_error_line(export(runner, env, "db_to_raster", "-n", "exp_map", "-f", "/proc/exp_map.tif", "--resolution", 10))
    assert "cannot write /proc/exp_map.tif" in line and "not writable" in line
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", locked / "m.gpkg"))
        assert "not writable" in line and not os.listdir(locked)


def test_bad_inputs_are_one_line(runner, env, exp, tmp_path):
    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_nope", "-f", tmp_path / "m.gpkg"))
    assert "classification 'exp_nope' does not exist" in line and "exp_map" in line
    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "m.gpkg", "-region", "exp_x"))
    assert "region 'exp_x' is not registered" in line and "exp_half" in line
    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "m.gpkg", "-d", "KML"), 2)
    assert "'KML' is not a supported driver" in line and "FlatGeobuf" in line
    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "m.csv"), 2)
    assert ".gpkg" in line
    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "m.gpkg", "--clip"), 2)
    assert "--clip needs -region" in line
    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "m.gpkg", "--crs", "utm"), 2)
    assert "EPSG code" in line
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("suffix", [".gpkg", ".fgb"])
def test_batches_give_the_same_file(settings, exp, tmp_path, monkeypatch, suffix):
    import pyogrio.raw

    from antares.pipeline.export import db_to_vector

    calls = []
    real = pyogrio.raw.write
    monkeypatch.setattr(pyogrio.raw, "write", lambda path, geometry, *a, **k: (calls.append(len(geometry)),
                                                                              real(path, geometry, *a, **k)))
    one = db_to_vector(settings, "exp_map", tmp_path / f"one{suffix}")
    assert calls == [len(PREDICTED)]
    calls.clear()
    many = db_to_vector(settings, "exp_map", tmp_path / f"many{suffix}", batch_size=50)
    assert calls == [50, 50, 50, len(PREDICTED) - 150]
    assert one.features == many.features == len(PREDICTED)
    a, b = (pyogrio.read_dataframe(r.path, layer="exp_map") for r in (one, many))
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert a.geometry.geom_equals_exact(b.geometry, 0).all()


def _expected_raster(src, ids, values, dtype):
    return rasterize([(SEGMENTS[i], values[i]) for i in ids], out_shape=src.shape, transform=src.transform,
                     fill=0, dtype=dtype)


def test_raster_cog_in_windows_equals_one_rasterize(settings, exp, tmp_path):
    """gdal_rasterize window by window (objects clipped to each window) equals rasterio's rasterize of the whole."""
    from antares.pipeline.export import db_to_raster

    path = tmp_path / "map.tif"
    report = db_to_raster(settings, "exp_map", path, resolution=5, window=256, confidence=True)
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32633 and src.res == (5, 5) and src.dtypes == ("uint8",) and src.nodata == 0
        assert src.width > 1024 and src.height > 768  # several 256-pixel windows a side
        assert src.bounds.left == 400000 and src.bounds.top % 5 == 0
        assert src.profile["tiled"] and src.block_shapes == [(512, 512)]
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and src.overviews(1)
        colours = src.colormap(1)
        for code, _, colour in LEGEND:
            assert colours[code] == tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5)) + (255,)
        data = src.read(1)
        assert np.array_equal(data, _expected_raster(src, PREDICTED, CODE, "uint8"))
    assert report.features == np.count_nonzero(data) and report.classes == {1, 2, 7}
    assert sorted(os.listdir(tmp_path)) == ["map.qml", "map.tif", "map_confidence.tif"]
    qml = ET.fromstring((tmp_path / "map.qml").read_text(encoding="utf-8").split("\n", 1)[1])
    assert [int(e.get("value")) for e in qml.iter("paletteEntry")] == [1, 2, 7]
    with rasterio.open(tmp_path / "map_confidence.tif") as src:
        conf = src.read(1)
        expected = rasterize([(SEGMENTS[i], CONF[i]) for i in PREDICTED], out_shape=src.shape,
                             transform=src.transform, fill=np.nan, dtype="float32")
        assert src.dtypes == ("float32",) and np.array_equal(conf, expected, equal_nan=True)


def test_raster_cli_region_crs_and_uint16(runner, env, exp, tmp_path):
    path = tmp_path / "half.tif"
    result = export(runner, env, "db_to_raster", "-n", "exp_map", "-f", path, "--resolution", 10, "-region", "exp_half")
    assert result.exit_code == 0, result.output
    assert str(path) in result.stdout and "(COG" in result.stdout
    with rasterio.open(path) as src:
        inside = [i for i, g in PREDICTED.items() if g.intersects(exp)]
        expected = _expected_raster(src, inside, CODE, "uint8")
        expected[geometry_mask([exp], out_shape=src.shape, transform=src.transform)] = 0
        assert np.array_equal(src.read(1), expected)
        assert src.bounds.left <= exp.bounds[0] and src.bounds.right >= exp.bounds[2]

    result = export(runner, env, "db_to_raster", "-n", "exp_map", "-f", tmp_path / "g.tif", "--resolution", 0.0001,
                    "--crs", "EPSG:4326")
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "g.tif") as src:
        assert src.crs.to_epsg() == 4326 and 13.5 < src.bounds.left < src.bounds.right < 14.0
        assert set(np.unique(src.read(1))) == {0, 1, 2, 7}

    result = export(runner, env, "db_to_raster", "-n", "exp_map16", "-f", tmp_path / "u16.tif", "--resolution", 10)
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "u16.tif") as src:
        assert src.dtypes == ("uint16",) and src.colormap(1)[300] == (0, 0, 255, 255)
        assert np.array_equal(src.read(1), _expected_raster(src, PREDICTED, {i: (1, 300)[i % 2] for i in PREDICTED},
                                                            "uint16"))
    line = one_error_line(export(runner, env, "db_to_raster", "-n", "exp_map", "-f", path, "--resolution", 10))
    assert "exists; use --overwrite" in line
    line = one_error_line(export(runner, env, "db_to_raster", "-n", "exp_map", "-f", tmp_path / "z.tif",
                                 "--resolution", 0), 2)
    assert "--resolution must be" in line


def test_raster_without_gdal_rasterize_is_one_line_and_writes_nothing(runner, env, exp, tmp_path, monkeypatch):
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))  # no GDAL tools
    out = tmp_path / "out"
    out.mkdir()
    line = one_error_line(export(runner, env, "db_to_raster", "-n", "exp_map", "-f", out / "map.tif", "--resolution", 10))
    assert "gdal_rasterize" in line and "gdal-bin" in line
    assert os.listdir(out) == []


def test_raster_database_unreachable_for_gdal_is_one_line(settings, exp, tmp_path, monkeypatch):
    """A database GDAL cannot reach (here: a wrong password in PGPASSWORD) fails the command in one line, nothing kept."""
    import antares.pipeline.export as export_module
    from antares.errors import ConnectionLostError

    real = export_module._gdal_source

    def wrong_password(url):
        conninfo, environ = real(url)
        return conninfo, dict(environ, PGPASSWORD="not-the-password")

    monkeypatch.setattr(export_module, "_gdal_source", wrong_password)
    with pytest.raises(ConnectionLostError) as info:
        export_module.db_to_raster(settings, "exp_map", tmp_path / "map.tif", resolution=10)
    message = str(info.value)
    assert "\n" not in message and "password" in message and "not-the-password" not in message
    assert os.listdir(tmp_path) == []


def test_generate_style(runner, env, exp, tmp_path):
    for kind in ("vector", "raster"):
        path = tmp_path / f"{kind}.qml"
        result = export(runner, env, "generate_style", "exp_scheme", "--type", kind, "-f", path)
        assert result.exit_code == 0, result.output
        root = ET.fromstring(path.read_text(encoding="utf-8").split("\n", 1)[1])
        if kind == "vector":
            assert root.find("renderer-v2").get("attr") == "code"
            entries = [(int(c.get("value")), c.get("label")) for c in root.iter("category")]
        else:
            entries = [(int(e.get("value")), e.get("label")) for e in root.iter("paletteEntry")]
        assert entries == [(c, n) for c, n, _ in LEGEND]
    printed = export(runner, env, "generate_style", "exp_scheme", "--type", "raster", "-f", "-")
    assert printed.exit_code == 0 and printed.stdout == (tmp_path / "raster.qml").read_text(encoding="utf-8")
    line = one_error_line(export(runner, env, "generate_style", "exp_scheme", "-f", tmp_path / "vector.qml"))
    assert "exists; use --overwrite" in line
    line = one_error_line(export(runner, env, "generate_style", "exp_nope", "-f", tmp_path / "x.qml"))
    assert "class scheme 'exp_nope' does not exist" in line and "exp_scheme" in line


GRID_ORIGIN = (399995.5, 5806002.5)  # a product grid whose lines are not on multiples of 10 m


@pytest.fixture(scope="module")
def grid_map(settings, exp, tmp_path_factory):
    """Classification exp_grid_map: exp_map's predictions on a segmentation of an indexed product (exp_grid_product)
    whose 10 m grid starts at GRID_ORIGIN."""
    import uuid

    from odc.geo.geobox import GeoBox

    from antares.cube.index import add_dataset_documents, add_product, connect
    from antares.cube.write import eo3_document

    files = tmp_path_factory.mktemp("grid_product")
    geobox = GeoBox((800, 700), Affine(10, 0, GRID_ORIGIN[0], 0, -10, GRID_ORIGIN[1]), "EPSG:32633")
    dc = connect(settings.db_url)
    try:
        add_product(dc, {"name": "exp_grid_product", "description": "a 10 m grid off multiples of 10 m",
                         "metadata_type": "eo3", "metadata": {"product": {"name": "exp_grid_product"}},
                         "measurements": [{"name": "segment_id", "dtype": "int64", "nodata": 0, "units": "1"}]})
        doc = eo3_document(uuid.uuid5(uuid.NAMESPACE_URL, "exp_grid_product"), "exp_grid_product", geobox,
                           {"segment_id": (files / "labels.tif").as_uri()}, {"datetime": "2020-01-01T00:00:00"})
        added, existing, failures = add_dataset_documents(dc, [doc])
        assert not failures and added + existing == 1
    finally:
        dc.close()
    engine = sa.create_engine(settings.db_url)
    q = sa.text
    with engine.begin() as conn:
        conn.execute(q("DELETE FROM antares.classification WHERE name = 'exp_grid_map'"))
        conn.execute(q("DELETE FROM antares.segmentation WHERE name = 'exp_grid_seg'"))
        seg = conn.execute(q("INSERT INTO antares.segmentation (name, product, algorithm, crs, n_segments) "
                             "VALUES ('exp_grid_seg', 'exp_grid_product', 'test', 'EPSG:32633', :n) RETURNING id"),
                           {"n": len(SEGMENTS)}).scalar()
        conn.execute(q("INSERT INTO antares.segment (segmentation_id, segment_id, geom, area_m2, pixel_count) "
                       "SELECT :seg, s.segment_id, s.geom, s.area_m2, s.pixel_count FROM antares.segment s "
                       "JOIN antares.segmentation g ON g.id = s.segmentation_id WHERE g.name = 'exp_seg'"), {"seg": seg})
        model = conn.execute(q("SELECT id FROM antares.model WHERE name = 'exp_model'")).scalar()
        cid = conn.execute(q("INSERT INTO antares.classification (name, segmentation_id, model_id) "
                             "VALUES ('exp_grid_map', :s, :m) RETURNING id"), {"s": seg, "m": model}).scalar()
        conn.execute(q("INSERT INTO antares.prediction (classification_id, segment_id, class_code, confidence, entropy)"
                       " VALUES (:c, :i, :k, :conf, :ent)"),
                     [{"c": cid, "i": i, "k": CODE[i], "conf": CONF[i], "ent": 1.01 - CONF[i]} for i in PREDICTED])
    engine.dispose()
    return geobox


def _gdal_rasterize_reference(src, tmp_path):
    """gdal_rasterize of the predicted polygons (a GeoPackage) on the output's own -te/-ts: an independent burn."""
    import subprocess

    polygons = tmp_path / "reference.gpkg"
    gpd.GeoDataFrame({"code": [CODE[i] for i in PREDICTED]}, geometry=[PREDICTED[i] for i in PREDICTED],
                     crs="EPSG:32633").to_file(polygons, layer="objects")
    left, bottom, right, top = src.bounds
    out = tmp_path / "reference.tif"
    subprocess.run(["gdal_rasterize", "-q", "-a", "code", "-l", "objects", "-te", repr(left), repr(bottom), repr(right),
                    repr(top), "-ts", str(src.width), str(src.height), "-ot", "Byte", "-init", "0", str(polygons),
                    str(out)], check=True)
    with rasterio.open(out) as ref:
        assert ref.transform.almost_equals(src.transform, precision=1e-6)
        return ref.read(1)


@pytest.mark.parametrize("resolution", [10, 20])
def test_raster_of_a_product_lies_on_its_grid(settings, grid_map, tmp_path, resolution):
    """On the segmented product's CRS the COG's pixel edges are the product's grid lines (its very pixels at 10 m),
    and its pixels equal gdal_rasterize of the same polygons; the objects' extent is covered by the fewest pixels."""
    from antares.pipeline.export import db_to_raster

    path = tmp_path / "grid.tif"
    db_to_raster(settings, "exp_grid_map", path, resolution=resolution)
    with rasterio.open(path) as src:
        t = src.transform
        assert src.crs.to_epsg() == 32633 and src.res == (resolution, resolution)
        col, row = (~grid_map.affine) * (t.c, t.f)
        assert abs(col - round(col)) < 1e-9 and abs(row - round(row)) < 1e-9  # the product's grid lines
        xmin, ymin, xmax, ymax = unary_union(list(PREDICTED.values())).bounds
        assert t.c <= xmin < t.c + resolution and t.f - resolution < ymax <= t.f
        left, bottom, right, top = src.bounds
        assert right - resolution < xmax <= right and bottom <= ymin < bottom + resolution
        data = src.read(1)
        assert np.array_equal(data, _gdal_rasterize_reference(src, tmp_path))
        assert np.array_equal(data, _expected_raster(src, PREDICTED, CODE, "uint8"))
        assert set(np.unique(data)) == {0, 1, 2, 7}


def test_raster_of_a_product_in_another_crs_keeps_multiples_of_the_resolution(runner, env, grid_map, tmp_path):
    """--crs other than the product's: pixel edges on multiples of --resolution, as before."""
    path = tmp_path / "g.tif"
    result = export(runner, env, "db_to_raster", "-n", "exp_grid_map", "-f", path, "--resolution", 0.0001, "--crs", 4326)
    assert result.exit_code == 0, result.output
    with rasterio.open(path) as src:
        t = src.transform
        assert src.crs.to_epsg() == 4326
        assert abs(t.c / 0.0001 - round(t.c / 0.0001)) < 1e-6 and abs(t.f / 0.0001 - round(t.f / 0.0001)) < 1e-6


@pytest.fixture(scope="module")
def stored_grid_map(settings, grid_map):
    """Classification exp_sgrid_map: exp_grid_map's objects and predictions on a segmentation that holds its grid
    (as ``segment`` stores it since migration 0006) and whose products are not in the ODC index."""
    from antares.cube.grid import grid_record

    engine = sa.create_engine(settings.db_url)
    q = sa.text
    with engine.begin() as conn:
        conn.execute(q("DELETE FROM antares.classification WHERE name = 'exp_sgrid_map'"))
        conn.execute(q("DELETE FROM antares.segmentation WHERE name = 'exp_sgrid_seg'"))
        seg = conn.execute(q("INSERT INTO antares.segmentation (name, product, algorithm, crs, n_segments, grid) "
                             "VALUES ('exp_sgrid_seg', 'exp_not_indexed', 'test', 'EPSG:32633', :n, CAST(:g AS jsonb)) "
                             "RETURNING id"), {"n": len(SEGMENTS), "g": json.dumps(grid_record(grid_map))}).scalar()
        conn.execute(q("INSERT INTO antares.segment (segmentation_id, segment_id, geom, area_m2, pixel_count) "
                       "SELECT :seg, s.segment_id, s.geom, s.area_m2, s.pixel_count FROM antares.segment s "
                       "JOIN antares.segmentation g ON g.id = s.segmentation_id WHERE g.name = 'exp_seg'"), {"seg": seg})
        model = conn.execute(q("SELECT id FROM antares.model WHERE name = 'exp_model'")).scalar()
        cid = conn.execute(q("INSERT INTO antares.classification (name, segmentation_id, model_id) "
                             "VALUES ('exp_sgrid_map', :s, :m) RETURNING id"), {"s": seg, "m": model}).scalar()
        conn.execute(q("INSERT INTO antares.prediction (classification_id, segment_id, class_code, confidence, entropy)"
                       " VALUES (:c, :i, :k, :conf, :ent)"),
                     [{"c": cid, "i": i, "k": CODE[i], "conf": CONF[i], "ent": 1.01 - CONF[i]} for i in PREDICTED])
    engine.dispose()
    return grid_map


@pytest.mark.parametrize("resolution", [10, 20, 30])
def test_raster_on_the_stored_grid_equals_the_one_on_the_indexed_grid(settings, stored_grid_map, tmp_path, resolution):
    """The grid stored with the segmentation gives the same COG (transform and pixels) as the ODC lookup of the
    product's grid that segmentations without one still use; the products are not indexed, so only the stored grid
    can put the pixel edges on the product's grid lines (off multiples of the resolution)."""
    from antares.pipeline.export import db_to_raster

    db_to_raster(settings, "exp_grid_map", tmp_path / "indexed.tif", resolution=resolution)
    db_to_raster(settings, "exp_sgrid_map", tmp_path / "stored.tif", resolution=resolution)
    with rasterio.open(tmp_path / "indexed.tif") as a, rasterio.open(tmp_path / "stored.tif") as b:
        assert a.transform == b.transform and a.shape == b.shape and a.crs == b.crs
        assert np.array_equal(a.read(1), b.read(1))
        col, row = (~stored_grid_map.affine) * (b.transform.c, b.transform.f)
        assert abs(col - round(col)) < 1e-9 and abs(row - round(row)) < 1e-9  # the product's grid lines
        assert b.transform.c % resolution != 0  # not snapped to multiples of the resolution (GRID_ORIGIN is off them)


def test_raster_on_a_stored_grid_imports_no_datacube(settings, stored_grid_map, tmp_path):
    """db_to_raster of a segmentation with its grid stored neither imports datacube nor connects to the ODC index
    (the import alone costs seconds per command); the CLI in a fresh interpreter."""
    import subprocess
    import sys

    script = ("import sys\nfrom antares.cli.main import main\n"
              "try:\n    main([\"db_to_raster\", \"-n\", \"exp_sgrid_map\", \"-f\", sys.argv[1], \"--resolution\", \"10\"])\n"
              "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'datacube'))\n")
    env = dict(os.environ, ANTARES_DB_URL=settings.db_url)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "s.tif")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s.tif").exists()
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_bbox_and_lat_long_areas_filter_clip_and_cover_like_a_region(runner, env, exp, tmp_path):
    """--bbox (any CRS) and -lat/-long on db_to_vector and db_to_raster, against shapely and rasterio (issue 23)."""
    from pyproj import Transformer

    zone = box(X0 + 2.5 * S, Y0 + 2.5 * S, X0 + 5.5 * S, Y0 + 7.5 * S)  # edges through the middle of squares
    inside = {i for i, g in PREDICTED.items() if g.intersects(zone)}
    result = export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "b.gpkg", "--bbox", *zone.bounds,
                    "--bbox-crs", "EPSG:32633", "--clip")
    assert result.exit_code == 0, result.output
    clipped = pyogrio.read_dataframe(tmp_path / "b.gpkg", layer="exp_map")
    assert set(clipped.segment_id) == inside and len(inside) == 4 * 6 - 1  # segment 74 has no prediction
    expected = clipped.segment_id.map(lambda i: SEGMENTS[i].intersection(zone).area)
    assert np.allclose(clipped.area_m2, expected) and np.allclose(clipped.geometry.area, expected)

    # -lat/-long: the degrees box (densified, transformed by geopandas) picks the same objects
    to_degrees = Transformer.from_crs(32633, 4326, always_xy=True)
    (w, e), (s, n) = to_degrees.transform([zone.bounds[0], zone.bounds[2]], [zone.bounds[1], zone.bounds[3]])
    lat, long = (s, n), (w, e)
    degrees = gpd.GeoSeries([box(w, s, e, n).segmentize(1e-4)], crs="EPSG:4326").to_crs("EPSG:32633").iloc[0]
    in_degrees = {i for i, g in PREDICTED.items() if g.intersects(degrees)}
    result = export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "l.gpkg", "-lat", *lat, "-long", *long)
    assert result.exit_code == 0, result.output
    assert set(pyogrio.read_dataframe(tmp_path / "l.gpkg", layer="exp_map").segment_id) == in_degrees

    path = tmp_path / "b.tif"
    result = export(runner, env, "db_to_raster", "-n", "exp_map", "-f", path, "--resolution", 10, "--bbox", *zone.bounds,
                    "--bbox-crs", "32633")
    assert result.exit_code == 0, result.output
    with rasterio.open(path) as src:
        raster = _expected_raster(src, inside, CODE, "uint8")
        raster[geometry_mask([zone], out_shape=src.shape, transform=src.transform)] = 0
        assert np.array_equal(src.read(1), raster)
        assert src.bounds.left <= zone.bounds[0] and src.bounds.right >= zone.bounds[2]

    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "x.gpkg", "-region",
                                 "exp_half", "--bbox", *zone.bounds), 2)
    assert "exactly one of -region NAME, --bbox" in line
    line = one_error_line(export(runner, env, "db_to_vector", "-n", "exp_map", "-f", tmp_path / "x.gpkg", "--clip"), 2)
    assert "--clip needs -region or --bbox/-lat -long" in line
