"""The database URL antares uses, engines, and turning connection failures into one line."""

from __future__ import annotations

import logging
import re

from antares.config import CONNECT_ARGS, Settings, mask_password
from antares.errors import ConfigError, ConnectionLostError, DatabaseError

log = logging.getLogger(__name__)

_HINT = "Start the embedded database with 'antares db start' or set ANTARES_DB_URL."


def normalise_url(url: str) -> str:
    """Return ``url`` as a ``postgresql+psycopg2://`` SQLAlchemy URL.

    ``postgres://`` and ``postgresql://`` are rewritten (SQLAlchemy 2.1 would read the
    latter as psycopg 3, which antares does not install).

    Raises
    ------
    ConfigError
        The URL is not a PostgreSQL URL.
    """
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    raise ConfigError(
        f"database URL {mask_password(url)!s} is not a PostgreSQL URL; expected postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DBNAME."
    )


def database_url(settings: Settings) -> str:
    """The URL of the database antares uses: ``settings.db_url`` or the embedded cluster.

    Raises
    ------
    DatabaseError
        No URL is configured and the embedded database is not running.
    """
    if settings.db_url:
        return normalise_url(settings.db_url)
    from antares.db.local import LocalCluster

    cluster = LocalCluster(settings.home, settings.pg_bin)
    info = cluster.info()
    if not info.running or info.url is None:
        raise DatabaseError(f"the embedded database ({cluster.pgdata}) is not running. {_HINT}")
    return info.url


def connection_error_reason(exc: BaseException) -> str:
    """A short lower-case reason from a psycopg2/SQLAlchemy connection error."""
    text = str(getattr(exc, "orig", None) or exc)
    for pattern, reason in (
        (r"Connection refused", "connection refused"),
        (r"password authentication failed", "password authentication failed"),
        (r'database "[^"]+" does not exist', None),
        (r"could not translate host name", "unknown host"),
        (r"timeout expired", "connection timed out"),
        (r"No such file or directory", "no server socket"),
        (r"terminating connection due to administrator command", "the server shut down"),
        (r"server closed the connection unexpectedly", "the server closed the connection"),
        (r"the database system is (shutting down|starting up|in recovery mode)", None),
        (r"connection already closed", "connection closed"),
    ):
        match = re.search(pattern, text)
        if match:
            return reason or match.group(0)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first.removeprefix("(psycopg2.OperationalError) ")


def is_connection_error(exc: BaseException) -> bool:
    """True if ``exc`` is a lost or refused database connection (psycopg2 or SQLAlchemy), or wraps one."""
    while exc is not None:
        module = type(exc).__module__
        if module.startswith("psycopg2") and type(exc).__name__ in ("OperationalError", "InterfaceError"):
            return True
        if module.startswith("sqlalchemy"):
            import sqlalchemy as sa

            if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)) or \
                    (isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated):
                return True
        if isinstance(exc, ConnectionLostError):
            return True
        exc = exc.__cause__ if isinstance(exc, DatabaseError) else None  # make_engine's "cannot connect"
    return False


def describe_url(settings: Settings) -> str:
    """The database URL of ``settings`` with its password masked, without connecting (best effort)."""
    if settings.db_url:
        try:
            return mask_password(normalise_url(settings.db_url))
        except ConfigError:
            return mask_password(settings.db_url)
    from antares.db.local import LocalCluster

    try:
        return mask_password(LocalCluster(settings.home, settings.pg_bin).url())
    except DatabaseError:
        return f"the embedded database in {settings.home}"


def connection_lost(settings: Settings, exc: BaseException) -> ConnectionLostError:
    """The one-line error for a connection lost while a command ran (``exc``: the psycopg2/SQLAlchemy error)."""
    if isinstance(exc, ConnectionLostError):
        return exc
    cause = exc.__cause__ if isinstance(exc, DatabaseError) and exc.__cause__ is not None else exc
    return ConnectionLostError(
        f"lost the connection to the database {describe_url(settings)} ({connection_error_reason(cause)}); "
        "what was finished is kept: re-run the same command to resume once the database is back ('antares db status')."
    )


def make_engine(url: str, check: bool = True):
    """Create a SQLAlchemy engine for ``url`` and, by default, check that it connects.

    Parameters
    ----------
    url : str
        ``postgresql+psycopg2://`` URL.
    check : bool
        Open one connection now so that an unreachable server fails here, with a
        clear message, instead of deep inside a command.

    Raises
    ------
    DatabaseError
        ``cannot connect to URL: REASON. Start the embedded database ...``
    """
    import sqlalchemy as sa

    engine = sa.create_engine(url, pool_pre_ping=True, connect_args=CONNECT_ARGS)
    if check:
        try:
            with engine.connect():
                pass
        except sa.exc.OperationalError as exc:
            engine.dispose()
            raise DatabaseError(f"cannot connect to {mask_password(url)}: {connection_error_reason(exc)}. {_HINT}") from exc
    return engine


def open_database(settings: Settings):
    """Engine for the configured database, checked to hold the current antares schema.

    Raises
    ------
    DatabaseError
        The database is unreachable, or has no antares schema or an older one
        (run ``antares init``).
    SchemaVersionError
        The schema is newer than this antares.
    """
    from antares.db import migrate

    url = database_url(settings)
    engine = make_engine(url)
    with engine.connect() as conn:
        if migrate.is_current(conn):
            return engine
        current = migrate.check_revision(conn)
    head = migrate.head_revision()
    if current != head:
        engine.dispose()
        state = "has no antares schema" if current is None else f"has antares schema revision {current}, older than {head}"
        raise DatabaseError(f"the database at {mask_password(url)} {state}. Run 'antares init'.")
    return engine


class _SessionScope:
    """Context manager: a Session in one transaction, committed on success, rolled back on error."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def __enter__(self):
        from sqlalchemy.orm import Session

        self.engine = open_database(self.settings)
        self.session = Session(self.engine)
        self.session.begin()
        return self.session

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.session.commit()
            else:
                self.session.rollback()
        finally:
            self.session.close()
            self.engine.dispose()
        return False


def session_scope(settings: Settings) -> _SessionScope:
    """``with session_scope(settings) as session:`` — one transaction on the antares database."""
    return _SessionScope(settings)
