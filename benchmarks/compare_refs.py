"""Compare the stage benchmarks of two checkouts (an old and a new commit) in one interleaved run.

``run.py`` measures one tree against its baselines; this driver answers "is the new tree slower
than the old one?" by running the same stage scripts (``benchmarks/<stage>.py`` with
``run.py``'s arguments) of both trees INTERLEAVED: for each stage (in ``--stage`` order), round 1
old then new, round 2 new then old, ... (so that the load of a shared machine, and its drift, hit both trees alike), each tree with
its own ``PYTHONPATH`` and ``ANTARES_HOME``. Every stage script starts its own throwaway
PostgreSQL cluster, so the trees never share a database.

For each stage it keeps antares's own times from the stage's result file (the baselines'
times are the same programs in both trees and are not compared) and the stage script's wall
time, and reports per metric the medians of both trees, the ratio of the medians new/old and
the median of the per-round ratios (pairs measured back to back). The load average (1 min)
before each run is stored beside it. A tree's ``benchmarks/results/<stage>.json`` is restored
after each run: the comparison does not overwrite the results that ``run.py`` summarises.

    python benchmarks/compare_refs.py --old /work/wt-old --new . --quick --repeat 3
    python benchmarks/compare_refs.py --old ../old --new . --stage segment predict --repeat 5

Results: ``benchmarks/results/compare_refs.json`` (every run, rewritten after each one, so an
interrupted comparison keeps what it measured) and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import STAGES, _get, machine  # noqa: E402  (the stage arguments and result lookup of run.py, one definition)


def metrics(stage: str, doc: dict, quick: bool) -> dict[str, float]:
    """antares's own times (seconds, lower is better) in a stage's result file; missing ones are left out."""
    found: dict[str, object] = {}
    if stage == "index":
        found["add documents"] = _get(doc, "median_seconds", "antares")
    elif stage == "recipe":
        found["apply_recipe"] = _get(doc, "sizes", 0, "median", "recipe", "wall_s")
    elif stage == "segment":
        for name in ("bis", "slic", "felzenszwalb"):
            found[name] = _get(doc, "sizes", 0, "median_s", name)
    elif stage == "predict":
        entry = _get(doc, "runs", "quick" if quick else "default") or {}
        found["object features (tiled)"] = _get(entry, "features", "antares", "tiled_s")
        found["predict + write"] = _get(entry, "prediction", "predict_and_write_s")
    elif stage == "export":
        found["db_to_vector"] = _get(doc, "median_s", "antares_vector")
        found["db_to_raster"] = _get(doc, "median_s", "antares_raster")
    elif stage == "scaling":
        tiles = doc.get("tiles") or []
        for name, v in (doc.get("stages") or {}).items():
            for n in tiles:
                found[f"{name} {n} tile(s)"] = _get(v, "median", str(n), "wall_s")
    return {k: float(v) for k, v in found.items() if isinstance(v, (int, float))}


def run_stage(tree: Path, stage: str, args: list[str], home: Path, quick: bool) -> dict:
    """Run ``tree``'s ``benchmarks/<stage>.py``; its metrics, wall time and load; its result file restored."""
    result = tree / "benchmarks" / "results" / f"{stage}.json"
    saved = result.read_bytes() if result.exists() else None
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(tree), ANTARES_HOME=str(home))
    load = os.getloadavg()[0]
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(tree / "benchmarks" / f"{stage}.py"), *args], cwd=tree, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - start
    try:
        doc = json.loads(result.read_text()) if result.exists() and result.read_bytes() != saved else None
    finally:
        if saved is None:
            result.unlink(missing_ok=True)
        else:
            result.write_bytes(saved)
    entry = {"load_1min_before": load, "load_1min_after": os.getloadavg()[0], "script_wall_s": wall,
             "returncode": done.returncode}
    if done.returncode != 0 or doc is None:
        entry["error"] = (f"exited with {done.returncode}" if done.returncode else "wrote no result") + ": " + \
            done.stdout[-2000:]
    else:
        entry["metrics"] = metrics(stage, doc, quick)
    return entry


def summarise(runs: dict) -> list[dict]:
    """Per stage and metric: medians old/new, ratio of medians and median of the per-round ratios."""
    rows = []
    for stage, rounds in runs.items():
        names: list[str] = []
        for r in rounds:
            for side in ("old", "new"):
                for k in list(r.get(side, {}).get("metrics", {})) + ["script wall"]:
                    if k not in names:
                        names.append(k)
        for name in names:
            def value(r, side):
                e = r.get(side, {})
                return e.get("script_wall_s") if name == "script wall" and "error" not in e else \
                    e.get("metrics", {}).get(name)
            pairs = [(value(r, "old"), value(r, "new")) for r in rounds]
            pairs = [(o, n) for o, n in pairs if o is not None and n is not None and o > 0]
            if not pairs:
                continue
            old = statistics.median(o for o, _ in pairs)
            new = statistics.median(n for _, n in pairs)
            spread = [n / o for o, n in pairs]
            loads = [r[side]["load_1min_before"] for r in rounds for side in ("old", "new") if side in r]
            rows.append({"stage": stage, "metric": name, "rounds": len(pairs), "load_1min": [min(loads), max(loads)],
                         "old_median_s": old,
                         "new_median_s": new, "ratio_of_medians": new / old,
                         "median_pair_ratio": statistics.median(spread),
                         "pair_ratio_range": [min(spread), max(spread)]})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| stage | antares time | rounds | load (1 min) | old median (s) | new median (s) | new/old (medians) "
             "| new/old (median of pairs) | pair ratios min-max |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["pair_ratio_range"]
        lines.append(f"| {r['stage']} | {r['metric']} | {r['rounds']} | {r['load_1min'][0]:.1f}-{r['load_1min'][1]:.1f} "
                     f"| {r['old_median_s']:.2f} | {r['new_median_s']:.2f} "
                     f"| {r['ratio_of_medians']:.2f} | {r['median_pair_ratio']:.2f} | {lo:.2f}-{hi:.2f} |")
    return "\n".join(lines)


def git_head(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="checkout of the old commit")
    parser.add_argument("--new", type=Path, default=HERE.parent, help="checkout of the new commit (default: this one)")
    parser.add_argument("--stage", nargs="+", choices=list(STAGES), default=list(STAGES))
    parser.add_argument("--quick", action="store_true", help="run.py's --quick sizes")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (each runs both trees once); >= 3 for medians")
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "antares-compare-refs",
                        help="parent of the two ANTARES_HOMEs (old/, new/)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "compare_refs.json")
    args = parser.parse_args()
    trees = {"old": args.old.resolve(), "new": args.new.resolve()}
    for side, tree in trees.items():
        if not (tree / "benchmarks").is_dir():
            print(f"--{side} {tree}: not a checkout of antares (no benchmarks/ folder); give the path of a checkout.",
                  file=sys.stderr)
            return 2
    if args.repeat < 1:
        print(f"--repeat must be >= 1. Got {args.repeat}.", file=sys.stderr)
        return 2
    doc = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"), "machine": machine(),
           "quick": args.quick, "repeat": args.repeat,
           "trees": {side: {"path": str(t), "commit": git_head(t)} for side, t in trees.items()},
           "order": "stage by stage; round r runs old then new for even r, new then old for odd r", "runs": {}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for stage in args.stage:  # a stage's rounds back to back: an interrupted comparison keeps whole stages
        stage_args = STAGES[stage][1 if args.quick else 0]
        rounds = doc["runs"].setdefault(stage, [])
        for r in range(args.repeat):
            entry: dict = {}
            for side in (("old", "new") if r % 2 == 0 else ("new", "old")):
                print(f"round {r + 1}/{args.repeat} {stage} {side}: benchmarks/{stage}.py {' '.join(stage_args)}",
                      flush=True)
                entry[side] = run_stage(trees[side], stage, stage_args, args.home / side, args.quick)
                e = entry[side]
                print(f"  {e['script_wall_s']:.1f} s, load {e['load_1min_before']:.2f}, "
                      + (e["error"].splitlines()[0] if "error" in e else
                         ", ".join(f"{k} {v:.2f} s" for k, v in e["metrics"].items())), flush=True)
            rounds.append(entry)
            doc["summary"] = summarise(doc["runs"])
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, indent=2))
            tmp.replace(args.out)
    print("\n" + markdown(doc["summary"]))
    failed = [f"{s} {side}" for s, rounds in doc["runs"].items() for e in rounds for side in e if "error" in e[side]]
    if failed:
        print(f"\n{len(failed)} run(s) failed: {', '.join(failed)} (see {args.out})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
