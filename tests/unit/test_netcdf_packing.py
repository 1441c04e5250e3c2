"""CF attributes of NetCDF variables: packing, nodata and units, as the netcdf preparer reads them and products declare them."""

import numpy as np
import pytest

from antares.errors import InvalidInputError
from antares.pipeline.index import check_file_types, derive_product, mapping_rows
from antares.prepare.netcdf import cube_variables

BASE = {"name": "base", "metadata_type": "eo3", "metadata": {"product": {"name": "base"}}, "description": "base",
        "measurements": [{"name": "LST", "dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 0.0001}]}


def _cube(path, attrs, encoding=None):
    """A 2-step 4 x 3 cube of land surface temperature in kelvin (variable LST, UTM 33N)."""
    import pyproj
    import xarray as xr

    kelvin = 270 + np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    ds = xr.Dataset({"LST": (("time", "y", "x"), kelvin, {"grid_mapping": "crs", **attrs})},
                    coords={"time": np.array(["2021-03-15", "2021-04-15"], dtype="datetime64[ns]"),
                            "y": 5800005.0 - 10 * np.arange(4), "x": 300005.0 + 10 * np.arange(3)})
    ds["crs"] = ((), np.int32(0), pyproj.CRS.from_epsg(32633).to_cf())
    ds.to_netcdf(path, engine="h5netcdf", encoding={"LST": encoding or {}})
    return kelvin


def test_packed_variable_gives_the_measurement_its_packing_and_units(tmp_path):
    kelvin = _cube(tmp_path / "lst.nc", {"units": "K"},
                   {"dtype": "int16", "scale_factor": 0.02, "add_offset": 273.15, "_FillValue": np.int16(-32768)})
    _, variables = cube_variables(tmp_path / "lst.nc")
    band = variables["LST"]
    assert (band.dtype, band.nodata, band.scale_factor, band.add_offset, band.units) == ("int16", -32768, 0.02, 273.15, "K")
    product = derive_product(BASE, "lst", [{"id": "a", "measurements": {"LST": {}}}], {"a": {"LST": band}})
    m = product["measurements"][0]
    assert (m["dtype"], m["nodata"], m["scale_factor"], m["add_offset"], m["units"]) == ("int16", -32768, 0.02, 273.15, "K")
    row, = mapping_rows(product, {"a": {"LST": band}})
    assert (row["units"], row["scale"]) == ("K", "x 0.02 + 273.15")
    import xarray as xr

    with xr.open_dataset(tmp_path / "lst.nc", mask_and_scale=False) as ds:  # the declared packing gives the values back
        stored = ds["LST"].values
    np.testing.assert_allclose(stored * m["scale_factor"] + m["add_offset"], kelvin, atol=0.01)


def test_other_packing_refused_and_no_packing_read_with_the_product_scale(tmp_path):
    _cube(tmp_path / "a.nc", {}, {"dtype": "int16", "scale_factor": 0.02, "add_offset": 273.15, "_FillValue": np.int16(-1)})
    _cube(tmp_path / "b.nc", {}, {"dtype": "int16", "scale_factor": 0.01, "add_offset": 273.15, "_FillValue": np.int16(-1)})
    _cube(tmp_path / "c.nc", {}, {"dtype": "int16", "_FillValue": np.int16(-1)})
    bands = {name: {"LST": cube_variables(tmp_path / f"{name}.nc")[1]["LST"]} for name in "abc"}
    product = derive_product(BASE, "lst", [{"id": "a", "measurements": {"LST": {}}}], {"a": bands["a"]})
    docs = [{"id": name, "measurements": {"LST": {}}} for name in "abc"]
    accepted, failures = check_file_types(product, docs, bands)
    assert [d["id"] for d in accepted] == ["a", "c"]
    (key, message), = failures
    assert key == "b" and message.startswith(f"{tmp_path / 'b.nc'} variable LST (LST): the file packs it as x 0.01 + 273.15 "
                                             "(scale_factor, add_offset), product lst declares x 0.02 + 273.15;"), message


def test_fill_value_and_missing_value_that_differ_are_refused(tmp_path):
    _cube(tmp_path / "two.nc", {"missing_value": np.float32(-9999)}, {"_FillValue": np.float32(-1)})
    with pytest.raises(InvalidInputError, match=r"two.nc: variable LST declares _FillValue -1 and missing_value -9999; "
                                                "antares reads one nodata"):
        cube_variables(tmp_path / "two.nc")
    _cube(tmp_path / "one.nc", {"missing_value": np.float32(-9999)}, {"_FillValue": None})
    assert cube_variables(tmp_path / "one.nc")[1]["LST"].nodata == -9999
    _cube(tmp_path / "nan.nc", {"missing_value": np.float32(-9999)})  # xarray's default _FillValue NaN beside it
    assert cube_variables(tmp_path / "nan.nc")[1]["LST"].nodata == -9999


def test_packed_classes_are_refused(tmp_path):
    """SCL holds classes and is read as stored: a packing the file declares for it would be lost."""
    import dataclasses

    _cube(tmp_path / "scl.nc", {}, {"dtype": "int16", "scale_factor": 0.5, "_FillValue": np.int16(-1)})
    band = dataclasses.replace(cube_variables(tmp_path / "scl.nc")[1]["LST"], name="SCL")
    base = {**BASE, "measurements": [{"name": "SCL", "dtype": "uint8", "nodata": 0, "units": "1"}]}
    product = derive_product(base, "scl", [{"id": "a", "measurements": {"SCL": {}}}], {"a": {"SCL": band}})
    accepted, ((_, message),) = check_file_types(product, [{"id": "a", "measurements": {"SCL": {}}}], {"a": {"SCL": band}})
    assert not accepted and message.startswith(f"{tmp_path / 'scl.nc'} variable LST (SCL): the file packs it as x 0.5 "
                                               "(scale_factor, add_offset), but SCL of product scl holds classes"), message
