"""Fixed cost of one command: ``antares list products`` against ``python -c pass`` and ``datacube --version``.

Each command runs in a fresh process (the venv's console scripts), interleaved, ``--repeat``
times; medians of the wall time and their ratios to ``python -c pass``. ``antares list products``
reads a throwaway cluster initialised by ``antares init`` (as ``antares db start`` makes one).
Results go to ``benchmarks/results/startup.json``.

    python benchmarks/startup.py              # 5 runs each
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"


def wall(cmd: list, env: dict) -> float:
    """Seconds ``cmd`` takes in a new process; it must exit 0."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from antares.config import load_settings
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database

    bindir = Path(sys.executable).parent
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "datacube --version": [str(bindir / "datacube"), "--version"],
        "antares list products": [str(bindir / "antares"), "list", "products"],
    }
    home = Path(tempfile.mkdtemp(prefix="antares-bench-"))
    cluster = LocalCluster(home)
    cluster.start()
    try:
        url = cluster.url()
        init_database(load_settings(flags={"db_url": url, "home": str(home)}, environ={}))
        env = {**os.environ, "ANTARES_DB_URL": url, "ANTARES_HOME": str(home)}
        times = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                times[name].append(wall(cmd, env))
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["python -c pass"]
    for name, values in times.items():
        print(f"{name:24s} median {medians[name]:.3f} s  ({medians[name] / floor:.1f} x python -c pass; "
              f"runs {[round(v, 3) for v in values]})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"repeat": args.repeat, "seconds": times, "medians": medians}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
