"""The life of a run: its name taken at start, its outcome recorded whatever ends it.

Every stage runs inside ``with recorded_run(settings, kind, name) as run:``. Entering takes the
name (a PostgreSQL advisory lock held by one connection for the whole run) and records the run
as ``running``, both in one transaction; a second run of the same stage and name is refused at
once, naming the running one. The stage then plans its work and calls ``run.start(params,
inputs)``; a run that stops before (a refused input, nothing to do) leaves no row behind. Leaving
the block records the outcome:

* normally: ``done`` (or what the stage recorded with ``run.finish``);
* an exception: ``failed`` with its one-line reason;
* SIGINT, SIGTERM (:class:`~antares.errors.Interrupted`) or KeyboardInterrupt: ``interrupted``;
* a lost database connection: the run cannot be recorded (the next run of the name marks it
  ``interrupted``) and the error becomes a :class:`~antares.errors.ConnectionLostError` saying
  to re-run.

The name is given back when the block ends, and by PostgreSQL when the process dies: a killed
run never blocks its re-run. Nothing else writes ``antares.run``.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Iterator

from antares.config import Settings
from antares.errors import RunningError

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """``TypeName: message`` of ``exc`` on one line (the error recorded with a failed run or tile)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RecordedRun:
    """A run in progress (made by :func:`recorded_run`): its id and the calls that record it.

    Attributes
    ----------
    kind, name : str
        The stage and the name of its result.
    id : int
        The run's id in ``antares.run``.
    """

    def __init__(self, settings: Settings, kind: str, name: str, connection, run_id: int):
        self.settings = settings
        self.kind = kind
        self.name = name
        self.id = run_id
        self._connection = connection
        self.started = False
        self.finished = False

    def _write(self, session, write, *args) -> None:
        """``write(connection, *args)`` in ``session``'s transaction, or committed at once on the run's connection."""
        if session is not None:
            write(session, *args)
            return
        write(self._connection, *args)
        self._connection.commit()

    def start(self, params: dict, inputs: dict | None = None, session=None) -> int:
        """Record the run's parameters and inputs (JSON); earlier runs of the name left ``running`` become ``interrupted``.

        ``inputs`` gains ``environment``: antares' version and git commit, GDAL's and the libraries'
        versions (:func:`antares.provenance.environment`).

        With ``session``, inside that transaction (the run and the result are committed together).
        Returns the run's id.
        """
        from antares.db.runs import begin_run
        from antares.provenance import environment

        from antares.provenance import command

        inputs = {**(inputs or {}), "environment": environment()}  # versions and git commit (antares.provenance)
        if command() is not None:
            inputs["command"] = command()  # the exact command line: antares run show prints it to re-run
        self._write(session, begin_run, self.id, params, inputs)
        self.started = True
        return self.id

    def outputs(self, outputs: dict, session=None) -> None:
        """Record what the run made (JSON: dataset ids indexed, regions registered, files written ...);
        ``antares run show`` prints it."""
        from antares.db.runs import record_outputs

        self._write(session, record_outputs, self.id, outputs)

    def tile(self, tile: tuple[int, int], status: str, seconds: float | None = None, error: str | None = None) -> None:
        """Record (or replace) the outcome of tile ``(ix, iy)``: ``done`` or ``failed`` with its error."""
        from antares.db.runs import record_tile

        self._write(None, record_tile, self.id, tile, status, seconds, error)

    def finish(self, status: str = "done", error: str | None = None, session=None) -> None:
        """Record the outcome now (``done``, or ``failed`` with ``error`` when the stage reports failures itself)."""
        from antares.db.runs import finish_run

        self._write(session, finish_run, self.id, status, error)
        self.finished = session is None  # else the end of the block records it again, should that transaction fail

    def nothing_to_do(self, by: str) -> None:
        """End without recording this run (a re-run that found everything done); runs of the name left
        ``running`` by a process that is gone become ``interrupted``, their error ending with ``by``."""
        from antares.db.runs import discard_run, mark_interrupted

        mark_interrupted(self._connection, self.kind, self.name, by, exclude=self.id)
        discard_run(self._connection, self.id)
        self._connection.commit()
        self.finished = True

    def _discard(self) -> None:
        from antares.db.runs import discard_run

        self._write(None, discard_run, self.id)


@contextmanager
def recorded_run(settings: Settings, kind: str, name: str, reads: tuple = ()) -> Iterator[RecordedRun]:
    """``with recorded_run(settings, kind, name) as run:`` — take the name, record the run's outcome.

    Parameters
    ----------
    settings : Settings
    kind : str
        The stage (``segment``, ``model_fit``, ...; ``antares list runs``).
    name : str
        The name of the stage's result.
    reads : tuple of (kind, name)
        Results of other stages the run reads and which must not be replaced while it runs
        (``("model_fit", MODEL)`` for a prediction): their names are held shared, so that many
        runs may read one model while a refit of it is refused, and the other way round.

    Yields
    ------
    RecordedRun
        Call ``run.start(params, inputs)`` once the work is planned and checked.

    Raises
    ------
    RunningError
        A run of ``kind`` and ``name`` is in progress, or one that ``reads`` it, or one making what it
        ``reads`` (its id, process, host and start time are given).
    ConnectionLostError
        The database went away during the run.
    DatabaseError
        The database cannot be reached.
    """
    from antares.db.engine import open_database
    from antares.db.runs import claim_name, create_run, release_names

    connection = open_database(settings).connect()
    connection.detach()  # the names are locks of this database session: closed at the end, not pooled
    try:
        if not claim_name(connection, kind, name):
            connection.rollback()
            raise _refusal(connection, kind, name, _held)
        for read_kind, read_name in reads:
            if not claim_name(connection, read_kind, read_name, shared=True):
                connection.rollback()
                raise _refusal(connection, read_kind, read_name, _read_held(kind, name))
        run = RecordedRun(settings, kind, name, connection,
                          create_run(connection, kind, name, [list(pair) for pair in reads]))
        connection.commit()  # the name and the running row together
        try:
            yield run
        except BaseException as exc:
            lost = _record_end(run, exc)
            if lost is not None:
                raise lost from exc
            raise
        if not run.finished:
            if run.started:
                run.finish()
            else:
                run._discard()
    finally:
        for close in (release_names, lambda c: c.close()):  # unlock first: synchronous, unlike the server's
            try:                                           # clean-up after a close, so the name is free now
                close(connection)
            except Exception as error:  # the database is gone: PostgreSQL released the lock with the connection
                log.debug("closing the connection of run %s/%s: %s", kind, name, error)


#: Errors of a refused input: a step stopped by one leaves no run (as a stage stopped before ``run.start``).
def _refused():
    from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError, UntrustedModelError, UsageError

    return (UsageError, InvalidInputError, NotFoundError, AlreadyExistsError, UntrustedModelError)


def recorded_step(settings: Settings, kind: str, name: str, params: dict, work, reads: tuple = ()):
    """Run ``work()`` as a recorded run of ``kind`` and ``name``: for the short stages that are not
    planned over tiles (``index``, ``register_region``, the exports, ``validate``).

    ``work()`` returns ``(result, inputs, outputs)``: the stage's result, what it read (dataset ids,
    the names of the results it read, files) and what it made (dataset ids, names, files), or None
    for outputs when it made nothing (then no run is kept, as for a re-run of a stage that finds
    everything done); both are recorded with ``params``, the software's versions and the command line (:meth:`RecordedRun.start`),
    and ``result`` is returned. A ``work`` that fails on a refused input (a usage error, an unknown
    name, an existing output, invalid input) leaves no run, as a stage refused before it starts;
    any other failure is recorded as ``failed`` with its reason. ``reads`` as :func:`recorded_run`.

    Raises
    ------
    RunningError
        A run of ``kind`` and ``name`` is in progress (e.g. the same file being exported).
    Exception
        What ``work`` raised.
    """
    with recorded_run(settings, kind, name, reads) as run:
        try:
            result, inputs, outputs = work()
        except _refused():
            raise
        except BaseException:
            try:
                run.start(params)  # so that the failure is recorded (leaving the block records it)
            except Exception as error:  # the database is gone: the original error says more
                log.debug("could not record run %s: %s", run.id, error)
            raise
        if outputs is None:  # nothing was made (a re-run that found everything done): no run, as for the stages
            run.nothing_to_do("a re-run found nothing to do")
            return result
        run.start(params, inputs)
        run.outputs(outputs)
    return result


def _record_end(run: RecordedRun, exc: BaseException):
    """Record how ``exc`` ended ``run``; the ConnectionLostError to raise instead of ``exc``, or None."""
    from antares.db.engine import connection_lost, is_connection_error

    if isinstance(exc, KeyboardInterrupt) and run.started:
        exc.run = run  # the CLI's line names the run it leaves interrupted
    try:
        run._connection.rollback()  # a write of the run's own that failed leaves its transaction aborted
    except Exception as error:
        log.debug("rolling back the connection of run %s: %s", run.id, error)
    try:
        if not run.started:  # stopped while planning (a refused input): nothing to keep
            run._discard()
        elif not run.finished:
            run.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", one_line(exc))
    except Exception as error:
        log.debug("could not record the end of run %s: %s", run.id, error)
        if not is_connection_error(error):
            raise
    if isinstance(exc, Exception) and is_connection_error(exc):
        return connection_lost(run.settings, exc)
    return None


def _describe(holder: dict) -> str:
    return (f"run {holder['id']} ({holder['kind']} '{holder['name']}', pid {holder['pid']} on {holder['host']}, "
            f"started {holder['started_at']:%Y-%m-%d %H:%M:%S %Z})")


def _held(kind: str, name: str, holder: dict | None, reader: dict | None) -> str:
    if holder is not None:
        return f"{kind} '{name}' is running already as {_describe(holder)}; wait for it to end ('antares list runs') " \
               "or choose another name."
    if reader is not None:
        return f"{kind} '{name}' is in use: {_describe(reader)} reads it; replace it once that run has ended."
    return f"{kind} '{name}' is in use by another process; wait for it to end ('antares list runs') or choose another name."


def _read_held(kind: str, name: str):
    def message(read_kind: str, read_name: str, holder: dict | None, reader: dict | None) -> str:
        who = _describe(holder) if holder is not None else "another process"
        return f"{kind} '{name}' cannot start: {read_kind} '{read_name}', which it reads, is being made by {who}; " \
               "wait for it to end ('antares list runs')."
    return message


def _refusal(connection, kind: str, name: str, message) -> RunningError:
    """The one-line refusal of a run whose name (or the name of what it reads) another process holds, naming its run."""
    from antares.db.runs import running_run

    holder = reader = None
    for _ in range(20):  # the holder records its run in the transaction that took the name: it shows up at once
        holder = running_run(connection, kind, name)
        reader = None if holder is not None else running_run(connection, kind, name, reader=True)
        connection.rollback()
        if holder is not None or reader is not None:
            break
        time.sleep(0.1)
    return RunningError(message(kind, name, holder, reader))
