"""antares.prepare.terrain: Horn slope and aspect on analytical surfaces and synthetic DEM files, and edge cases.

The same against gdaldem on the real DEMs: tests/integration/test_terrain_real_data.py.
"""

import os
import zipfile

import numpy as np
import pytest
import rasterio
from affine import Affine

from antares.errors import InvalidInputError
from antares.prepare.terrain import slope_aspect, write_slope_aspect
from helpers import angular_difference
from helpers import read_band as read

INTERIOR = (slice(1, -1), slice(1, -1))


def synthetic_dem(path):
    """A DEM GeoTIFF at ``path``: hills in whole metres (flat windows on the ridges), 110 x 120 pixels of 10 m."""
    from odc.geo.geobox import GeoBox

    geobox = GeoBox.from_bbox((500000, 5100000, 501200, 5101100), "EPSG:32633", resolution=10)
    rows, cols = np.mgrid[0:geobox.height, 0:geobox.width]
    elevation = np.round(700 + 40 * np.sin(cols / 15.0) + 25 * np.cos(rows / 9.0)).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=geobox.width, height=geobox.height, count=1, dtype="float32",
                       crs=str(geobox.crs), transform=geobox.affine) as dst:
        dst.write(elevation, 1)
    return path


def test_geographic_plane_at_45n():
    """An inclined plane built in metres, sampled on an EPSG:4326 grid near 45 N."""
    from pyproj import Transformer

    true_slope, downslope_azimuth = 20.0, 120.0
    lon0, lat0, step = 10.0, 45.0, 0.0002  # about 15.7 m x 22.2 m pixels
    ny, nx = 120, 150
    transform = Affine(step, 0.0, lon0, 0.0, -step, lat0 + ny * step / 2)
    cols, rows = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
    lon, lat = transform.c + transform.a * cols, transform.f + transform.e * rows
    # Local metres: transverse Mercator on the grid's central meridian, scale 1 (distortion < 1e-7 here).
    local = Transformer.from_crs(
        "EPSG:4326", f"+proj=tmerc +lat_0={lat0} +lon_0={lon0 + nx * step / 2} +k=1 +ellps=WGS84", always_xy=True
    )
    east, north = local.transform(lon, lat)
    az = np.radians(downslope_azimuth)
    elevation = 500.0 - np.tan(np.radians(true_slope)) * (east * np.sin(az) + north * np.cos(az))

    slope, aspect = slope_aspect(elevation, transform, "EPSG:4326")
    assert np.all(np.isfinite(slope[INTERIOR]))
    assert np.abs(slope[INTERIOR] - true_slope).max() < 0.05
    assert angular_difference(aspect[INTERIOR], downslope_azimuth).max() < 0.05
    # gdaldem's single factor (-s 111120) treats a degree of longitude as 111 km at 45 N,
    # where it is 78.8 km; the slope would be off by degrees. Ours is not.
    naive, _ = slope_aspect(elevation, Affine(step * 111120, 0, 0, 0, -step * 111120, 0), "EPSG:32632")
    assert np.abs(naive[INTERIOR] - true_slope).max() > 1.0


@pytest.mark.parametrize(
    ("facing", "elevation"),
    [
        (0.0, np.add.outer(np.arange(5.0), np.zeros(5))),  # rises southward: faces north
        (90.0, np.add.outer(np.zeros(5), -np.arange(5.0))),  # falls eastward
        (180.0, np.add.outer(-np.arange(5.0), np.zeros(5))),
        (270.0, np.add.outer(np.zeros(5), np.arange(5.0))),
    ],
)
def test_aspect_directions(facing, elevation):
    slope, aspect = slope_aspect(elevation * 10, Affine(10, 0, 500000, 0, -10, 5000000), "EPSG:32633")
    # the edges too: extrapolating a plane gives the plane (first and last rows repeat the edge columns)
    np.testing.assert_allclose(slope[:, 1:-1], 45.0, atol=1e-5)
    np.testing.assert_allclose(slope[1:-1], 45.0, atol=1e-5)
    assert angular_difference(aspect, facing).max() < 1e-5


def test_south_up_transform_gives_the_same_azimuth():
    z = np.add.outer(np.arange(6.0), np.zeros(6))  # rows increase southward: faces north
    _, north_up = slope_aspect(z, Affine(10, 0, 0, 0, -10, 60), "EPSG:32633")
    _, south_up = slope_aspect(z[::-1], Affine(10, 0, 0, 0, 10, 0), "EPSG:32633")
    np.testing.assert_allclose(north_up[INTERIOR], 0.0, atol=1e-5)
    np.testing.assert_allclose(south_up[INTERIOR], 0.0, atol=1e-5)


def test_flat_and_nodata_cells():
    z = np.full((7, 8), 100, dtype=np.int16)
    z[:, 5:] = 103
    z[3, 2] = -32768
    transform, crs = Affine(10, 0, 0, 0, -10, 70), "EPSG:32633"
    slope, aspect = slope_aspect(z, transform, crs, nodata=-32768)
    assert slope.dtype == aspect.dtype == np.float32
    # only the no-data cell is NaN: its neighbours take the centre's height in its place (gdaldem -compute_edges)
    assert np.isnan(slope[3, 2]) and np.isnan(aspect[3, 2]) and np.isnan(slope).sum() == np.isnan(aspect).sum() == 1
    assert slope[2, 2] == 0.0 and aspect[2, 2] == 0.0  # flat around the hole
    assert slope[1, 1] == 0.0 and aspect[1, 1] == 0.0  # flat: slope 0 (the flag), aspect 0 (gdaldem -zero_for_flat)
    assert slope[1, 5] > 0 and aspect[1, 5] == pytest.approx(270.0)  # the step rises eastward
    # NaN means no data too, with or without a nodata value, and a mask counts as well.
    zf = z.astype(np.float64)
    zf[3, 2] = np.nan
    np.testing.assert_array_equal(np.isnan(slope_aspect(zf, transform, crs)[0]), np.isnan(slope))
    masked = np.ma.masked_equal(z, -32768)
    np.testing.assert_array_equal(np.isnan(slope_aspect(masked, transform, crs)[0]), np.isnan(slope))


def test_tiny_array_is_all_nan():
    slope, aspect = slope_aspect(np.ones((1, 5)), Affine(10, 0, 0, 0, -10, 0), "EPSG:32633")
    assert slope.shape == (1, 5) and np.isnan(slope).all() and np.isnan(aspect).all()
    slope, aspect = slope_aspect(np.ones((2, 5)), Affine(10, 0, 0, 0, -10, 0), "EPSG:32633")  # edges extrapolated
    assert (slope == 0).all() and (aspect == 0).all()


@pytest.mark.parametrize(
    ("elevation", "transform", "crs", "message"),
    [
        (np.zeros((2, 5, 5)), Affine(10, 0, 0, 0, -10, 0), "EPSG:32633", "2-D"),
        (np.zeros(25), Affine(10, 0, 0, 0, -10, 0), "EPSG:32633", "2-D"),
        (np.zeros((5, 5), bool), Affine(10, 0, 0, 0, -10, 0), "EPSG:32633", "dtype"),
        (np.zeros((5, 5)), Affine(10, 1, 0, 0, -10, 0), "EPSG:32633", "rotation"),
        (np.zeros((5, 5)), Affine(10, 0, 0, 0, 0, 0), "EPSG:32633", "zero pixel size"),
        (np.zeros((5, 5)), Affine(10, 0, 0, 0, -10, 0), None, "has no CRS"),
        (np.zeros((5, 5)), Affine(10, 0, 0, 0, -10, 0), "", "has no CRS"),
        (np.zeros((5, 5)), Affine(10, 0, 0, 0, -10, 0), "EPSG:2227", "metres"),  # US survey feet
        (np.zeros((5, 5)), Affine(10, 0, 0, 0, -10, 0), "EPSG:4978", "projected"),  # geocentric
        (np.zeros((5, 5)), Affine(10, 0, 0, 0, -10, 0), "not a crs", "pyproj"),
        (np.zeros((5, 5)), Affine(1, 0, 0, 0, -1, 95), "EPSG:4326", "beyond"),
    ],
)
def test_bad_inputs(elevation, transform, crs, message):
    with pytest.raises(InvalidInputError, match=message):
        slope_aspect(elevation, transform, crs)


def test_write_slope_aspect_round_trip(tmp_path):
    dem = synthetic_dem(tmp_path / "dem.tif")
    out = tmp_path / "terrain"
    paths = write_slope_aspect(dem, out)
    assert paths == {"slope": out / "dem_slope.tif", "aspect": out / "dem_aspect.tif"}
    assert sorted(os.listdir(out)) == ["dem_aspect.tif", "dem_slope.tif"]  # no temporary file left
    elevation, transform, crs = read(dem)
    expected = dict(zip(("slope", "aspect"), slope_aspect(elevation, transform, crs)))
    for key, path in paths.items():
        with rasterio.open(path) as src:
            assert src.dtypes == ("float32",) and np.isnan(src.nodata)
            assert src.crs == crs and src.transform.almost_equals(transform)
            assert src.profile["tiled"] and src.compression.value == "DEFLATE"
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            np.testing.assert_array_equal(src.read(1), expected[key])
    write_slope_aspect(dem, out)  # existing outputs are replaced
    assert sorted(os.listdir(out)) == ["dem_aspect.tif", "dem_slope.tif"]


def test_write_slope_aspect_from_zip_and_overviews(tmp_path):
    dem = synthetic_dem(tmp_path / "elevation.tif")
    archive = tmp_path / "dem.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(dem, "inner/elevation.tif")
    paths = write_slope_aspect(f"/vsizip/{archive}/inner/elevation.tif", tmp_path / "out")
    assert paths["slope"].name == "elevation_slope.tif"
    elevation, transform, crs = read(dem)
    with rasterio.open(paths["slope"]) as src:
        np.testing.assert_array_equal(src.read(1), slope_aspect(elevation, transform, crs)[0])

    # A DEM larger than one 512-pixel tile gets overviews.
    big = tmp_path / "big.tif"
    yy, xx = np.mgrid[0:1100, 0:1200]
    z = (50 * np.sin(xx / 80.0) + 30 * np.cos(yy / 60.0)).astype(np.float32)
    profile = dict(driver="GTiff", width=1200, height=1100, count=1, dtype="float32", crs="EPSG:32631",
                   transform=Affine(10, 0, 600000, 0, -10, 5600000))
    with rasterio.open(big, "w", **profile) as dst:
        dst.write(z, 1)
    paths = write_slope_aspect(big, tmp_path / "big_out")
    for path in paths.values():
        with rasterio.open(path) as src:
            assert src.overviews(1) == [2, 4]


def test_write_slope_aspect_bad_files(tmp_path):
    missing = tmp_path / "missing.tif"
    with pytest.raises(InvalidInputError, match="missing.tif does not exist"):
        write_slope_aspect(missing, tmp_path / "out")

    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00 this is not a real TIFF")
    with pytest.raises(InvalidInputError, match="cannot read DEM .*corrupt.tif") as info:
        write_slope_aspect(corrupt, tmp_path / "out")
    assert "\n" not in str(info.value)

    no_crs = tmp_path / "no_crs.tif"
    with rasterio.open(no_crs, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32",
                       transform=Affine(10, 0, 0, 0, -10, 40)) as dst:
        dst.write(np.zeros((4, 4), np.float32), 1)
    with pytest.raises(InvalidInputError, match="no_crs.tif has no CRS") as info:
        write_slope_aspect(no_crs, tmp_path / "out")
    assert "\n" not in str(info.value)

    feet = tmp_path / "feet.tif"
    with rasterio.open(feet, "w", driver="GTiff", width=4, height=4, count=1, dtype="float32",
                       crs="EPSG:2227", transform=Affine(10, 0, 0, 0, -10, 40)) as dst:
        dst.write(np.zeros((4, 4), np.float32), 1)
    with pytest.raises(InvalidInputError, match="feet.tif: .*metres"):
        write_slope_aspect(feet, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_write_slope_aspect_leaves_nothing_on_failure(tmp_path, monkeypatch):
    import antares.prepare.terrain as terrain

    real = terrain._write_cog
    calls = []

    def fail_on_second(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            path.write_bytes(b"half written")
            raise OSError("disk full")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(terrain, "_write_cog", fail_on_second)
    out = tmp_path / "out"
    from antares.errors import WriteError

    # one line naming the file that failed, the reason and the free space
    with pytest.raises(WriteError, match=r"elevation_aspect\.tif: disk full; .* free of"):
        write_slope_aspect(synthetic_dem(tmp_path / "elevation.tif"), out)
    assert os.listdir(out) == []
