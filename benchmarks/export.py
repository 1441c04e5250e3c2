"""Benchmark: ``db_to_vector`` and ``db_to_raster`` of a large classification against ``ogr2ogr``.

A throwaway PostGIS cluster gets a classification of N square objects (``--objects``,
default 1,000,000: a grid of 20 m x 20 m squares of one 10 m... 2 x 2 pixel each in EPSG:32633,
written straight into ``antares.segment`` / ``antares.prediction`` with ``generate_series``).

- antares: ``antares.pipeline.export.db_to_vector`` to a GeoPackage (streamed in batches,
  with the QGIS style embedded and the atomic rename);
- baseline in the same run: ``ogr2ogr -f GPKG`` from the same PostGIS tables with the same
  attributes (``segment_id, code, class, confidence, entropy, area_m2``) through one SQL join;
- ``db_to_raster`` at 10 m (the squares are 2 x 2 pixels) against ``gdal_rasterize`` of the
  ogr2ogr GeoPackage into a GeoTIFF of the same grid, then ``gdal_translate -of COG``.

Goal (issue #7): export cost of the same order as ogr2ogr (ratio printed; no hard goal) with
memory that does not grow with the number of objects (peak RSS printed).

    python benchmarks/export.py [--objects N] [--repeat R]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def populate(url: str, n: int) -> None:
    """A scheme of 6 classes, a model, a segmentation and N predicted square objects."""
    import sqlalchemy as sa

    side = int(n ** 0.5)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        scheme = conn.execute(sa.text("INSERT INTO antares.class_scheme (name) VALUES ('bench') RETURNING id")).scalar()
        for code, name, colour in [(1, "forest", "#1b7837"), (2, "grassland", "#b8e186"), (3, "cropland", "#fee08b"),
                                   (4, "urban", "#d73027"), (5, "water", "#4575b4"), (6, "bare", "#bababa")]:
            conn.execute(sa.text("INSERT INTO antares.legend_class VALUES (:s, :c, :n, :col)"),
                         {"s": scheme, "c": code, "n": name, "col": colour})
        model = conn.execute(sa.text("INSERT INTO antares.model (name, kind, scheme_id, product, blob) "
                                     "VALUES ('bench', 'rf', :s, 'bench', '\\x00') RETURNING id"), {"s": scheme}).scalar()
        seg = conn.execute(sa.text("INSERT INTO antares.segmentation (name, product, algorithm, crs) "
                                   "VALUES ('bench', 'bench', 'grid', 'EPSG:32633') RETURNING id")).scalar()
        cid = conn.execute(sa.text("INSERT INTO antares.classification (name, segmentation_id, model_id) "
                                   "VALUES ('bench', :g, :m) RETURNING id"), {"g": seg, "m": model}).scalar()
        conn.execute(sa.text(
            "INSERT INTO antares.segment (segmentation_id, segment_id, geom, area_m2, pixel_count) "
            "SELECT :g, i, ST_Multi(ST_MakeEnvelope(400000 + (i % :side) * 20, 5800000 + (i / :side) * 20, "
            "400020 + (i % :side) * 20, 5800020 + (i / :side) * 20, 32633)), 400, 4 FROM generate_series(0::bigint, :n - 1) i"),
            {"g": seg, "side": side, "n": n})
        conn.execute(sa.text(
            "INSERT INTO antares.prediction SELECT :c, i, 1 + (i * 7919) % 6, 0.5 + ((i * 104729) % 500) / 1000.0, "
            "((i * 31) % 1000) / 600.0 FROM generate_series(0::bigint, :n - 1) i"), {"c": cid, "n": n})
        conn.execute(sa.text("ANALYZE antares.segment; ANALYZE antares.prediction"))
    engine.dispose()


def timed_child(argv: list[str]) -> tuple[float, float | None]:
    """(wall seconds, peak RSS GB as the child reports it, or None) of a child process."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-3:]}")
    peaks = [int(line.split("=")[1]) for line in proc.stdout.splitlines() if line.startswith("peak_rss_kb=")]
    return wall, (peaks[-1] / 1024 / 1024 if peaks else None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one export in a fresh process, so that its peak RSS is its own
        from antares.config import load_settings
        from antares.pipeline.export import db_to_raster, db_to_vector

        kind, url, home, path = args.child
        settings = load_settings(flags={"db_url": url, "home": home}, environ={})
        if kind == "vector":
            db_to_vector(settings, "bench", path, overwrite=True)
        else:
            db_to_raster(settings, "bench", path, 10.0, overwrite=True)
        print(f"peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
        return 0

    from antares.config import load_settings
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database

    tmp = Path(tempfile.mkdtemp(prefix="antares-bench-export-"))
    cluster = LocalCluster(tmp / "home")
    cluster.start()
    results = {k: [] for k in ("antares_vector", "ogr2ogr", "antares_raster", "gdal_rasterize_cog")}
    rss = {"antares_vector": [], "antares_raster": []}
    try:
        url = cluster.url()
        init_database(load_settings(flags={"db_url": url, "home": str(tmp / "home")}, environ={}))
        t0 = time.perf_counter()
        populate(url, args.objects)
        print(f"{args.objects:,} objects written into PostGIS in {time.perf_counter() - t0:.1f} s (not timed)")
        from sqlalchemy.engine import make_url

        u = make_url(url)
        pg = f"PG:host={u.host} port={u.port} dbname={u.database} user={u.username} password={u.password}"
        sql = ("SELECT s.segment_id, p.class_code AS code, l.name AS class, p.confidence, p.entropy, s.area_m2, s.geom "
               "FROM antares.segment s JOIN antares.prediction p ON p.segment_id = s.segment_id "
               "JOIN antares.classification c ON c.id = p.classification_id AND c.name = 'bench' "
               "JOIN antares.model m ON m.id = c.model_id "
               "JOIN antares.legend_class l ON l.scheme_id = m.scheme_id AND l.code = p.class_code "
               "WHERE s.segmentation_id = c.segmentation_id ORDER BY s.segment_id")
        me = [sys.executable, __file__, "--child"]
        for r in range(args.repeat):
            wall, peak = timed_child([*me, "vector", url, str(tmp / "home"), str(tmp / "antares.gpkg")])
            results["antares_vector"].append(wall)
            rss["antares_vector"].append(peak)
            (tmp / "ogr.gpkg").unlink(missing_ok=True)
            wall, _ = timed_child(["ogr2ogr", "-f", "GPKG", str(tmp / "ogr.gpkg"), pg, "-sql", sql, "-nln", "bench"])
            results["ogr2ogr"].append(wall)
            wall, peak = timed_child([*me, "raster", url, str(tmp / "home"), str(tmp / "antares.tif")])
            results["antares_raster"].append(wall)
            rss["antares_raster"].append(peak)
            side = int(args.objects ** 0.5)
            t0 = time.perf_counter()
            (tmp / "ogr.tif").unlink(missing_ok=True)
            (tmp / "ogr_cog.tif").unlink(missing_ok=True)
            subprocess.run(["gdal_rasterize", "-q", "-a", "code", "-tr", "10", "10", "-te", "400000", "5800000",
                            str(400000 + side * 20), str(5800000 + (args.objects // side + 1) * 20), "-ot", "Byte",
                            "-a_nodata", "0", "-co", "TILED=YES", "-l", "bench", str(tmp / "ogr.gpkg"), str(tmp / "ogr.tif")],
                           check=True)
            subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "RESAMPLING=MODE",
                            str(tmp / "ogr.tif"), str(tmp / "ogr_cog.tif")], check=True)
            results["gdal_rasterize_cog"].append(time.perf_counter() - t0)
            print(f"run {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in results.items()), flush=True)
    finally:
        cluster.stop()
    med = {k: statistics.median(v) for k, v in results.items()}
    summary = {
        "benchmark": "export", "objects": args.objects, "repeat": args.repeat, "median_s": med, "runs_s": results,
        "peak_rss_gb": {k: max(v) for k, v in rss.items()},
        "ratio_vector_vs_ogr2ogr": med["antares_vector"] / med["ogr2ogr"],
        "ratio_raster_vs_gdal": med["antares_raster"] / med["gdal_rasterize_cog"],
        "note": "antares includes the QGIS style, the atomic rename and the COG colour table; ogr2ogr/gdal do not",
        "machine": {"node": platform.node(), "python": platform.python_version(), "platform": platform.platform()},
        "date": dt.datetime.now().isoformat(timespec="seconds"),
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "export.json").write_text(json.dumps(summary, indent=2))
    print(f"\ndb_to_vector {args.objects:,} objects: {med['antares_vector']:.1f} s vs ogr2ogr {med['ogr2ogr']:.1f} s "
          f"(ratio {summary['ratio_vector_vs_ogr2ogr']:.2f}); peak RSS {summary['peak_rss_gb']['antares_vector']:.2f} GB")
    print(f"db_to_raster at 10 m: {med['antares_raster']:.1f} s vs gdal_rasterize + COG {med['gdal_rasterize_cog']:.1f} s "
          f"(ratio {summary['ratio_raster_vs_gdal']:.2f}); peak RSS {summary['peak_rss_gb']['antares_raster']:.2f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
