"""Fixed cost of one command: ``antares list products`` and a 1-tile ``apply_recipe`` against ``python -c pass``
and ``datacube --version``.

Each command runs in a fresh process (the venv's console scripts), interleaved, ``--repeat``
times; medians of the wall time and their ratios to ``python -c pass``. ``antares list products``
reads a throwaway cluster initialised by ``antares init`` (as ``antares db start`` makes one).
With ``--data`` (the demo data, ``../shared/data/nrt-romania-s2l2a``), its 10 m GeoTIFFs are
indexed into that cluster once (not timed), its 1 km² site registered, and ``apply_recipe
-recipe s2_10m_001`` timed over one month (``--month``, default 2018-07: 5 dates, 2 of them clear)
on the site: one grid tile of 100 x 100 pixels, so the time is the command's fixed cost (imports,
database, dask, the run record, the product) plus a small tile. Each run writes a new product.
Results go to ``benchmarks/results/startup.json``.

    python benchmarks/startup.py                                                  # list products only
    python benchmarks/startup.py --data ../shared/data/nrt-romania-s2l2a          # and a 1-tile apply_recipe
"""
import argparse
import calendar
import itertools
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


def recipe_command(bindir: Path, home: Path, data: Path, month: str, env: dict) -> list:
    """Index the demo data and register its site (untimed); the apply_recipe command line (``{n}``: run number)."""
    from antares.demo import find_demo_data, footprint_file

    demo = find_demo_data(data, home / "demo_data")
    site = footprint_file(demo.labels, home / "site.gpkg")
    antares = str(bindir / "antares")
    wall([antares, "index", "--path", str(demo.path), "--dataset_name", demo.preparer, "--product", demo.product], env)
    wall([antares, "register_region", "bench_site", str(site), "--overwrite"], env)
    year, mon = (int(v) for v in month.split("-"))
    last = calendar.monthrange(year, mon)[1]
    return [antares, "apply_recipe", "-recipe", "s2_10m_001", "-b", f"{month}-01", "-e", f"{month}-{last:02d}",
            "-region", "bench_site", "-p", demo.product, "--name", "bench_startup_{n}",
            "--outdir", str(home / "products" / "bench_startup_{n}")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, default=None, help="the demo data folder: also time a 1-tile apply_recipe")
    parser.add_argument("--month", default="2018-07", help="YYYY-MM: the apply_recipe period (default 2018-07)")
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
        if args.data is not None:
            commands["antares apply_recipe (1 tile)"] = recipe_command(bindir, home, args.data.resolve(), args.month, env)
        runs = itertools.count()
        times = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                times[name].append(wall([part.format(n=next(runs)) for part in cmd], env))
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians["python -c pass"]
    for name, values in times.items():
        print(f"{name:30s} median {medians[name]:.3f} s  ({medians[name] / floor:.1f} x python -c pass; "
              f"runs {[round(v, 3) for v in values]})")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"repeat": args.repeat, "month": args.month if args.data else None, "seconds": times,
                                   "medians": medians, "load_average": os.getloadavg()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
