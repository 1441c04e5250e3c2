"""Imagery of other shapes than the shared data's, built from its real rasters in tmp directories.

Each shape is indexed, loaded back, and compared with an independent rasterio read of the
files written; what cannot be indexed is refused in one line.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
import yaml

from antares.cli.main import cli
from antares.cube.index import connect
from antares.cube.load import load
from helpers import db_count

ROMANIA = "nrt-romania-s2l2a/geotiff/10m"
DATES = ["2018-07-01", "2018-07-21"]
BANDS = ["B02", "B03", "B04", "B08"]


def _write(path, arrays, profile, descriptions=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {**profile, "count": len(arrays), "dtype": str(arrays[0].dtype)}
    with rasterio.open(path, "w", **profile) as dst:
        for i, a in enumerate(arrays, start=1):
            dst.write(a, i)
            if descriptions:
                dst.set_band_description(i, descriptions[i - 1])


def _source(data_dir, date, band):
    with rasterio.open(data_dir / ROMANIA / date / f"{band}.tif") as src:
        return src.read(1), src.profile


def _read(path, band=1):
    with rasterio.open(path) as src:
        return src.read(band)


def _load(settings, product, measurements, time=None):
    dc = connect(settings.db_url)
    try:
        return load(dc, product, time, measurements)
    finally:
        dc.close()


def _index(runner, settings, *args):
    return runner.invoke(cli, ["index", "--dataset_name", "s2_bands", *args], env={"ANTARES_DB_URL": settings.db_url})


def _product(settings, name):
    dc = connect(settings.db_url)
    try:
        return {m["name"]: m for m in dc.index.products.get_by_name(name).definition["measurements"]}
    finally:
        dc.close()


@pytest.fixture(scope="module")
def int16_files(data_dir, tmp_path_factory):
    """The Romania 10 m bands of two dates as int16 (THEIA-like), nodata -10000 where the source had 0."""
    root = tmp_path_factory.mktemp("int16")
    for date in DATES:
        for band in BANDS:
            values, profile = _source(data_dir, date, band)
            out = values.astype(np.int16)
            out[values == 0] = -10000
            out[:3, :5] = -10000  # some nodata in every file, whatever the source holds
            _write(root / date / f"{band}.tif", [out], {**profile, "nodata": -10000})
    return root


def test_int16_files_derive_an_int16_product_and_load_unchanged(settings, runner, int16_files):
    result = _index(runner, settings, "--path", str(int16_files), "--product", "shp_int16")
    assert result.exit_code == 0, result.output
    assert "2 dataset(s) indexed into shp_int16, 0 already indexed, 0 failed" in result.stdout
    measurements = _product(settings, "shp_int16")
    for band in BANDS:
        assert measurements[band]["dtype"] == "int16" and measurements[band]["nodata"] == -10000, measurements[band]
    # the mapping report names file band, measurement, dtype and nodata
    line = next(li for li in result.stdout.splitlines() if li.startswith("B02.tif:1"))
    assert line.split()[:5] == ["B02.tif:1", "int16", "-10000", "B02", "1"], line
    data = _load(settings, "shp_int16", BANDS)
    assert [str(t)[:10] for t in data.time.values] == DATES
    for i, date in enumerate(DATES):
        for band in BANDS:
            expected = _read(int16_files / date / f"{band}.tif")
            assert data[band].dtype == np.int16 and np.array_equal(data[band].values[i], expected), (date, band)
            assert (data[band].values[i] == -10000).sum() >= 15
    assert "Level-2A (Sen2Cor)" not in _product_description(settings, "shp_int16")


def _product_description(settings, name):
    dc = connect(settings.db_url)
    try:
        return dc.index.products.get_by_name(name).definition["description"]
    finally:
        dc.close()


def test_int16_files_into_a_uint16_product_are_refused(settings, runner, data_dir, int16_files, tmp_path):
    name = "shp_uint16"
    product = {"name": name, "metadata_type": "eo3", "metadata": {"product": {"name": name}},
               "description": "uint16 bands", "measurements": [
                   {"name": b, "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001} for b in BANDS]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(product))
    assert runner.invoke(cli, ["product", "add", str(tmp_path / "p.yaml")],
                         env={"ANTARES_DB_URL": settings.db_url}).exit_code == 0
    before = db_count(settings.db_url, "odc.dataset")
    result = _index(runner, settings, "--path", str(int16_files), "--product", name)
    assert result.exit_code == 1
    errors = [li for li in result.stderr.splitlines() if li.strip()]
    assert len(errors) == 1, result.stderr
    assert "holds int16 with nodata -10000," in errors[0] and "declares uint16 with nodata 0" in errors[0]
    assert "--product NEW_NAME" in errors[0] and "B02.tif band 1" in errors[0]
    assert db_count(settings.db_url, "odc.dataset") == before


@pytest.fixture(scope="module")
def float_files(data_dir, tmp_path_factory):
    """The Romania 10 m bands of two dates as float32 surface reflectance in 0-1, NaN = nodata (units '1')."""
    root = tmp_path_factory.mktemp("float01")
    for date in DATES:
        for band in ("B02", "B04", "B08"):
            values, profile = _source(data_dir, date, band)
            out = np.where(values == 0, np.nan, values / np.float32(10000)).astype(np.float32)
            out[:2, :4] = np.nan
            _write(root / date / f"{band}.tif", [out], {**profile, "nodata": np.nan})
    return root


def test_float_reflectance_is_read_as_is(settings, runner, float_files, tmp_path):
    """A product without a declared scale is read as is: recipe means stay in 0-1 (not divided by 10,000)."""
    result = _index(runner, settings, "--path", str(float_files), "--product", "shp_f32")
    assert result.exit_code == 0, result.output
    assert all("scale_factor" not in m and m["dtype"] == "float32" for m in _product(settings, "shp_f32").values())
    assert next(li for li in result.stdout.splitlines() if li.startswith("B04.tif:1")).split()[7:9] == ["as", "is"]
    recipe = {"description": "means of float reflectance", "inputs": {"product": "shp_f32", "measurements":
              ["blue", "red", "nir"], "resolution": 10}, "indices": ["NDVI"],
              "reducers": {"blue": ["mean"], "red": ["mean"], "nir": ["mean"], "ndvi": ["mean"]}}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    result = runner.invoke(cli, ["apply_recipe", "-recipe", str(tmp_path / "r.yaml"), "-b", "2018-01-01", "-e",
                                 "2018-12-31", "--bbox", "22.140", "45.195", "22.166", "45.215", "--name", "shp_f32_feat",
                                 "-sc", "sync", "--outdir", str(tmp_path / "out")], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    stack = {b: np.stack([_read(float_files / d / f"{b}.tif") for d in DATES]) for b in ("B02", "B04", "B08")}
    with warnings.catch_warnings():  # the all-NaN corner gives NaN, as wanted
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = {"blue_mean": np.nanmean(stack["B02"], 0), "red_mean": np.nanmean(stack["B04"], 0),
                    "ndvi_mean": np.nanmean((stack["B08"] - stack["B04"]) / (stack["B08"] + stack["B04"]), 0)}
    from odc.geo.geobox import GeoBox

    with rasterio.open(float_files / DATES[0] / "B02.tif") as src:
        geobox = GeoBox(src.shape, src.transform, src.crs)
    dc = connect(settings.db_url)
    try:
        data = dc.load(product="shp_f32_feat", like=geobox).isel(time=0)
    finally:
        dc.close()
    for name, values in expected.items():
        np.testing.assert_allclose(data[name].values, values, rtol=2e-6, atol=2e-7, equal_nan=True, err_msg=name)
    assert 0.01 < float(np.nanmean(data["red_mean"].values)) < 0.5


@pytest.fixture(scope="module")
def dem_stack(data_dir, tmp_path_factory):
    """Belgium's S1 VV/VH (dB) of one month with the DEM as the last band of one float32 file."""
    be = data_dir / "worldcereal-belgium" / "geotiff"
    with rasterio.open(be / "s1_monthly" / "2021-03_S1_sigma0_dB.tif") as src:
        s1, profile = src.read().astype(np.float32), src.profile
    with rasterio.open(be / "dem" / "elevation.tif") as src:
        elevation = src.read(1).astype(np.float32)
    path = tmp_path_factory.mktemp("demstack") / "stack.tif"
    _write(path, [s1[0], s1[1], elevation], {**profile, "nodata": np.nan}, ["VV_dB", "VH_dB", "elevation"])
    return path


def _dem(runner, settings, path, *args):
    return runner.invoke(cli, ["index", "--dataset_name", "dem", "--path", str(path), *args],
                         env={"ANTARES_DB_URL": settings.db_url})


def test_multiband_dem_needs_band(settings, runner, dem_stack):
    before = db_count(settings.db_url, "odc.dataset")
    result = _dem(runner, settings, dem_stack, "--product", "shp_dem_none")
    assert result.exit_code == 1
    errors = [li for li in result.stderr.splitlines() if li.strip()]
    assert len(errors) == 1 and "has 3 bands (1 (VV_dB), 2 (VH_dB), 3 (elevation))" in errors[0], result.stderr
    assert "--band NAME or --band N" in errors[0]
    assert db_count(settings.db_url, "odc.dataset") == before
    unknown = _dem(runner, settings, dem_stack, "--product", "shp_dem_none", "--band", "height")
    assert unknown.exit_code == 1 and "--band height is not a band of" in unknown.stderr


def test_multiband_dem_band_by_name_loads_the_elevation(settings, runner, dem_stack):
    result = _dem(runner, settings, dem_stack, "--product", "shp_dem", "--band", "elevation")
    assert result.exit_code == 0, result.output
    assert "does not look like elevations" not in result.output
    assert any(li.startswith("stack.tif:3") and "elevation" in li for li in result.stdout.splitlines()), result.stdout
    data = _load(settings, "shp_dem", ["elevation", "slope"])
    expected = _read(dem_stack, 3)
    assert np.array_equal(data.elevation.values[0], expected, equal_nan=True)
    assert 0 <= float(np.nanmax(data.slope.values)) < 20  # gentle Hesbaye slopes, not dB gradients


def test_backscatter_band_as_dem_warns(settings, runner, dem_stack):
    result = _dem(runner, settings, dem_stack, "--product", "shp_dem_vv", "--band", "1")
    assert result.exit_code == 0, result.output
    assert "band 1 does not look like elevations in metres (the values look like radar backscatter in dB" in result.output


def test_bands_indexes_a_subset(settings, runner, int16_files):
    result = _index(runner, settings, "--path", str(int16_files), "--product", "shp_sub", "--bands", "blue,B08")
    assert result.exit_code == 0, result.output
    assert sorted(_product(settings, "shp_sub")) == ["B02", "B08"]
    table = [li.split()[0] for li in result.stdout.splitlines() if ".tif:" in li]
    assert table == ["B02.tif:1", "B08.tif:1"], result.stdout
    data = _load(settings, "shp_sub", None)
    assert set(data.data_vars) == {"B02", "B08"}
    assert np.array_equal(data.B08.values[1], _read(int16_files / DATES[1] / "B08.tif"))


@pytest.fixture(scope="module")
def netcdf_cube(data_dir, tmp_path_factory):
    """Belgium's monthly S2 composites of three months as one NetCDF cube (time, y, x), uint16 with _FillValue 65535."""
    import pyproj
    import xarray as xr

    folder = data_dir / "worldcereal-belgium" / "geotiff" / "s2_monthly"
    months = ["2021-03", "2021-04", "2021-05"]
    stacks = []
    for month in months:
        with rasterio.open(folder / f"{month}_S2L2A.tif") as src:
            stacks.append(src.read())
            names, transform, crs = src.descriptions, src.transform, src.crs
    height, width = stacks[0].shape[1:]
    xs = transform.c + transform.a * (np.arange(width) + 0.5)
    ys = transform.f + transform.e * (np.arange(height) + 0.5)
    times = np.array([f"{m}-15" for m in months], dtype="datetime64[ns]")
    variables = {name.replace("B0", "B"): (("time", "y", "x"), np.stack([s[i] for s in stacks]),
                                            {"_FillValue": np.uint16(65535), "grid_mapping": "crs"})
                 for i, name in enumerate(names) if name in ("B02", "B04", "B08")}
    ds = xr.Dataset(variables, coords={"time": times, "y": ys, "x": xs})
    ds["crs"] = xr.DataArray(np.int32(0), attrs=pyproj.CRS(crs.to_wkt()).to_cf())
    path = tmp_path_factory.mktemp("cube") / "belgium_s2.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    return path, months, {n: i for i, n in enumerate(names)}, stacks


def test_netcdf_cube_one_dataset_per_time_step(settings, runner, netcdf_cube):
    path, months, index, stacks = netcdf_cube
    result = runner.invoke(cli, ["index", "--dataset_name", "netcdf", "--path", str(path), "--product", "shp_nc"],
                           env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    assert "3 dataset(s) indexed into shp_nc, 0 already indexed, 0 failed" in result.stdout
    assert sorted(_product(settings, "shp_nc")) == ["B02", "B04", "B08"]
    assert _product(settings, "shp_nc")["B02"]["nodata"] == 65535
    data = _load(settings, "shp_nc", ["B02", "B04", "B08"])
    assert [str(t)[:7] for t in data.time.values] == months and data.odc.crs.epsg == 32631
    for t in range(3):
        for band in ("B02", "B04", "B08"):
            assert np.array_equal(data[band].values[t], stacks[t][index[band]]), (months[t], band)


PACKING = {"scale_factor": np.float32(5e-5), "add_offset": np.float32(0.8)}  # CF: value = stored * scale + offset


@pytest.fixture(scope="module")
def packed_cubes(netcdf_cube, tmp_path_factory):
    """The Belgium cube as reflectance (0-1, a NaN corner) written three ways with xarray's CF encoding.

    ``packed.nc``: int16 with scale_factor 5e-05, add_offset 0.8 and _FillValue -32768;
    ``float.nc``: float32 with _FillValue NaN (unpacked); ``other.nc``: int16 packed with
    scale_factor 0.0001 and no offset, three months later.
    """
    import xarray as xr

    with xr.open_dataset(netcdf_cube[0], mask_and_scale=False) as ds:
        cube = ds.load()
    for var in ("B2", "B4", "B8"):
        values = (cube[var].values / np.float32(10000)).astype(np.float32)
        values[:, :3, :5] = np.nan
        cube[var] = xr.DataArray(values, dims=cube[var].dims, attrs={"grid_mapping": "crs", "units": "1"})
    root = tmp_path_factory.mktemp("packed")
    packed = {"dtype": "int16", "_FillValue": np.int16(-32768)}
    cube.to_netcdf(root / "packed.nc", engine="h5netcdf", encoding={v: {**packed, **PACKING} for v in ("B2", "B4", "B8")})
    cube.to_netcdf(root / "float.nc", engine="h5netcdf", encoding={v: {"dtype": "float32", "_FillValue": np.float32(np.nan)}
                                                                   for v in ("B2", "B4", "B8")})
    later = cube.assign_coords(time=cube.time + np.timedelta64(92, "D"))
    later.to_netcdf(root / "other.nc", engine="h5netcdf", encoding={v: {**packed, "scale_factor": np.float32(1e-4)}
                                                                    for v in ("B2", "B4", "B8")})
    return root


def _unpacked(path):
    """The cube's variables as xarray decodes them (CF mask and scale), by measurement name."""
    import xarray as xr

    with xr.open_dataset(path, mask_and_scale=True) as ds:
        return {f"B0{v[1]}": ds[v].values.astype(np.float64) for v in ("B2", "B4", "B8")}


def _mean_recipe(tmp_path, product, name, settings, runner):
    """apply_recipe of the means of blue, red, nir and NDVI over the Belgium cube; returns the features on its grid."""
    from odc.geo.geobox import GeoBox

    recipe = {"description": "means", "inputs": {"product": product, "measurements": ["blue", "red", "nir"],
              "resolution": 10}, "indices": ["NDVI"],
              "reducers": {"blue": ["mean"], "red": ["mean"], "nir": ["mean"], "ndvi": ["mean"]}}
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(recipe))
    result = runner.invoke(cli, ["apply_recipe", "-recipe", str(tmp_path / f"{name}.yaml"), "-b", "2021-01-01", "-e",
                                 "2021-12-31", "--bbox", "5.31", "50.62", "5.34", "50.645", "--name", name, "-sc", "sync",
                                 "--outdir", str(tmp_path / name)], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    dc = connect(settings.db_url)
    try:
        grid = dc.find_datasets(product=product)[0].metadata_doc["grids"]["default"]
        geobox = GeoBox(tuple(grid["shape"]), rasterio.Affine(*grid["transform"][:6]), "EPSG:32631")
        return dc.load(product=name, like=geobox).isel(time=0)
    finally:
        dc.close()


def _expected_means(unpacked):
    with warnings.catch_warnings():  # the all-NaN corner gives NaN, as wanted
        warnings.simplefilter("ignore", RuntimeWarning)
        return {"blue_mean": np.nanmean(unpacked["B02"], 0), "red_mean": np.nanmean(unpacked["B04"], 0),
                "ndvi_mean": np.nanmean((unpacked["B08"] - unpacked["B04"]) / (unpacked["B08"] + unpacked["B04"]), 0)}


def test_packed_netcdf_reads_the_unpacked_values(settings, runner, packed_cubes, tmp_path):
    """int16 packed with CF scale_factor/add_offset: the product declares the packing, recipes see the physical values."""
    from antares.cube.reflectance import to_reflectance

    result = runner.invoke(cli, ["index", "--dataset_name", "netcdf", "--path", str(packed_cubes / "packed.nc"),
                                 "--product", "shp_nc_packed"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    line = next(li for li in result.stdout.splitlines() if li.startswith("packed.nc:1") and " B04 " in li)
    assert line.split()[1:7] == ["int16", "-32768", "B04", "1", "int16", "-32768"], line
    assert "x 5e-05 + 0.8" in line, line  # the mapping report shows the packing
    unpacked = _unpacked(packed_cubes / "packed.nc")
    assert np.isnan(unpacked["B02"][:, :3, :5]).all() and 0.01 < np.nanmean(unpacked["B04"]) < 0.5
    dc = connect(settings.db_url)
    try:
        datasets = dc.find_datasets(product="shp_nc_packed")
        data = to_reflectance(load(dc, "shp_nc_packed", None, ["B02", "B04", "B08"]), datasets)
    finally:
        dc.close()
    for band, values in unpacked.items():
        np.testing.assert_allclose(data[band].values, values, rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=band)
    features = _mean_recipe(tmp_path, "shp_nc_packed", "shp_nc_packed_feat", settings, runner)
    for name, values in _expected_means(unpacked).items():
        np.testing.assert_allclose(features[name].values, values, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)


def test_unpacked_float_netcdf_is_read_as_is(settings, runner, packed_cubes, tmp_path):
    result = runner.invoke(cli, ["index", "--dataset_name", "netcdf", "--path", str(packed_cubes / "float.nc"),
                                 "--product", "shp_nc_float"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    line = next(li for li in result.stdout.splitlines() if li.startswith("float.nc:1") and " B04 " in li)
    assert line.split()[1:] == ["float32", "nan", "B04", "1", "float32", "NaN", "as", "is", "3"], line
    unpacked = _unpacked(packed_cubes / "float.nc")
    data = _load(settings, "shp_nc_float", ["B02", "B04", "B08"])
    for band, values in unpacked.items():
        assert data[band].dtype == np.float32 and np.array_equal(data[band].values, values, equal_nan=True), band
    features = _mean_recipe(tmp_path, "shp_nc_float", "shp_nc_float_feat", settings, runner)
    for name, values in _expected_means(unpacked).items():
        np.testing.assert_allclose(features[name].values, values, rtol=1e-5, atol=1e-6, equal_nan=True, err_msg=name)


def test_netcdf_with_another_packing_is_refused(settings, runner, packed_cubes):
    """A cube packed otherwise than the product declares: one line naming file, variable and both packings."""
    env = {"ANTARES_DB_URL": settings.db_url}
    first = runner.invoke(cli, ["index", "--dataset_name", "netcdf", "--path", str(packed_cubes / "packed.nc"),
                                "--product", "shp_nc_repack"], env=env)
    assert first.exit_code == 0, first.output
    before = db_count(settings.db_url, "odc.dataset")
    result = runner.invoke(cli, ["index", "--dataset_name", "netcdf", "--path", str(packed_cubes / "other.nc"),
                                 "--product", "shp_nc_repack"], env=env)
    assert result.exit_code == 1
    errors = [li for li in result.stderr.splitlines() if li.strip()]
    assert len(errors) == 1, result.stderr
    assert f"{packed_cubes / 'other.nc'} variable B2 (B02): the file packs it as x 0.0001 (scale_factor, add_offset), " \
           "product shp_nc_repack declares x 5e-05 + 0.8" in errors[0], errors[0]
    assert db_count(settings.db_url, "odc.dataset") == before


def test_nrt_sample_cube_indexes_from_its_netcdf(settings, runner, data_dir):
    """The nrt package's 10 m and 20 m cubes, indexed in place: 140 datasets equal to the staged GeoTIFFs."""
    original = data_dir / "nrt-romania-s2l2a" / "original"
    result = runner.invoke(cli, ["index", "--dataset_name", "netcdf", "--path", str(original), "--product", "shp_nrt"],
                           env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    assert "140 dataset(s) indexed into shp_nrt, 0 already indexed, 0 failed" in result.stdout
    assert sorted(_product(settings, "shp_nrt")) == sorted(["B02", "B03", "B04", "B08", "B8A", "B11", "SCL"])
    data = _load(settings, "shp_nrt", ["B02", "B8A", "SCL"], ("2018-07-01", "2018-07-31"))
    geotiff = data_dir / "nrt-romania-s2l2a" / "geotiff"
    dates = sorted(p.name for p in (geotiff / "10m").iterdir() if p.name.startswith("2018-07"))
    assert [str(t)[:10] for t in data.time.values] == dates
    for i, date in enumerate(dates):
        assert np.array_equal(data.B02.values[i], _read(geotiff / "10m" / date / "B02.tif")), date
        assert np.array_equal(data.SCL.values[i], _read(geotiff / "10m" / date / "SCL.tif")), date
        b8a = _read(geotiff / "20m" / date / "B8A.tif")
        assert np.array_equal(data.B8A.values[i], np.repeat(np.repeat(b8a, 2, 0), 2, 1)), date


@pytest.fixture(scope="module")
def multidate_file(data_dir, tmp_path_factory):
    """Four Romania dates of B02/B04/B08 in one file, described as Earth Engine names them: B02, B02_1, ... B08_3."""
    dates = ["2018-06-06", "2018-07-01", "2018-07-21", "2018-08-15"]
    arrays, names = [], []
    for step, date in enumerate(dates):
        for band in ("B02", "B04", "B08"):
            values, profile = _source(data_dir, date, band)
            arrays.append(values)
            names.append(band if step == 0 else f"{band}_{step}")
    path = tmp_path_factory.mktemp("multidate") / "2018-06_export.tif"
    _write(path, arrays, profile, names)
    return path, dates, names


def test_several_dates_in_one_file_refused_naming_the_cause(settings, runner, multidate_file):
    path, _, _ = multidate_file
    result = _index(runner, settings, "--path", str(path), "--product", "shp_md_bad", "--pattern",
                    r"(?P<date>\d{4}-\d{2})_export\.tif$")
    assert result.exit_code == 1
    errors = [li for li in result.stderr.splitlines() if li.strip()]
    assert len(errors) == 1 and "4 dates in one file (band descriptions B02, B04, B08, ..., B08_3)" in errors[0], errors
    undated = _index(runner, settings, "--path", str(path), "--product", "shp_md_bad",
                     "--band-pattern", r"(?P<band>B\d\d)(?:_(?P<step>\d+))?")
    assert undated.exit_code == 1 and "holds 4 dates in one file; date them with --dates" in undated.stderr


def test_several_dates_in_one_file_one_dataset_per_date(settings, runner, data_dir, multidate_file):
    path, dates, names = multidate_file
    result = _index(runner, settings, "--path", str(path), "--product", "shp_md",
                    "--band-pattern", r"(?P<band>B\d\d)(?:_(?P<step>\d+))?", "--dates", ",".join(dates))
    assert result.exit_code == 0, result.output
    assert "4 dataset(s) indexed into shp_md, 0 already indexed, 0 failed" in result.stdout
    data = _load(settings, "shp_md", ["B02", "B04", "B08"])
    assert [str(t)[:10] for t in data.time.values] == dates
    for i, date in enumerate(dates):
        for band in ("B02", "B04", "B08"):
            expected = _read(path, names.index(band if i == 0 else f"{band}_{i}") + 1)
            assert np.array_equal(data[band].values[i], expected), (date, band)
            assert np.array_equal(expected, _source(data_dir, date, band)[0])


def test_geopackage_with_a_style_table_reads_its_one_spatial_layer(settings, runner, data_dir, tmp_path):
    """A GeoPackage with QGIS's layer_styles table beside the polygons: the polygons are read, without warnings."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    polygons = gpd.read_file(data_dir / "eolearn-slovenia" / "lulc_polygons.gpkg")
    path = tmp_path / "labels.gpkg"
    polygons.to_file(path, layer="labels")
    pyogrio.write_dataframe(pd.DataFrame({"f_table_name": ["labels"], "styleQML": ["<qgis/>"]}), path,
                            layer="layer_styles", append=False)
    result = runner.invoke(cli, ["ingest_training", str(path), "--field", "LULC_NAME", "--dataset", "shp_styles",
                                 "--where", "LULC_ID > 0"], env={"ANTARES_DB_URL": settings.db_url})
    assert result.exit_code == 0, result.output
    assert "84 sample(s) in 5 class(es)" in result.stdout
    assert "more than one layer" not in result.output.lower() and "warning" not in result.output.lower()


def test_library_errors_stay_off_the_terminal_unless_verbose(settings, runner, data_dir, tmp_path):
    """A file gone after indexing: one error line, not ODC's "Error opening source dataset" before it."""
    import shutil

    copy = tmp_path / "gone"
    for date in DATES:
        shutil.copytree(data_dir / ROMANIA / date, copy / date)
    assert _index(runner, settings, "--path", str(copy), "--product", "shp_gone").exit_code == 0
    (copy / DATES[0] / "B04.tif").unlink()
    import os
    import subprocess
    import sys
    from pathlib import Path

    import antares

    # a process of its own: under pytest the root logger has pytest's handlers, so Python's
    # last-resort handler (which printed ODC's error line) never runs in-process
    env = {**os.environ, "ANTARES_DB_URL": settings.db_url, "PYTHONPATH": str(Path(antares.__file__).parents[1])}
    command = [sys.executable, "-c", "from antares.cli.main import main; main()"]
    result = subprocess.run([*command, "load", "-p", "shp_gone"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = [li for li in result.stderr.splitlines() if li.strip()]
    assert len(lines) == 1 and lines[0].startswith("antares: error: a file of product shp_gone cannot be read: "), lines
    assert "B04.tif: No such file or directory" in lines[0]
    verbose = subprocess.run([*command, "-v", "load", "-p", "shp_gone"], env=env, capture_output=True, text=True,
                             timeout=300)
    assert "Error opening source dataset" in verbose.stderr


def test_product_add_declares_a_scale_on_an_existing_product(settings, runner, tmp_path):
    """A product indexed without scale_factor gets one with 'product add' (ODC counts it unsafe; no pixel changes)."""
    doc = {"name": "shp_rescale", "metadata_type": "eo3", "metadata": {"product": {"name": "shp_rescale"}},
           "description": "uint16 DN", "measurements": [{"name": "B04", "dtype": "uint16", "nodata": 0, "units": "1"}]}
    env = {"ANTARES_DB_URL": settings.db_url}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    assert runner.invoke(cli, ["product", "add", str(tmp_path / "p.yaml")], env=env).exit_code == 0
    doc["measurements"][0]["scale_factor"] = 0.0001
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    result = runner.invoke(cli, ["product", "add", str(tmp_path / "p.yaml")], env=env)
    assert result.exit_code == 0 and "product shp_rescale: updated" in result.stdout, result.output
    assert _product(settings, "shp_rescale")["B04"]["scale_factor"] == 0.0001
    doc["measurements"][0]["dtype"] = "int16"  # a dtype change stays refused
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    assert "product shp_rescale: kept" in runner.invoke(cli, ["product", "add", str(tmp_path / "p.yaml")], env=env).stdout


def test_recipe_on_the_nrt_cube_equals_the_recipe_on_its_geotiffs(settings, runner, data_dir, romania, tmp_path):
    """s2_10m_001 on the cube indexed in place gives the features of the same recipe on the staged GeoTIFFs."""
    env = {"ANTARES_DB_URL": settings.db_url}
    cube = data_dir / "nrt-romania-s2l2a" / "original" / "sentinel2_cube_subset_romania_10m.nc"
    indexed = runner.invoke(cli, ["index", "--dataset_name", "netcdf", "--path", str(cube), "--product", "shp_nrt_rec",
                                  "--bands", "B02,B03,B04,B08,SCL"], env=env)
    assert indexed.exit_code == 0, indexed.output
    for product, name in ((romania, "shp_feat_tif"), ("shp_nrt_rec", "shp_feat_nc")):
        result = runner.invoke(cli, ["apply_recipe", "-recipe", "s2_10m_001", "-b", "2018-01-01", "-e", "2018-12-31",
                                     "-p", product, "--bbox", "22.140", "45.195", "22.166", "45.215", "--name", name,
                                     "-sc", "sync", "--outdir", str(tmp_path / name)], env=env)
        assert result.exit_code == 0, result.output
    dc = connect(settings.db_url)
    try:
        tif, nc = (dc.load(product=p).isel(time=0) for p in ("shp_feat_tif", "shp_feat_nc"))
    finally:
        dc.close()
    assert set(tif.data_vars) == set(nc.data_vars) and len(tif.data_vars) == 16
    for name in tif.data_vars:
        assert np.array_equal(tif[name].values, nc[name].values, equal_nan=True), name
    assert 0.01 < float(np.nanmean(nc["blue_mean"].values)) < 0.2  # reflectance, scaled once
