"""`antares init`: PostGIS, ODC index (postgis driver), Alembic schema, products; idempotent."""

import sqlalchemy as sa

from antares.cli.main import cli
from antares.db import migrate
from antares.db.schema import Base
from antares.errors import SchemaVersionError
from antares.pipeline.database import init_database
from antares.resources import builtin_product_files

EXPECTED_TABLES = {
    "region", "class_scheme", "legend_class", "sample_set", "sample", "run", "run_tile",
    "segmentation", "segment", "model", "classification", "prediction", "validation_result", "pca",
    "change_detection", "change_object", "series_set", "series_sample",
}


def tables(url, schema):
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names(schema=schema))
    finally:
        engine.dispose()


def test_init_creates_everything_then_changes_nothing(fresh_settings):
    url = fresh_settings.db_url
    assert tables(url, "antares") == set()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert not migrate.is_current(conn)  # no schema yet
    first = init_database(fresh_settings)
    with engine.connect() as conn:
        assert migrate.is_current(conn)
    engine.dispose()
    assert migrate.HEAD == migrate.head_revision()  # the one-query check knows the newest migration
    assert first.changed and first.odc_created and first.postgis_created
    assert (first.schema_before, first.schema_after) == (None, migrate.head_revision())
    assert {p.action for p in first.products} == {"added"}
    assert {p.name for p in first.products} == {f.stem for f in builtin_product_files()}
    assert tables(url, "antares") == EXPECTED_TABLES | {"alembic_version"}
    assert EXPECTED_TABLES == {t.name for t in Base.metadata.sorted_tables}
    assert {"dataset", "product", "metadata_type"} <= tables(url, "odc")

    second = init_database(fresh_settings)
    assert not second.changed
    assert {p.action for p in second.products} == {"unchanged"}
    assert "Nothing changed" in second.lines()[-1]


def test_cli_init_twice_and_list_products(runner, fresh_settings):
    env = {"ANTARES_DB_URL": fresh_settings.db_url}
    first = runner.invoke(cli, ["init"], env=env)
    assert first.exit_code == 0, first.output
    assert "product s2_l2a: added" in first.output and "Nothing changed" not in first.output
    second = runner.invoke(cli, ["init"], env=env)
    assert second.exit_code == 0
    assert "Nothing changed: the database was already initialised." in second.output
    listed = runner.invoke(cli, ["list", "products", "--json"], env=env)
    assert listed.exit_code == 0
    import json

    products = {p["name"]: p for p in json.loads(listed.output)}
    assert set(products) == {"s2_l2a", "s2_l1c", "srtm", "s1_grd", "s1_grd_linear"}
    assert products["s2_l2a"]["datasets"] == 0
    assert "SCL" in products["s2_l2a"]["measurements"]  # a JSON list of names, not one joined string
    assert isinstance(products["s2_l2a"]["measurements"], list) and isinstance(products["s2_l2a"]["datasets"], int)


def test_newer_schema_is_refused_and_nothing_changes(fresh_settings, runner):
    init_database(fresh_settings)
    engine = sa.create_engine(fresh_settings.db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE antares.alembic_version SET version_num = '9999'"))
        before = conn.execute(sa.text("SELECT count(*) FROM odc.product")).scalar()
    try:
        init_database(fresh_settings)
    except SchemaVersionError as exc:
        assert "9999" in str(exc) and migrate.head_revision() in str(exc)
    else:
        raise AssertionError("a newer schema was accepted")
    result = runner.invoke(cli, ["init"], env={"ANTARES_DB_URL": fresh_settings.db_url})
    assert result.exit_code == 1 and "newer than this antares" in result.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM antares.alembic_version")).scalar() == "9999"
        assert conn.execute(sa.text("SELECT count(*) FROM odc.product")).scalar() == before
    engine.dispose()


def test_commands_refuse_uninitialised_database(fresh_settings, runner):
    result = runner.invoke(cli, ["list", "regions"], env={"ANTARES_DB_URL": fresh_settings.db_url})
    assert result.exit_code == 1
    assert "has no antares schema. Run 'antares init'." in result.output


def test_list_runs_and_datasets_empty(settings, runner):
    env = {"ANTARES_DB_URL": settings.db_url}
    assert runner.invoke(cli, ["list", "runs", "--json"], env=env).exit_code == 0
    missing = runner.invoke(cli, ["list", "datasets", "--product", "nope"], env=env)
    assert missing.exit_code == 1 and "product 'nope' is not indexed" in missing.output and "s2_l2a" in missing.output
