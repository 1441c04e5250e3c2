"""Study (issue 18, Brandenburg): texture and shape against spectral-only, measured honestly.

Last session's study (benchmarks/segments_unit_cli.py --study) picked the best of 19 configurations on the folds of
seeds 0 and 1 (moving-window texture averaged per segment, +5.0 / +5.0 points of OA). This script measures, on
**fresh seeds** (new block-fold assignments; default 2..6), with every candidate **declared here before the run**:

1. the configuration chosen last session (``MW``: the segment means of the four bands, NDVI and the moving-window
   GLCM of NDVI and B08) against spectral-only (``SPECTRAL``: the segment means of the four bands), in the same
   folds: the OA difference per seed, its mean and sd (the confirmatory test of the +5 point goal);
2. **nested selection**: in each outer training fold, the candidate of :data:`CANDIDATES` with the best mean OA of an
   inner 5-fold blocked CV (the same splitter on the outer training rows) is refitted on the outer training fold and
   scored on the outer test fold; the outer OA of that procedure, minus spectral-only's outer OA in the same folds;
3. every candidate's plain outer CV OA (for reading only: choosing the best of these is selection again).

Data: as benchmarks/segments_unit_cli.py --study (its products, training set and SLIC segmentation; segments lying by
more than half in one OSM polygon, grouped in 1000 m blocks). One training table is exported through the CLI
(``antares model_fit -filename``) with every column any candidate uses; candidates are column subsets of it, so all of
them see the same rows (a segment without a GLCM pixel pair in a chosen band is dropped for all) and the same folds
(:func:`antares.models.fitting._splits`, StratifiedGroupKFold with the seed: the folds model_fit uses), and the
estimator is model_fit's (``make_estimator('rf', {'n_estimators': 100}, seed)``).

    PYTHONPATH=$PWD python benchmarks/texture_nested.py [--seeds 2 3 4 5 6]     # results/texture_nested.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

G4 = ("contrast", "homogeneity", "entropy", "correlation")
GLCM_BANDS = ("B02", "B03", "B04", "B08", "NDVI")
SP = ["mean", *(f"glcm_{f}" for f in G4), *(f"glcm:{b}" for b in GLCM_BANDS), "shape"]
"""The exported table's -sp: every column of every candidate."""
BANDS = ["B02", "B03", "B04", "B08"]
MW = [f"{s}_MW_{f.upper()}" for s in ("NDVI", "B08") for f in G4]
SHAPE = ["area", "perimeter", "compactness", "elongation", "rectangularity"]


def glcm(bands):
    return [f"{b}_glcm_{f}" for f in G4 for b in bands]


SPECTRAL = [f"{b}_mean" for b in BANDS]
CANDIDATES = {  # declared before the fresh-seed run (2026-12-03), all reported
    "mw": SPECTRAL + ["NDVI_mean"] + [f"{m}_mean" for m in MW],                       # last session's choice
    "mw+shape": SPECTRAL + ["NDVI_mean"] + [f"{m}_mean" for m in MW] + SHAPE,
    "glcm4": SPECTRAL + glcm(BANDS),                                                 # last session's per-object best
    "glcm4+shape": SPECTRAL + glcm(BANDS) + SHAPE,
    "mw+glcm(B08,NDVI)": SPECTRAL + ["NDVI_mean"] + [f"{m}_mean" for m in MW] + glcm(["B08", "NDVI"]),
    "mw+glcm(B08,NDVI)+shape": SPECTRAL + ["NDVI_mean"] + [f"{m}_mean" for m in MW] + glcm(["B08", "NDVI"]) + SHAPE,
    "mw+glcm(all5)+shape": SPECTRAL + ["NDVI_mean"] + [f"{m}_mean" for m in MW] + glcm(GLCM_BANDS) + SHAPE,
}


def export_table(path: Path) -> tuple[float, str]:
    """Set up the throwaway database as segments_unit_cli --study does and export the superset table to ``path``."""
    import yaml
    from click.testing import CliRunner

    from antares.config import load_settings
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database
    from segments_unit_cli import DATA, derived_stacks, invoke

    home = Path(tempfile.mkdtemp(prefix="antares-nested-"))
    cluster = LocalCluster(home / "pg")
    cluster.start()
    try:
        settings = load_settings(flags={"db_url": cluster.url(), "home": str(home / "home")}, environ={})
        init_database(settings)
        env = {"ANTARES_DB_URL": cluster.url(), "ANTARES_HOME": str(home / "home")}
        runner = CliRunner()
        product = {"name": "bb_b10", "metadata_type": "eo3", "metadata": {"product": {"name": "bb_b10"}},
                   "description": "Brandenburg L1C 10 m bands", "measurements": [
                       {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in BANDS]}
        (home / "bb_b10.yaml").write_text(yaml.safe_dump(product))
        invoke(runner, ["product", "add", str(home / "bb_b10.yaml")], env)
        invoke(runner, ["index", "--path", str(DATA / "IMG_DATA"), "--dataset_name", "s2_bands", "--product", "bb_b10",
                        "--no-verify", "--pattern",
                        r"(?P<tile>T\d{2}[A-Z]{3})_(?P<date>\d{8}T\d{6})_(?P<band>B0[2348])\.jp2$"], env)
        path_mw, names = derived_stacks(home)["bb_mw"]
        definition = {"name": "bb_mw", "metadata_type": "eo3", "metadata": {"product": {"name": "bb_mw"}},
                      "description": "Brandenburg bands, NDVI, moving-window GLCM", "measurements": [
                          {"name": b, "dtype": "float32", "nodata": float("nan"), "units": "1"} for b in names]}
        (home / "bb_mw.yaml").write_text(yaml.safe_dump(definition))
        invoke(runner, ["product", "add", str(home / "bb_mw.yaml")], env)
        invoke(runner, ["index", "--path", str(path_mw), "--dataset_name", "s2_bands", "--product", "bb_mw",
                        "--no-verify", "--pattern", r"(?P<date>\d{8}T\d{6})\.tif$"], env)
        invoke(runner, ["ingest_training", str(DATA / "osm_landuse_train.gpkg"), "--field", "fclass", "--dataset",
                        "bb_osm"], env)
        invoke(runner, ["segment", "--algorithm", "slic", "-p", "bb_b10", "-n", "bb_slic",
                        *[a for b in BANDS for a in ("-b", b)], "--bbox", "330000", "5814360", "345360", "5822040",
                        "--bbox-crs", "EPSG:32633", "-sc", "sync", "--outdir", str(home / "seg")], env)
        cmd = ["model_fit", "-p", "bb_mw", "-t", "bb_osm", "--unit", "segments", "-s", "bb_slic", "-sp", *SP,
               "--cv-spatial", "1000", "-sc", "sync", "-filename", str(path)]
        _, seconds = invoke(runner, cmd, env)
        return seconds, "antares " + " ".join(cmd[:-1] + ["TABLE.parquet"])
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)


def nested(X: dict, y, groups, seed: int) -> dict:
    """One seed: per outer fold the spectral-only OA, each candidate's OA, and the nested choice and its OA."""
    from antares.accuracy import assess
    from antares.models.fitting import _splits
    from antares.models.registry import make_estimator

    codes = sorted(set(y.tolist()))

    def oa(cols, train, test):
        est = make_estimator("rf", {"n_estimators": 100, "n_jobs": 2}, seed).fit(X[cols][train], y[train])
        return assess(y[test], est.predict(X[cols][test]), codes).overall_accuracy

    folds = []
    for train, test in _splits(y, groups, 5, seed):
        inner = _splits(y[train], groups[train], 5, seed)
        inner_oa = {c: float(sum(oa(c, train[a], train[b]) for a, b in inner) / len(inner)) for c in CANDIDATES}
        chosen = max(inner_oa, key=inner_oa.get)  # ties: the first declared
        outer = {c: oa(c, train, test) for c in ["spectral", *CANDIDATES]}
        folds.append({"n_test": int(len(test)), "inner_oa": inner_oa, "chosen": chosen, "outer_oa": outer,
                      "nested_oa": outer[chosen]})
        print(json.dumps({"seed": seed, "fold": len(folds), "chosen": chosen,
                          "outer": {k: round(v, 3) for k, v in outer.items()}}), flush=True)
    mean = {c: sum(f["outer_oa"][c] for f in folds) / len(folds) for c in ["spectral", *CANDIDATES]}
    nested_oa = sum(f["nested_oa"] for f in folds) / len(folds)
    return {"seed": seed, "folds": folds, "mean_oa": mean, "nested_oa": nested_oa,
            "nested_minus_spectral": nested_oa - mean["spectral"], "mw_minus_spectral": mean["mw"] - mean["spectral"]}


def main(argv=None):
    import numpy as np
    import pyarrow.parquet as pq

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 4, 5, 6])
    parser.add_argument("--table", default=None, help="reuse an exported table (Parquet) instead of exporting one")
    parser.add_argument("--out", default="texture_nested.json")
    args = parser.parse_args(argv)
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "load_start": open("/proc/loadavg").read().split()[:3], "seeds": args.seeds,
           "candidates": CANDIDATES, "spectral": SPECTRAL,
           "command": "PYTHONPATH=$PWD python benchmarks/texture_nested.py " + " ".join(argv or sys.argv[1:])}
    t0 = time.perf_counter()
    table = Path(args.table) if args.table else Path(tempfile.mkdtemp(prefix="nested-table-")) / "table.parquet"
    if not args.table:
        out["export_seconds"], out["export_command"] = export_table(table)
        print(f"table exported in {out['export_seconds']:.0f} s", flush=True)
    frame = pq.read_table(table).to_pandas()
    y, groups = frame["class"].to_numpy(), frame["group"].to_numpy()
    X = {"spectral": frame[SPECTRAL].to_numpy(np.float64)}
    X.update({c: frame[cols].to_numpy(np.float64) for c, cols in CANDIDATES.items()})
    out["rows"], out["blocks"] = int(len(y)), int(len(np.unique(groups)))
    out["majority_share"] = round(float(np.bincount(y).max() / len(y)), 3)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    out["per_seed"] = []
    for seed in args.seeds:
        out["per_seed"].append(nested(X, y, groups, seed))
        for key in ("mw_minus_spectral", "nested_minus_spectral"):
            v = np.array([s[key] for s in out["per_seed"]]) * 100
            out[key + "_points"] = {"per_seed": [round(float(a), 2) for a in v], "mean": round(float(v.mean()), 2),
                                    "sd": round(float(v.std(ddof=1)), 2) if len(v) > 1 else None}
        out["seconds"] = round(time.perf_counter() - t0, 1)
        out["load_end"] = open("/proc/loadavg").read().split()[:3]
        tmp = results / (args.out + ".tmp")
        tmp.write_text(json.dumps(out, indent=1) + "\n")
        tmp.replace(results / args.out)  # after every seed: a cut run keeps what it measured
        print(json.dumps({k: out[k] for k in ("mw_minus_spectral_points", "nested_minus_spectral_points")}), flush=True)
    return out


if __name__ == "__main__":
    main()
