"""Database set-up statements that are not the antares schema's: the PostGIS extension and advisory locks.

Used by ``antares init`` (:func:`antares.pipeline.database.init_database`); the antares
schema itself is created by the migrations (:mod:`antares.db.migrate`).
"""

from __future__ import annotations

import sqlalchemy as sa

from antares.errors import DatabaseError


def ensure_postgis(connection) -> bool:
    """Create the PostGIS extension unless it exists; True if it was created.

    Raises
    ------
    DatabaseError
        PostGIS is not installed on the server, or this role may not create it (what to do is said).
    """
    if connection.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first():
        return False
    available = connection.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first()
    if not available:
        major = int(connection.execute(sa.text("SELECT current_setting('server_version_num')")).scalar()) // 10000
        raise DatabaseError(
            f"the PostGIS extension is not installed on the database server (PostgreSQL {major}). "
            f"Install it there with 'apt-get install postgresql-{major}-postgis-3', then run 'antares init' again."
        )
    try:
        connection.execute(sa.text("CREATE EXTENSION postgis"))
    except sa.exc.ProgrammingError as exc:
        raise DatabaseError(
            f"cannot create the PostGIS extension: {str(exc.orig).strip().splitlines()[0]}. "
            "Ask the database administrator to run 'CREATE EXTENSION postgis' in this database."
        ) from exc
    return True


def advisory_lock(connection, key: int) -> None:
    """Wait for and take the session-level advisory lock ``key`` on ``connection``."""
    connection.execute(sa.select(sa.func.pg_advisory_lock(key)))


def advisory_unlock(connection, key: int) -> None:
    """Release the session-level advisory lock ``key`` held by ``connection``."""
    connection.execute(sa.select(sa.func.pg_advisory_unlock(key)))
