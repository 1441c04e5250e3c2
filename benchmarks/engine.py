"""Cost of opening a database session: an engine per call (before) against one engine per process (now).

Before, each ``session_scope(settings)`` created an engine, connected, read the schema version,
opened the session and disposed of the engine (:func:`engine_per_call`, kept here as the
baseline); now the process's engine and its pooled connection are reused and the schema is read
once. Both open N sessions running one ``SELECT 1`` against the same throwaway cluster, in the same
process, interleaved; medians of ``--repeat`` runs and their ratio. Results go to
``benchmarks/results/engine.json``.

    python benchmarks/engine.py                # N = 200, 5 runs
    python benchmarks/engine.py --n 50 --repeat 3
"""
import argparse
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "engine.json"


@contextlib.contextmanager
def engine_per_call(settings):
    """A session as ``session_scope`` opened one before one engine per process: engine, connect, schema check, dispose."""
    from sqlalchemy.orm import Session

    from antares.db import migrate
    from antares.db.engine import database_url, make_engine

    engine = make_engine(database_url(settings))
    try:
        with engine.connect() as conn:
            assert migrate.is_current(conn)
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


def sessions(open_session, settings, n: int) -> float:
    """Seconds to open ``n`` sessions with ``open_session(settings)``, each running ``SELECT 1``."""
    import sqlalchemy as sa

    start = time.perf_counter()
    for _ in range(n):
        with open_session(settings) as session:
            session.execute(sa.text("SELECT 1"))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from antares.config import load_settings
    from antares.db.engine import dispose_engines, session_scope
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database

    home = Path(tempfile.mkdtemp(prefix="antares-bench-"))
    cluster = LocalCluster(home)
    cluster.start()
    try:
        settings = load_settings(flags={"db_url": cluster.url(), "home": str(home)}, environ={})
        init_database(settings)
        times = {"engine_per_call": [], "engine_per_process": []}
        for _ in range(args.repeat):
            times["engine_per_call"].append(sessions(engine_per_call, settings, args.n))
            dispose_engines()  # each run starts as a new process does: the first open creates the engine
            times["engine_per_process"].append(sessions(session_scope, settings, args.n))
        dispose_engines()
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratio = medians["engine_per_call"] / medians["engine_per_process"]
    for name, values in times.items():
        print(f"{name}: median {medians[name]:.3f} s for {args.n} sessions "
              f"({1000 * medians[name] / args.n:.2f} ms each; runs {[round(v, 3) for v in values]})")
    print(f"ratio engine_per_call / engine_per_process: {ratio:.1f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"n": args.n, "repeat": args.repeat, "seconds": times, "medians": medians,
                                   "ratio": ratio}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
