"""Alembic environment for the antares schema.

Migrations run through :func:`antares.db.migrate.upgrade`, which passes an open
connection in ``config.attributes["connection"]``; there is no alembic.ini to edit.
"""

from alembic import context

from antares.db.schema import SCHEMA, Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table_schema=SCHEMA,
    include_schemas=True,
    include_name=lambda name, type_, parent: type_ != "schema" or name == SCHEMA,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
