"""The netcdf preparer's grid and CRS of the nrt sample cube (as shipped in the nrt==0.2.1 wheel)."""

from antares.prepare.netcdf import cube_variables

CUBES = "nrt-romania-s2l2a/original"


def test_nrt_cube_crs_is_the_epsg_code_despite_towgs84(data_dir):
    """Its spatial_ref is GDAL WKT1 with TOWGS84[0,...]: recorded as epsg:3035, as the staged GeoTIFFs state it."""
    import rasterio

    for cube, res in (("sentinel2_cube_subset_romania_10m.nc", 10), ("sentinel2_cube_subset_romania_20m.nc", 20)):
        times, variables = cube_variables(data_dir / CUBES / cube)
        assert len(times) == 140
        with rasterio.open(data_dir / "nrt-romania-s2l2a" / "geotiff" / f"{res}m" / f"{times[0]:%Y-%m-%d}" / "SCL.tif") as src:
            expected = (src.crs.to_string().lower(), src.shape, tuple(src.transform)[:6])
        for var, band in variables.items():
            assert (band.crs, band.shape, band.transform) == expected, (cube, var)
