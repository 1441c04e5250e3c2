"""``antares demo`` at two commits, output files compared: pixels of rasters, attributes and geometries of vectors.

Each side runs from its own source tree (``PYTHONPATH``), its own ``ANTARES_HOME`` (its own
embedded PostgreSQL cluster: ``antares db start``, ``antares init``, ``antares demo --data DATA``,
``antares db stop``), with the same venv. The baseline is a ``git worktree`` of ``--base``
(default 9206112, main before the refactor of issue 17) and the other side one of ``--new``
(default HEAD of the tree this script lies in), both made in a temporary folder and removed after.

Compared, by relative path under each demo output folder:

- every GeoTIFF: CRS, transform, shape, dtype and every pixel (NaN equal to NaN); on a grid that is
  cropped (the same pixels, nodata elsewhere) or another grid (the map: burnt from the vector), see
  :func:`compare_raster`;
- every GeoPackage: the layers' CRS, columns, rows (in the order of ``code`` and geometry),
  attribute values and geometries (``shapely.equals_exact`` with tolerance 0);
- ``validation.json``: every number and string except run times;
- PNG quicklooks and ODC dataset documents (YAML) only for presence (``skipped``).

Prints one line per file (equal, equivalent, close or DIFFERS, see :func:`status`) and a summary;
writes ``benchmarks/results/demo_equality.json``. Exit 0 when every file is equal, equivalent or skipped.

    python benchmarks/demo_equality.py --data /work/shared/data/nrt-romania-s2l2a
    python benchmarks/demo_equality.py --data DIR --base 9206112 --keep   # keep both homes for inspection
    python benchmarks/demo_equality.py --compare BASE_OUT NEW_OUT          # compare two kept output folders
"""
import argparse
import json
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


def compare_raster(a: Path, b: Path, base_root: Path, new_root: Path) -> str | None:
    """None when equal, else what differs (``equal on ...`` for the same pixels on a cropped or snapped grid).

    Same CRS, resolution and a whole-pixel offset: the pixels of the overlap must be equal
    and every pixel outside it nodata (a tile cut to the area holds the same data). Other
    grids: the new raster must equal the base's vector of the same stem (``STEM.gpkg``,
    attribute ``code``) burnt onto the new grid (pixel-centre rule), as db_to_raster does.
    """
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    def same(p, q):
        return (p == q) | (np.isnan(p) & np.isnan(q)) if p.dtype.kind == "f" else p == q

    def valid(p, nodata):
        if nodata is None:
            return np.ones(p.shape, bool)
        return ~np.isnan(p) if np.isnan(nodata) else p != nodata

    with rasterio.open(a) as x, rasterio.open(b) as y:
        for what in ("crs", "count", "dtypes"):
            if getattr(x, what) != getattr(y, what):
                return f"{what}: {getattr(x, what)} vs {getattr(y, what)}"
        if x.transform == y.transform and x.shape == y.shape:
            differ = ~same(x.read(), y.read())
            return f"{int(differ.sum())} of {differ.size} pixels differ" if differ.any() else None
        tx, ty = x.transform, y.transform
        col, row = (~tx) * (ty.c, ty.f)
        if tx[:2] + tx[3:5] == ty[:2] + ty[3:5] and abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6:
            col, row = round(col), round(row)
            r0, c0 = max(row, 0), max(col, 0)
            r1, c1 = min(row + y.height, x.height), min(col + y.width, x.width)
            if r1 <= r0 or c1 <= c0:
                return "no overlap"
            pa = x.read(window=Window(c0, r0, c1 - c0, r1 - r0))
            pb = y.read(window=Window(c0 - col, r0 - row, c1 - c0, r1 - r0))
            differ = ~same(pa, pb)
            outside = {}  # side -> values of its valid pixels outside the overlap
            for side, src, r, c in (("base", x, r0, c0), ("new", y, r0 - row, c0 - col)):
                full = src.read()
                keep = np.ones(full.shape, bool)
                keep[:, r:r + (r1 - r0), c:c + (c1 - c0)] = False
                outside[side] = full[keep & valid(full, src.nodata)]
            if differ.any() or any(v.size and np.any(v != 0) for v in outside.values()):
                return (f"{int(differ.sum())} of {differ.size} overlapping pixels differ; valid non-zero pixels outside "
                        "the overlap: " + ", ".join(f"{int(np.count_nonzero(v))} ({k})" for k, v in outside.items()))
            zeros = "; ".join(f"outside it the {k} holds {v.size} pixels of 0 (a count where nothing was read)"
                              for k, v in outside.items() if v.size)
            return (f"equal on the overlap (base {x.width} x {x.height}, new {y.width} x {y.height}, nodata elsewhere"
                    + (f"; {zeros})" if zeros else ")"))
        vector = base_root / a.relative_to(base_root).with_suffix(".gpkg")
        if not vector.exists():
            return f"grids differ ({tx} vs {ty}) and there is no {vector.name} to burn onto the new grid"
        import geopandas as gpd
        from rasterio.features import rasterize

        objects = gpd.read_file(vector, layer=vector.stem).to_crs(y.crs)
        burnt = rasterize(zip(objects.geometry, objects["code"]), out_shape=y.shape, transform=ty, fill=0,
                          dtype=y.dtypes[0])
        differ = burnt != y.read(1)
        if differ.any():
            return f"grids differ and {int(differ.sum())} of {differ.size} pixels differ from the base's {vector.name} burnt on the new grid"
        return (f"equal to the base's {vector.name} burnt onto the new grid (origin {ty.c:.2f}, {ty.f:.2f}, "
                f"{y.width} x {y.height}; base origin {tx.c:.2f}, {tx.f:.2f}, {x.width} x {x.height})")


def compare_vector(a: Path, b: Path) -> str | None:
    """None when equal (same layers, CRS, columns, rows, values, geometries), else what differs.

    Floating-point columns that differ are reported with their largest relative difference.
    """
    import geopandas as gpd
    import numpy as np
    import pyogrio
    import shapely

    layers_a, layers_b = [sorted(pyogrio.list_layers(p)[:, 0]) for p in (a, b)]
    if layers_a != layers_b:
        return f"layers {layers_a} vs {layers_b}"
    notes = []
    for layer in layers_a:
        x, y = pyogrio.read_dataframe(a, layer=layer), pyogrio.read_dataframe(b, layer=layer)
        spatial = isinstance(x, gpd.GeoDataFrame) and "geometry" in x
        if spatial and x.crs != y.crs:
            return f"{layer}: CRS {x.crs} vs {y.crs}"
        if list(x.columns) != list(y.columns) or len(x) != len(y):
            return f"{layer}: columns/rows {list(x.columns)} x {len(x)} vs {list(y.columns)} x {len(y)}"
        attrs = [c for c in x.columns if c != "geometry" and not any(w in c.lower() for w in VOLATILE)]
        key = [c for c in attrs if x[c].dtype.kind in "iuOUb"] or attrs
        x = x.sort_values(key, kind="stable").reset_index(drop=True)
        y = y.sort_values(key, kind="stable").reset_index(drop=True)
        for c in attrs:
            if x[c].equals(y[c]):
                continue
            if x[c].dtype.kind == "f" and y[c].dtype.kind == "f":
                rel = float(np.nanmax(np.abs(x[c] - y[c]) / np.maximum(np.abs(x[c]), 1e-300)))
                notes.append(f"{layer}.{c}: {int((x[c] != y[c]).sum())} of {len(x)} values differ, by at most {rel:.1e} relative")
            else:
                return f"{layer}: column {c} differs"
        if spatial:
            same = shapely.equals_exact(x.geometry.values, y.geometry.values, tolerance=0)
            if not same.all():
                return f"{layer}: {int((~same).sum())} of {len(x)} geometries differ"
    return "; ".join(notes) or None


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not any(w in k.lower() for w in VOLATILE)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def compare_json(a: Path, b: Path) -> str | None:
    """None when equal (run times and paths ignored); keys of one side only that are null are listed, not failed."""
    x, y = (_strip(json.loads(p.read_text())) for p in (a, b))
    extra = [f"{'new' if k in y else 'base'} only: {k} = null" for k in sorted(set(x) ^ set(y))
             if isinstance(x, dict) and isinstance(y, dict) and (x.get(k) if k in x else y.get(k)) is None]
    if isinstance(x, dict) and isinstance(y, dict):
        x = {k: v for k, v in x.items() if k in y or v is not None}
        y = {k: v for k, v in y.items() if k in x or v is not None}
    if x != y:
        return "values differ (run times and paths ignored)"
    return ("equal but " + "; ".join(extra)) if extra else None


def compare(base: Path, new: Path) -> dict:
    """``{relative path: None (equal) or what differs}`` for every file under either folder."""
    files = sorted({p.relative_to(root) for root in (base, new) for p in root.rglob("*") if p.is_file()})
    verdicts = {}
    for rel in files:
        a, b = base / rel, new / rel
        if not a.exists() or not b.exists():
            verdicts[str(rel)] = f"only in {'the new' if b.exists() else 'the base'} output"
        elif rel.suffix == ".tif":
            verdicts[str(rel)] = compare_raster(a, b, base, new)
        elif rel.suffix == ".gpkg":
            verdicts[str(rel)] = compare_vector(a, b)
        elif rel.suffix == ".json":
            verdicts[str(rel)] = compare_json(a, b)
        elif rel.suffix == ".png":
            verdicts[str(rel)] = "skipped: a picture (matplotlib writes its version into it)"
        elif rel.suffix == ".yaml":
            verdicts[str(rel)] = "skipped: an ODC dataset document (random dataset ids, absolute paths)"
        else:
            verdicts[str(rel)] = None if a.read_bytes() == b.read_bytes() else "bytes differ"
    return verdicts


def status(verdict: str | None) -> str:
    """``equal`` (bit for bit), ``equivalent`` (same pixels on a cropped or snapped grid, or a new null key),
    ``close`` (floating-point attributes within a stated relative difference) or ``DIFFERS``."""
    if verdict is None:
        return "equal"
    if verdict.startswith("skipped"):
        return "skipped"
    if verdict.startswith("equal"):
        return "equivalent"
    if all(part.endswith("relative") for part in verdict.split("; ")):
        return "close"
    return "DIFFERS"


def report(verdicts: dict, base: str, new: str, seconds: dict, kept: Path | None) -> int:
    """Print one line per file and the verdict, write RESULTS; 0 when every file is equal or equivalent."""
    counts: dict = {}
    for rel, verdict in verdicts.items():
        kind = status(verdict)
        counts[kind] = counts.get(kind, 0) + 1
        print(f"{kind:10s} {rel}{'' if verdict is None else ': ' + verdict}")
    timing = "; ".join(f"demo {v:.0f} s at {k}" for k, v in seconds.items())
    print(f"{len(verdicts)} files: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) +
          (f"; {timing}" if timing else "") + (f"; kept in {kept}" if kept else ""))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"base": base, "new": new, "seconds": seconds, "counts": counts,
                                   "files": {k: {"status": status(v), "detail": v} for k, v in verdicts.items()}},
                                  indent=2) + "\n")
    return 0 if set(counts) <= {"equal", "equivalent", "skipped"} else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="antares demo --data (e.g. ../shared/data/nrt-romania-s2l2a)")
    parser.add_argument("--base", default="9206112", help="the baseline commit (default: main before issue 17); "
                                                           "with --compare, the label of BASE_OUT")
    parser.add_argument("--new", default="HEAD", help="the commit compared with it (default: HEAD); with --compare, "
                                                       "the label of NEW_OUT")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes and worktrees' outputs")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BASE_OUT", "NEW_OUT"),
                        help="only compare two demo output folders already made (e.g. kept by --keep)")
    args = parser.parse_args()
    if args.compare:
        base, new = (f"{label} ({folder})" for label, folder in zip((args.base, args.new), args.compare))
        return report(compare(*args.compare), base, new, {}, None)
    if args.data is None:
        parser.error("--data DIR is required (unless --compare)")

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
    return report(verdicts, args.base, head, {args.base: base_s, head: new_s}, work if args.keep else None)


if __name__ == "__main__":
    sys.exit(main())
