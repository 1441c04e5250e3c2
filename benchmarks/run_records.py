"""Cost of recording a run of N tiles: as before recorded_run (a session per tile, opened as session_scope
did before one engine per process: engine, connect, schema check, dispose; benchmarks/engine.py)
against recorded_run (one connection for the run). Same database, same process,
interleaved, 5 runs each; prints the medians and their ratio.

    ANTARES_HOME=/tmp/bench-home antares db start && antares init
    ANTARES_HOME=/tmp/bench-home python benchmarks/run_records.py

Measured 2026-12-02 on the shared 2-core machine: 5.7 s vs 1.2 s per run of 50 tiles (ratio 4.9).
"""
import statistics
import sys
import time

from antares.config import load_settings
from antares.db.runs import finish_run, record_tile, create_run, begin_run
from antares.pipeline.run import recorded_run
from engine import engine_per_call

settings = load_settings()
N = 50


def old(i):
    with engine_per_call(settings) as session:  # start_run, as main did
        run_id = create_run(session, "bench", f"old{i}")
        begin_run(session, run_id, {}, {})
    for t in range(N):
        with engine_per_call(settings) as session:
            record_tile(session, run_id, (t, 0), "done", 0.1)
    with engine_per_call(settings) as session:
        finish_run(session, run_id)


def new(i):
    with recorded_run(settings, "bench", f"new{i}") as run:
        run.start({}, {})
        for t in range(N):
            run.tile((t, 0), "done", 0.1)


times = {"old": [], "new": []}
for i in range(5):
    for name, fn in (("old", old), ("new", new)):
        start = time.perf_counter()
        fn(i)
        times[name].append(time.perf_counter() - start)
for name, values in times.items():
    print(f"{name}: median {statistics.median(values):.3f} s per run of {N} tiles ({[round(v, 3) for v in values]})")
print(f"ratio old/new: {statistics.median(times['old']) / statistics.median(times['new']):.1f}")
