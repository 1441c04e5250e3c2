"""Run the benchmark suite: every heavy stage against its baseline, in one go.

Each stage is its own script (``benchmarks/<stage>.py``) that measures antares and a baseline
in the same run, prints ratios and goals and writes ``benchmarks/results/<stage>.json``. This
runner calls them one after the other (each in a fresh process, so one stage's memory does
not count for the next), reads their results, prints one summary table of every goal (MET or
MISSED) and refreshes that table in docs/performance.md.

    python benchmarks/run.py                      # every stage at its default size (~15-20 min on 2 cores)
    python benchmarks/run.py --stage segment predict
    python benchmarks/run.py --quick              # small sizes, a smoke run (~5 min)
    python benchmarks/run.py --summary-only       # the table from the stored results

Machines are noisy: the scripts report medians of >= 3 runs and ratios against baselines
measured in the same run; compare ratios, not absolute times, across machines.

Honest rows: a stage asked for in this run that measured nothing (its baseline is not
installed, it failed, or it wrote no result) is one row ``NOT MEASURED (why)`` — a result file
from an earlier run is never shown as if fresh. Stored results (``--summary-only``, or stages
not asked for) carry their date and machine in the row. A goal stated at one size (the
recipe's 2048² x 36 dates) is judged only at that size; other sizes show ``-``. The baselines
are installed by ``make bench``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import importlib.util
import shutil
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOC = HERE.parent / "docs" / "performance.md"
START, END = "<!-- benchmarks:summary:start -->", "<!-- benchmarks:summary:end -->"

#: stage -> (arguments at the default size, arguments for --quick)
STAGES = {
    "index": (["--n", "1000", "--repeat", "3"], ["--n", "200", "--repeat", "1"]),
    "recipe": (["--size", "1024", "--dates", "36", "--repeat", "3"], ["--size", "512", "--dates", "12", "--repeat", "1"]),
    "segment": (["--size", "1024", "--repeat", "3"], ["--size", "512", "--repeat", "1"]),
    "predict": ([], ["--quick", "--repeat", "1"]),
    "export": (["--objects", "1000000", "--repeat", "3"], ["--objects", "50000", "--repeat", "1"]),
    "scaling": (["--tiles", "1", "4", "16", "--tile", "1024", "--dates", "12"],
                ["--tiles", "1", "4", "16", "--tile", "256", "--dates", "4"]),
}


#: stage -> what its baseline needs: ("python", module) or ("program", executable)
BASELINES = {
    "index": [("program", "datacube")],
    "predict": [("python", "exactextract")],
    "export": [("program", "ogr2ogr"), ("program", "gdal_rasterize"), ("program", "gdal_translate")],
}
#: the size a stage's goals are stated for: (stage, key in the size entry, value)
GOAL_SIZE = {"recipe": {"size": 2048, "dates": 36}}


def missing_baseline(stage: str) -> str | None:
    """Why ``stage``'s baseline cannot run here (``None`` when everything it needs is installed)."""
    for kind, name in BASELINES.get(stage, []):
        if kind == "python" and importlib.util.find_spec(name) is None:
            return f"baseline Python package {name} not installed: run make bench"
        if kind == "program" and shutil.which(name) is None and not Path(sys.executable).with_name(name).exists():
            return f"baseline program {name} not on PATH: run make bench"
    return None


def not_measured(stage: str, why: str) -> dict:
    return _row(stage, f"NOT MEASURED ({why})", None, None, None, None, None)


def stored_note(doc: dict) -> str:
    """``stored: DATE, MACHINE`` for a result shown from a file rather than measured in this run."""
    runs = doc.get("runs") if isinstance(doc.get("runs"), dict) else {}
    entry = runs.get("default") or runs.get("custom") or runs.get("quick") or {}
    # a file's mtime is its checkout time: not used
    return stored_label(doc.get("date") or entry.get("date"), doc.get("machine") or entry.get("machine"))


def stored_label(date, machine_) -> str:
    """``stored result of DATE, MACHINE`` (either may be missing: then said so)."""
    if isinstance(machine_, dict):
        machine_ = ", ".join(f"{k} {v}" for k, v in machine_.items())
    return f"stored result of {date or 'date not recorded'}, {machine_ or 'machine not recorded'}"


def judged_at_goal_size(stage: str, size: dict) -> bool:
    """True if a size entry of ``stage`` is the size its goals are stated for."""
    wanted = GOAL_SIZE.get(stage)
    return wanted is None or all(size.get(k) == v for k, v in wanted.items())


def _get(doc, *path, default=None):
    for key in path:
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif isinstance(doc, list) and isinstance(key, int) and -len(doc) <= key < len(doc):
            doc = doc[key]
        else:
            return default
    return doc


def _row(stage, what, measured, baseline, ratio, goal, met):
    return {"stage": stage, "what": what, "measured": measured, "baseline": baseline,
            "ratio": ratio, "goal": goal, "met": met}


def summarise_index(doc) -> list[dict]:
    secs = _get(doc, "median_seconds", default={})
    return [_row("index", f"{doc.get('n_documents')} eo3 documents added",
                 f"{secs.get('antares', float('nan')):.1f} s", f"datacube dataset add {secs.get('datacube_cli', float('nan')):.1f} s",
                 doc.get("ratio_antares_vs_datacube_cli"), doc.get("goal"), doc.get("goal_met"))]


def summarise_recipe(doc) -> list[dict]:
    rows = []
    for size in doc.get("sizes", []) + doc.get("earlier_sizes", []):
        median = size.get("median", {})
        floor, recipe = _get(median, "floor", "wall_s"), _get(median, "recipe", "wall_s")
        # a size kept from an earlier run (recipe.py's earlier_sizes): shown with its date and machine
        when = f" [{stored_label(size['measured'], size.get('machine'))}]" if size.get("measured") else ""
        judged = judged_at_goal_size("recipe", size)
        rows.append(_row("recipe", f"apply_recipe {size.get('size')}² x {size.get('dates')} dates{when}",
                         f"{recipe:.1f} s" if recipe else None, f"read-only floor {floor:.1f} s" if floor else None,
                         size.get("ratio"), "recipe / floor <= 1.3 at 2048² x 36",
                         (size.get("ratio") or 99) <= 1.3 if judged else None))
        rss = _get(median, "recipe", "peak_rss_gb")
        rows.append(_row("recipe", f"peak RSS {size.get('size')}²{when}", f"{rss:.2f} GB" if rss else None, None, None,
                         "<= 4 GB at 2048² x 36", (rss is not None and rss <= 4.0) if judged else None))
    return rows


def summarise_segment(doc) -> list[dict]:
    rows = []
    met = doc.get("goals_met", {})
    for size in doc.get("sizes", []):
        mpix = size.get("mpix_per_s", {})
        med = size.get("median_s", {})
        if "bis" in mpix:
            rows.append(_row("segment", f"bis {size.get('size')}², {size.get('bands')} bands", f"{mpix['bis']:.2f} Mpix/s",
                             None, None, ">= 0.3 Mpix/s per core", met.get("bis_ge_0.3_mpix_s_per_core")))
        if "slic" in med and "skimage_slic" in med:
            paired = "slic_pair_ratios" in size  # the median of back-to-back pairs (older results: of the medians)
            rows.append(_row("segment", f"slic {size.get('size')}²" + (" (median of pair ratios)" if paired else ""),
                             f"{med['slic']:.2f} s", f"skimage slic {med['skimage_slic']:.2f} s",
                             size.get("slic_ratio_antares_vs_skimage", med["slic"] / med["skimage_slic"]),
                             "<= 1.2 x skimage", met.get("slic_ratio_le_1.2")))
        if "felzenszwalb" in mpix:
            rows.append(_row("segment", f"felzenszwalb {size.get('size')}²", f"{mpix['felzenszwalb']:.2f} Mpix/s",
                             None, None, "(no goal)", None))
    return rows


def summarise_predict(doc, mode: str | None = None) -> list[dict]:
    """The predict rows of ``runs[mode]`` (the size measured in this run: ``default`` or ``quick``), or with
    ``mode`` None of the stored entry (default, else custom, else quick); no row when that entry is missing.

    predict.py keeps one entry per size in its file: a ``--quick`` run rewrites the file but not its
    ``default`` entry, which must then not be shown as measured.
    """
    runs = doc.get("runs", {})
    entry = runs.get(mode) if mode else (runs.get("default") or runs.get("custom") or runs.get("quick"))
    if not isinstance(entry, dict):
        return []
    rows = []
    feats, pred = entry.get("features", {}), entry.get("prediction", {})
    if feats:
        ee = feats.get("exactextract", {})
        rows.append(_row("predict", f"object features (mean), {feats.get('objects'):,} objects, per 1024² tile",
                         f"{_get(feats, 'antares', 'tiled_objects_per_s', default=0):,.0f} objects/s",
                         f"exactextract {ee.get('objects_per_s', 0):,.0f} objects/s"
                         + (" (extrapolated)" if ee.get("extrapolated") else ""),
                         _get(feats, "goal", "value"), ">= 10 x exactextract", _get(feats, "goal", "met")))
    if pred:
        floor = _get(pred, "median_s", "floor")
        rows.append(_row("predict", f"predict + write {pred.get('objects'):,} objects (RF 100 trees)",
                         f"{pred.get('predict_and_write_s', float('nan')):.1f} s",
                         f"predict_proba {floor:.1f} s" if floor else None,
                         pred.get("ratio_predict_features_vs_floor"), "<= 60 s per 1 M objects on 2 cores",
                         _get(pred, "goal", "met")))
    return rows


def summarise_export(doc) -> list[dict]:
    med, rss = doc.get("median_s", {}), doc.get("peak_rss_gb", {})
    n = doc.get("objects", 0)
    return [
        _row("export", f"db_to_vector GPKG, {n:,} objects", f"{med.get('antares_vector', float('nan')):.1f} s"
             + (f", {rss['antares_vector']:.2f} GB" if rss.get("antares_vector") else ""),
             f"ogr2ogr {med.get('ogr2ogr', float('nan')):.1f} s", doc.get("ratio_vector_vs_ogr2ogr"),
             "same order as ogr2ogr; memory flat", None),
        _row("export", f"db_to_raster COG 10 m, {n:,} objects", f"{med.get('antares_raster', float('nan')):.1f} s"
             + (f", {rss['antares_raster']:.2f} GB" if rss.get("antares_raster") else ""),
             f"gdal_rasterize + COG {med.get('gdal_rasterize_cog', float('nan')):.1f} s", doc.get("ratio_raster_vs_gdal"),
             "(no goal)", None),
    ]


def summarise_scaling(doc) -> list[dict]:
    rows = []
    tiles = doc.get("tiles", [])
    pixels = doc.get("pixels", {})
    span = (f"{pixels[str(tiles[0])] / 1e6:.2g}-{pixels[str(tiles[-1])] / 1e6:.2g} Mpix" if tiles else "")
    for stage, v in doc.get("stages", {}).items():
        med = v.get("median", {})
        first, last = (med.get(str(tiles[0]), {}), med.get(str(tiles[-1]), {})) if tiles else ({}, {})
        measured = (f"{first.get('wall_s', float('nan')):.1f} -> {last.get('wall_s', float('nan')):.1f} s, "
                    f"{first.get('peak_rss_gb', float('nan')):.2f} -> {last.get('peak_rss_gb', float('nan')):.2f} GB")
        b_wall, b_rss = v.get("exponent_wall"), v.get("exponent_peak_rss_largest_two")
        rows.append(_row("scaling", f"{stage}, {span} ({len(tiles)} region sizes)", measured,
                         f"b time {b_wall:.2f}, b RSS {b_rss:.2f}" if b_wall is not None and b_rss is not None else None,
                         None, "b time <= 1.1; b RSS <= 0.1 (two largest)",
                         None if v.get("time_met") is None else bool(v.get("time_met") and v.get("memory_met"))))
    return rows


#: stages whose result file keeps one entry per size (``runs``: default, quick): the summary of a run shows the
#: entry of the size it measured
PER_SIZE = {"predict"}

SUMMARISE = {"index": summarise_index, "recipe": summarise_recipe, "segment": summarise_segment,
             "predict": summarise_predict, "export": summarise_export, "scaling": summarise_scaling}


def table(rows: list[dict]) -> str:
    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "MET" if v else "**MISSED**"
        if isinstance(v, float):
            return f"{v:.2f}"
        return str(v)

    head = "| stage | what | antares | baseline (same run) | ratio | goal | goal met |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(r[k]) for k in ("stage", "what", "measured", "baseline", "ratio", "goal", "met"))
                     + " |")
    return "\n".join(lines)


def machine() -> str:
    import os

    return f"{platform.node() or 'host'}: {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform()}"


def refresh_doc(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Performance\n"
    block = f"{START}\n{text}\n{END}"
    if START in doc and END in doc:
        doc = doc[:doc.index(START)] + block + doc[doc.index(END) + len(END):]
    else:
        head, _, rest = doc.partition("\n")
        doc = f"{head}\n\n## Summary (`python benchmarks/run.py`)\n\n{block}\n{rest}"
    DOC.write_text(doc, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", nargs="+", choices=list(STAGES), default=list(STAGES))
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--summary-only", action="store_true", help="only summarise the stored results")
    args = parser.parse_args()
    timings = {}
    timings_of = ""  # the run the stage wall times are of, when not this one
    unmeasured: dict[str, str] = {}  # stage asked for in this run -> why it measured nothing
    if not args.summary_only:
        for stage in args.stage:
            stage_args = STAGES[stage][1 if args.quick else 0]
            why = missing_baseline(stage)
            if why:
                print(f"\n=== {stage}: NOT MEASURED ({why})", flush=True)
                unmeasured[stage] = why
                continue
            print(f"\n=== {stage}: python benchmarks/{stage}.py {' '.join(stage_args)}", flush=True)
            result = RESULTS / f"{stage}.json"
            before = result.stat().st_mtime_ns if result.exists() else None
            start = time.monotonic()
            done = subprocess.run([sys.executable, str(HERE / f"{stage}.py"), *stage_args])
            timings[stage] = time.monotonic() - start
            if done.returncode != 0:
                print(f"=== {stage} exited with {done.returncode}", flush=True)
                unmeasured[stage] = f"benchmarks/{stage}.py exited with {done.returncode}"
            elif not result.exists() or result.stat().st_mtime_ns == before:
                unmeasured[stage] = f"benchmarks/{stage}.py wrote no result"
    timings_file = RESULTS / "run.json"
    if timings:
        RESULTS.mkdir(exist_ok=True)
        timings_file.write_text(json.dumps({"date": dt.datetime.now().isoformat(timespec="minutes"), "quick": args.quick,
                                            "stage_wall_s": timings, "total_s": sum(timings.values())}, indent=2))
    elif timings_file.exists():  # --summary-only: the wall times of the last full run, if any, with its date
        last = json.loads(timings_file.read_text())
        timings = {k: v for k, v in last.get("stage_wall_s", {}).items() if k in args.stage}
        timings_of = f" (of the run of {last.get('date') or 'date not recorded'})"
    rows = []
    for stage in args.stage:
        path = RESULTS / f"{stage}.json"
        if stage in unmeasured:
            rows.append(not_measured(stage, unmeasured[stage]))
            continue
        if not path.exists():
            rows.append(not_measured(stage, "no result stored; run python benchmarks/run.py --stage " + stage))
            continue
        doc = json.loads(path.read_text())
        if stage in PER_SIZE and not args.summary_only:  # only the entry of the size measured now
            stage_rows = SUMMARISE[stage](doc, "quick" if args.quick else "default")
        else:
            stage_rows = SUMMARISE[stage](doc)
        if not stage_rows:
            size = "--quick" if args.quick else "default"
            rows.append(not_measured(stage, f"benchmarks/{stage}.py stored no result of the {size} size"
                                     if not args.summary_only else "no result stored"))
            continue
        if args.summary_only:
            note = stored_note(doc)
            for row in stage_rows:
                if "[stored result of" not in row["what"]:  # a size kept from an earlier run has its own
                    row["what"] = f"{row['what']} [{note}]"
        rows.extend(stage_rows)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    head = (f"Stored results summarised {stamp} (nothing measured in this run; each row names its date and machine)"
            if args.summary_only else f"Last refreshed {stamp} on {machine()}" + (" (--quick sizes)" if args.quick else ""))
    text = (head + ".\n"
            + (f"Stage wall times{timings_of}: {', '.join(f'{k} {v / 60:.1f} min' for k, v in timings.items())}; "
               f"total {sum(timings.values()) / 60:.1f} min.\n" if timings else "")
            + "\n" + table(rows))
    print("\n" + text)
    missed = [r for r in rows if r["met"] is False]
    if missed:
        print(f"\n{len(missed)} goal(s) MISSED: " + "; ".join(f"{r['stage']}: {r['what']}" for r in missed)
              + " (see docs/performance.md for what limits them)")
    if not args.quick and not args.summary_only and not unmeasured:
        refresh_doc(text)
    elif not args.quick and not args.summary_only:
        print(f"docs/performance.md not refreshed: {len(unmeasured)} stage(s) NOT MEASURED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
