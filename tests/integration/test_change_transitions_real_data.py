"""Labelled change objects and transition matrices against an independent geopandas overlay (areas to 0.1 %).

Two classifications of the Romania area are stored in the database as antares stores them (segmentation,
segments, model, predictions): 2018 on a grid of 100 m cells and 2020 on a grid of 125 m cells, each cell
classed forest or open land from the real Tree Cover Density 2018 (threshold 60 % and 75 %), so that the two
maps differ and their objects do not line up.
"""

import pytest
import rasterio
from shapely.geometry import MultiPolygon, box

from helpers import db_rows, invoke_ok

X0, Y1, SIDE = 5271982.5766, 2533004.2149, 1000.0
FOREST, OPEN = 1, 2


def _cells(step, tcd, threshold):
    """(geometry, class) of square cells of ``step`` m: forest where the cell's mean tree cover >= threshold."""
    out = []
    n = int(round(SIDE / step))
    for i in range(n):
        for j in range(n):
            x0, y1 = X0 + j * step, Y1 - i * step
            rows = slice(int(i * step / 20), int((i + 1) * step / 20))
            cols = slice(int(j * step / 20), int((j + 1) * step / 20))
            values = tcd[rows, cols]
            mean = values[values != 255].mean()
            out.append((box(x0, y1 - step, x0 + step, y1), FOREST if mean >= threshold else OPEN))
    return out


def _store_classification(settings, name, scheme_id, cells):
    import sqlalchemy as sa
    from geoalchemy2.shape import from_shape

    from antares.db.engine import session_scope
    from antares.db.schema import Classification, Model, Prediction, Segment, Segmentation

    with session_scope(settings) as session:
        seg = session.scalar(sa.insert(Segmentation).values(name=f"{name}_seg", product="test", algorithm="grid",
                                                            crs="EPSG:3035", n_segments=len(cells)).returning(Segmentation.id))
        session.execute(sa.insert(Segment), [
            {"segmentation_id": seg, "segment_id": k + 1, "geom": from_shape(MultiPolygon([g]), srid=3035),
             "area_m2": g.area, "pixel_count": int(g.area / 100)} for k, (g, _) in enumerate(cells)])
        model = session.scalar(sa.insert(Model).values(name=f"{name}_model", kind="rf", scheme_id=scheme_id,
                                                       product="test", blob=b"-").returning(Model.id))
        cid = session.scalar(sa.insert(Classification).values(name=name, segmentation_id=seg, model_id=model)
                             .returning(Classification.id))
        session.execute(sa.insert(Prediction), [
            {"classification_id": cid, "segment_id": k + 1, "class_code": c, "confidence": 1.0, "entropy": 0.0}
            for k, (_, c) in enumerate(cells)])


@pytest.fixture(scope="module")
def maps(settings, data_dir):
    import geopandas as gpd

    from antares.db.engine import session_scope
    from antares.db.training import create_scheme
    from antares.legend import LegendEntry

    with rasterio.open(data_dir / "nrt-romania-s2l2a/labels/tree_cover_density_2018_20m.tif") as src:
        tcd = src.read(1)
    pre, post = _cells(100.0, tcd, 60), _cells(125.0, tcd, 75)
    # the module-scoped fixture is also imported by test_view_change_real_data (same session database):
    # the maps are stored once
    if not db_rows(settings.db_url, "SELECT id FROM antares.class_scheme WHERE name = 'chg_forest'"):
        with session_scope(settings) as session:
            scheme = create_scheme(session, "chg_forest", [LegendEntry(FOREST, "forest", "#228b22"),
                                                           LegendEntry(OPEN, "open land", "#f5deb3")])
        _store_classification(settings, "chg_map_2018", scheme, pre)
        _store_classification(settings, "chg_map_2020", scheme, post)
    frames = [gpd.GeoDataFrame({"code": [c for _, c in cells]}, geometry=[g for g, _ in cells], crs="EPSG:3035")
              for cells in (pre, post)]
    return frames


def test_matrix_of_two_classifications_equals_a_geopandas_overlay(maps, settings, runner):
    import json

    import geopandas as gpd

    env = {"ANTARES_DB_URL": settings.db_url}
    result = invoke_ok(runner, ["change_matrix", "--pre", "chg_map_2018", "--post", "chg_map_2020", "--json"], env)
    got = json.loads(result.output)
    pieces = gpd.overlay(maps[0].rename(columns={"code": "pre"}), maps[1].rename(columns={"code": "post"}),
                         how="intersection", keep_geom_type=True)
    pieces["ha"] = pieces.area / 1e4
    expected = pieces.groupby(["pre", "post"])["ha"].sum()
    assert got["codes"] == [FOREST, OPEN] and got["classes"] == ["forest", "open land"]
    for i, pre in enumerate(got["codes"]):
        for j, post in enumerate(got["codes"]):
            assert got["hectares"][i][j] == pytest.approx(expected.get((pre, post), 0.0), rel=1e-3, abs=1e-9)
    assert got["total_ha"] == pytest.approx(100.0, rel=1e-3)  # the 1 km² area, once
    assert expected.get((FOREST, OPEN), 0) > 1 and expected.get((FOREST, FOREST), 0) > 1  # the test means something
    text = invoke_ok(runner, ["change_matrix", "--pre", "chg_map_2018", "--post", "chg_map_2020"], env).output
    assert "forest" in text and "changed (off the diagonal)" in text


def test_change_objects_carry_majority_classes(maps, settings, runner, chg_product):
    import geopandas as gpd
    import shapely.wkb

    env = {"ANTARES_DB_URL": settings.db_url}
    base = ["detect_change", "-a", "distance", "-p_pre", "chg_ro", "-p_post", "chg_ro", "-y_pre", "2018",
            "-y_post", "2020", "-b", "B08", "-b", "B11", "--bbox", "22.140", "45.195", "22.166", "45.215",
            "-lc_pre", "chg_map_2018", "-lc_post", "chg_map_2020", "-extra", "threshold=otsu"]
    invoke_ok(runner, base + ["-n", "chg_lab_all", "--no-label-filter"], env)
    rows = db_rows(settings.db_url, "SELECT o.object_id, o.pre_class, o.post_class, o.class_tie, o.area_m2, "
                   "ST_AsBinary(o.geom) FROM antares.change_object o JOIN antares.change_detection d "
                   "ON d.id = o.change_id WHERE d.name = 'chg_lab_all' ORDER BY 1")
    assert len(rows) > 5
    objects = gpd.GeoDataFrame({"object_id": [r[0] for r in rows]},
                               geometry=[shapely.wkb.loads(bytes(r[5])) for r in rows], crs="EPSG:3035")
    for side, frame in ((1, maps[0]), (2, maps[1])):
        pieces = gpd.overlay(objects, frame, how="intersection", keep_geom_type=True)
        pieces["a"] = pieces.area
        areas = pieces.groupby(["object_id", "code"])["a"].sum().unstack(fill_value=0.0)
        for r in rows:
            by_class = areas.loc[r[0]]
            best = by_class.max()
            tied = sorted(int(c) for c, v in by_class.items() if v >= best * (1 - 1e-9))
            assert r[side] == tied[0], (r[0], side, by_class.to_dict())
    same = sum(1 for r in rows if r[1] == r[2])
    assert 0 < same < len(rows)
    result = invoke_ok(runner, base + ["-n", "chg_lab"], env)
    assert f"{same} object(s) whose class did not change dropped" in result.output
    kept = db_rows(settings.db_url, "SELECT o.pre_class, o.post_class, o.area_m2 FROM antares.change_object o "
                   "JOIN antares.change_detection d ON d.id = o.change_id WHERE d.name = 'chg_lab'")
    assert len(kept) == len(rows) - same and all(pre != post for pre, post, _ in kept)
    import json

    matrix = json.loads(invoke_ok(runner, ["change_matrix", "-n", "chg_lab", "--json"], env).output)
    total = {}
    for pre, post, area in kept:
        total[(pre, post)] = total.get((pre, post), 0.0) + area / 1e4
    for i, pre in enumerate(matrix["codes"]):
        for j, post in enumerate(matrix["codes"]):
            assert matrix["hectares"][i][j] == pytest.approx(total.get((pre, post), 0.0), rel=1e-9, abs=1e-12)


@pytest.fixture(scope="module")
def chg_product(settings, data_dir, tmp_path_factory):
    """The two clear Romania dates as product chg_ro (indexed unless another module did it already)."""
    import shutil

    from click.testing import CliRunner

    from antares.cli.main import cli

    env = {"ANTARES_DB_URL": settings.db_url}
    listed = CliRunner().invoke(cli, ["list", "products"], env=env).output
    if "chg_ro " in listed:
        return "chg_ro"
    root = tmp_path_factory.mktemp("chg_ro_t")
    for day in ("2018-08-25", "2020-08-29"):
        for res in ("10m", "20m"):
            shutil.copytree(data_dir / "nrt-romania-s2l2a/geotiff" / res / day, root / res / day)
    result = CliRunner().invoke(cli, ["index", "--path", str(root), "--dataset_name", "s2_bands", "--product", "chg_ro",
                                      "--no-verify"], env=env)
    assert result.exit_code == 0 and "2 dataset(s) indexed" in result.output, result.output
    return "chg_ro"


def test_bad_transition_input(maps, settings, runner, chg_product):
    from antares.cli.main import cli

    env = {"ANTARES_DB_URL": settings.db_url}
    scheme = db_rows(settings.db_url, "SELECT id FROM antares.class_scheme WHERE name = 'chg_forest'")[0][0]
    elsewhere = [(box(X0 + 1e5, Y1 - 1e5 - 100, X0 + 1e5 + 100, Y1 - 1e5), FOREST)]  # 100 km away
    _store_classification(settings, "chg_map_elsewhere", scheme, elsewhere)
    result = runner.invoke(cli, ["detect_change", "-a", "distance", "-n", "chg_bad_lc", "-p_pre", "chg_ro",
                                 "-p_post", "chg_ro", "-y_pre", "2018", "-y_post", "2020", "-b", "B08", "--bbox",
                                 "22.140", "45.195", "22.166", "45.215", "-lc_pre", "chg_map_2018",
                                 "-lc_post", "chg_map_elsewhere"], env=env)
    assert result.exit_code == 1, result.output
    assert "-lc_post chg_map_elsewhere has no object in the area of the change detection" in result.output
    assert not db_rows(settings.db_url, "SELECT 1 FROM antares.change_detection WHERE name = 'chg_bad_lc'")
    for args, code, fragment in (
            (["--pre", "chg_map_2018"], 2, "give either -n CHANGE"),
            (["--pre", "chg_map_2018", "--post", "nope"], 1, "--post nope: no such classification"),
            (["-n", "nope"], 1, "change detection 'nope' does not exist")):
        result = runner.invoke(cli, ["change_matrix", *args], env=env)
        assert result.exit_code == code and fragment in result.output, result.output


def test_db_to_raster_of_a_change_detection_equals_gdal_rasterize_of_its_export(maps, settings, runner, chg_product,
                                                                                 tmp_path):
    """Transition codes burnt from PostGIS equal gdal_rasterize (the command-line tool) of the db_to_vector export
    with the codes computed here from its pre/post classes; colour table and legend "forest → open land"."""
    import subprocess

    import geopandas as gpd
    import numpy as np

    env = {"ANTARES_DB_URL": settings.db_url}
    invoke_ok(runner, ["detect_change", "-a", "distance", "-p_pre", "chg_ro", "-p_post", "chg_ro", "-y_pre", "2018",
                       "-y_post", "2020", "-b", "B08", "-b", "B11", "--bbox", "22.140", "45.195", "22.166", "45.215",
                       "-lc_pre", "chg_map_2018", "-lc_post", "chg_map_2020", "-extra", "threshold=otsu",
                       "-n", "chg_lab_raster", "--no-label-filter"], env)
    tif, gpkg = tmp_path / "chg.tif", tmp_path / "chg.gpkg"
    result = invoke_ok(runner, ["db_to_raster", "-n", "chg_lab_raster", "-f", str(tif), "--resolution", "20"], env)
    assert "transition" in result.output
    invoke_ok(runner, ["db_to_vector", "-n", "chg_lab_raster", "-f", str(gpkg)], env)
    objects = gpd.read_file(gpkg)
    pairs = sorted({(int(a), int(b)) for a, b in zip(objects.pre_class, objects.post_class)})  # -1 = no class
    assert len(pairs) >= 2
    objects["tcode"] = [pairs.index((int(a), int(b))) + 1 for a, b in zip(objects.pre_class, objects.post_class)]
    coded = tmp_path / "coded.gpkg"
    objects.to_file(coded, layer="coded")
    with rasterio.open(tif) as src:
        ours, transform, (height, width), colours = src.read(1), src.transform, src.shape, src.colormap(1)
        assert src.crs.to_epsg() == 3035 and src.nodata == 0 and src.dtypes[0] == "uint8"
    reference = tmp_path / "reference.tif"
    left, top = transform.c, transform.f
    subprocess.run(["gdal_rasterize", "-q", "-a", "tcode", "-l", "coded", "-init", "0", "-ot", "Byte", "-te",
                    str(left), str(top - 20 * height), str(left + 20 * width), str(top), "-tr", "20", "20",
                    str(coded), str(reference)], check=True)
    with rasterio.open(reference) as src:
        theirs = src.read(1)
    assert ours.any()
    np.testing.assert_array_equal(ours, theirs)
    names = {FOREST: "forest", OPEN: "open land", -1: "no class"}
    rgb = {FOREST: (0x22, 0x8b, 0x22), OPEN: (0xf5, 0xde, 0xb3)}
    qml = tif.with_suffix(".qml").read_text()
    for code, (pre, post) in enumerate(pairs, start=1):
        assert f"{names[pre]} → {names[post]}" in qml
        if post in rgb:
            assert colours[code][:3] == rgb[post]
    assert "forest → open land" in qml
