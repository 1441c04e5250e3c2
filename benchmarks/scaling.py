"""Benchmark: how each stage's cost grows with the region (issue #8: exponent <= 1.1, memory flat per tile).

The whole chain runs through the normal commands, each in a fresh process measured alone (wall,
CPU, peak RSS), on regions of 1, 4 and 16 tiles (``--tiles``) of TILE x TILE pixels at 20 m: with
the default 1024-pixel tiles, 1, 4 and 16 Mpix.

Inputs (benchmarks/synthetic.py): one tile of synthetic Sentinel-2 L2A (9 bands + SCL, ``--dates``
dates, clouds, shadows and swath edges) is written as COGs and copied side by side into a block of
tiles (the copies' geotransforms shifted by whole tiles: every tile has the same content, so every
tile costs the same and a stage's cost per pixel can be compared across region sizes); all of it
is indexed with ``antares index``. The scene's land-cover map of the first tile is the reference
raster for ``ingest_training_from_raster``; a random forest is fitted once (``model_fit`` on the
1-tile product) and used for every region.

Per region of N tiles, in a throwaway embedded database, with ``-sc sync`` (one process: the cost
of the work, not of the scheduling; add workers on a real run):

  apply_recipe   s2_20m_002 without terrain (16 measurements) over the N tiles
  segment        bis t=40 on 7 of them (band means), 1024-pixel tiles with 64-pixel margins
  model_predict_object  the stored forest on every object
  db_to_vector   the classification as a GeoPackage
  db_to_raster   the classification as a COG at 20 m

The exponent b of cost ~ pixels^b is fitted per stage over the region sizes (least squares in
log-log, on the medians of ``--repeat`` runs), for wall time and for peak RSS. Goals: b <= 1.1 for
time over all sizes (cost linear in pixels, no hidden quadratic step), and peak RSS flat: b <= 0.1
between the two largest regions (4 x the pixels in at most 1.15 x the memory; judged there because
a stage with bounded buffers, a batch of 50,000 objects or a window of pixels, grows until the
region fills them once). Results go to benchmarks/results/scaling.json.

    python benchmarks/scaling.py [--tiles 1 4 16] [--tile 1024] [--dates 12] [--repeat 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from synthetic import (CRS, LEGEND, RES, X0, Y0, bench_recipe, compile_loops, exponent, machine,  # noqa: E402
                       measured, replicate, tile_code, versions, write_inputs, write_reference)

GOAL_TIME_EXPONENT, GOAL_RSS_EXPONENT = 1.1, 0.1
STAGES = ["apply_recipe", "segment", "model_predict_object", "db_to_vector", "db_to_raster"]
SEGMENT_BANDS = ["blue_mean", "green_mean", "red_mean", "re2_mean", "nir_mean", "swir1_mean", "swir2_mean"]


def region_bbox(n_tiles: int, tile: int) -> list:
    """A square block of ``n_tiles`` tiles from the origin, half a pixel inside: exactly those tiles."""
    side = math.isqrt(n_tiles)
    if side * side != n_tiles:
        raise SystemExit(f"--tiles {n_tiles}: give square numbers of tiles (1, 4, 16, ...)")
    half = RES / 2
    return [X0 + half, Y0 + half, X0 + side * tile * RES - half, Y0 + side * tile * RES - half]


def chain(n: int, rep: int, args, ctx: dict) -> dict:
    """The chain on a region of ``n`` tiles; returns per stage the measured wall/CPU/RSS."""
    antares, env, tmp, logs = ctx["antares"], ctx["env"], ctx["tmp"], ctx["logs"]
    bbox = [*map(str, region_bbox(n, args.tile)), "--bbox-crs", CRS]
    tag = f"{n}_{rep}"
    feat, seg, cls = f"feat_{tag}", f"seg_{tag}", f"map_{tag}"
    out = tmp / f"out_{tag}"
    commands = {
        "apply_recipe": ["apply_recipe", "-recipe", ctx["recipe"], "-b", ctx["dates"][0].isoformat(),
                         "-e", ctx["dates"][-1].isoformat(), "-p", "synth_s2", "--name", feat, "--bbox", *bbox,
                         "--crs", CRS, "--resolution", RES, "--tile-size", args.tile, "--origin", X0, Y0,
                         "-sc", "sync", "--outdir", out / "feat"],
        "segment": ["segment", "-a", "bis", "-p", feat, "-n", seg, "--bbox", *bbox,
                    *[x for b in SEGMENT_BANDS for x in ("-b", b)], "-extra", "t=40", "--tile-size", 1024,
                    "-sc", "sync", "--outdir", out / "seg"],
        "model_predict_object": ["model_predict_object", "-p", feat, "-m", "MODEL", "-s", seg, "-n", cls,
                                 "--bbox", *bbox, "-sc", "sync"],
        "db_to_vector": ["db_to_vector", "-n", cls, "-f", out / "map.gpkg"],
        "db_to_raster": ["db_to_raster", "-n", cls, "-f", out / "map.tif", "--resolution", RES],
    }
    result = {}
    for stage in STAGES:
        cmd = [ctx["model"] if arg == "MODEL" else arg for arg in commands[stage]]
        result[stage] = measured([antares, *cmd], env, logs / f"{stage}_{tag}.log")
        if stage == "apply_recipe" and ctx["model"] is None:
            ctx["model"] = fit_model(feat, ctx)  # once, on the first (smallest) region's product: not measured
    shutil.rmtree(out, ignore_errors=True)
    result["objects"] = objects(ctx["settings"], cls)
    return result


def fit_model(product: str, ctx: dict) -> str:
    """Training samples from the reference raster and a random forest on ``product``: the model every region uses."""
    antares, env, logs = ctx["antares"], ctx["env"], ctx["logs"]
    measured([antares, "ingest_training_from_raster", ctx["reference"], "--scheme", "synth5", "--dataset", "synth_train",
              "--legend", ctx["legend"], "--per-class", 300, "--seed", 1], env, logs / "ingest_training.log")
    measured([antares, "model_fit", "-model", "rf", "-p", product, "-t", "synth_train", "--name", "synth_rf",
              "-sc", "sync"], env, logs / "model_fit.log")
    return "synth_rf"


def objects(settings, classification: str) -> int:
    """Objects with a prediction in ``classification``."""
    import sqlalchemy as sa

    from antares.db.engine import session_scope

    with session_scope(settings) as session:
        return session.execute(sa.text(
            "SELECT count(*) FROM antares.prediction p JOIN antares.classification c ON c.id = p.classification_id "
            "WHERE c.name = :n"), {"n": classification}).scalar()


def summarise(runs: dict, args, pixels: dict, setup: dict) -> dict:
    """Medians per region size and stage, exponents and goals."""
    stages = {}
    sizes = sorted(runs)
    for stage in STAGES:
        med = {n: {k: statistics.median(r[stage][k] for r in runs[n]) for k in ("wall_s", "cpu_s", "peak_rss_gb")}
               for n in sizes}
        px = [pixels[n] for n in sizes]
        b_wall = exponent(px, [med[n]["wall_s"] for n in sizes])
        b_cpu = exponent(px, [med[n]["cpu_s"] for n in sizes])
        b_rss = exponent(px, [med[n]["peak_rss_gb"] for n in sizes])
        # Memory is judged between the two largest regions: a stage whose buffers are bounded (a batch
        # of objects, a window of pixels) grows until the region fills them once, then stays flat.
        b_rss_top = exponent(px[-2:], [med[n]["peak_rss_gb"] for n in sizes[-2:]])
        stages[stage] = {
            "median": {str(n): med[n] for n in sizes},
            "mpix_per_s": {str(n): pixels[n] / 1e6 / med[n]["wall_s"] for n in sizes},
            "exponent_wall": b_wall, "exponent_cpu": b_cpu, "exponent_peak_rss": b_rss,
            "exponent_peak_rss_largest_two": b_rss_top,
            "time_met": None if b_wall is None else b_wall <= GOAL_TIME_EXPONENT,
            "memory_met": None if b_rss_top is None else b_rss_top <= GOAL_RSS_EXPONENT,
        }
    missed = [f"{s}: cost exponent {v['exponent_wall']:.2f} > {GOAL_TIME_EXPONENT}" for s, v in stages.items()
              if v["time_met"] is False]
    missed += [f"{s}: peak-RSS exponent between the two largest regions {v['exponent_peak_rss_largest_two']:.2f} > "
               f"{GOAL_RSS_EXPONENT}" for s, v in stages.items() if v["memory_met"] is False]
    return {
        "benchmark": "scaling",
        "what": "the chain apply_recipe -> segment bis -> model_predict_object -> db_to_vector -> db_to_raster through "
                "the CLI (-sc sync, fresh process per command) on regions of 1, 4, 16 tiles of synthetic S2 L2A; "
                "exponent b of cost ~ pixels^b",
        "tile": args.tile, "dates": args.dates, "repeat": args.repeat, "tiles": sizes,
        "pixels": {str(n): pixels[n] for n in sizes},
        "objects": {str(n): statistics.median(r["objects"] for r in runs[n]) for n in sizes},
        "setup": setup, "stages": stages, "runs": {str(n): runs[n] for n in sizes},
        "goals": {"time": f"exponent of wall time vs pixels <= {GOAL_TIME_EXPONENT}",
                  "memory": f"exponent of peak RSS vs pixels between the two largest regions <= {GOAL_RSS_EXPONENT} "
                            "(flat: independent of the region's size once its buffers are full)", "missed": missed},
        "machine": machine(), "versions": versions(), "date": time.strftime("%Y-%m-%d"),
    }


def print_summary(summary: dict) -> None:
    sizes = summary["tiles"]
    mp = {n: summary["pixels"][str(n)] / 1e6 for n in sizes}
    print(f"\nmedians of {summary['repeat']} run(s); {summary['tile']}² tiles, {summary['dates']} dates; objects "
          + ", ".join(f"{summary['objects'][str(n)]:,.0f} at {mp[n]:.2g} Mpix" for n in sizes))
    head = "".join(f"{f'{mp[n]:.2g} Mpix s':>11}" for n in sizes) + "".join(f"{f'{mp[n]:.2g} Mpix GB':>12}" for n in sizes)
    print(f"{'stage':<22}{head}{'b time':>8}{'b RSS':>7}{'b RSS top':>10}  goals")
    for stage, v in summary["stages"].items():
        med = v["median"]
        cells = "".join(f"{med[str(n)]['wall_s']:11.1f}" for n in sizes) + "".join(
            f"{med[str(n)]['peak_rss_gb']:12.2f}" for n in sizes)
        bw, br, bt = v["exponent_wall"], v["exponent_peak_rss"], v["exponent_peak_rss_largest_two"]
        verdict = (f"time {'met' if v['time_met'] else 'MISSED'}, memory {'met' if v['memory_met'] else 'MISSED'}"
                   if bw is not None else "-")
        print(f"{stage:<22}{cells}{'-' if bw is None else f'{bw:8.2f}'}{'-' if br is None else f'{br:7.2f}'}"
              f"{'-' if bt is None else f'{bt:10.2f}'}  {verdict}")
    for line in summary["goals"]["missed"]:
        print(f"MISSED: {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, nargs="+", default=[1, 4, 16], help="Region sizes in tiles (squares).")
    parser.add_argument("--tile", type=int, default=1024, help="Tile side in pixels.")
    parser.add_argument("--dates", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    tiles = sorted(set(args.tiles))
    for n in tiles:
        region_bbox(n, args.tile)

    from antares.config import load_settings
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database

    dates = [dt.date(2021, 1, 3) + dt.timedelta(days=30 * i * 12 // args.dates) for i in range(args.dates)]
    tmp = Path(tempfile.mkdtemp(prefix="antares-bench-scaling-"))
    need = args.tile ** 2 * max(tiles) * (args.dates * 19 + 16 * 4 * 2)
    if shutil.disk_usage(tmp).free < need:
        shutil.rmtree(tmp)
        raise SystemExit(f"not enough free disk under {tmp.parent}: about {need / 2**30:.1f} GB needed; set TMPDIR.")
    cluster = LocalCluster(tmp / "home")
    cluster.start()
    try:
        url = cluster.url()
        settings = load_settings(flags={"db_url": url, "home": str(tmp / "home")}, environ={})
        init_database(settings)
        env = {**os.environ, "ANTARES_DB_URL": url, "ANTARES_HOME": str(tmp / "home")}
        logs = tmp / "logs"
        logs.mkdir()
        inputs = tmp / "inputs"
        t0 = time.perf_counter()
        scene = write_inputs(inputs, args.tile, dates, tile=tile_code(0, 0))
        generated = time.perf_counter() - t0
        side = math.isqrt(max(tiles))
        t0 = time.perf_counter()
        replicate(inputs, tile_code(0, 0), args.tile, side, side)
        copied = time.perf_counter() - t0
        reference = write_reference(tmp / "reference.tif", scene)
        (tmp / "legend.csv").write_text(LEGEND)
        antares = Path(sys.executable).with_name("antares")
        index = measured([antares, "index", "--path", inputs, "--dataset_name", "s2_bands", "--product", "synth_s2",
                          "--no-verify"], env, logs / "index.log")
        recipe = bench_recipe(tmp)
        compiled = compile_loops(recipe)
        n_files = len(list(inputs.rglob("*.tif")))
        print(f"inputs: {side}x{side} tiles of {args.tile}² x {len(dates)} dates ({n_files} COGs) generated in "
              f"{generated:.0f} s + copied in {copied:.0f} s, indexed in {index['wall_s']:.0f} s; "
              f"numba loops ready in {compiled:.1f} s (not measured)", flush=True)
        setup = {"generate_s": generated, "copy_s": copied, "index": index, "files": n_files}
        ctx = {"antares": antares, "env": env, "tmp": tmp, "logs": logs, "recipe": recipe, "dates": dates,
               "settings": settings, "reference": reference, "legend": tmp / "legend.csv", "model": None}
        runs = {n: [] for n in tiles}
        for rep in range(args.repeat):
            for n in tiles:
                t0 = time.perf_counter()
                runs[n].append(chain(n, rep, args, ctx))
                print(f"  {n:>2} tile(s), run {rep + 1}: " + ", ".join(
                    f"{s} {runs[n][-1][s]['wall_s']:.1f} s/{runs[n][-1][s]['peak_rss_gb']:.2f} GB" for s in STAGES)
                    + f" ({runs[n][-1]['objects']:,} objects; {time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    summary = summarise(runs, args, {n: n * args.tile ** 2 for n in tiles}, setup)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "scaling.json").write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
