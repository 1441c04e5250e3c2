"""`antares apply_recipe` on real Sentinel-2 L2A (Romania 2018) against an independent numpy computation."""

import shutil
import warnings

import numpy as np
import pytest
import rasterio
import yaml
from odc.geo.geobox import GeoBox

from antares.cli.main import cli
from antares.cube.index import connect
from helpers import db_count

ROMANIA = "nrt-romania-s2l2a/geotiff"
BBOX = ["22.140", "45.195", "22.166", "45.215"]
KEEP = [4, 5, 6, 7]
CLOUDY = (50, 50)  # a pixel made cloudy (SCL 9) on every date of the copy
TEST_RECIPE = {
    "description": "the bands and indices the Romania data has (test recipe)",
    "inputs": {"product": "ro_rec", "measurements": ["blue", "green", "red", "nir", "nir08", "swir1"], "resolution": 10},
    "mask": {"scl": {"keep": KEEP}},
    "indices": ["NDVI", "NDMI"],
    "reducers": {"blue": ["mean"], "red": ["mean"], "nir": ["mean"], "swir1": ["mean"],
                 "ndvi": ["mean", "min", "max"], "ndmi": ["mean", "min", "max"]},
    "clear_count": True,
}


@pytest.fixture(scope="module")
def ro_rec(settings, data_dir, tmp_path_factory):
    """A copy of Romania 2018 with one pixel cloudy on every date, indexed as product ro_rec."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("ro2018")
    for res in ("10m", "20m"):
        for day in sorted((data_dir / ROMANIA / res).iterdir()):
            if day.name.startswith("2018"):
                shutil.copytree(day, root / res / day.name)
    for scl in (root / "10m").glob("*/SCL.tif"):
        with rasterio.open(scl, "r+") as dst:
            pixels = dst.read(1)
            pixels[CLOUDY] = 9
            dst.write(pixels, 1)
    result = CliRunner().invoke(cli, ["index", "--path", str(root), "--dataset_name", "s2_bands", "--product", "ro_rec",
                                      "--no-verify"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0 and "34 dataset(s) indexed into ro_rec" in result.output, result.output
    recipe = root / "ro_test_recipe.yaml"
    recipe.write_text(yaml.safe_dump(TEST_RECIPE, sort_keys=False))
    return root, recipe


def reference(root):
    """Independent numpy: DN/10000 (0 = nodata), SCL mask, indices, nan-reductions over the 34 dates."""
    def read(res, day, band):
        with rasterio.open(root / res / day / f"{band}.tif") as src:
            values = src.read(1)
        if res == "20m":
            values = np.repeat(np.repeat(values, 2, 0), 2, 1)
        return values

    days = sorted(p.name for p in (root / "10m").iterdir())
    stack = {k: [] for k in ("blue", "green", "red", "nir", "nir08", "swir1")}
    for day in days:
        bands = {"blue": read("10m", day, "B02"), "green": read("10m", day, "B03"), "red": read("10m", day, "B04"),
                 "nir": read("10m", day, "B08"), "nir08": read("20m", day, "B8A"), "swir1": read("20m", day, "B11")}
        keep = np.isin(read("10m", day, "SCL"), KEEP)
        for name, dn in bands.items():
            refl = np.where(dn == 0, np.nan, dn.astype(np.float32) / np.float32(10000)).astype(np.float32)
            stack[name].append(np.where(keep, refl, np.nan))
    stack = {k: np.stack(v) for k, v in stack.items()}
    ndvi = (stack["nir"] - stack["red"]) / (stack["nir"] + stack["red"])
    ndmi = (stack["nir08"] - stack["swir1"]) / (stack["nir08"] + stack["swir1"])
    finite = np.all([np.isfinite(v) for v in stack.values()], axis=0)
    with warnings.catch_warnings():  # all-NaN slices (the cloudy pixel) warn; they give NaN, as wanted
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {f"{k}_mean": np.nanmean(stack[k], axis=0) for k in ("blue", "red", "nir", "swir1")}
        for name, values in (("ndvi", ndvi), ("ndmi", ndmi)):
            out[f"{name}_mean"] = np.nanmean(values, axis=0)
            out[f"{name}_min"] = np.nanmin(values, axis=0)
            out[f"{name}_max"] = np.nanmax(values, axis=0)
    out["clear_count"] = finite.sum(axis=0).astype(np.float32)
    return out


def load_on_source_grid(settings, product, root):
    with rasterio.open(next((root / "10m").glob("*/B02.tif"))) as src:
        geobox = GeoBox(src.shape, src.transform, src.crs)
    dc = connect(settings.db_url)
    try:
        return dc.load(product=product, like=geobox).isel(time=0)
    finally:
        dc.close()


def run(runner, settings, name, recipe, *extra):
    return runner.invoke(cli, ["apply_recipe", "-recipe", str(recipe), "-b", "2018-01-01", "-e", "2018-12-31",
                               "--bbox", *BBOX, "--name", name, *extra], env={"ANTARES_DB_URL": settings.db_url})


def test_recipe_equals_numpy(settings, ro_rec, runner, tmp_path):
    root, recipe = ro_rec
    result = run(runner, settings, "rec_ro_features", recipe, "-sc", "sync", "--outdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "1 tile(s) written and indexed into rec_ro_features" in result.stdout
    data = load_on_source_grid(settings, "rec_ro_features", root)
    expected = reference(root)
    assert set(data.data_vars) == set(expected)
    for name, values in expected.items():
        got = data[name].values
        assert got.dtype == np.float32
        assert np.array_equal(np.isnan(got), np.isnan(values)), name
        np.testing.assert_allclose(got, values, rtol=2e-6, atol=2e-7, equal_nan=True, err_msg=name)
    assert data.clear_count.values[CLOUDY] == 0 and np.isnan(data.ndvi_mean.values[CLOUDY])
    # the product's time is the period, its centre inside it
    dc = connect(settings.db_url)
    (ds,) = dc.find_datasets(product="rec_ro_features")
    dc.close()
    props = ds.metadata_doc["properties"]
    assert props["dtr:start_datetime"].startswith("2018-01-01T00:00:00")
    assert props["dtr:end_datetime"].startswith("2018-12-31T23:59:59")
    assert props["datetime"].startswith("2018-07-02T")


def test_resume_after_failed_tile_gives_identical_output(settings, ro_rec, runner, tmp_path):
    root, recipe = ro_rec
    full, partial = tmp_path / "full", tmp_path / "partial"
    assert run(runner, settings, "rec_ro_tiles_full", recipe, "-sc", "sync", "--tile-size", "40",
               "--outdir", str(full)).exit_code == 0
    tiles = sorted(p.name for p in full.iterdir())
    assert len(tiles) >= 4
    partial.mkdir()
    (partial / tiles[0]).write_text("in the way")  # this tile cannot be written
    first = run(runner, settings, "rec_ro_tiles", recipe, "-sc", "sync", "--tile-size", "40", "--outdir", str(partial))
    assert first.exit_code == 1 and f"tile {tiles[0].replace('_', ',')} failed" in first.stderr
    assert f"{len(tiles) - 1} tile(s) written" in first.stdout
    (partial / tiles[0]).unlink()
    second = run(runner, settings, "rec_ro_tiles", recipe, "-sc", "sync", "--tile-size", "40", "--outdir", str(partial))
    assert second.exit_code == 0, second.output
    assert "1 tile(s) written" in second.stdout and f"{len(tiles) - 1} already done" in second.stdout
    a, b = load_on_source_grid(settings, "rec_ro_tiles_full", root), load_on_source_grid(settings, "rec_ro_tiles", root)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    # tiles are seamless: the tiled run equals the one-tile run
    one = load_on_source_grid(settings, "rec_ro_features", root) if _exists(settings, "rec_ro_features") else None
    if one is not None:
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, one[name].values, err_msg=name)


def _exists(settings, product):
    dc = connect(settings.db_url)
    try:
        return bool(dc.find_datasets(product=product))
    finally:
        dc.close()


def test_local_cluster_equals_sync(settings, ro_rec, runner, tmp_path):
    root, recipe = ro_rec
    assert run(runner, settings, "rec_ro_sync", recipe, "-sc", "sync", "--tile-size", "64", "--outdir", str(tmp_path / "s")).exit_code == 0
    result = run(runner, settings, "rec_ro_dask", recipe, "--workers", "2", "--tile-size", "64", "--outdir", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    a, b = load_on_source_grid(settings, "rec_ro_sync", root), load_on_source_grid(settings, "rec_ro_dask", root)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


def test_s2_20m_001_on_belgium_composites_with_dem(settings, data_dir, runner, tmp_path):
    """antares3's 18 features on the WorldCereal monthly composites (pre-masked, no SCL, no B8A) and its DEM.

    Stated adaptation: a copy of s2_20m_001 with ``mask`` removed (the composites are
    already cloud-masked) and the narrow-NIR aliases mapped to B08, the NIR band the data has.
    """
    from antares.recipes import recipes_dir

    env = {"ANTARES_DB_URL": settings.db_url}
    be = data_dir / "worldcereal-belgium" / "geotiff"
    assert runner.invoke(cli, ["index", "--path", str(be / "s2_monthly"), "--dataset_name", "s2_bands", "--product",
                               "rec_be_rec", "--pattern", r"(?P<date>\d{4}-\d{2})_S2L2A\.tif$"], env=env).exit_code == 0
    dem = runner.invoke(cli, ["index", "--path", str(be / "dem" / "elevation.tif"), "--dataset_name", "dem",
                              "--product", "rec_be_dem", "--outdir", str(tmp_path / "dem")], env=env)
    assert dem.exit_code == 0, dem.output
    doc = yaml.safe_load((recipes_dir() / "s2_20m_001.yaml").read_text())
    doc.pop("mask")
    doc["aliases"] = {"nir": ["B08"], "nir08": ["B08"]}
    doc["inputs"]["product"] = "rec_be_rec"
    recipe = tmp_path / "s2_20m_001_belgium.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    result = runner.invoke(cli, ["apply_recipe", "-recipe", str(recipe), "-b", "2020-11-01", "-e", "2021-10-31",
                                 "--bbox", "5.319", "50.629", "5.333", "50.637", "--name", "rec_be_001", "-sc", "sync",
                                 "--terrain-product", "rec_be_dem",
                                 "--outdir", str(tmp_path / "out")], env=env)
    assert result.exit_code == 0, result.output
    dc = connect(settings.db_url)
    try:
        data = dc.load(product="rec_be_001").isel(time=0)
    finally:
        dc.close()
    names = ["blue_mean", "green_mean", "red_mean", "re1_mean", "re2_mean", "re3_mean", "nir_mean", "swir1_mean",
             "swir2_mean", "ndvi_mean", "ndmi_mean", "ndvi_max", "ndvi_min", "ndmi_max", "ndmi_min",
             "elevation", "slope", "aspect"]
    assert list(data.data_vars) == names
    assert abs(float(data.odc.geobox.resolution.x)) == 20 and data.odc.crs.epsg == 32631
    # no terrain hole where the spectral features are valid: the DEM's edges are computed (gdaldem -compute_edges)
    # and flat ground has aspect 0 (they were NaN: 4 % of the valid pixels lost their slope, 22 % their aspect)
    spectral = np.isfinite(data.nir_mean.values)
    assert spectral.sum() > 1000
    for layer in ("elevation", "slope", "aspect"):
        assert np.isfinite(data[layer].values[spectral]).all(), layer
    inner = data.isel(y=slice(2, -2), x=slice(2, -2))
    assert 142 <= float(inner.elevation.min()) and float(inner.elevation.max()) <= 172
    assert 0 <= float(inner.slope.min()) and float(inner.slope.max()) < 30
    assert float(inner.ndvi_max.max()) <= 1 and float(inner.ndvi_min.min()) >= -1
    assert 0 < float(inner.nir_mean.mean()) < 1  # reflectance, not DN


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["-recipe", "s2_99m_009"], 1,
         "unknown recipe 's2_99m_009'; known recipes: s1_s2_monthly, s2_10m_001, s2_20m_001"),
        (["-b", "2030-01-01", "-e", "2030-12-31"], 1, "no dataset of ro_rec between 2030-01-01 and 2030-12-31 in the area; "
                                                      "in this area ro_rec has 34 datasets from 2018-01-07 to 2018-11-13"),
        (["--bbox", "5.0", "50.0", "5.1", "50.1"], 1, "ro_rec has no dataset in this area at all"),
        (["-sc", "tcp://127.0.0.1:9"], 1, "cannot reach the dask scheduler tcp://127.0.0.1:9"),
        (["--name", "ro_rec"], 1, "product 'ro_rec' exists and was not made by recipe"),
    ],
    ids=["unknown-recipe", "empty-period", "outside", "scheduler", "name-taken"],
)
def test_bad_input(settings, ro_rec, runner, tmp_path, args, code, fragment):
    root, recipe = ro_rec
    base = {"-recipe": str(recipe), "-b": "2018-01-01", "-e": "2018-12-31", "--name": "rec_ro_bad", "--bbox": None}
    argv = ["apply_recipe"]
    for key, value in base.items():
        if key in args:
            continue
        argv += [key, *BBOX] if key == "--bbox" else [key, value]
    argv += args + ["--outdir", str(tmp_path)]
    runs_before = _run_count(settings)
    result = runner.invoke(cli, argv, env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == code, result.output
    assert fragment in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("antares: error")]) == 1
    assert not list(tmp_path.rglob("*.tif"))
    dc = connect(settings.db_url)
    assert dc.index.products.get_by_name("rec_ro_bad") is None  # nothing was added
    dc.close()
    assert _run_count(settings) == runs_before


def _run_count(settings):
    return db_count(settings.db_url, "antares.run")


def test_recipe_yaml_with_unknown_index(settings, ro_rec, runner, tmp_path):
    root, recipe = ro_rec
    doc = dict(TEST_RECIPE, indices=["NDVI", "NDXI"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = run(runner, settings, "rec_ro_bad2", bad)
    assert result.exit_code == 1
    assert "unknown index 'NDXI' in indices; valid indices: BI, BI2, EVI" in result.output


def test_cloud_dilation_does_not_depend_on_tiles_or_blocks(settings, ro_rec, runner, tmp_path):
    """With a dilated cloud mask, tiles of 40 px (and blocks inside them) give what one tile gives."""
    root, _ = ro_rec
    doc = dict(TEST_RECIPE, mask={"scl": {"keep": KEEP, "dilate": 2}})
    recipe = tmp_path / "dilated.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    assert run(runner, settings, "rec_dil_one", recipe, "-sc", "sync", "--outdir", str(tmp_path / "a")).exit_code == 0
    result = run(runner, settings, "rec_dil_tiles", recipe, "-sc", "sync", "--tile-size", "40",
                 "--outdir", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    one, tiles = load_on_source_grid(settings, "rec_dil_one", root), load_on_source_grid(settings, "rec_dil_tiles", root)
    plain = load_on_source_grid(settings, "rec_ro_features", root) if _exists(settings, "rec_ro_features") else None
    for name in one.data_vars:
        np.testing.assert_array_equal(one[name].values, tiles[name].values, err_msg=name)
    if plain is not None:  # the dilation did remove observations
        assert (one.clear_count.values <= plain.clear_count.values).all()
        assert (one.clear_count.values < plain.clear_count.values).any()


def test_grid_reader_equals_dc_load(settings, ro_rec):
    """Inputs on the tile's grid are read straight from the files: identical to dc.load, padded blocks included."""
    from antares.cube.blockread import GridReader
    from antares.cube.load import native_geobox
    from antares.cube.grid import blocks

    dc = connect(settings.db_url)
    try:
        datasets = dc.find_datasets(product="ro_rec")
        tile = native_geobox(datasets, ["B02"]).pad(20)
        reader = GridReader.open(datasets, ["B02", "B08", "SCL"], tile)
        assert reader is not None
        assert GridReader.open(datasets, ["B02", "B11"], tile) is None  # B11 is 20 m: not on the 10 m grid
        try:
            for block, _ in blocks(tile, 48):
                padded = block.pad(2)
                ours = reader.read(padded)
                theirs = dc.load(datasets=datasets, like=padded, measurements=["B02", "B08", "SCL"], group_by="solar_day")
                assert (ours.time.values == theirs.time.values).all()
                for name in ("B02", "B08", "SCL"):
                    assert ours[name].dtype == theirs[name].dtype
                    np.testing.assert_array_equal(ours[name].values, theirs[name].values, err_msg=name)
        finally:
            reader.close()
    finally:
        dc.close()


def test_recipe_on_the_input_grid_equals_numpy(settings, ro_rec, runner, tmp_path):
    """A 10 m-only recipe (inputs on the output grid: the GridReader path) against the numpy reference."""
    root, _ = ro_rec
    doc = dict(TEST_RECIPE, inputs={"product": "ro_rec", "measurements": ["blue", "red", "nir"], "resolution": 10},
               indices=["NDVI"], reducers={"blue": ["mean"], "red": ["mean"], "nir": ["mean"], "ndvi": ["mean", "min", "max"]})
    recipe = tmp_path / "ten.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    result = run(runner, settings, "rec_ro_ten", recipe, "-sc", "sync", "--tile-size", "64", "--outdir", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    data = load_on_source_grid(settings, "rec_ro_ten", root)
    expected = reference(root)
    for name in ("blue_mean", "red_mean", "nir_mean", "ndvi_mean", "ndvi_min", "ndvi_max"):
        np.testing.assert_allclose(data[name].values, expected[name], rtol=2e-6, atol=2e-7, equal_nan=True, err_msg=name)


def test_small_area_writes_only_its_pixels(settings, ro_rec, runner, tmp_path):
    """A 4096-px tile of the utm_10m preset was written whole for an area of a few hundred pixels (54 MB)."""
    root, recipe = ro_rec
    env = {"ANTARES_DB_URL": settings.db_url}
    small = ["22.150", "45.203", "22.152", "45.2045"]  # about 160 m x 170 m

    def apply(name, bbox, outdir):
        return runner.invoke(cli, ["apply_recipe", "-recipe", str(recipe), "-b", "2018-01-01", "-e", "2018-12-31",
                                   "--bbox", *bbox, "--name", name, "--grid", "utm_10m", "-sc", "sync",
                                   "--outdir", str(outdir)], env=env)

    result = apply("rec_ro_small", small, tmp_path / "small")
    assert result.exit_code == 0, result.output
    dc = connect(settings.db_url)
    try:
        small_data = dc.load(product="rec_ro_small").isel(time=0)
    finally:
        dc.close()
    ny, nx = small_data.odc.geobox.shape
    assert ny * nx < 400  # the area's pixels, not the tile's 4096 x 4096
    assert f"0 failed; {ny * nx:,} pixel(s) written per measurement" in result.stdout
    files = list((tmp_path / "small").rglob("*.tif"))
    assert files and sum(f.stat().st_size for f in files) < 500_000
    with rasterio.open(next(f for f in files if f.name.endswith("_ndvi_mean.tif"))) as src:
        assert (src.height, src.width) == (ny, nx)
    # the same pixels as the run over the whole site on the same grid: the crop keeps the tile's grid
    assert apply("rec_ro_site", BBOX, tmp_path / "site").exit_code == 0
    dc = connect(settings.db_url)
    try:
        site = dc.load(product="rec_ro_site", like=small_data.odc.geobox).isel(time=0)
    finally:
        dc.close()
    assert np.isfinite(small_data.ndvi_mean.values).sum() > 100
    for name in small_data.data_vars:
        a, b = small_data[name].values, site[name].values
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        # the inputs are warped from EPSG:3035 onto each window: GDAL's approximate transformer may pick the
        # neighbouring source pixel for a pixel or two of another window (measured: 1 of 306 in blue_mean)
        same = (a == b) | np.isnan(a)
        assert same.mean() > 0.98, name


def test_tiles_run_the_recipe_read_at_the_start(settings, ro_rec, tmp_path):
    """The recipe is read once: an edit of its file while the tiles run changes nothing, and the hash recorded
    is that of the recipe that ran (issue 17: tile jobs carry the parsed recipe, not its path)."""
    import hashlib

    from antares.config import load_settings
    from antares.pipeline.area import resolve_area
    from antares.pipeline.recipe import apply_recipe
    from antares.pipeline.requests import RecipeRequest
    from helpers import db_rows

    root, recipe = ro_rec
    edited = tmp_path / "edited_recipe.yaml"
    shutil.copy(recipe, edited)
    digest = hashlib.sha256(edited.read_bytes()).hexdigest()
    s = load_settings(flags={"db_url": settings.db_url, "home": str(settings.home), "scheduler": "sync"}, environ={})
    area = resolve_area(s, bbox=tuple(float(v) for v in BBOX))
    edits = []

    def edit_after_first_tile(done, total):
        if not edits:
            edited.write_text("this: [is not a recipe")
            edits.append((done, total))

    report = apply_recipe(s, RecipeRequest(str(edited), "2018-01-01", "2018-12-31", "rec_ro_edited", area,
                                           outdir=str(tmp_path / "out"), tile_size=128), progress=edit_after_first_tile)
    assert edits and edits[0][1] >= 2  # edited after the first of several tiles
    assert report.failed == [] and report.written == report.tiles == edits[0][1]
    (params,), = db_rows(settings.db_url, "SELECT params FROM antares.run WHERE kind = 'apply_recipe' "
                                          "AND name = 'rec_ro_edited'")
    assert params["recipe_sha256"] == digest and params["recipe"] == "edited_recipe"
    data = load_on_source_grid(settings, "rec_ro_edited", root)
    for name, values in reference(root).items():
        np.testing.assert_allclose(data[name].values, values, rtol=2e-6, atol=2e-7, equal_nan=True, err_msg=name)


def test_antares3_command_line_gives_the_product_of_the_antares_form(settings, ro_rec, runner, tmp_path):
    """antares3's ``apply_recipe -recipe R -b B -e E -lat .. -long .. -name N`` runs end to end and writes what the
    antares form writes, equal to the independent numpy reference (issue 23)."""
    root, recipe = ro_rec
    lat, long = [BBOX[1], BBOX[3]], [BBOX[0], BBOX[2]]
    forms = {
        "rec_ro_a3": ["apply_recipe", "-recipe", str(recipe), "-b", "2018-01-01", "-e", "2018-12-31", "-lat", *lat,
                      "-long", *long, "-name", "rec_ro_a3", "-sc", "sync", "--outdir", str(tmp_path / "a3")],
        "rec_ro_a4": ["apply_recipe", "--recipe", str(recipe), "--begin", "2018-01-01", "--end", "2018-12-31",
                      "--lat", *lat, "--long", *long, "--name", "rec_ro_a4", "--scheduler", "sync",
                      "--outdir", str(tmp_path / "a4")],
    }
    for argv in forms.values():
        result = runner.invoke(cli, argv, env={"ANTARES_DB_URL": settings.db_url})
        assert result.exit_code == 0, result.output
    a3, a4 = (load_on_source_grid(settings, name, root) for name in forms)
    expected = reference(root)
    for name, values in expected.items():
        np.testing.assert_array_equal(a3[name].values, a4[name].values, err_msg=name)
        np.testing.assert_allclose(a3[name].values, values, rtol=2e-6, atol=2e-7, equal_nan=True, err_msg=name)
