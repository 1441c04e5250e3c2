"""Benchmark: indexing a batch of derived datasets as the sources' earlier derived datasets accumulate.

A recipe tile indexes its outputs with their lineage in one transaction (``antares.cube.catalog.index_documents``:
12 steps, each derived from the same 36 inputs here). ODC's ``index.lineage.merge`` reads every relation of every
dataset the batch names - the inputs' too - and checks them in Python, so its cost grows with everything derived
from the same inputs before (every tile, step and recipe over one Sentinel-2 scene). ``merge_new_lineage`` checks
only the relations that touch the new datasets. In one process on one throwaway database, rounds alternate a
batch through ``index_documents`` (antares) and a batch through ODC's merge (the code of ``index_documents`` before,
main 4ccd695), each a fresh transaction; both add 12 derived datasets per input, so before round r every input
has 24 r derived datasets. Results in ``results/index_lineage.json``; the ratio is ODC's median over antares'
median of the last four rounds.

    python benchmarks/index_lineage.py [--rounds 16] [--steps 12] [--dates 36]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
from synthetic import machine, versions, write_inputs  # noqa: E402


def odc_merge_batch(dc, results) -> None:
    """``index_documents`` as it was (main 4ccd695): the batch's lineage through ODC's ``index.lineage.merge``."""
    from datacube.index.hl import Doc2Dataset
    from datacube.model.lineage import LineageRelations

    resolver = Doc2Dataset(dc.index, skip_lineage=False, verify_lineage=False)
    relations = LineageRelations()
    with dc.index.transaction():
        for doc, uri in results:
            dataset, error = resolver(doc, uri)
            assert dataset is not None, error
            tree, dataset.source_tree = dataset.source_tree, None
            if tree is not None:
                relations.merge_tree(tree)
            dc.index.datasets.add(dataset, with_lineage=True)
        dc.index.lineage.merge(relations)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--dates", type=int, default=36)
    args = parser.parse_args()

    from antares.config import load_settings
    from antares.cube.catalog import index_documents
    from antares.cube.index import connect
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database

    tmp = Path(tempfile.mkdtemp(prefix="antares-bench-lineage-"))
    cluster = LocalCluster(tmp / "home")
    cluster.start()
    rounds = []
    try:
        url = cluster.url()
        settings = load_settings(flags={"db_url": url, "home": str(tmp / "home")}, environ={})
        init_database(settings)
        env = {**os.environ, "ANTARES_DB_URL": url, "ANTARES_HOME": str(tmp / "home"), "PYTHONPATH": str(HERE.parent)}
        dates = [dt.date(2021, 1, 3) + dt.timedelta(days=10 * i) for i in range(args.dates)]
        write_inputs(tmp / "inputs", 64, dates)
        antares = Path(sys.executable).with_name("antares")
        for product in ("bl_src", "bl_derived"):
            subprocess.run([str(antares), "index", "--path", str(tmp / "inputs"), "--dataset_name", "s2_bands",
                            "--product", product, "--no-verify"], env=env, check=True, stdout=subprocess.DEVNULL)
        dc = connect(url)
        try:
            sources = [str(d.id) for d in dc.find_datasets(product="bl_src")]
            template = dc.find_datasets(product="bl_derived")[0]
            doc0, uri = copy.deepcopy(dict(template.metadata_doc)), template.uri

            def batch():
                return [(dict(copy.deepcopy(doc0), id=str(uuid.uuid4()), lineage={"source": sources}), uri)
                        for _ in range(args.steps)]

            for r in range(args.rounds):
                row = {"round": r, "earlier_derived_per_input": 2 * args.steps * r}
                for label, fn in (("antares", index_documents), ("odc_merge", odc_merge_batch)):
                    docs = batch()
                    t0 = time.perf_counter()
                    fn(dc, docs)
                    row[f"{label}_s"] = time.perf_counter() - t0
                rounds.append(row)
                print(f"round {r:2d}: {row['earlier_derived_per_input']:4d} earlier derived per input  "
                      f"antares {row['antares_s']:6.3f} s  ODC merge {row['odc_merge_s']:6.3f} s", flush=True)
            for s in sources[:3]:  # every batch's lineage is there: 2 x rounds x steps derived per input
                tree = dc.index.lineage.get_derived_tree(s, max_depth=1)
                n = sum(len(children) for children in tree.children.values())
                if n != 2 * args.rounds * args.steps:
                    raise SystemExit(f"input {s} has {n} derived datasets, expected {2 * args.rounds * args.steps}")
        finally:
            dc.close()
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    last = rounds[-4:]
    ours, odc = statistics.median(r["antares_s"] for r in last), statistics.median(r["odc_merge_s"] for r in last)
    summary = {"benchmark": f"index a batch of {args.steps} derived datasets, each with {args.dates} inputs as lineage, "
                            "as earlier derived datasets of the same inputs accumulate (antares merge_new_lineage "
                            "against ODC index.lineage.merge, alternating, one process)",
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "load": os.getloadavg()[0],
               "machine": machine(), "versions": versions(), "rounds": rounds,
               "last_four_rounds": {"antares_median_s": ours, "odc_merge_median_s": odc, "ratio": odc / ours}}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "index_lineage.json").write_text(json.dumps(summary, indent=2))
    print(f"last four rounds (from {last[0]['earlier_derived_per_input']} earlier derived per input): antares "
          f"{ours:.3f} s, ODC merge {odc:.3f} s, ratio {odc / ours:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
