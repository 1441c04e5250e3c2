"""Timeline of one ``antares`` command: when each phase of a time-series tile runs, on which thread, and the CPU of each.

Wraps (in this process only, no code changes) the functions of the phases - block reads
(``GridReader.window``, ``MarginWindows.window``), the block computation (``_raw_block_series``),
the step writes (``write_cog_bands``) and their read-back (``count_valid_bands``), the eo3 YAMLs,
indexing (``index_documents``), the database connections - records (label, thread, start, end,
thread CPU) of each call from the process's start, samples the process's CPU (user + sys) every
0.5 s, runs the command, and prints per phase of the run (start-up, tile preparation, compute,
writes, after) its wall time, CPU and the cores it kept busy. Used for docs/timeseries.md.

    NUMPY_MADVISE_HUGEPAGE=0 python benchmarks/timeseries_timeline.py --out tl.json -- apply_recipe -recipe R ... -sc sync
    python benchmarks/timeseries_timeline.py --show tl.json        # every call, in order
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import resource
import sys
import threading
import time

os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

WRAPPED = [("antares.cube.blockread", "GridReader.window", "read_window"),
           ("antares.cube.blockread", "MarginWindows.window", "margin_window"),
           ("antares.pipeline.timeseries_blocks", "_raw_block_series", "compute"),
           ("antares.pipeline.timeseries", "series_tile", "series_tile"),
           ("antares.cube.write", "write_cog_bands", "write_cog"),
           ("antares.cube.write", "count_valid_bands", "readback"),
           ("antares.cube.write", "write_yaml", "yaml"),
           ("antares.cube.catalog", "index_documents", "index"),
           ("antares.cube.catalog", "get_datasets", "get_datasets"),
           ("antares.cube.index", "connect", "connect"),
           ("antares.pipeline.timeseries", "apply_timeseries", "apply_timeseries")]


def process_start() -> float:
    """The epoch time this process started (``/proc``), so start-up before Python counts too."""
    with open("/proc/self/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        boot = float(next(line for line in f if line.startswith("btime")).split()[1])
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def phases(doc: dict) -> list:
    """(name, start, end, CPU s) of start-up, tile preparation, compute, writes and what follows, from a timeline."""
    samples, events = doc["samples"], doc["events"]

    def cpu_at(t):
        before = [c for s, c in samples if s <= t]
        return before[-1] if before else 0.0

    first = {label: min(e[2] for e in events if e[0] == label) for label in {e[0] for e in events}}
    last = {label: max(e[3] for e in events if e[0] == label) for label in first}
    marks = [("start-up", 0.0, first["series_tile"]), ("tile preparation", first["series_tile"], first["compute"]),
             ("compute (reads prefetched)", first["compute"], last["compute"]),
             ("step writes", last["compute"], last["write_cog"]), ("eo3, indexing, exit", last["write_cog"], doc["end"])]
    return [(name, a, b, cpu_at(b) - cpu_at(a)) for name, a, b in marks]


def show(path: str) -> None:
    doc = json.load(open(path))
    for label, thread, a, b, cpu in sorted(doc["events"], key=lambda e: e[2]):
        if label not in ("read_window", "margin_window", "yaml"):
            print(f"{a:7.2f} {b:7.2f} {b - a:6.2f} s  cpu {cpu:5.2f}  {label:16s} {thread}")
    summary(doc)


def summary(doc: dict) -> None:
    totals = {}
    for label, _, a, b, cpu in doc["events"]:
        n, wall, c = totals.get(label, (0, 0.0, 0.0))
        totals[label] = (n + 1, wall + b - a, c + cpu)
    print(f"process: {doc['end']:.1f} s wall, user {doc['user']:.1f} s, sys {doc['sys']:.1f} s", file=sys.stderr)
    for label, (n, wall, cpu) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        print(f"  {label:18s} calls {n:4d}  wall {wall:7.2f} s  thread CPU {cpu:7.2f} s", file=sys.stderr)
    if doc.get("samples") and "compute" in totals and "write_cog" in totals:
        for name, a, b, cpu in phases(doc):
            print(f"  {name:28s} {a:6.2f}-{b:6.2f} s  wall {b - a:6.2f} s  CPU {cpu:6.2f} s  cores {cpu / max(b - a, 1e-9):.2f}",
                  file=sys.stderr)


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--show"]:
        show(args[1])
        return 0
    if args[:1] != ["--out"] or "--" not in args:
        raise SystemExit(__doc__)
    out, command = args[1], args[args.index("--") + 1:]
    start = process_start()
    events, samples = [], []

    def wrap(module, name, label):
        owner = importlib.import_module(module)
        if "." in name:
            cls, name = name.split(".")
            owner = getattr(owner, cls)
        real = getattr(owner, name)

        def timed(*a, **k):
            t, c = time.time(), time.thread_time()
            try:
                return real(*a, **k)
            finally:
                events.append((label, threading.current_thread().name, t - start, time.time() - start,
                               time.thread_time() - c))
        setattr(owner, name, timed)

    def sample():
        tick = os.sysconf("SC_CLK_TCK")
        while True:
            with open("/proc/self/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            samples.append((time.time() - start, (int(fields[11]) + int(fields[12])) / tick))
            time.sleep(0.5)

    import antares.cli.main as cli

    for module, name, label in WRAPPED:
        wrap(module, name, label)
    threading.Thread(target=sample, daemon=True).start()

    def report():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        doc = {"end": time.time() - start, "user": usage.ru_utime, "sys": usage.ru_stime, "events": events,
               "samples": list(samples)}
        with open(out, "w") as f:
            json.dump(doc, f)
        summary(doc)

    atexit.register(report)
    return cli.main(command)


if __name__ == "__main__":
    sys.exit(main())
