"""Alembic migrations of the antares schema, shipped in the package.

Migrations are written by the developers and applied by ``antares init``; they are
never generated on a user's machine.
"""

from __future__ import annotations

import logging
from pathlib import Path

from antares.db.schema import SCHEMA
from antares.errors import SchemaVersionError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")

#: The newest revision in ``migrations/versions`` (a test checks it against Alembic's head), so that
#: every command can check the schema with one query instead of importing Alembic and parsing the
#: migration scripts (~1 s per process).
HEAD = "0006"


def is_current(connection) -> bool:
    """True if the database's antares schema is at :data:`HEAD` (one query; no Alembic)."""
    import sqlalchemy as sa

    if connection.execute(sa.select(sa.func.to_regclass(f"{SCHEMA}.alembic_version"))).scalar() is None:
        return False
    version = sa.table("alembic_version", sa.column("version_num"), schema=SCHEMA)
    return connection.execute(sa.select(version.c.version_num)).scalar() == HEAD


def _config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration this version of antares ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(connection) -> str | None:
    """The revision recorded in the database (``None``: no antares schema yet)."""
    from alembic.migration import MigrationContext

    ctx = MigrationContext.configure(connection, opts={"version_table_schema": SCHEMA})
    return ctx.get_current_revision()


def check_revision(connection) -> str | None:
    """Return the database's revision, refusing one this antares does not know.

    Raises
    ------
    SchemaVersionError
        The database was migrated by a newer antares.
    """
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    current = current_revision(connection)
    if current is None:
        return None
    script = ScriptDirectory.from_config(_config())
    try:
        script.get_revision(current)
    except CommandError:
        raise SchemaVersionError(
            f"the database has antares schema revision {current}, newer than this antares "
            f"(which knows revisions up to {script.get_current_head()}). Upgrade antares before using this database."
        ) from None
    return current


def upgrade(connection) -> tuple[str | None, str]:
    """Migrate the antares schema to the newest revision inside ``connection``'s transaction.

    Returns
    -------
    (str or None, str)
        The revision before and after.

    Raises
    ------
    SchemaVersionError
        The database has a revision newer than this antares knows.
    """
    from alembic import command

    before = check_revision(connection)
    head = head_revision()
    if before != head:
        import sqlalchemy as sa

        connection.execute(sa.schema.CreateSchema(SCHEMA, if_not_exists=True))
        command.upgrade(_config(connection), "head")
        log.info("migrated the antares schema from %s to %s", before or "nothing", head)
    return before, head
