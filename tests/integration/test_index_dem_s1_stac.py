"""Indexing DEMs (slope/aspect as gdaldem), Sentinel-1 backscatter and STAC items; dc.load returns the exact pixels."""

import json
import os
import shutil
import subprocess
import zipfile

import numpy as np
import pytest
import rasterio
from odc.geo.geom import box

from antares.cli.main import cli
from antares.cube.index import connect
from antares.cube.load import load

SLOVENIA_DEM = "eolearn-slovenia/geotiff/dem.tif"
BELGIUM_DEM = "worldcereal-belgium/geotiff/dem/elevation.tif"
BELGIUM_S1 = "worldcereal-belgium/geotiff/s1_monthly"
ROMANIA = "nrt-romania-s2l2a/geotiff"
MONTHS = ["2020-11", "2020-12"] + [f"2021-{m:02d}" for m in range(1, 11)]


def index(runner, settings, *args):
    return runner.invoke(cli, ["index", *args], env={"ANTARES_DB_URL": settings.db_url})


def failures(result):
    """The per-dataset failure lines (on stderr, or on stdout when no dataset was indexed and stderr has one error)."""
    return [line for line in result.output.splitlines() if line.startswith("failed: ")]


def load_product(settings, product, measurements, geopolygon=None):
    dc = connect(settings.db_url)
    try:
        return load(dc, product, None, measurements, geopolygon=geopolygon)
    finally:
        dc.close()


def datasets(settings, product):
    dc = connect(settings.db_url)
    try:
        return sorted(dc.find_datasets(product=product), key=lambda ds: ds.center_time)
    finally:
        dc.close()


def read(path, band=1):
    with rasterio.open(path) as src:
        return src.read(band)


def footprint(path):
    with rasterio.open(path) as src:
        return box(*src.bounds, crs=str(src.crs))


# --- DEM -------------------------------------------------------------------------------------------------------


def gdaldem(kind, dem, out_dir):
    """Run gdaldem -compute_edges (Horn, degrees; aspect -zero_for_flat), as antares; a missing gdaldem fails the test."""
    out = out_dir / f"gdaldem_{kind}.tif"
    flat = ["-zero_for_flat"] if kind == "aspect" else []
    subprocess.run(["gdaldem", kind, str(dem), str(out), "-q", "-compute_edges", *flat], check=True)
    return read(out)


def angle_diff(a, b):
    return np.abs((a.astype(np.float64) - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("dem", [SLOVENIA_DEM, BELGIUM_DEM], ids=["slovenia", "belgium"])
def test_dem_into_srtm_equals_source_and_gdaldem(settings, data_dir, tmp_path, runner, dem):
    src = data_dir / dem
    outdir = tmp_path / "terrain"
    result = index(runner, settings, "--path", str(src), "--dataset_name", "dem", "--outdir", str(outdir))
    assert result.exit_code == 0, result.output
    assert "1 dataset(s) indexed into srtm, 0 already indexed, 0 failed (of 1 found)" in result.stdout
    assert sorted(p.name for p in outdir.iterdir()) == [f"{src.stem}_aspect.tif", f"{src.stem}_slope.tif"]

    if dem == SLOVENIA_DEM:  # pixels of 9.995 x 9.997 m: see test_load_keeps_non_square_pixels
        data = load_on_grid_of(settings, "srtm", ["elevation", "slope", "aspect"], src)
    else:
        data = load_product(settings, "srtm", ["elevation", "slope", "aspect"], geopolygon=footprint(src))
    assert data.sizes["time"] == 1 and str(data.time.values[0])[:10] == "2000-02-11"
    expected = read(src).astype(np.float32)
    assert data.elevation.dtype == np.float32 and np.array_equal(data.elevation.values[0], expected)

    slope, aspect = data.slope.values[0], data.aspect.values[0]
    ref_slope, ref_aspect = gdaldem("slope", src, tmp_path), gdaldem("aspect", src, tmp_path)
    # no holes: the edges are computed (they were NaN) and flat cells have aspect 0 (they were NaN)
    assert np.isfinite(slope).all() and np.isfinite(aspect).all()
    assert np.abs(slope - ref_slope).max() < 0.01
    sloped = ref_slope > 0.1
    assert sloped.mean() > 0.5  # Belgium is flat: 81 % of its cells slope more than 0.1 degree
    assert angle_diff(aspect[sloped], ref_aspect[sloped]).max() < 0.01
    assert (aspect[slope == 0] == 0).all() and (ref_aspect[slope == 0] == 0).all()

    (ds,) = [d for d in datasets(settings, "srtm") if d.uri and str(src.resolve().parent) in d.uri]
    props = ds.metadata_doc["properties"]
    assert props["antares:datetime_source"].startswith("default: SRTM mission")
    assert ds.metadata_doc["measurements"]["slope"]["path"] == (outdir / f"{src.stem}_slope.tif").as_uri()


def load_on_grid_of(settings, product, measurements, src):
    """``dc.load`` of ``product`` on the grid of the file ``src``."""
    from odc.geo.geobox import GeoBox

    with rasterio.open(src) as f:
        geobox = GeoBox(f.shape, f.transform, f.crs)
    dc = connect(settings.db_url)
    try:
        return dc.load(product=product, measurements=measurements, like=geobox)
    finally:
        dc.close()


def test_load_keeps_non_square_pixels(settings, data_dir, tmp_path, runner):
    src = data_dir / SLOVENIA_DEM
    result = index(runner, settings, "--path", str(src), "--dataset_name", "dem", "--product", "srtm_nonsquare",
                   "--outdir", str(tmp_path))
    assert result.exit_code == 0, result.output
    data = load_product(settings, "srtm_nonsquare", ["elevation"])
    assert (data.sizes["y"], data.sizes["x"]) == (101, 100)
    assert np.array_equal(data.elevation.values[0], read(src))


def test_zipped_dem_is_read_through_vsizip(settings, data_dir, tmp_path, runner):
    """A CGIAR-style SRTM tile: int16 with voids of -32768 in a .zip beside a readme; loaded as float32 with NaN voids."""
    with rasterio.open(data_dir / BELGIUM_DEM) as src:
        profile, heights = src.profile, np.round(src.read(1)).astype(np.int16)
    heights[40:43, 50:53] = -32768
    profile.update(dtype="int16", nodata=-32768)
    with rasterio.open(tmp_path / "srtm_38_02.tif", "w", **profile) as dst:
        dst.write(heights, 1)
    folder = tmp_path / "srtm"
    folder.mkdir()
    with zipfile.ZipFile(folder / "srtm_38_02.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(tmp_path / "srtm_38_02.tif", "srtm_38_02.tif")
        archive.writestr("readme.txt", "CGIAR-CSI SRTM 90m tile (test copy of a Copernicus DEM)")
    result = index(runner, settings, "--path", str(folder), "--dataset_name", "dem", "--product", "srtm_zip")
    assert result.exit_code == 0, result.output
    assert "1 dataset(s) indexed into srtm_zip" in result.stdout
    assert {p.name for p in folder.iterdir()} == {"srtm_38_02.zip", "srtm_38_02_slope.tif", "srtm_38_02_aspect.tif"}
    (ds,) = datasets(settings, "srtm_zip")
    assert ds.metadata_doc["measurements"]["elevation"]["path"] == f"zip://{folder / 'srtm_38_02.zip'}!/srtm_38_02.tif"
    data = load_product(settings, "srtm_zip", ["elevation", "slope"])
    expected = np.where(heights == -32768, np.nan, heights).astype(np.float32)
    assert np.array_equal(data.elevation.values[0], expected, equal_nan=True)
    slope = data.slope.values[0]
    np.testing.assert_array_equal(np.isnan(slope), heights == -32768)  # NaN only in the voids (not around them)
    assert np.array_equal(slope, read(folder / "srtm_38_02_slope.tif"), equal_nan=True)


def test_dem_without_crs_fails_and_the_other_is_indexed(settings, data_dir, tmp_path, runner):
    folder = tmp_path / "dems"
    folder.mkdir()
    shutil.copy(data_dir / SLOVENIA_DEM, folder / "good.tif")
    with rasterio.open(data_dir / BELGIUM_DEM) as src:
        profile, pixels = src.profile, src.read()
    profile.pop("crs")
    with rasterio.open(folder / "nocrs.tif", "w", **profile) as dst:
        dst.write(pixels)
    # slope/aspect files antares wrote are not DEMs
    (folder / "old_slope.tif").write_bytes((data_dir / SLOVENIA_DEM).read_bytes())
    result = index(runner, settings, "--path", str(folder), "--dataset_name", "dem", "--product", "srtm_nocrs",
                   "--outdir", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "1 dataset(s) indexed into srtm_nocrs, 0 already indexed, 1 failed (of 2 found)" in result.stdout
    (line,) = failures(result)
    assert f"{folder / 'nocrs.tif'} has no CRS" in line
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_aspect.tif", "good_slope.tif"]


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nobody can write to: chmod 0o555, and for root (whom modes do not stop) the immutable attribute."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    yield folder
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=False)
    folder.chmod(0o755)


def _make_read_only(folder):
    folder.chmod(0o555)
    if os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root on a file system without the immutable attribute: no folder root cannot write")
    probe = folder / "probe"
    with pytest.raises(OSError):
        probe.write_text("x")


def test_read_only_dem_folder_needs_outdir(settings, data_dir, tmp_path, runner, read_only_dir):
    dem = read_only_dir / "dem.tif"
    shutil.copy(data_dir / SLOVENIA_DEM, dem)
    _make_read_only(read_only_dir)
    # into the indexed product srtm: nothing is added when the only DEM fails
    result = index(runner, settings, "--path", str(dem), "--dataset_name", "dem")
    assert result.exit_code == 1
    (line,) = failures(result)
    assert f"cannot write the slope and aspect of DEM {dem} to {read_only_dir}" in line
    assert line.endswith("pass --outdir with a writable folder.")
    # an --outdir that cannot be a folder (under a regular file)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = index(runner, settings, "--path", str(dem), "--dataset_name", "dem", "--outdir", str(blocker / "terrain"))
    assert result.exit_code == 1
    (line,) = failures(result)
    assert f"to {blocker / 'terrain'}" in line and line.endswith("choose a writable --outdir.")
    result = index(runner, settings, "--path", str(dem), "--dataset_name", "dem", "--product", "srtm_ro",
                   "--outdir", str(tmp_path / "terrain"))
    assert result.exit_code == 0, result.output
    assert "1 dataset(s) indexed into srtm_ro" in result.stdout


def test_dem_preparer_refuses_pattern(settings, data_dir, runner):
    result = index(runner, settings, "--path", str(data_dir / SLOVENIA_DEM), "--dataset_name", "dem", "--pattern", "x")
    assert result.exit_code == 2
    assert "the dem preparer does not take --pattern" in result.output
    assert len(result.output.strip().splitlines()) == 1


# --- Sentinel-1 ------------------------------------------------------------------------------------------------


def test_s1_monthly_composites_into_s1_grd(settings, data_dir, runner):
    result = index(runner, settings, "--path", str(data_dir / BELGIUM_S1), "--dataset_name", "s1_grd")
    assert result.exit_code == 0, result.output
    assert "12 dataset(s) indexed into s1_grd, 0 already indexed, 0 failed (of 12 found)" in result.stdout
    data = load_product(settings, "s1_grd", ["VV", "VH"])
    # datetime is the first of the month and dtr:* span the month; ODC puts a dataset at the middle of its time range
    assert [str(t)[:7] for t in data.time.values] == MONTHS
    assert str(data.time.values[0])[:10] == "2020-11-15"
    assert data.odc.crs.epsg == 32631 and data.sizes["y"] == data.sizes["x"] == 100
    for i, month in enumerate(MONTHS):
        path = data_dir / BELGIUM_S1 / f"{month}_S1_sigma0_dB.tif"
        assert np.array_equal(data.VV.values[i], read(path, 1), equal_nan=True), month
        assert np.array_equal(data.VH.values[i], read(path, 2), equal_nan=True), month
    assert np.nanmedian(data.VV.values) == pytest.approx(-9, abs=2)  # VV really is band 1
    props = datasets(settings, "s1_grd")[1].metadata_doc["properties"]
    assert props["datetime"].startswith("2020-12-01T00:00:00")
    assert props["antares:backscatter_units"] == "dB" and props["sar:polarizations"] == ["VV", "VH"]
    assert props["dtr:start_datetime"].startswith("2020-12-01T00:00:00")
    assert props["dtr:end_datetime"].startswith("2020-12-31T23:59:59")


def test_s1_linear_is_refused_for_the_db_product(settings, data_dir, runner):
    result = index(runner, settings, "--path", str(data_dir / BELGIUM_S1), "--dataset_name", "s1_grd",
                   "--units", "linear", "--product", "s1_grd")
    assert result.exit_code == 1
    assert "0 dataset(s) indexed into s1_grd" in result.stdout and "12 failed" in result.stdout
    lines = failures(result)
    assert len(lines) == 12
    assert all("holds linear power but product s1_grd holds dB; index it with --product s1_grd_linear" in line
               for line in lines)


def test_s1_linear_into_s1_grd_linear(settings, data_dir, runner):
    result = index(runner, settings, "--path", str(data_dir / BELGIUM_S1), "--dataset_name", "s1_grd",
                   "--units", "linear", "--product", "s1_grd_linear")
    assert result.exit_code == 0, result.output
    assert "12 dataset(s) indexed into s1_grd_linear" in result.stdout
    # --units linear alone goes to s1_grd_linear too
    again = index(runner, settings, "--path", str(data_dir / BELGIUM_S1), "--dataset_name", "s1_grd", "--units", "linear")
    assert "0 dataset(s) indexed into s1_grd_linear, 12 already indexed" in again.stdout
    (ds, *_) = datasets(settings, "s1_grd_linear")
    assert ds.metadata_doc["properties"]["antares:backscatter_units"] == "linear"
    data = load_product(settings, "s1_grd_linear", ["VH"])
    assert np.array_equal(data.VH.values[0], read(data_dir / BELGIUM_S1 / "2020-11_S1_sigma0_dB.tif", 2), equal_nan=True)


def test_s1_one_file_per_polarisation(settings, data_dir, tmp_path, runner):
    for month in ("2021-03", "2021-04"):
        with rasterio.open(data_dir / BELGIUM_S1 / f"{month}_S1_sigma0_dB.tif") as src:
            profile, pixels = src.profile, src.read()
        profile.update(count=1)
        for band, pol in ((1, "VV"), (2, "VH")):
            folder = tmp_path / f"{month}-15"
            folder.mkdir(exist_ok=True)
            with rasterio.open(folder / f"S1A_IW_GRDH_{pol}.tif", "w", **profile) as dst:
                dst.write(pixels[band - 1], 1)  # no description, no tags: the name says VV/VH; no units
    result = index(runner, settings, "--path", str(tmp_path), "--dataset_name", "s1_grd", "--product", "s1_split")
    assert result.exit_code == 1
    assert all("does not say whether it holds dB or linear power" in line and "--units db" in line for line in failures(result))
    result = index(runner, settings, "--path", str(tmp_path), "--dataset_name", "s1_grd", "--product", "s1_split",
                   "--units", "db")
    assert result.exit_code == 0, result.output
    assert "2 dataset(s) indexed into s1_split, 0 already indexed, 0 failed (of 2 found)" in result.stdout
    data = load_product(settings, "s1_split", ["VV", "VH"])
    assert [str(t)[:10] for t in data.time.values] == ["2021-03-15", "2021-04-15"]
    expected = read(data_dir / BELGIUM_S1 / "2021-04_S1_sigma0_dB.tif", 2)
    assert np.array_equal(data.VH.values[1], expected, equal_nan=True)


# --- STAC ------------------------------------------------------------------------------------------------------

EARTH_SEARCH_EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.1.0/schema.json",
]
#: Earth Search sentinel-2-l2a asset key -> (file in the Romania data, resolution, title, common name)
ASSETS = {
    "blue": ("10m", "B02", "Blue (band 2) - 10m", "blue"),
    "green": ("10m", "B03", "Green (band 3) - 10m", "green"),
    "red": ("10m", "B04", "Red (band 4) - 10m", "red"),
    "nir": ("10m", "B08", "NIR 1 (band 8) - 10m", "nir"),
    "nir08": ("20m", "B8A", "NIR 2 (band 8A) - 20m", "nir08"),
    "swir16": ("20m", "B11", "SWIR 1 (band 11) - 20m", "swir16"),
    "scl": ("20m", "SCL", "Scene classification map (SCL)", None),
}
ORIGIN = (5271982.576551932, 2533004.2149151857)


def earth_search_item(data_dir, date, href):
    """A STAC item in the layout of Earth Search's sentinel-2-l2a collection, for the Romania files of ``date``."""
    assets = {}
    for key, (res, band, title, common) in ASSETS.items():
        size = 10 if res == "10m" else 20
        asset = {
            "href": href(data_dir / ROMANIA / res / date / f"{band}.tif"),
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "title": title,
            "proj:shape": [1000 // size] * 2,
            "proj:transform": [size, 0, ORIGIN[0], 0, -size, ORIGIN[1]],
            "raster:bands": [{"nodata": 0, "data_type": "uint8" if band == "SCL" else "uint16", "spatial_resolution": size,
                              **({} if band == "SCL" else {"bits_per_sample": 15, "scale": 0.0001, "offset": 0})}],
            "roles": ["data"] if band == "SCL" else ["data", "reflectance"],
        }
        if common:
            asset["eo:bands"] = [{"name": common, "common_name": common}]
        assets[key] = asset
    assets["blue-jp2"] = {**assets["blue"], "href": f"s3://sentinel-s2-l2a/tiles/34/T/FR/{date}/0/R10m/B02.jp2",
                          "type": "image/jp2"}
    assets["thumbnail"] = {"href": "https://example.invalid/thumbnail.jpg", "type": "image/jpeg", "title": "Thumbnail image",
                           "roles": ["thumbnail"]}
    assets["granule_metadata"] = {"href": "https://example.invalid/metadata.xml", "type": "application/xml",
                                  "roles": ["metadata"]}
    compact = date.replace("-", "")
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"S2B_34TFR_{compact}_0_L2A",
        "properties": {
            "created": "2022-11-06T13:22:17.370Z",
            "platform": "sentinel-2b",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": 12.5,
            "proj:epsg": 3035,
            "mgrs:utm_zone": 34,
            "mgrs:latitude_band": "T",
            "mgrs:grid_square": "FR",
            "grid:code": "MGRS-34TFR",
            "view:sun_azimuth": 160.1,
            "view:sun_elevation": 22.4,
            "s2:processing_baseline": "02.06",
            "s2:product_type": "S2MSI2A",
            "datetime": f"{date}T09:32:05.123000Z",
            "earthsearch:boa_offset_applied": False,
            "updated": "2022-11-06T13:22:17.370Z",
        },
        "geometry": {"type": "Polygon", "coordinates": [[[22.14, 45.20], [22.16, 45.20], [22.16, 45.21], [22.14, 45.21],
                                                         [22.14, 45.20]]]},
        "links": [{"rel": "collection", "type": "application/json",
                   "href": "https://earth-search.aws.element84.com/v1/collections/sentinel-2-l2a"}],
        "assets": assets,
        "bbox": [22.14, 45.20, 22.16, 45.21],
        "stac_extensions": EARTH_SEARCH_EXTENSIONS,
        "collection": "sentinel-2-l2a",
    }


STAC_DATES = ["2018-01-07", "2018-03-13", "2018-06-11", "2018-08-15"]


def test_stac_items_index_and_load_exact_pixels(settings, data_dir, tmp_path, runner):
    items = tmp_path / "items"
    (items / "single").mkdir(parents=True)
    relative = earth_search_item(data_dir, STAC_DATES[0], lambda p: os.path.relpath(p, items / "single"))
    uri = earth_search_item(data_dir, STAC_DATES[1], lambda p: p.as_uri())
    (items / "single" / f"{relative['id']}.json").write_text(json.dumps(relative))
    (items / "single" / f"{uri['id']}.json").write_text(json.dumps(uri))
    collection = {"type": "FeatureCollection",
                  "features": [earth_search_item(data_dir, d, str) for d in STAC_DATES[2:]]}
    (items / "search.geojson").write_text(json.dumps(collection))
    (items / "notes.json").write_text(json.dumps({"comment": "not STAC"}))

    result = index(runner, settings, "--path", str(items), "--dataset_name", "stac", "--product", "ro_stac")
    assert result.exit_code == 0, result.output
    assert "product ro_stac: added (measurements B02, B03, B04, B08, B8A, B11, SCL)" in result.stderr
    assert "4 dataset(s) indexed into ro_stac, 0 already indexed, 0 failed (of 4 found)" in result.stdout
    again = index(runner, settings, "--path", str(items), "--dataset_name", "stac", "--product", "ro_stac", "--no-verify")
    assert "0 dataset(s) indexed into ro_stac, 4 already indexed" in again.stdout

    data = load_product(settings, "ro_stac", ["B02", "B03", "B04", "B08", "B8A", "B11", "SCL"])
    assert [str(t)[:10] for t in data.time.values] == STAC_DATES
    assert data.odc.crs.epsg == 3035 and data.sizes["y"] == data.sizes["x"] == 100
    for i, date in enumerate(STAC_DATES):
        for band, res in (("B02", "10m"), ("B03", "10m"), ("B04", "10m"), ("B08", "10m"),
                          ("B8A", "20m"), ("B11", "20m"), ("SCL", "20m")):
            expected = read(data_dir / ROMANIA / res / date / f"{band}.tif")
            if res == "20m":
                expected = np.repeat(np.repeat(expected, 2, 0), 2, 1)
            got = data[band].values[i]
            assert got.dtype == expected.dtype and np.array_equal(got, expected), (date, band)

    ds = datasets(settings, "ro_stac")[0]
    doc = ds.metadata_doc
    assert doc["measurements"]["B02"]["path"].endswith(f"/10m/{STAC_DATES[0]}/B02.tif")  # the COG, not blue-jp2
    assert doc["measurements"]["SCL"]["grid"] == "20m" and doc["crs"] == "epsg:3035"
    props = doc["properties"]
    assert props["odc:region_code"] == "34TFR" and props["eo:platform"] == "sentinel-2b"
    assert props["eo:cloud_cover"] == 12.5 and props["antares:add_offset"] == 0
    assert props["antares:stac_id"] == "S2B_34TFR_20180107_0_L2A"


def test_stac_item_without_proj_fails(settings, data_dir, tmp_path, runner):
    good = earth_search_item(data_dir, "2019-04-02", str)
    bare = earth_search_item(data_dir, "2019-04-07", str)
    del bare["properties"]["proj:epsg"]
    for asset in bare["assets"].values():
        asset.pop("proj:shape", None)
        asset.pop("proj:transform", None)
    moved = earth_search_item(data_dir, "2019-04-17", str)
    moved["assets"]["red"]["proj:transform"][2] += 10  # disagrees with the file
    for item in (good, bare, moved):
        (tmp_path / f"{item['id']}.json").write_text(json.dumps(item))
    result = index(runner, settings, "--path", str(tmp_path), "--dataset_name", "stac", "--product", "ro_stac_bad")
    assert result.exit_code == 1
    assert "1 dataset(s) indexed into ro_stac_bad, 0 already indexed, 2 failed (of 3 found)" in result.stdout
    lines = failures(result)
    assert len(lines) == 2
    no_proj = next(line for line in lines if bare["id"] in line)
    assert str(tmp_path / f"{bare['id']}.json") in no_proj
    assert "has no proj: georeferencing" in no_proj and "proj:epsg" in no_proj
    assert "proj:transform" in no_proj and "proj:shape" in no_proj
    mismatch = next(line for line in lines if moved["id"] in line)
    assert "asset red says epsg:3035" in mismatch and "fix the item" in mismatch
