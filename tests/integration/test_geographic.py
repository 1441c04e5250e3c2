"""Imagery in a geographic CRS: an EPSG:4326 reprojection of the real Romania L2A bands.

The fixture warps three 2018 dates of ``nrt-romania-s2l2a`` (EPSG:3035, 10 m and 20 m bands)
onto EPSG:4326 with rasterio (nearest neighbour; the 20 m bands on a grid of twice the 10 m
pixel with the same origin), indexes the copy as ``geo_ro`` and the projected original of the
same dates as ``geo_ro_src``. Then:

* ``load`` of the geographic product returns the pixels of the warped files (it raised
  ``KeyError: 'y'``: the spatial dimensions are latitude/longitude);
* ``apply_recipe`` with a recipe in metres puts the grid onto a projected CRS (UTM zone of the
  area, or ``--crs``), says so in one line, and equals the same recipe on the projected original
  within resampling tolerance; a resolution in metres given for a CRS in degrees is refused;
* ``segment`` of the three-date product needs ``--time`` (it used the first date silently), and the
  segments' ``area_m2`` are m² within 0.5 % of an equal-area (LAEA) computation (they held square degrees).
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import rasterio
import yaml

from antares.cli.main import cli
from antares.cube.index import connect
from helpers import db_rows

ROMANIA = "nrt-romania-s2l2a/geotiff"
DATES = ["2018-01-07", "2018-03-13", "2018-06-11"]
BBOX = ["22.146", "45.2", "22.158", "45.209"]  # inside the 1 km² site
RECIPE = {
    "description": "10 m bands and NDVI of the Romania data (geographic tests)",
    "inputs": {"product": "geo_ro", "measurements": ["blue", "red", "nir"], "resolution": 10},
    "mask": {"scl": {"keep": [4, 5, 6, 7]}},
    "indices": ["NDVI"],
    "reducers": {"blue": ["mean"], "red": ["mean"], "nir": ["mean"], "ndvi": ["mean", "max"]},
    "clear_count": True,
}


def warp_to_4326(src_root, dst_root):
    """Every band file of DATES warped to EPSG:4326 by nearest neighbour (20 m: twice the 10 m pixel, same extent)."""
    from rasterio.transform import Affine
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    with rasterio.open(src_root / "10m" / DATES[0] / "B02.tif") as src:
        transform10, width, height = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height,
                                                                 *src.bounds)
    w20, h20 = math.ceil(width / 2), math.ceil(height / 2)  # both grids cover the same extent
    grids = {"10m": (transform10, 2 * w20, 2 * h20), "20m": (transform10 * Affine.scale(2), w20, h20)}
    for res, (transform, w, h) in grids.items():
        for date in DATES:
            (dst_root / res / date).mkdir(parents=True)
            for path in sorted((src_root / res / date).glob("*.tif")):
                with rasterio.open(path) as src:
                    profile = src.profile
                    profile.update(crs="EPSG:4326", transform=transform, width=w, height=h, tiled=False)
                    profile.pop("blockxsize", None), profile.pop("blockysize", None)
                    out = np.zeros((h, w), src.dtypes[0])
                    reproject(src.read(1), out, src_transform=src.transform, src_crs=src.crs, src_nodata=src.nodata,
                              dst_transform=transform, dst_crs="EPSG:4326", dst_nodata=src.nodata,
                              resampling=Resampling.nearest)
                with rasterio.open(dst_root / res / date / path.name, "w", **profile) as dst:
                    dst.write(out, 1)


@pytest.fixture(scope="module")
def geo(settings, data_dir, tmp_path_factory):
    """(root of the EPSG:4326 copy, root of the projected original, recipe file); products geo_ro and geo_ro_src."""
    from click.testing import CliRunner

    tmp = tmp_path_factory.mktemp("geo")
    src, dst = tmp / "src", tmp / "4326"
    for res in ("10m", "20m"):
        for date in DATES:
            shutil.copytree(data_dir / ROMANIA / res / date, src / res / date)
    warp_to_4326(src, dst)
    env = {"ANTARES_DB_URL": settings.db_url}
    for root, product in ((dst, "geo_ro"), (src, "geo_ro_src")):
        result = CliRunner().invoke(cli, ["index", "--path", str(root), "--dataset_name", "s2_bands", "--product",
                                          product], env=env)
        assert result.exit_code == 0 and f"3 dataset(s) indexed into {product}" in result.output, result.output
    recipe = tmp / "geo_recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE, sort_keys=False))
    return dst, src, recipe


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1), src.transform, src.crs


def test_load_of_a_geographic_product_equals_the_files(settings, geo, runner):
    """`antares load` raised KeyError: 'y' on every EPSG:4326 product."""
    import json

    from antares.cube.load import load

    root, _, _ = geo
    result = runner.invoke(cli, ["load", "-p", "geo_ro", "--json"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    b02, transform, _ = _read(root / "10m" / DATES[0] / "B02.tif")
    info = json.loads(result.stdout)
    assert info["crs"] == "EPSG:4326" and info["shape"] == [3, *b02.shape]
    assert info["resolution"] == pytest.approx(transform.a, rel=1e-9)
    text = runner.invoke(cli, ["load", "-p", "geo_ro"], env={"ANTARES_DB_URL": settings.db_url})
    assert f"{b02.shape[0]} x {b02.shape[1]} pixels of {transform.a:g}° in EPSG:4326" in text.stdout  # degrees, said
    dc = connect(settings.db_url)
    try:
        data = load(dc, "geo_ro", measurements=["B02", "B08", "SCL", "B11"])
    finally:
        dc.close()
    assert data.B02.dims == ("time", "latitude", "longitude")
    assert data.odc.geobox.affine.almost_equals(transform, 1e-12)
    for i, date in enumerate(DATES):
        for band in ("B02", "B08", "SCL"):
            expected, _, _ = _read(root / "10m" / date / f"{band}.tif")
            np.testing.assert_array_equal(data[band].values[i], expected, err_msg=f"{date} {band}")
        b11, _, _ = _read(root / "20m" / date / "B11.tif")  # every 20 m pixel is a 2 x 2 block of the 10 m grid
        expected = np.repeat(np.repeat(b11, 2, 0), 2, 1)
        np.testing.assert_array_equal(data.B11.values[i], expected, err_msg=f"{date} B11")


def _recipe(runner, settings, recipe, product, name, outdir, *extra):
    return runner.invoke(cli, ["apply_recipe", "-recipe", str(recipe), "-b", "2018-01-01", "-e", "2018-12-31",
                               "-p", product, "--bbox", *BBOX, "--name", name, "-sc", "sync", "--outdir", str(outdir),
                               *extra], env={"ANTARES_DB_URL": settings.db_url})


def _features(settings, product, like=None):
    dc = connect(settings.db_url)
    try:
        return dc.load(product=product, like=like).isel(time=0) if like is not None else \
            dc.load(product=product).isel(time=0)
    finally:
        dc.close()


def _agree(a, b, name, equal_share, corr):
    both = np.isfinite(a) & np.isfinite(b)
    assert both.sum() > 1000, name
    # the valid pixels are the same up to the edge pixels resampling moves
    assert abs(int(np.isfinite(a).sum()) - int(np.isfinite(b).sum())) < 0.05 * both.sum(), name
    assert (a[both] == b[both]).mean() > equal_share, name
    assert np.corrcoef(a[both], b[both])[0, 1] > corr, name
    assert abs(float(np.mean(a[both])) - float(np.mean(b[both]))) < 0.01 * max(abs(float(np.mean(b[both]))), 0.1), name


def test_metric_recipe_on_a_geographic_product_goes_to_utm(settings, geo, runner, tmp_path):
    """The recipe's 10 m were applied as 10° pixels (nothing valid, or a footprint to latitude -20472, exit 0)."""
    _, _, recipe = geo
    result = _recipe(runner, settings, recipe, "geo_ro", "geo_feat_utm", tmp_path / "utm")
    assert result.exit_code == 0, result.output
    assert "the input is in EPSG:4326 (degrees): recipe geo_recipe's 10 m grid goes onto EPSG:32634, the UTM zone " \
           "of the area's centre" in result.stderr
    assert "1 tile(s) written and indexed into geo_feat_utm" in result.stdout
    # the same recipe on the projected original, onto the same UTM grid (given explicitly)
    reference = _recipe(runner, settings, recipe, "geo_ro_src", "geo_feat_src_utm", tmp_path / "src",
                        "--crs", "EPSG:32634", "--resolution", "10", "--tile-size", "2048")
    assert reference.exit_code == 0 and "goes onto" not in reference.stderr, reference.output
    got, expected = _features(settings, "geo_feat_utm"), _features(settings, "geo_feat_src_utm")
    geobox = got.odc.geobox
    assert geobox.crs.epsg == 32634 and geobox.resolution.x == 10 and geobox == expected.odc.geobox
    lat0, lat1 = geobox.extent.to_crs("EPSG:4326").boundingbox.range_y
    assert 45.0 < lat0 < lat1 < 45.5
    for name in ("blue_mean", "nir_mean", "ndvi_mean", "ndvi_max"):
        # two nearest-neighbour resamplings (3035 -> 4326 -> 32634) against one (3035 -> 32634)
        _agree(got[name].values, expected[name].values, name, equal_share=0.4, corr=0.97)


def test_metric_recipe_on_a_geographic_product_with_crs(settings, geo, runner, tmp_path):
    """--crs puts the geographic copy back onto the original's grid: the features are the original's."""
    from odc.geo.geobox import GeoBox

    _, src, recipe = geo
    b02, transform, crs = _read(src / "10m" / DATES[0] / "B02.tif")
    grid = ["--crs", "EPSG:3035", "--resolution", "10", "--tile-size", "2048", "--origin", repr(transform.c),
            repr(transform.f)]
    result = _recipe(runner, settings, recipe, "geo_ro", "geo_feat_3035", tmp_path / "a", *grid)
    assert result.exit_code == 0 and "goes onto" not in result.stderr, result.output
    reference = _recipe(runner, settings, recipe, "geo_ro_src", "geo_feat_src", tmp_path / "b")
    assert reference.exit_code == 0, reference.output
    like = GeoBox(b02.shape, transform, crs)
    got, expected = _features(settings, "geo_feat_3035", like), _features(settings, "geo_feat_src", like)
    for name in ("blue_mean", "nir_mean", "ndvi_mean", "ndvi_max"):
        _agree(got[name].values, expected[name].values, name, equal_share=0.8, corr=0.99)


def test_resolution_in_metres_for_a_crs_in_degrees_is_refused(settings, geo, runner, tmp_path):
    _, _, recipe = geo
    result = _recipe(runner, settings, recipe, "geo_ro", "geo_feat_deg", tmp_path / "deg",
                     "--crs", "EPSG:4326", "--resolution", "10", "--tile-size", "256")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "antares: error: resolution 10 is in the units of EPSG:4326, degrees (10° pixels, about 1,113 km); give degrees "
        "(0.0001° is about 11 m) or a projected CRS in metres, e.g. --crs EPSG:32634 (the UTM zone of the area)."]
    assert not (tmp_path / "deg").exists()
    dc = connect(settings.db_url)
    try:
        assert dc.index.products.get_by_name("geo_feat_deg") is None
    finally:
        dc.close()


def _segment(runner, settings, name, outdir, *extra):
    return runner.invoke(cli, ["segment", "-a", "slic", "-p", "geo_ro", "-n", name, "--bbox", *BBOX, "-sc", "sync",
                               "-b", "B02", "-b", "B04", "-b", "B08", "--outdir", str(outdir), *extra],
                         env={"ANTARES_DB_URL": settings.db_url})


def test_segment_of_a_multi_date_product_needs_a_date(settings, geo, runner, tmp_path):
    """segment used the first of the product's dates without a word."""
    result = _segment(runner, settings, "geo_seg_nodate", tmp_path / "a")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "antares: error: product geo_ro has 3 dates in the area (2018-01-07 to 2018-06-11) and segment works on one; "
        "choose it with --time DATE (e.g. --time 2018-06-11), or segment a product of features made with apply_recipe."]
    missing = _segment(runner, settings, "geo_seg_nodate", tmp_path / "a", "--time", "2018-06-12")
    assert missing.exit_code == 1 and "its dates there: 2018-01-07, 2018-03-13, 2018-06-11." in missing.stderr
    assert not (tmp_path / "a").exists()


def test_segments_of_a_geographic_product_have_areas_in_m2(settings, geo, runner, tmp_path):
    """area_m2 held square degrees on a geographic product; it is m², within 0.5 % of an equal-area computation."""
    import geopandas as gpd
    import sqlalchemy as sa

    result = _segment(runner, settings, "geo_seg", tmp_path / "seg", "--time", DATES[-1])
    assert result.exit_code == 0, result.output
    engine = sa.create_engine(settings.db_url)
    try:
        frame = gpd.read_postgis(sa.text(
            "SELECT s.segment_id, s.area_m2, s.pixel_count, s.geom FROM antares.segment s JOIN antares.segmentation g "
            "ON g.id = s.segmentation_id WHERE g.name = 'geo_seg'"), engine, geom_col="geom")
    finally:
        engine.dispose()
    assert frame.crs.to_epsg() == 4326 and len(frame) > 10
    centre = frame.union_all().centroid
    laea = f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m"
    equal_area = frame.to_crs(laea).area
    np.testing.assert_allclose(frame.area_m2, equal_area, rtol=0.005)
    # a pixel of 0.0001048° is about 8.2 m x 11.6 m here: m², not square degrees
    assert 80 < (frame.area_m2 / frame.pixel_count).min() <= (frame.area_m2 / frame.pixel_count).max() < 110
    ((params, inputs),) = db_rows(settings.db_url, "SELECT params, inputs FROM antares.run WHERE kind = 'segment' "
                                                   "AND name = 'geo_seg'")
    assert params["time"] == DATES[-1] and inputs["datasets"] == 1  # the date chosen, its one dataset


def test_db_to_vector_of_a_geographic_segmentation_exports_m2(settings, geo, runner, tmp_path):
    """db_to_vector exported the square degrees; whole and clipped objects are in m² (within 0.5 % of LAEA)."""
    import geopandas as gpd
    import sqlalchemy as sa
    from shapely.geometry import box

    env = {"ANTARES_DB_URL": settings.db_url}
    if not db_rows(settings.db_url, "SELECT 1 FROM antares.segmentation WHERE name = 'geo_seg'"):
        assert _segment(runner, settings, "geo_seg", tmp_path / "seg", "--time", DATES[-1]).exit_code == 0
    # a classification of its objects, inserted as model_predict_object stores one (the export is under test)
    engine = sa.create_engine(settings.db_url)
    with engine.begin() as conn:
        q = sa.text
        scheme = conn.execute(q("INSERT INTO antares.class_scheme (name) VALUES ('geo_scheme') RETURNING id")).scalar()
        conn.execute(q("INSERT INTO antares.legend_class (scheme_id, code, name, colour) VALUES (:s, 1, 'a', '#ff0000'), "
                       "(:s, 2, 'b', '#0000ff')"), {"s": scheme})
        meta = '{"legend": [{"code": 1, "name": "a", "colour": "#ff0000"}, {"code": 2, "name": "b", "colour": "#0000ff"}]}'
        model = conn.execute(q("INSERT INTO antares.model (name, kind, scheme_id, product, blob, metadata) VALUES "
                               "('geo_model', 'rf', :s, 'geo_ro', 'x', CAST(:m AS jsonb)) RETURNING id"),
                             {"s": scheme, "m": meta}).scalar()
        seg = conn.execute(q("SELECT id FROM antares.segmentation WHERE name = 'geo_seg'")).scalar()
        cid = conn.execute(q("INSERT INTO antares.classification (name, segmentation_id, model_id) "
                             "VALUES ('geo_map', :s, :m) RETURNING id"), {"s": seg, "m": model}).scalar()
        conn.execute(q("INSERT INTO antares.prediction (classification_id, segment_id, class_code, confidence, entropy) "
                       "SELECT :c, segment_id, 1 + segment_id % 2, 0.9, 0.1 FROM antares.segment "
                       "WHERE segmentation_id = :s"), {"c": cid, "s": seg})
    engine.dispose()
    west = tmp_path / "west.gpkg"
    gpd.GeoDataFrame({"name": ["geo_west"]}, geometry=[box(22.14, 45.19, 22.152, 45.22)], crs="EPSG:4326").to_file(west)
    assert runner.invoke(cli, ["register_region", "geo_west", str(west)], env=env).exit_code == 0
    for extra in ([], ["-region", "geo_west", "--clip"]):
        path = tmp_path / f"map{len(extra)}.gpkg"
        result = runner.invoke(cli, ["db_to_vector", "-n", "geo_map", "-f", str(path), *extra], env=env)
        assert result.exit_code == 0, result.output
        frame = gpd.read_file(path)
        assert frame.crs.to_epsg() == 4326 and len(frame) > 5
        centre = frame.union_all().centroid
        laea = frame.to_crs(f"+proj=laea +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m").area
        np.testing.assert_allclose(frame.area_m2, laea, rtol=0.005, err_msg=str(extra))
