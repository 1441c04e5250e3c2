"""The database URL antares uses, engines, and turning connection failures into one line."""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading

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
    """Create a new SQLAlchemy engine for ``url`` and, by default, check that it connects.

    Commands use :func:`engine_for` (one engine per process and URL); this makes a private one,
    which the caller disposes of.

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

    # overflow connections are opened beyond the pool (closed when returned) rather than waited for:
    # tile threads and a run's held connection never queue for one, as with an engine per call
    engine = sa.create_engine(url, pool_pre_ping=True, max_overflow=-1, connect_args=CONNECT_ARGS)
    if check:
        try:
            _connect(engine, url).close()
        except DatabaseError:
            engine.dispose()
            raise
    return engine


def _connect(engine, url: str):
    """A connection of ``engine``; an unreachable server raises ``cannot connect to URL: REASON``."""
    import sqlalchemy as sa

    try:
        return engine.connect()
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot connect to {mask_password(url)}: {connection_error_reason(exc)}. {_HINT}") from exc


class _Engines:
    """This process's engines by URL, and the URLs whose schema was found current.

    Forgotten in a forked child (its copies of the parent's connections are left to the parent,
    ``engine.dispose(close=False)``) and disposed of at exit.
    """

    hooked = False  # atexit and fork hooks registered (inherited by a forked child)

    def __init__(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()  # new in a child: another thread may have held the parent's
        self.engines: dict = {}
        self.current: set[str] = set()

    def forget_parent(self) -> None:
        """In a forked child: drop the parent's engines without touching their connections."""
        for engine in self.engines.values():
            engine.dispose(close=False)
        self.__init__()


_ENGINES = _Engines()


def _after_fork_in_child() -> None:
    _ENGINES.forget_parent()


def engine_for(url: str):
    """This process's engine for ``url``, created (and its connection checked) on first use.

    One engine per process and URL: sessions and tile tasks share its connection pool.
    ``pool_pre_ping`` replaces a connection the server dropped. A forked child builds its own
    (the parent's are forgotten, not closed); all are disposed of at exit. Do not ``dispose()``
    it: :func:`dispose_engines` does.

    Parameters
    ----------
    url : str
        ``postgresql+psycopg2://`` URL (see :func:`database_url`).

    Raises
    ------
    DatabaseError
        ``cannot connect to URL: REASON. Start the embedded database ...`` (nothing is kept).
    """
    if _ENGINES.pid != os.getpid():  # forked without os.fork's hooks (e.g. by a C library)
        _ENGINES.forget_parent()
    with _ENGINES.lock:
        engine = _ENGINES.engines.get(url)
        if engine is None:
            engine = _ENGINES.engines[url] = make_engine(url)
            if not _Engines.hooked:
                _Engines.hooked = True
                atexit.register(dispose_engines)
                os.register_at_fork(after_in_child=_after_fork_in_child)
        return engine


def dispose_engines(url: str | None = None) -> None:
    """Dispose of this process's engine for ``url`` (all of them by default), closing its pooled connections.

    Call it before a database is dropped. The next use of the URL creates a new engine and checks
    its schema again. Connections checked out at the time are closed when they are returned.

    Parameters
    ----------
    url : str, optional
        A URL as given to :func:`engine_for` (a ``postgresql://`` one is normalised first).
    """
    with _ENGINES.lock:
        urls = list(_ENGINES.engines) if url is None else [normalise_url(url)]
        for key in urls:
            engine = _ENGINES.engines.pop(key, None)
            _ENGINES.current.discard(key)
            if engine is not None:
                engine.dispose()


def _open(settings: Settings):
    """(engine, connection) for the configured database, its schema checked once per process."""
    from antares.db import migrate

    url = database_url(settings)
    engine = engine_for(url)
    connection = _connect(engine, url)
    if url in _ENGINES.current:
        return engine, connection
    try:
        if migrate.is_current(connection):
            _ENGINES.current.add(url)
            connection.rollback()
            return engine, connection
        current = migrate.check_revision(connection)
        head = migrate.head_revision()
        if current == head:
            _ENGINES.current.add(url)
            connection.rollback()
            return engine, connection
    except BaseException:
        connection.close()
        raise
    connection.close()
    state = "has no antares schema" if current is None else f"has antares schema revision {current}, older than {head}"
    raise DatabaseError(f"the database at {mask_password(url)} {state}. Run 'antares init'.")


def open_database(settings: Settings):
    """This process's engine for the configured database, checked to hold the current antares schema.

    The engine is shared (see :func:`engine_for`): do not dispose of it. The connection is
    checked on every call; the schema once per process and URL.

    Raises
    ------
    DatabaseError
        The database is unreachable, or has no antares schema or an older one
        (run ``antares init``).
    SchemaVersionError
        The schema is newer than this antares.
    """
    engine, connection = _open(settings)
    connection.close()
    return engine


class _SessionScope:
    """Context manager: a Session in one transaction, committed on success, rolled back on error."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def __enter__(self):
        from sqlalchemy.orm import Session

        _, self.connection = _open(self.settings)
        self.session = Session(self.connection)
        self.session.begin()
        return self.session

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.session.commit()
            else:
                self.session.rollback()
        finally:
            try:
                self.session.close()
            finally:
                self.connection.close()  # back to the process's pool
        return False


def session_scope(settings: Settings) -> _SessionScope:
    """``with session_scope(settings) as session:`` — one transaction on the antares database.

    The session's connection comes from this process's engine (:func:`engine_for`); the schema is
    checked on the first use of a URL in a process.
    """
    return _SessionScope(settings)
