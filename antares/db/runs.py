"""Repository functions for runs (tables ``antares.run`` and ``antares.run_tile``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from antares import __version__
from antares.db.schema import Run


def _process() -> dict:
    import os
    import socket

    return {"host": socket.gethostname(), "pid": os.getpid()}


def claim_name(connection, kind: str, name: str, shared: bool = False) -> bool:
    """Take the name ``(kind, name)`` for the life of ``connection``; False if another connection holds it.

    A PostgreSQL session-level advisory lock: it is released when the connection closes,
    so a killed process (or one that lost the database) gives the name back by itself.
    ``shared``: a reader's hold (of a model being predicted with), which many can take at once
    but not while the name is held by its writer, and which keeps the writer out.
    ``application_name`` of the connection says who holds it (``pg_stat_activity``).
    """
    process = _process()
    connection.execute(sa.select(sa.func.set_config(
        "application_name", f"antares {kind} {name} pid {process['pid']} on {process['host']}"[:63], False)))
    lock = sa.func.pg_try_advisory_lock_shared if shared else sa.func.pg_try_advisory_lock
    return bool(connection.scalar(sa.select(lock(_key(kind, name)))))


def release_names(connection) -> None:
    """Give back every name ``connection`` holds (``pg_advisory_unlock_all``), before it is closed.

    Closing the connection releases them too, but the server does so after the client has gone: a
    process that claims the name again at once could find it still held. Unlocking is synchronous.

    Parameters
    ----------
    connection : sqlalchemy.engine.Connection
        The run's own connection (its open transaction is rolled back first).

    Raises
    ------
    sqlalchemy.exc.DBAPIError
        The database went away (the server then released the locks itself).
    """
    connection.rollback()  # a failed transaction refuses statements; the locks are the session's
    connection.execute(sa.select(sa.func.pg_advisory_unlock_all()))
    connection.commit()


def _key(kind: str, name: str):
    return sa.func.hashtextextended(sa.literal(f"antares.run/{kind}/{name}"), 0)


def running_run(connection, kind: str, name: str, reader: bool = False) -> dict | None:
    """The newest ``running`` run of ``kind`` and ``name`` (with ``reader``: the newest running run that
    reads that name, see :func:`create_run`): ``{"id", "kind", "name", "host", "pid", "started_at"}``, or None."""
    where = Run.inputs["reads"].contains([[kind, name]]) if reader else sa.and_(Run.kind == kind, Run.name == name)
    row = connection.execute(
        sa.select(Run.id, Run.kind, Run.name, Run.inputs, Run.started_at)
        .where(where, Run.status == "running").order_by(Run.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    process = (row.inputs or {}).get("process") or {}
    return {"id": row.id, "kind": row.kind, "name": row.name, "host": process.get("host"), "pid": process.get("pid"),
            "started_at": row.started_at}


def create_run(connection, kind: str, name: str, reads: list | None = None) -> int:
    """Record a run of ``kind`` and ``name`` as ``running`` (parameters follow with :func:`begin_run`).

    ``reads``: the ``[kind, name]`` pairs of the results it reads (kept in ``inputs``), so that
    a run refused because of them can be named.
    """
    return connection.scalar(
        sa.insert(Run).values(kind=kind, name=name, params={}, inputs={"process": _process(), "reads": reads or []},
                              code_version=__version__, status="running").returning(Run.id)
    )


def begin_run(connection, run_id: int, params: dict, inputs: dict | None = None) -> None:
    """Record the parameters and inputs of run ``run_id``; other ``running`` runs of its name become ``interrupted``.

    Call it only while holding the run's name (:func:`claim_name`): a run of the same name
    still marked ``running`` then belongs to a process that is gone (killed, or it lost the
    database) and this run resumes it.
    """
    kind, name, recorded = connection.execute(sa.select(Run.kind, Run.name, Run.inputs).where(Run.id == run_id)).one()
    connection.execute(sa.update(Run).where(Run.id == run_id).values(
        params=params, inputs={**(inputs or {}), "process": _process(), "reads": recorded.get("reads", [])}))
    mark_interrupted(connection, kind, name, f"resumed by run {run_id}", exclude=run_id)


def discard_run(connection, run_id: int) -> None:
    """Delete run ``run_id`` (a run that stopped before doing anything: a refused input, nothing to do)."""
    connection.execute(sa.delete(Run).where(Run.id == run_id))


def mark_interrupted(connection, kind: str, name: str, by: str, exclude: int | None = None) -> None:
    """Mark runs of ``kind`` and ``name`` still ``running`` as ``interrupted`` (call while holding the name).

    ``by`` ends their error message (what took over, e.g. ``resumed by run 12``).
    """
    query = sa.select(Run.id, Run.inputs).where(Run.kind == kind, Run.name == name, Run.status == "running")
    if exclude is not None:
        query = query.where(Run.id != exclude)
    for old_id, old_inputs in connection.execute(query).all():
        old = (old_inputs or {}).get("process") or {}
        connection.execute(sa.update(Run).where(Run.id == old_id).values(
            status="interrupted", finished_at=sa.func.now(),
            error=f"process {old.get('pid')} on {old.get('host')} ended without finishing; {by}"))


def record_outputs(connection, run_id: int, outputs: dict) -> None:
    """Record what run ``run_id`` made (JSON: dataset ids, region names, files written ...)."""
    connection.execute(sa.update(Run).where(Run.id == run_id).values(outputs=outputs))


def finish_run(session: Session, run_id: int, status: str = "done", error: str | None = None) -> None:
    """Record the end of a run (``done`` or ``failed`` with its error)."""
    session.execute(
        sa.update(Run).where(Run.id == run_id).values(status=status, error=error, finished_at=sa.func.now())
    )


def run_row(session: Session, run_id: int) -> dict | None:
    """Run ``run_id`` with its parameters, inputs, outputs, timing and outcome (a dict), or None."""
    row = session.execute(sa.select(
        Run.id, Run.kind, Run.name, Run.status, Run.started_at, Run.finished_at,
        sa.cast(sa.func.extract("epoch", Run.finished_at - Run.started_at), sa.Float).label("seconds"),
        Run.code_version, Run.params, Run.inputs, Run.outputs, Run.error).where(Run.id == run_id)).first()
    return None if row is None else dict(row._mapping)


def list_runs(session: Session, kind: str | None = None) -> list[dict]:
    """Runs, newest first, optionally of one kind."""
    query = sa.select(
        Run.id, Run.kind, Run.name, Run.status, Run.started_at, Run.finished_at,
        sa.func.extract("epoch", Run.finished_at - Run.started_at).label("seconds"),
        Run.code_version, Run.params, Run.error,
    ).order_by(Run.id.desc())
    if kind:
        query = query.where(Run.kind == kind)
    return [dict(row._mapping) for row in session.execute(query)]


def record_tile(session: Session, run_id: int, tile: tuple[int, int], status: str, seconds: float | None,
                error: str | None = None) -> None:
    """Record (or replace) the outcome of tile ``(ix, iy)`` of a run."""
    from sqlalchemy.dialects.postgresql import insert

    from antares.db.schema import RunTile

    stmt = insert(RunTile).values(run_id=run_id, ix=tile[0], iy=tile[1], status=status, seconds=seconds, error=error,
                                  finished_at=sa.func.now())
    session.execute(stmt.on_conflict_do_update(
        index_elements=[RunTile.run_id, RunTile.ix, RunTile.iy],
        set_={"status": stmt.excluded.status, "seconds": stmt.excluded.seconds, "error": stmt.excluded.error,
              "finished_at": stmt.excluded.finished_at},
    ))
