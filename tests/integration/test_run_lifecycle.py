"""recorded_run: one run lifecycle for every stage (real PostgreSQL; the stages' own tests cover their use of it)."""

import os
import re
import socket

import pytest
import sqlalchemy as sa

from antares.errors import RunningError
from antares.pipeline.run import recorded_run
from helpers import db_rows


def _runs(settings, name):
    return db_rows(settings.db_url, "SELECT status, error FROM antares.run WHERE kind = 'test_stage' AND name = :n "
                   "ORDER BY id", n=name)


def test_outcomes_recorded(settings):
    with recorded_run(settings, "test_stage", "life_ok") as run:
        run.start({"a": 1}, {"product": "p"})
    with pytest.raises(ValueError):
        with recorded_run(settings, "test_stage", "life_fail") as run:
            run.start({}, {})
            raise ValueError("boom\nsecond line")
    with pytest.raises(KeyboardInterrupt):
        with recorded_run(settings, "test_stage", "life_ctrl_c") as run:
            run.start({}, {})
            raise KeyboardInterrupt
    with pytest.raises(ValueError):  # refused while planning: no row at all
        with recorded_run(settings, "test_stage", "life_refused"):
            raise ValueError("bad input")
    assert _runs(settings, "life_ok") == [("done", None)]
    assert _runs(settings, "life_fail") == [("failed", "ValueError: boom second line")]
    assert _runs(settings, "life_ctrl_c") == [("interrupted", "KeyboardInterrupt")]
    assert _runs(settings, "life_refused") == []


def test_one_name_one_run(settings):
    with recorded_run(settings, "test_stage", "life_busy") as first:
        with pytest.raises(RunningError) as refused:
            with recorded_run(settings, "test_stage", "life_busy"):
                pass
        message = str(refused.value)
        assert re.match(rf"test_stage 'life_busy' is running already as run {first.id} \(test_stage 'life_busy', "
                        rf"pid {os.getpid()} on {re.escape(socket.gethostname())}, started \d{{4}}-", message), message
        first.start({}, {})
    with recorded_run(settings, "test_stage", "life_busy") as again:  # the name is free once the run has ended
        again.start({}, {})
    assert [s for s, _ in _runs(settings, "life_busy")] == ["done", "done"]


def test_a_run_left_running_is_marked_interrupted_by_the_next(settings):
    engine = sa.create_engine(settings.db_url)
    with engine.begin() as conn:  # as a killed process leaves it: running, its lock gone with its connection
        conn.execute(sa.text("INSERT INTO antares.run (kind, name, status, params, inputs, code_version) VALUES "
                             "('test_stage', 'life_killed', 'running', '{}', '{\"process\": {\"pid\": 1, "
                             "\"host\": \"elsewhere\"}}', 'x')"))
    engine.dispose()
    with recorded_run(settings, "test_stage", "life_killed") as run:
        run.start({}, {})
    assert _runs(settings, "life_killed") == [
        ("interrupted", f"process 1 on elsewhere ended without finishing; resumed by run {run.id}"), ("done", None)]


def test_readers_and_the_writer_of_a_name_exclude_each_other(settings):
    with recorded_run(settings, "test_predict", "life_map1", reads=(("test_fit", "life_model"),)) as reader:
        with recorded_run(settings, "test_predict", "life_map2", reads=(("test_fit", "life_model"),)):
            pass  # two readers at once
        with pytest.raises(RunningError, match=rf"test_fit 'life_model' is in use: run {reader.id} \(test_predict "
                                               "'life_map1', pid"):
            with recorded_run(settings, "test_fit", "life_model"):
                pass
    with recorded_run(settings, "test_fit", "life_model") as writer:
        writer.start({}, {})
        with pytest.raises(RunningError, match=rf"test_predict 'life_map3' cannot start: test_fit 'life_model', which "
                                               rf"it reads, is being made by run {writer.id} "):
            with recorded_run(settings, "test_predict", "life_map3", reads=(("test_fit", "life_model"),)):
                pass


def test_the_name_is_free_as_soon_as_the_run_ends(settings):
    """The name is given back before the run's connection closes, also after an error: closing alone leaves the
    unlock to the server after the client has gone, so a command claiming the name at once (a CLI retry, the
    next test case) could find it still held. Checked at the moment of closing, from another connection."""
    from antares.db.engine import open_database
    from antares.db.runs import claim_name

    engine = open_database(settings)
    free_at_close = []

    def claim_from_elsewhere():
        with engine.connect() as other:
            free_at_close.append(claim_name(other, "test_stage", "life_again"))
            other.execute(sa.select(sa.func.pg_advisory_unlock_all()))
            other.commit()

    with pytest.raises(ValueError):
        with recorded_run(settings, "test_stage", "life_again") as run:
            run.start({}, {})
            connection = run._connection
            close = connection.close

            def checked_close():
                claim_from_elsewhere()
                close()

            connection.close = checked_close
            raise ValueError("bad input")
    assert free_at_close == [True]
    claim_from_elsewhere()  # and after the run, of course
    assert free_at_close == [True, True]
