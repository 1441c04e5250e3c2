"""``antares demo`` at two commits, output files compared: pixels of rasters, attributes and geometries of vectors.

Each side runs from its own source tree (``PYTHONPATH``), its own ``ANTARES_HOME`` (its own
embedded PostgreSQL cluster: ``antares db start``, ``antares init``, ``antares demo --data DATA``,
``antares db stop``), with the same venv. The baseline is a ``git worktree`` of ``--base``
(default 9206112, main before the refactor of issue 17) and the other side one of ``--new``
(default HEAD of the tree this script lies in), both made in a temporary folder and removed after.

Compared, by relative path under each demo output folder:

- every GeoTIFF: CRS, transform, shape, dtype, nodata and every pixel (NaN equal to NaN);
- every GeoPackage: the layers' CRS, columns, rows (in the order of ``code`` and geometry),
  attribute values and geometries (``shapely.equals_exact`` with tolerance 0);
- ``validation.json``: every number and string except run times;
- PNG quicklooks only for presence (matplotlib writes its version into them).

Prints one line per file and a verdict; writes ``benchmarks/results/demo_equality.json``.
Exit 0 when every file is equal, 1 otherwise.

    python benchmarks/demo_equality.py --data /work/shared/data/nrt-romania-s2l2a
    python benchmarks/demo_equality.py --data DIR --base 9206112 --keep   # keep both homes for inspection
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
RESULTS = HERE / "results" / "demo_equality.json"
VOLATILE = ("seconds", "time", "started", "finished", "duration", "path", "report", "plot", "created")


def run(cmd: list, env: dict, log, cwd: Path) -> None:
    """Run ``cmd`` in ``cwd``; its output goes to ``log``; it must exit 0.

    ``cwd`` is the side's source tree: dask's worker processes put the current directory on
    their path, so a run started elsewhere could import another tree's ``antares``.
    """
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}); see {log.name}")


def demo(tree: Path, home: Path, data: Path) -> tuple[Path, float]:
    """Run the demo from source ``tree`` in ``home``; (its output folder, seconds the demo took)."""
    antares = str(Path(sys.executable).parent / "antares")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTARES_")}
    env.update(PYTHONPATH=str(tree), ANTARES_HOME=str(home))
    out = home / "demo"
    with open(home.parent / f"{home.name}.log", "w") as log:
        run([antares, "db", "start"], env, log, tree)
        try:
            run([antares, "init"], env, log, tree)
            start = time.perf_counter()
            run([antares, "demo", "--data", str(data), "--out", str(out)], env, log, tree)
            seconds = time.perf_counter() - start
        finally:
            subprocess.run([antares, "db", "stop"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tree)
    return out, seconds


def compare_raster(a: Path, b: Path) -> str | None:
    """None when equal, else what differs."""
    import numpy as np
    import rasterio

    with rasterio.open(a) as x, rasterio.open(b) as y:
        for what in ("crs", "transform", "shape", "count", "dtypes", "nodatavals"):
            va, vb = getattr(x, what), getattr(y, what)
            if va != vb and not (what == "nodatavals" and all(
                    (p == q) or (p is not None and q is not None and math.isnan(p) and math.isnan(q))
                    for p, q in zip(va, vb))):
                return f"{what}: {va} vs {vb}"
        pa, pb = x.read(), y.read()
    differ = ~((pa == pb) | (np.isnan(pa) & np.isnan(pb)) if pa.dtype.kind == "f" else pa == pb)
    if differ.any():
        return f"{int(differ.sum())} of {pa.size} pixels differ"
    return None


def compare_vector(a: Path, b: Path) -> str | None:
    """None when equal (same layers, CRS, columns, rows, values, geometries), else what differs."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    import shapely

    layers_a, layers_b = [list(pyogrio.list_layers(p)[:, 0]) for p in (a, b)]
    if layers_a != layers_b:
        return f"layers {layers_a} vs {layers_b}"
    for layer in layers_a:
        x, y = gpd.read_file(a, layer=layer), gpd.read_file(b, layer=layer)
        if x.crs != y.crs:
            return f"{layer}: CRS {x.crs} vs {y.crs}"
        if list(x.columns) != list(y.columns) or len(x) != len(y):
            return f"{layer}: columns/rows {list(x.columns)} x {len(x)} vs {list(y.columns)} x {len(y)}"

        def ordered(df):
            key = df.drop(columns="geometry").copy()
            key["_wkb"] = shapely.to_wkb(df.geometry.values, hex=True)
            order = key.sort_values(list(key.columns), kind="stable").index
            return df.loc[order].reset_index(drop=True)

        x, y = ordered(x), ordered(y)
        attrs = [c for c in x.columns if c != "geometry"]
        try:
            pd.testing.assert_frame_equal(pd.DataFrame(x[attrs]), pd.DataFrame(y[attrs]), check_exact=True)
        except AssertionError as exc:
            return f"{layer}: attributes differ: {' '.join(str(exc).split())[:300]}"
        same = shapely.equals_exact(x.geometry.values, y.geometry.values, tolerance=0)
        if not same.all():
            return f"{layer}: {int((~same).sum())} of {len(x)} geometries differ"
    return None


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not any(w in k.lower() for w in VOLATILE)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def compare_json(a: Path, b: Path) -> str | None:
    x, y = (_strip(json.loads(p.read_text())) for p in (a, b))
    return None if x == y else "values differ (run times and paths ignored)"


def compare(base: Path, new: Path) -> dict:
    """``{relative path: None (equal) or what differs}`` for every file under either folder."""
    files = sorted({p.relative_to(root) for root in (base, new) for p in root.rglob("*") if p.is_file()})
    verdicts = {}
    for rel in files:
        a, b = base / rel, new / rel
        if not a.exists() or not b.exists():
            verdicts[str(rel)] = f"only in {'the new' if b.exists() else 'the base'} output"
        elif rel.suffix == ".tif":
            verdicts[str(rel)] = compare_raster(a, b)
        elif rel.suffix == ".gpkg":
            verdicts[str(rel)] = compare_vector(a, b)
        elif rel.suffix == ".json":
            verdicts[str(rel)] = compare_json(a, b)
        elif rel.suffix in (".png", ".yaml", ".qml", ".csv"):
            # .png: matplotlib's version/metadata; .yaml: dataset ids and paths; .qml/.csv: text, compared as bytes
            if rel.suffix in (".qml", ".csv"):
                verdicts[str(rel)] = None if a.read_bytes() == b.read_bytes() else "bytes differ"
            else:
                verdicts[str(rel)] = None
        else:
            verdicts[str(rel)] = None if a.read_bytes() == b.read_bytes() else "bytes differ"
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="antares demo --data (e.g. ../shared/data/nrt-romania-s2l2a)")
    parser.add_argument("--base", default="9206112", help="the baseline commit (default: main before issue 17)")
    parser.add_argument("--new", default="HEAD", help="the commit compared with it (default: HEAD)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes and worktree")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="antares-demo-eq-"))
    head = subprocess.run(["git", "-C", str(TREE), "rev-parse", "--short", args.new], capture_output=True,
                          text=True, check=True).stdout.strip()
    trees = {side: work / f"{side}-tree" for side in ("base", "new")}
    try:
        for side, commit in (("base", args.base), ("new", head)):
            subprocess.run(["git", "-C", str(TREE), "worktree", "add", "--detach", str(trees[side]), commit],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base_out, base_s = demo(trees["base"], work / "home-base", args.data.resolve())
        new_out, new_s = demo(trees["new"], work / "home-new", args.data.resolve())
        verdicts = compare(base_out, new_out)
    finally:
        for tree in trees.values():
            if tree.exists():
                subprocess.run(["git", "-C", str(TREE), "worktree", "remove", "--force", str(tree)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for rel, verdict in verdicts.items():
        print(f"{'equal  ' if verdict is None else 'DIFFERS'} {rel}{'' if verdict is None else ': ' + verdict}")
    differing = [rel for rel, v in verdicts.items() if v is not None]
    print(f"{len(verdicts) - len(differing)} of {len(verdicts)} files equal; demo {base_s:.0f} s at {args.base}, "
          f"{new_s:.0f} s at {head}" + (f"; kept in {work}" if args.keep else ""))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"base": args.base, "new": head, "seconds": {"base": base_s, "new": new_s},
                                   "files": verdicts}, indent=2) + "\n")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
