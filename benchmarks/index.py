"""Benchmark: adding eo3 dataset documents to the ODC index (issue: 1,000 documents in < 60 s).

Measures, in the same run and on the same throwaway PostGIS cluster:
  - antares: ``antares.cube.index.add_dataset_documents`` (what ``antares index`` does after preparing);
  - baseline: ODC's own ``datacube dataset add`` CLI on the same documents (one multi-document YAML),
    the way a user would index prepared documents without antares.
Each is repeated (default 3) on fresh products; medians and the ratio are printed and written to
benchmarks/results/index.json.

    python benchmarks/index.py [--n 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "nrt-romania-s2l2a" / "geotiff"


def documents(template: dict, product: str, n: int) -> list[dict]:
    """``n`` documents shaped like a real Romania dataset, one per day, with distinct ids."""
    import datetime as dt

    from antares.prepare.base import dataset_id

    out = []
    start = dt.datetime(2000, 1, 1, 10, 0, tzinfo=dt.timezone.utc)
    for i in range(n):
        doc = copy.deepcopy(template)
        doc["id"] = str(dataset_id(f"benchmark:{product}:{i}"))
        doc["product"] = {"name": product}
        doc["properties"]["datetime"] = (start + dt.timedelta(days=i)).isoformat()
        out.append(doc)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from antares.config import load_settings
    from antares.cube.index import add_dataset_documents, add_product, connect
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database
    from antares.pipeline.index import derive_product
    from antares.prepare.bands import S2BandsPreparer

    home = Path(tempfile.mkdtemp(prefix="antares-bench-"))
    cluster = LocalCluster(home)
    cluster.start()
    try:
        url = cluster.url()
        settings = load_settings(flags={"db_url": url, "home": str(home)}, environ={})
        init_database(settings)
        dc = connect(url)
        base = dc.index.products.get_by_name("s2_l2a").definition
        template = S2BandsPreparer(verify=False).run(DATA / "10m" / "..", base, "bench").documents[0]
        template["measurements"] = {k: v for k, v in template["measurements"].items()}
        results = {"antares": [], "datacube_cli": []}
        datacube = Path(sys.executable).with_name("datacube")
        env = {**os.environ, "ODC_BENCH_DB_URL": url, "ODC_BENCH_INDEX_DRIVER": "postgis"}
        for r in range(args.repeat):
            for method in results:
                product = f"bench_{method}_{r}"
                add_product(dc, derive_product(base, product, [template]))
                docs = documents(template, product, args.n)
                if method == "antares":
                    t0 = time.perf_counter()
                    added, existing, failures = add_dataset_documents(dc, docs)
                    elapsed = time.perf_counter() - t0
                    assert added == args.n and not failures, failures[:1]
                else:
                    import yaml

                    path = home / f"{product}.yaml"
                    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
                    t0 = time.perf_counter()
                    proc = subprocess.run([str(datacube), "-E", "bench", "dataset", "add", "--ignore-lineage",
                                           str(path)], env=env, capture_output=True, text=True)
                    elapsed = time.perf_counter() - t0
                    if proc.returncode != 0:
                        raise SystemExit(f"datacube dataset add failed: {proc.stderr.strip().splitlines()[-1:]}")
                    assert dc.index.datasets.count(product=product) == args.n
                results[method].append(elapsed)
                print(f"run {r + 1}: {method:13s} {args.n} documents in {elapsed:6.2f} s ({args.n / elapsed:7.1f} datasets/s)")
        dc.close()
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)  # the cluster's data (~70 MB) was left in /tmp after every run
    med = {k: statistics.median(v) for k, v in results.items()}
    summary = {
        "benchmark": "index",
        "n_documents": args.n,
        "repeat": args.repeat,
        "median_seconds": med,
        "datasets_per_second": {k: args.n / v for k, v in med.items()},
        "ratio_antares_vs_datacube_cli": med["antares"] / med["datacube_cli"],
        "goal": f"{args.n} documents in < 60 s",
        "goal_met": med["antares"] < 60 * args.n / 1000,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"),
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "index.json").write_text(json.dumps(summary, indent=2))
    print(f"median: antares {med['antares']:.2f} s ({args.n / med['antares']:.0f} datasets/s), "
          f"datacube CLI {med['datacube_cli']:.2f} s; ratio antares/CLI = {summary['ratio_antares_vs_datacube_cli']:.2f}; "
          f"goal (< 60 s per 1,000): {'met' if summary['goal_met'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
