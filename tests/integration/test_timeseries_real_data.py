"""`antares apply_recipe` with a ``steps:`` recipe on real Sentinel-2 L2A (Romania 2018, a crop): a monthly NDVI
product with one dataset per month, equal to an independent numpy computation (composites, numpy.interp, a
scipy.sparse Whittaker solve), and its QA bands; bad steps refused with one line and nothing written."""

import datetime as dt
import shutil
import warnings

import numpy as np
import pytest
import rasterio
import scipy.sparse as sp
import scipy.sparse.linalg as spl
import yaml
from odc.geo.geobox import GeoBox

from antares.cli.main import cli
from antares.cube.index import connect
from helpers import db_count

ROMANIA = "nrt-romania-s2l2a/geotiff"
CROP = ["22.147", "45.201", "22.155", "45.208"]  # about 600 m x 750 m of the 1 km x 1 km cube
KEEP = [4, 5, 6, 7]
LAMBDA = 20.0
RECIPE = {
    "description": "monthly NDVI of the Romania test product",
    "inputs": {"product": "ts_ro", "measurements": ["red", "nir"], "resolution": 10},
    "mask": {"scl": {"keep": KEEP}},
    "indices": ["NDVI"],
    "steps": {"every": "1M", "variables": ["ndvi"], "composite": "median", "gapfill": "linear"},
}


@pytest.fixture(scope="module")
def ts_ro(settings, data_dir, tmp_path_factory):
    """Romania 2018 indexed as product ts_ro; the recipe files (plain and smoothed)."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("ts_ro2018")
    for res in ("10m", "20m"):
        for day in sorted((data_dir / ROMANIA / res).iterdir()):
            if day.name.startswith("2018"):
                shutil.copytree(day, root / res / day.name)
    result = CliRunner().invoke(cli, ["index", "--path", str(root), "--dataset_name", "s2_bands", "--product", "ts_ro",
                                      "--no-verify"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0 and "34 dataset(s) indexed into ts_ro" in result.output, result.output
    plain = root / "ts_monthly.yaml"
    plain.write_text(yaml.safe_dump(RECIPE, sort_keys=False))
    smooth = root / "ts_monthly_smooth.yaml"
    doc = dict(RECIPE, steps=dict(RECIPE["steps"], smooth={"lambda": LAMBDA, "order": 2}))
    smooth.write_text(yaml.safe_dump(doc, sort_keys=False))
    return root, plain, smooth


def reference(root):
    """Independent numpy: DN/10000 (0 = nodata), SCL mask, NDVI, monthly nanmedian, counts, numpy.interp."""
    def read(day, band):
        with rasterio.open(root / "10m" / day / f"{band}.tif") as src:
            return src.read(1)

    days = sorted(p.name for p in (root / "10m").iterdir())
    months = np.array([int(d[5:7]) - 1 for d in days])
    ndvi, valid = [], []
    for day in days:
        red, nir = (np.where(read(day, b) == 0, np.nan, read(day, b).astype(np.float32) / np.float32(10000))
                    .astype(np.float32) for b in ("B04", "B08"))
        ok = np.isin(read(day, "SCL"), KEEP) & np.isfinite(red) & np.isfinite(nir)
        ndvi.append(np.where(ok, (nir - red) / (nir + red), np.nan))
        valid.append(ok)
    ndvi, valid = np.stack(ndvi), np.stack(valid)
    comp = np.full((12,) + ndvi.shape[1:], np.nan, np.float32)
    count = np.zeros(comp.shape, np.float32)
    for m in range(12):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            comp[m] = np.nanmedian(ndvi[months == m], axis=0)
        count[m] = valid[months == m].sum(axis=0)
    # step centres in days since 2018-01-01
    edges = [dt.date(2018, m, 1) for m in range(1, 13)] + [dt.date(2019, 1, 1)]
    t = np.array([((a - edges[0]).days + (b - a).days / 2) for a, b in zip(edges[:-1], edges[1:])])
    return comp, count, t


def load_series(settings, product, root):
    with rasterio.open(next((root / "10m").glob("*/B04.tif"))) as src:
        geobox = GeoBox(src.shape, src.transform, src.crs)
    dc = connect(settings.db_url)
    try:
        return dc.load(product=product, like=geobox), dc.find_datasets(product=product)
    finally:
        dc.close()


def run(runner, settings, name, recipe, outdir, *extra):
    return runner.invoke(cli, ["apply_recipe", "-recipe", str(recipe), "-b", "2018-01-01", "-e", "2018-12-31",
                               "--bbox", *CROP, "--name", name, "-sc", "sync", "--outdir", str(outdir), *extra],
                         env={"ANTARES_DB_URL": settings.db_url})


def covered(data):
    """The crop's pixels: where clear_count is defined (0 or more) on every step (uint16, nodata outside)."""
    assert data.clear_count.dtype == np.uint16 and data.filled.dtype == np.uint16
    inside = (data.clear_count.values != data.clear_count.attrs["nodata"]).all(axis=0)
    assert 500 < inside.sum() < inside.size  # a crop, not the whole cube
    return inside


def test_monthly_ndvi_equals_numpy(settings, ts_ro, runner, tmp_path):
    root, plain, _ = ts_ro
    result = run(runner, settings, "ts_ro_monthly", plain, tmp_path)
    assert result.exit_code == 0, result.output
    assert "12 dataset(s) (12 step(s) per tile) written and indexed into ts_ro_monthly" in result.stdout
    again = run(runner, settings, "ts_ro_monthly", plain, tmp_path)  # resumes: the tile's steps are indexed
    assert again.exit_code == 0 and "0 dataset(s)" in again.stdout and "1 tile(s) already done" in again.stdout, \
        again.output
    data, datasets = load_series(settings, "ts_ro_monthly", root)
    assert data.sizes["time"] == 12 and set(data.data_vars) == {"ndvi", "clear_count", "filled"}
    assert len(datasets) == 12
    dc = connect(settings.db_url)
    # one dataset per month, time = the month's centre, its bounds in the properties, lineage = every input
    for ds in datasets:
        props = ds.metadata_doc["properties"]
        start = dt.datetime.fromisoformat(props["dtr:start_datetime"])
        end = dt.datetime.fromisoformat(props["dtr:end_datetime"])
        assert start.day == 1 and start.time() == dt.time(0) and (end + dt.timedelta(microseconds=1)).day == 1
        assert dt.datetime.fromisoformat(props["datetime"]) == start + (end + dt.timedelta(microseconds=1) - start) / 2
        tree = dc.index.lineage.get_source_tree(ds.id)
        assert len({str(child.dataset_id) for children in tree.children.values() for child in children}) == 34
    dc.close()
    comp, count, t = reference(root)
    inside = covered(data)
    got = data.ndvi.values[:, inside]
    np.testing.assert_array_equal(data.clear_count.values[:, inside], count[:, inside])
    observed = count[:, inside] > 0
    assert 0 < observed.mean() < 1  # some months are cloudy: filling is exercised
    # observed months are the median composite; the others numpy.interp over the month centres
    np.testing.assert_allclose(got[observed], comp[:, inside][observed], rtol=1e-6, atol=1e-6)  # float32 DN scaling
    flags = data.filled.values[:, inside]
    rng = np.random.default_rng(0)
    for j in rng.choice(got.shape[1], 60, replace=False):
        seen = observed[:, j]
        expected = np.interp(t, t[seen], comp[:, inside][seen, j].astype(np.float64))
        np.testing.assert_allclose(got[:, j], expected, rtol=1e-5, atol=1e-6)
        first, last = np.flatnonzero(seen)[[0, -1]]
        want = np.where(seen, 0, 1)
        want[:first] = 2
        want[last + 1:] = 2
        np.testing.assert_array_equal(flags[:, j], want)


def test_whittaker_monthly_equals_sparse_solve(settings, ts_ro, runner, tmp_path):
    root, _, smooth = ts_ro
    result = run(runner, settings, "ts_ro_smooth", smooth, tmp_path)
    assert result.exit_code == 0, result.output
    data, _ = load_series(settings, "ts_ro_smooth", root)
    comp, count, _ = reference(root)
    inside = covered(data)
    got = data.ndvi.values[:, inside]
    y, seen_all = comp[:, inside].astype(np.float64), count[:, inside] > 0
    d = sp.csr_matrix(np.diff(np.eye(12), n=2, axis=0))
    rng = np.random.default_rng(1)
    for j in rng.choice(got.shape[1], 40, replace=False):
        w = seen_all[:, j].astype(np.float64)
        z = spl.spsolve((sp.diags(w) + LAMBDA * (d.T @ d)).tocsc(), w * np.nan_to_num(y[:, j]))
        first, last = np.flatnonzero(w)[[0, -1]]
        z[:first], z[last + 1:] = z[first], z[last]  # edges: the nearest observed month's smoothed value
        np.testing.assert_allclose(got[:, j], z, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steps, fragment", [
    ({"periods": [["2018-12-01", "2018-12-31"]]}, "hold no observation of ts_ro"),
    ({"every": "1M", "smooth": {"lambda": 0}}, "'steps.smooth.lambda' must be a number > 0"),
    ({"every": "3Q"}, "unknown step length '3Q'"),
], ids=["no-observation", "lambda-zero", "unknown-step"])
def test_bad_steps(settings, ts_ro, runner, tmp_path, steps, fragment):
    root, _, _ = ts_ro
    doc = dict(RECIPE, steps={"variables": ["ndvi"], **steps})
    bad = tmp_path / "ts_bad.yaml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))
    runs_before = db_count(settings.db_url, "antares.run")
    outdir = tmp_path / "out"
    # December 2018 has no acquisition in the series (the last is 2018-11-13)
    result = run(runner, settings, "ts_ro_bad", bad, outdir)
    assert result.exit_code == 1, result.output
    assert fragment in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("antares: error")]) == 1
    assert not list(tmp_path.rglob("*.tif"))
    dc = connect(settings.db_url)
    assert dc.index.products.get_by_name("ts_ro_bad") is None
    dc.close()
    assert db_count(settings.db_url, "antares.run") == runs_before


def test_step_files_and_a_product_with_float_qa(settings, ts_ro, runner, tmp_path):
    """One float32 COG (the variables) and one uint16 COG (the QA bands) per step; a product defined before the QA
    bands were integers (float32 clear_count/filled, NaN) gets its declared float32 files: same values either way."""
    import copy

    from antares.cube.index import add_product

    root, plain, _ = ts_ro
    assert run(runner, settings, "ts_ro_layout", plain, tmp_path / "new").exit_code == 0
    steps = sorted((tmp_path / "new").rglob("*.odc-metadata.yaml"))
    assert len(steps) == 12 and len(list((tmp_path / "new").rglob("*.tif"))) == 24
    doc = yaml.safe_load(steps[0].read_text())
    stem = steps[0].name.removesuffix(".odc-metadata.yaml")
    assert doc["measurements"] == {"ndvi": {"path": f"{stem}.tif", "band": 1},
                                   "clear_count": {"path": f"{stem}_qa.tif", "band": 1},
                                   "filled": {"path": f"{stem}_qa.tif", "band": 2}}
    with rasterio.open(steps[0].with_name(f"{stem}_qa.tif")) as src:
        assert src.dtypes == ("uint16", "uint16") and src.nodata == 65535 and src.overviews(1) == []
    dc = connect(settings.db_url)
    try:
        old = copy.deepcopy(dc.index.products.get_by_name("ts_ro_layout").definition)
        old["name"], old["metadata"] = "ts_ro_floatqa", {"product": {"name": "ts_ro_floatqa"}}
        for m in old["measurements"]:
            m.update(dtype="float32", nodata="NaN")
        add_product(dc, old)
    finally:
        dc.close()
    result = run(runner, settings, "ts_ro_floatqa", plain, tmp_path / "old")
    assert result.exit_code == 0 and "12 dataset(s)" in result.stdout, result.output
    assert len(list((tmp_path / "old").rglob("*.tif"))) == 12  # one float32 file of three bands per step
    new, _ = load_series(settings, "ts_ro_layout", root)
    got, _ = load_series(settings, "ts_ro_floatqa", root)
    assert got.clear_count.dtype == np.float32 and got.filled.dtype == np.float32
    np.testing.assert_array_equal(got.ndvi.values, new.ndvi.values)
    for qa in ("clear_count", "filled"):
        want = new[qa].values.astype(np.float32)
        want[new[qa].values == 65535] = np.nan
        np.testing.assert_array_equal(got[qa].values, want)
    assert np.isnan(got.filled.values).any() and (got.filled.values == 2).any()
    # a dataset of the layout before (one single-band file per measurement, eo3 paths without band) still loads
    import uuid

    from antares.cube.catalog import index_documents
    from antares.cube.warp import xr_from_array
    from antares.cube.write import write_cog

    first = sorted((tmp_path / "old").rglob("*.odc-metadata.yaml"))[0]
    doc = yaml.safe_load(first.read_text())
    legacy = tmp_path / "legacy"
    with rasterio.open(first.parent / doc["measurements"]["ndvi"]["path"]) as src:
        bands = {name: src.read(entry["band"]) for name, entry in doc["measurements"].items()}
        step_box = GeoBox(src.shape, src.transform, src.crs)
    for name, values in bands.items():
        write_cog(xr_from_array(values, step_box), legacy / f"{name}.tif", nodata=float("nan"))
    doc.update(id=str(uuid.uuid4()), measurements={name: {"path": f"{name}.tif"} for name in bands}, lineage={})
    dc = connect(settings.db_url)
    try:
        index_documents(dc, [(doc, (legacy / "legacy.odc-metadata.yaml").resolve().as_uri())])
        alone = dc.load(product="ts_ro_floatqa", datasets=[dc.index.datasets.get(doc["id"])], like=step_box)
    finally:
        dc.close()
    for name, values in bands.items():
        assert values.ndim == 2 and np.isfinite(values).any()
        np.testing.assert_array_equal(alone[name].values[0], values)
    # --overwrite keeps the product's definition, so its files too: float32 QA, the same values
    again = run(runner, settings, "ts_ro_floatqa", plain, tmp_path / "old", "--overwrite")
    assert again.exit_code == 0 and "12 dataset(s)" in again.stdout, again.output
    assert len(list((tmp_path / "old").rglob("*.tif"))) == 12
    redone, _ = load_series(settings, "ts_ro_floatqa", root)  # the overwrite replaced the legacy dataset too
    for name in ("ndvi", "clear_count", "filled"):
        assert redone[name].dtype == np.float32
        np.testing.assert_array_equal(redone[name].values, got[name].values)


def test_blocks_without_data_are_nodata_in_every_step_file(settings, ts_ro, runner, tmp_path):
    """Two copies of the 2018 cube 10 km apart (the second shifted north-east by 1000 pixels) make one 1100 x 1100
    pixel tile whose 512² blocks between them touch no dataset and are not read. There every band of every step
    file is nodata (NaN, 65535): the outputs are filled in a thread beside the first block's read, so an unfilled
    block would hold zeros. The variables are NaN wherever the copies are not; the QA bands are defined on every
    pixel of both copies."""
    from rasterio.windows import from_bounds

    root, plain, _ = ts_ro
    two = tmp_path / "two"
    for day in sorted((root / "10m").iterdir()):
        for code, shift in (("T35AAA", 0), ("T35AAB", 10000)):
            for band in ("B04", "B08", "SCL"):
                dst = two / f"{code}_{day.name}" / f"{band}.tif"
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(day / f"{band}.tif", dst)
                with rasterio.open(dst, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
                    t = ds.transform
                    ds.transform = rasterio.Affine(t.a, t.b, t.c + shift, t.d, t.e, t.f + shift)
    env = {"ANTARES_DB_URL": settings.db_url}
    result = runner.invoke(cli, ["index", "--path", str(two), "--dataset_name", "s2_bands", "--product", "ts_ro_two",
                                 "--no-verify"], env=env)
    assert result.exit_code == 0 and "68 dataset(s) indexed into ts_ro_two" in result.output, result.output
    recipe = tmp_path / "two.yaml"
    recipe.write_text(yaml.safe_dump(dict(RECIPE, inputs=dict(RECIPE["inputs"], product="ts_ro_two")), sort_keys=False))
    with rasterio.open(two / f"T35AAA_{sorted((root / '10m').iterdir())[0].name}" / "B04.tif") as src:
        a = src.bounds
    b = rasterio.coords.BoundingBox(a.left + 10000, a.bottom + 10000, a.right + 10000, a.top + 10000)
    bbox = [str(v) for v in (a.left + 5, a.bottom + 5, b.right - 5, b.top - 5)]
    result = runner.invoke(cli, ["apply_recipe", "-recipe", str(recipe), "-b", "2018-01-01", "-e", "2018-12-31",
                                 "--bbox", *bbox, "--bbox-crs", "EPSG:3035", "--crs", "EPSG:3035", "--resolution", "10",
                                 "--tile-size", "2048", "--origin", str(a.left), str(a.bottom), "--name", "ts_ro_blocks",
                                 "-sc", "sync", "--outdir", str(tmp_path / "out")], env=env)
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "out").rglob("*.tif"))
    assert len(files) == 24
    for path in files:
        with rasterio.open(path) as src:
            assert src.shape == (1100, 1100)
            values = src.read()
            nodata = np.isnan(values) if np.isnan(src.nodata) else values == src.nodata
            copies = [from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths() for bounds in (a, b)]
        inside = np.zeros(src.shape, bool)
        for w in copies:
            inside[w.row_off:w.row_off + w.height, w.col_off:w.col_off + w.width] = True
        assert inside.sum() == 2 * 100 * 100
        skipped = np.zeros(src.shape, bool)  # the 512² blocks (from the top left) that touch neither copy
        skipped[:512, :512] = skipped[512:, 512:] = True
        assert not (skipped & inside).any() and nodata[:, skipped].all(), path.name  # not read: nodata only
        if path.name.endswith("_qa.tif"):  # both copies' pixels are counted in every step (0 or more)
            assert not nodata[:, inside].any(), path.name
        else:  # the variables: no value outside the copies, in blocks read or not
            assert nodata[:, ~inside].all() and not nodata[:, inside].all(), path.name


def test_a_failed_step_write_fails_the_run_and_leaves_nothing_half_written(settings, ts_ro, runner, tmp_path):
    """One of the 24 step files cannot be put in place (a directory holds its name) while the other writer thread
    and GDAL's compression threads carry on: the run exits 1 naming the file, no temporary file is left, every file
    that is there reads whole, and none of the tile's steps is indexed."""
    root, plain, _ = ts_ro
    first = run(runner, settings, "ts_ro_wfail_a", plain, tmp_path / "a")
    assert first.exit_code == 0, first.output
    june = next((tmp_path / "a").rglob("ts_ro_wfail_a_*_20180601_qa.tif"))
    tile = june.parent.name
    blocker = tmp_path / "b" / tile / june.name.replace("ts_ro_wfail_a", "ts_ro_wfail_b")
    blocker.mkdir(parents=True)
    (blocker / "keep").write_text("a directory where the step file goes")
    result = run(runner, settings, "ts_ro_wfail_b", plain, tmp_path / "b")
    assert result.exit_code == 1, result.output
    assert result.output.startswith("antares: error: cannot write") and blocker.name in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    left = sorted(p.name for p in (tmp_path / "b" / tile).iterdir())
    assert not [name for name in left if name.endswith(".tmp") or name.startswith(".")], left
    assert blocker.name in left and (blocker / "keep").exists()
    for path in (tmp_path / "b" / tile).glob("*.tif"):
        if path.is_file():
            with rasterio.open(path) as src:
                assert src.read().shape == (src.count, src.height, src.width)
    dc = connect(settings.db_url)
    try:
        product = dc.index.products.get_by_name("ts_ro_wfail_b")
        assert product is None or not list(dc.index.datasets.search(product="ts_ro_wfail_b"))
    finally:
        dc.close()
