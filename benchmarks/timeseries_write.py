"""Benchmark: writing one step of a 2048² time-series tile, old layout against new (issue 18, docs/timeseries.md).

One step = 4 float32 variables (smooth reflectance-like fields with full mantissas, as after Whittaker
smoothing; a 100-row NaN strip) plus the QA bands clear_count and filled. In the same run, median of
``--repeat``, wall and CPU seconds (this process, all threads):

  old       6 single-band float32 COGs by ``write_cog`` (DEFLATE, overviews, read back), the layout before
  new       one 4-band float32 COG + one 2-band uint16 QA COG by ``write_cog_bands`` (ZSTD 1, no overviews,
            read back per band), the layout of ``apply_recipe`` with ``steps:`` now
  readback  ``count_valid_bands`` of the two new files alone (the verification's share of ``new``)

    python benchmarks/timeseries_write.py [--size 2048] [--repeat 3]   # results/timeseries_write.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


sys.path.insert(0, str(HERE))
from timeseries_phases import timed  # noqa: E402  (medians of wall and CPU time)


def main() -> int:
    import numpy as np
    from odc.geo.geobox import GeoBox
    from scipy.ndimage import gaussian_filter

    from antares.cube.warp import xr_from_array
    from antares.cube.write import count_valid_bands, write_cog, write_cog_bands
    from antares.recipes.specs import stored_uint16

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.size
    geobox = GeoBox.from_bbox((500000, 4000000, 500000 + 20 * n, 4000000 + 20 * n), "EPSG:32633", resolution=20)
    rng = np.random.default_rng(0)
    bands = []
    for _ in range(4):
        base = gaussian_filter(rng.random((n, n)).astype(np.float32), 8) * 0.3
        dn = np.round(base * 10000 + rng.normal(0, 50, (n, n))) / 10000
        bands.append((dn * 0.9 + 0.05 * dn ** 2).astype(np.float32))
    for b in bands:
        b[:100] = np.nan
    count = rng.integers(0, 5, (n, n)).astype(np.float32)
    filled = rng.choice([0, 1, 2], (n, n), p=[0.8, 0.15, 0.05]).astype(np.float32)
    filled[:100] = np.nan
    tmp = Path(tempfile.mkdtemp(prefix="antares-bench-write-"))

    def old():
        for i, values in enumerate(bands):
            write_cog(xr_from_array(values, geobox), tmp / f"old_{i}.tif", nodata=float("nan"), resampling="average")
        for name, values in (("clear_count", count), ("filled", filled)):
            write_cog(xr_from_array(values, geobox), tmp / f"old_{name}.tif", nodata=float("nan"), resampling="nearest")

    def new():
        write_cog_bands(bands, geobox, tmp / "step.tif", float("nan"))
        write_cog_bands([stored_uint16(count, 65535, "clear_count"), stored_uint16(filled, 65535, "filled")], geobox,
                        tmp / "step_qa.tif", 65535)

    try:
        phases = {"old": timed(old, args.repeat)}
        phases["old"]["mib"] = sum(p.stat().st_size for p in tmp.glob("old_*.tif")) / 2 ** 20
        phases["new"] = timed(new, args.repeat)
        phases["new"]["mib"] = sum(p.stat().st_size for p in tmp.glob("step*.tif")) / 2 ** 20
        phases["readback"] = timed(lambda: [count_valid_bands(tmp / f) for f in ("step.tif", "step_qa.tif")], args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {"benchmark": f"writing one step of a {n}x{n} time-series tile (4 float32 variables + clear_count + "
                            "filled), old layout (6 COGs, DEFLATE, overviews) vs new (float32 + uint16 QA COG, ZSTD 1, "
                            "no overviews); both read back; median of the repeats, same run",
               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "load": os.getloadavg()[0],
               "repeat": args.repeat, "phases": phases,
               "cpu_ratio_old_new": phases["old"]["cpu_s"] / phases["new"]["cpu_s"]}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "timeseries_write.json").write_text(json.dumps(summary, indent=2))
    for name, p in phases.items():
        print(f"{name:9s} wall {p['wall_s']:6.2f} s   cpu {p['cpu_s']:6.2f} s" + (f"   {p['mib']:.1f} MiB" if "mib" in p else ""))
    print(f"CPU old / new {summary['cpu_ratio_old_new']:.2f}; load {summary['load']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
