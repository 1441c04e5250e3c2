"""One engine per process and database URL (antares.db.engine).

Counted with SQLAlchemy's pool events: a new DBAPI connection fires ``connect``; a connection
taken from a pool fires ``checkout``. A forked child builds its own engine and leaves the
parent's connections alone (the parent's server process is the same before and after).
"""

import multiprocessing
import os

import pytest
import sqlalchemy as sa

from antares.db import engine as db_engine
from antares.db import migrate
from antares.db.engine import database_url, dispose_engines, engine_for, open_database, session_scope
from antares.errors import DatabaseError


class PoolEvents:
    """Count the DBAPI connections made and the checkouts of every pool of this process."""

    def __init__(self):
        self.connects = self.checkouts = 0

    def __enter__(self):
        sa.event.listen(sa.pool.Pool, "connect", self._connect)
        sa.event.listen(sa.pool.Pool, "checkout", self._checkout)
        return self

    def __exit__(self, *exc):
        sa.event.remove(sa.pool.Pool, "connect", self._connect)
        sa.event.remove(sa.pool.Pool, "checkout", self._checkout)

    def _connect(self, dbapi_connection, record):
        self.connects += 1

    def _checkout(self, dbapi_connection, record, proxy):
        self.checkouts += 1


def _sessions(settings, n: int) -> tuple[set, set]:
    """Open ``n`` sessions; the ids of the engines they used and the server processes they talked to."""
    engines, backends = set(), set()
    for _ in range(n):
        with session_scope(settings) as session:
            backends.add(session.execute(sa.text("SELECT pg_backend_pid()")).scalar())
            engines.add(id(session.connection().engine))
    return engines, backends


def test_fifty_sessions_share_one_engine_one_connection_and_one_schema_check(settings, monkeypatch):
    url = database_url(settings)
    dispose_engines(url)  # as in a new process
    checks = []
    is_current = migrate.is_current
    monkeypatch.setattr(migrate, "is_current", lambda conn: checks.append(1) or is_current(conn))
    with PoolEvents() as events:
        engines, backends = _sessions(settings, 50)
        assert open_database(settings) is engine_for(url)
    assert engines == {id(engine_for(url))}
    assert events.connects == 1 and len(backends) == 1  # before: one engine and one connection per session
    assert events.checkouts >= 50
    assert len(checks) == 1  # the schema is read once per process and URL


def test_dispose_engines_closes_the_pooled_connections_and_the_schema_is_checked_again(fresh_settings, settings):
    from antares.pipeline.database import init_database

    url = database_url(fresh_settings)
    name = url.rsplit("/", 1)[1]
    with pytest.raises(DatabaseError, match="has no antares schema. Run 'antares init'"):
        open_database(fresh_settings)  # not remembered as checked
    init_database(fresh_settings)
    _sessions(fresh_settings, 3)

    def backends(expected: int, timeout: float = 10.0) -> int:
        """Backends on the database once there are ``expected`` of them, or after ``timeout`` s: a server process
        leaves pg_stat_activity a moment after its client closed the connection."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            with session_scope(settings) as session:  # another database's engine does the counting
                n = session.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                                    {"name": name}).scalar()
            if n == expected or time.monotonic() > deadline:
                return n
            time.sleep(0.05)

    assert backends(1) == 1  # the pooled connection of this process's engine
    dispose_engines(url)
    assert backends(0) == 0
    engine = engine_for(url)
    assert engine is engine_for(url)
    assert open_database(fresh_settings) is engine
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM antares.alembic_version"))
    assert open_database(fresh_settings) is engine  # checked once per process: not read again
    dispose_engines(url)
    with pytest.raises(DatabaseError, match="has no antares schema"):
        open_database(fresh_settings)  # a new engine checks again


def _child(settings, parent_engine, queue) -> None:
    with PoolEvents() as events:
        engines, backends = _sessions(settings, 20)
        mine = engine_for(database_url(settings))
    queue.put((os.getpid(), engines == {id(mine)}, mine is parent_engine, events.connects, len(backends)))


def test_forked_workers_build_their_own_engine_and_leave_the_parents_connections(settings):
    url = database_url(settings)
    parent_engine = engine_for(url)
    _, (parent_backend,) = _sessions(settings, 1)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_child, args=(settings, parent_engine, queue)) for _ in range(2)]
    for child in children:
        child.start()
    results = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert {pid for pid, *_ in results} == {c.pid for c in children}
    for pid, one_engine, inherited, connects, backends in results:
        assert one_engine and not inherited  # one engine per worker, its own
        assert connects == 1 and backends == 1  # one connection per worker, not per session
    # the children did not close the parent's pooled connection: the parent talks to the same server process
    assert engine_for(url) is parent_engine
    assert _sessions(settings, 1)[1] == {parent_backend}


def test_a_stale_pid_is_noticed_without_the_fork_hook(settings, monkeypatch):
    url = database_url(settings)
    before = engine_for(url)
    monkeypatch.setattr(db_engine._ENGINES, "pid", -1)  # as if forked behind os.fork's back
    after = engine_for(url)
    assert after is not before and db_engine._ENGINES.pid == os.getpid()
    assert _sessions(settings, 2)[0] == {id(after)}
