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


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_run(session: Session, kind: str, name: str, params: dict, inputs: dict | None = None) -> int:
    """Record the start of a run; returns its id.

    Earlier runs of the same stage and name still marked ``running`` whose process (on this
    host) is gone — killed, or the machine rebooted — are marked ``interrupted``, naming the
    run that resumes them.
    """
    process = _process()
    run_id = session.scalar(
        sa.insert(Run)
        .values(kind=kind, name=name, params=params, inputs={**(inputs or {}), "process": process},
                code_version=__version__, status="running")
        .returning(Run.id)
    )
    mark_interrupted(session, kind, name, f"resumed by run {run_id}", exclude=run_id)
    return run_id


def mark_interrupted(session: Session, kind: str, name: str, by: str, exclude: int | None = None) -> None:
    """Mark runs of ``kind`` and ``name`` still ``running`` whose process (on this host) is gone as ``interrupted``.

    ``by`` ends their error message (what took over, e.g. ``resumed by run 12``).
    """
    process = _process()
    query = sa.select(Run.id, Run.inputs).where(Run.kind == kind, Run.name == name, Run.status == "running")
    if exclude is not None:
        query = query.where(Run.id != exclude)
    for old_id, old_inputs in session.execute(query).all():
        old = (old_inputs or {}).get("process") or {}
        if old.get("host") == process["host"] and isinstance(old.get("pid"), int) and not _alive(old["pid"]):
            session.execute(sa.update(Run).where(Run.id == old_id).values(
                status="interrupted", finished_at=sa.func.now(),
                error=f"process {old['pid']} on {old['host']} ended without finishing; {by}"))


def finish_run(session: Session, run_id: int, status: str = "done", error: str | None = None) -> None:
    """Record the end of a run (``done`` or ``failed`` with its error)."""
    session.execute(
        sa.update(Run).where(Run.id == run_id).values(status=status, error=error, finished_at=sa.func.now())
    )


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
