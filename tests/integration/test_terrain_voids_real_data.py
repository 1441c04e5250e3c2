"""A DEM void does not take the spectral features of its pixels with it (issue 16, item 7).

The real WorldCereal Belgium DEM is copied with a 400 m x 400 m block set to its no-data value
(-9999), indexed, and the recipe with terrain is run over the real monthly S2 composites. The
void's terrain is interpolated and flagged (``terrain_filled``), every pixel with spectral features
keeps finite terrain, and ``segment`` over spectral and terrain features labels exactly the pixels
that a segmentation of the spectral features alone labels.
"""

import numpy as np
import pytest
import rasterio
import yaml

from antares.cli.main import cli
from antares.cube.index import connect

BBOX = ["--bbox", "5.319", "50.629", "5.333", "50.637"]
SPECTRAL = ["blue_mean", "green_mean", "red_mean", "re1_mean", "re2_mean", "re3_mean", "nir_mean", "swir1_mean",
            "swir2_mean", "ndvi_mean", "ndmi_mean", "ndvi_max", "ndvi_min", "ndmi_max", "ndmi_min"]
VOID = (slice(30, 70), slice(30, 70))  # rows, cols of the 100 x 100 DEM (10 m pixels) set to no-data
NODATA = -9999.0


def load(settings, product, like=None):
    dc = connect(settings.db_url)
    try:
        return dc.load(product=product, like=like).isel(time=0)
    finally:
        dc.close()


def index_dem(runner, env, path, product, tmp_path):
    result = runner.invoke(cli, ["index", "--path", str(path), "--dataset_name", "dem", "--product", product,
                                 "--outdir", str(tmp_path / product)], env=env)
    assert result.exit_code == 0, result.output


def apply(runner, env, doc, name, tmp_path, *extra):
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(yaml.safe_dump(doc))
    result = runner.invoke(cli, ["apply_recipe", "-recipe", str(recipe), "-b", "2020-11-01", "-e", "2021-10-31", *BBOX,
                                 "--name", name, "-sc", "sync", *extra, "--outdir", str(tmp_path / name)], env=env)
    assert result.exit_code == 0, result.output


def segment(runner, env, product, name, bands, tmp_path):
    band_args = [a for b in bands for a in ("-b", b)]
    result = runner.invoke(cli, ["segment", "--algorithm", "felzenszwalb", "-p", product, "-n", name, *band_args,
                                 *BBOX, "-sc", "sync", "--outdir", str(tmp_path / name)], env=env)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def products(settings, data_dir, tmp_path_factory):
    """Three recipe products over one area: spectral only, terrain from the DEM, terrain from the DEM with a void."""
    from click.testing import CliRunner

    from antares.recipes import recipes_dir

    runner, tmp = CliRunner(), tmp_path_factory.mktemp("voids")
    env = {"ANTARES_DB_URL": settings.db_url}
    be = data_dir / "worldcereal-belgium" / "geotiff"
    result = runner.invoke(cli, ["index", "--path", str(be / "s2_monthly"), "--dataset_name", "s2_bands", "--product",
                                 "void_s2", "--pattern", r"(?P<date>\d{4}-\d{2})_S2L2A\.tif$"], env=env)
    assert result.exit_code == 0, result.output
    with rasterio.open(be / "dem" / "elevation.tif") as src:
        profile, dem = src.profile, src.read(1)
    holed = dem.copy()
    holed[VOID] = NODATA
    (tmp / "holed").mkdir()
    with rasterio.open(tmp / "holed" / "elevation.tif", "w", **{**profile, "nodata": NODATA}) as dst:
        dst.write(holed, 1)
        transform = dst.transform
    (tmp / "int16").mkdir()  # as SRTM tiles: whole metres, -32768 on voids
    with rasterio.open(tmp / "int16" / "elevation.tif", "w", **{**profile, "dtype": "int16", "nodata": -32768}) as dst:
        dst.write(np.where(holed == NODATA, -32768, np.round(dem)).astype(np.int16), 1)
    index_dem(runner, env, be / "dem" / "elevation.tif", "void_dem_full", tmp)
    index_dem(runner, env, tmp / "int16" / "elevation.tif", "void_dem_int16", tmp)
    index_dem(runner, env, tmp / "holed" / "elevation.tif", "void_dem_holed", tmp)

    doc = yaml.safe_load((recipes_dir() / "s2_20m_001.yaml").read_text())
    doc.pop("mask")  # the composites are already cloud-masked and have no SCL
    doc["aliases"] = {"nir": ["B08"], "nir08": ["B08"]}
    doc["inputs"]["product"] = "void_s2"
    doc["terrain"]["layers"] = ["elevation", "slope", "aspect", "terrain_filled"]
    doc["outputs"].append("terrain_filled")
    spectral = {k: v for k, v in doc.items() if k != "terrain"}
    spectral["outputs"] = [o for o in doc["outputs"] if (o if isinstance(o, str) else o["name"]) in SPECTRAL]
    apply(runner, env, spectral, "void_spectral", tmp)
    apply(runner, env, doc, "void_terrain_full", tmp, "--terrain-product", "void_dem_full")
    apply(runner, env, doc, "void_terrain_holed", tmp, "--terrain-product", "void_dem_holed")
    apply(runner, env, doc, "void_terrain_int16", tmp, "--terrain-product", "void_dem_int16")
    apply(runner, env, doc, "void_terrain_tiled", tmp, "--terrain-product", "void_dem_holed", "--tile-size", "16")
    return runner, env, tmp, transform


def test_void_terrain_is_interpolated_and_flagged(settings, products):
    spectral = load(settings, "void_spectral")
    full, holed = load(settings, "void_terrain_full"), load(settings, "void_terrain_holed")
    for name in SPECTRAL:  # the spectral features do not depend on the terrain
        np.testing.assert_array_equal(holed[name].values, spectral[name].values, err_msg=name)
    valid = np.isfinite(np.stack([spectral[name].values for name in SPECTRAL])).all(axis=0)
    assert valid.sum() > 1000
    for layer in ("elevation", "slope", "aspect", "terrain_filled"):
        assert np.isfinite(holed[layer].values[valid]).all(), layer

    # the flag, against the void's footprint computed here from the DEM's transform: every 20 m pixel whose
    # centre lies 20 m inside the void is flagged, none whose centre lies 20 m outside it
    transform = products[3]
    (r0, r1), (c0, c1) = (VOID[0].start, VOID[0].stop), (VOID[1].start, VOID[1].stop)
    left, top = transform * (c0, r0)
    right, bottom = transform * (c1, r1)
    x, y = np.meshgrid(holed.x.values, holed.y.values)
    inside = (x > left + 20) & (x < right - 20) & (y < top - 20) & (y > bottom + 20)
    outside = (x < left - 20) | (x > right + 20) | (y > top + 20) | (y < bottom - 20)
    flag = holed.terrain_filled.values
    assert inside.sum() >= 200
    assert (flag[inside] == 1).all() and (flag[outside] == 0).all()
    assert set(np.unique(flag)) == {0.0, 1.0}
    assert (full.terrain_filled.values == 0).all()  # the whole DEM has no void

    # measured terrain is untouched (slope and aspect on the void's rim are computed from fewer cells, as on
    # the DEM's edges: compared away from it); the interpolated elevation stays within the measured heights
    measured = flag == 0
    np.testing.assert_array_equal(holed.elevation.values[measured], full.elevation.values[measured])
    far = (x < left - 40) | (x > right + 40) | (y > top + 40) | (y < bottom - 40)
    assert far.sum() > 1000
    for layer in ("slope", "aspect"):
        np.testing.assert_array_equal(holed[layer].values[far], full[layer].values[far], err_msg=layer)
    filled = holed.elevation.values[flag == 1]  # interpolated from measured heights: none outside their range
    assert float(np.min(holed.elevation.values[measured])) <= filled.min()
    assert filled.max() <= float(np.max(holed.elevation.values[measured]))
    assert np.abs(filled - full.elevation.values[flag == 1]).mean() < 5  # metres, against the real heights there
    assert 0 <= float(np.min(holed.aspect.values[flag == 1])) and float(np.max(holed.aspect.values[flag == 1])) < 360


def test_integer_dem_no_data_is_a_void(settings, products):
    """An int16 DEM's no-data value (-32768) is a void like NaN, not a height (its product is float32, NaN)."""
    holed, integer = load(settings, "void_terrain_holed"), load(settings, "void_terrain_int16")
    np.testing.assert_array_equal(integer.terrain_filled.values, holed.terrain_filled.values)
    valid = np.isfinite(holed.nir_mean.values)
    assert np.isfinite(integer.elevation.values[valid]).all()
    np.testing.assert_allclose(integer.elevation.values[valid], holed.elevation.values[valid], atol=1)


def test_void_fill_does_not_depend_on_tiles(settings, products):
    """16-pixel tiles (320 m), some inside the 400 m void: each is filled from the DEM around it."""
    dc = connect(settings.db_url)
    try:
        assert len(dc.find_datasets(product="void_terrain_tiled")) >= 9
    finally:
        dc.close()
    one = load(settings, "void_terrain_holed")
    tiled = load(settings, "void_terrain_tiled", like=one.odc.geobox)
    np.testing.assert_array_equal(tiled.terrain_filled.values, one.terrain_filled.values)
    valid = np.isfinite(one.nir_mean.values)
    for layer in ("elevation", "slope", "aspect"):
        assert np.isfinite(tiled[layer].values[valid]).all(), layer
    np.testing.assert_allclose(tiled.elevation.values, one.elevation.values, atol=0.5)


def test_void_pixels_are_segmented(settings, products):
    runner, env, tmp, _ = products
    bands = SPECTRAL + ["elevation", "slope", "aspect"]
    segment(runner, env, "void_terrain_holed", "void_seg_terrain", bands, tmp)
    segment(runner, env, "void_spectral", "void_seg_spectral", SPECTRAL, tmp)
    holed = load(settings, "void_terrain_holed")
    with_terrain = load(settings, "void_seg_terrain", like=holed.odc.geobox).segment_id.values
    without = load(settings, "void_seg_spectral", like=holed.odc.geobox).segment_id.values
    flag = holed.terrain_filled.values
    assert with_terrain.shape == without.shape == flag.shape
    assert (flag == 1).sum() > 200
    # the same pixels are labelled with and without terrain, those under the void included
    np.testing.assert_array_equal(with_terrain > 0, without > 0)
    assert (with_terrain[flag == 1] > 0).all()
