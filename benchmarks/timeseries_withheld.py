"""Reconstruction error of the time-series recipes' gap filling and smoothing on withheld real observations.

Romania (``../shared/data/nrt-romania-s2l2a``, 140 Sentinel-2 L2A dates 2015-08 .. 2021-01, 100 x 100
pixels at 10 m): the clear observations are SCL 4, 5, 6, 7 with B04 and B08 valid; NDVI =
(B08 - B04) / (B08 + B04) on DN / 10000. 20 % of the clear (date, pixel) observations are withheld at
random (``--seed``, default 0); the series is rebuilt from the others on regular steps
(``--every``, 1M and 10D by default, 2016-01-01 .. 2020-12-31, median composites) by each method of
:mod:`antares.timeseries`, and each withheld observation is compared with its step's value:

- ``none``: the composite of the step's remaining observations (no value when none is left);
- ``linear``: composites gap-filled linearly in time (edges: nearest);
- ``whittaker lambda=L``: Whittaker (d = 2, weight 1 per step with a composite) with fixed λ;
- ``whittaker vcurve``: λ per pixel by the V-curve.

RMSE and bias (reconstructed - withheld, NDVI units) over the withheld observations each method
covers, and over the common subset that every method covers (where ``none`` has a value).
Results go to ``benchmarks/results/timeseries_withheld.json``.

    python benchmarks/timeseries_withheld.py
    python benchmarks/timeseries_withheld.py --every 1M --seed 1
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import rasterio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "nrt-romania-s2l2a" / "geotiff" / "10m"
RESULTS = ROOT / "benchmarks" / "results" / "timeseries_withheld.json"
KEEP = (4, 5, 6, 7)
LAMBDAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 1000.0)


def read(data: Path):
    """(dates as datetime64[D], NDVI (time, y, x) float32 with NaN where not clear)."""
    days = sorted(p.name for p in data.iterdir() if p.is_dir())
    ndvi = []
    for day in days:
        bands = {}
        for band in ("B04", "B08", "SCL"):
            with rasterio.open(data / day / f"{band}.tif") as src:
                bands[band] = src.read(1)
        red, nir = (np.where(bands[b] == 0, np.nan, bands[b] / np.float32(10000)).astype(np.float32)
                    for b in ("B04", "B08"))
        with np.errstate(invalid="ignore", divide="ignore"):
            value = (nir - red) / (nir + red)
        ndvi.append(np.where(np.isin(bands["SCL"], KEEP) & np.isfinite(value), value, np.nan))
    return np.array(days, "datetime64[D]"), np.stack(ndvi).astype(np.float32)


def scores(reconstructed: np.ndarray, truth: np.ndarray) -> dict:
    ok = np.isfinite(reconstructed)
    err = reconstructed[ok].astype(np.float64) - truth[ok]
    return {"n": int(ok.sum()), "coverage": float(ok.mean()), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "bias": float(np.mean(err))}


def evaluate(days, ndvi, every: str, begin: str, end: str, seed: int, fraction: float) -> dict:
    from antares.timeseries import composite, regularise, step_calendar, step_centres_days, step_index

    steps = step_calendar(begin, end, every)
    which = step_index(days, steps)
    inside = which >= 0
    days, ndvi, which = days[inside], ndvi[inside], which[inside]
    clear = np.isfinite(ndvi)
    rng = np.random.default_rng(seed)
    withheld = clear & (rng.random(ndvi.shape) < fraction)
    kept = np.where(withheld, np.nan, ndvi)
    comps, counts = composite({"ndvi": kept}, clear & ~withheld, which, len(steps), "median")
    t = step_centres_days(steps)
    methods = {"none": regularise(comps["ndvi"], counts, t, "none", None)[0],
               "linear": regularise(comps["ndvi"], counts, t, "linear", None)[0]}
    for lam in LAMBDAS:
        methods[f"whittaker lambda={lam:g}"] = regularise(comps["ndvi"], counts, t, "linear", lam, 2)[0]
    methods["whittaker vcurve"] = regularise(comps["ndvi"], counts, t, "linear", "vcurve", 2)[0]
    tt, yy, xx = np.nonzero(withheld)
    truth = ndvi[tt, yy, xx].astype(np.float64)
    values = {name: series[which[tt], yy, xx] for name, series in methods.items()}
    common = np.isfinite(values["none"])
    return {"every": every, "steps": len(steps), "dates": int(len(days)), "clear": int(clear.sum()),
            "withheld": int(withheld.sum()),
            "methods": {name: {"all": scores(v, truth), "common": scores(v[common], truth[common])}
                        for name, v in values.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", nargs="+", default=["1M", "10D"])
    parser.add_argument("--begin", default="2016-01-01")
    parser.add_argument("--end", default="2020-12-31")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fraction", type=float, default=0.2)
    args = parser.parse_args()
    days, ndvi = read(DATA)
    out = {"data": str(DATA.relative_to(ROOT.parent)), "seed": args.seed, "fraction": args.fraction,
           "period": [args.begin, args.end], "results": []}
    for every in args.every:
        result = evaluate(days, ndvi, every, args.begin, args.end, args.seed, args.fraction)
        out["results"].append(result)
        print(f"steps {every} ({result['steps']} steps, {result['dates']} dates, {result['withheld']:,} withheld "
              f"of {result['clear']:,} clear observations)")
        print(f"  {'method':24s} {'coverage':>8s} {'RMSE':>7s} {'bias':>8s} | common: {'RMSE':>7s} {'bias':>8s}")
        for name, s in result["methods"].items():
            a, c = s["all"], s["common"]
            print(f"  {name:24s} {a['coverage']:8.1%} {a['rmse']:7.4f} {a['bias']:+8.4f} | "
                  f"        {c['rmse']:7.4f} {c['bias']:+8.4f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
