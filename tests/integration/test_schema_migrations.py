"""The ORM (``antares/db/schema.py``) and the Alembic migrations declare the same antares schema."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from antares.db import migrate
from antares.db.schema import SCHEMA, Base


def _antares_only(name, type_, parent_names):
    if type_ == "schema":
        return name == SCHEMA
    if type_ == "table":
        return parent_names.get("schema_name") == SCHEMA and name != "alembic_version"
    return True


def test_orm_metadata_equals_alembic_head(fresh_settings):
    engine = sa.create_engine(fresh_settings.db_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE EXTENSION postgis")
            before, after = migrate.upgrade(conn)
        assert (before, after) == (None, migrate.head_revision())
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "include_schemas": True, "include_name": _antares_only, "version_table_schema": SCHEMA,
                "compare_type": True, "compare_server_default": True})
            tables = set(sa.inspect(conn).get_table_names(schema=SCHEMA)) - {"alembic_version"}
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert tables == {t.name for t in Base.metadata.sorted_tables}  # the comparison saw every table
    assert differences == [], "\n".join(map(str, differences))
