"""``netcdf``: data cubes in NetCDF files with a time dimension, indexed in place.

Every variable of dimensions ``(time, y, x)`` whose name is a measurement (or alias) of
the product (``B2`` is read as ``B02``) becomes that measurement; each time step becomes
one dataset, whose measurements point into the NetCDF file itself, so nothing is staged
as GeoTIFF. Files of one folder with the same time steps (e.g. a 10 m and a 20 m cube)
are combined per time step; a band found at several resolutions is read at the finest.

The grid comes from the ``x``/``y`` coordinates (pixel centres, evenly spaced, rows from
north to south) and the CRS from the variable's ``grid_mapping`` (CF ``crs_wkt`` or GDAL's
``spatial_ref``, read with pyproj; recorded as its EPSG code where it has one, also one that
only its WKT declares, as behind GDAL's ``TOWGS84`` clause: products made from it need an EPSG
CRS for ODC's postgis spatial queries); dtype and nodata (``_FillValue`` or ``missing_value``)
are the stored ones, before any CF decoding. A packed variable's ``scale_factor``/``add_offset``
(CF: ``value = stored * scale_factor + add_offset``) and its ``units`` are recorded with it, so
that the product declares them as the measurement's ``scale_factor``/``add_offset`` and units
(see :func:`antares.pipeline.index.derive_product`): recipes read the unpacked values. The
files are read with xarray. ODC reads the pixels through GDAL,
which does not find the georeferencing of every cube (the ``nrt`` sample cube's x/y have no
CF attributes): each measurement's path is a GDAL ``vrt://`` connection string on the netCDF
variable that assigns the CRS and geotransform read here (``a_srs``, ``a_gt``), and antares
runs GDAL with ``GDAL_NETCDF_BOTTOMUP=NO`` (rows in file order, as the grid says). With
``verify``, the first time step of each variable is read both ways and must agree.

Dataset ids are uuid5 of (product, time, CRS, origin of the finest grid).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Iterator

from antares.errors import InvalidInputError
from antares.prepare.bands import normalise_band
from antares.prepare.base import Candidate, MeasurementFile, Preparer, dataset_id, measurement_names

log = logging.getLogger(__name__)

SUFFIXES = {".nc", ".nc4", ".netcdf"}
X_NAMES, Y_NAMES = ("x", "lon", "longitude"), ("y", "lat", "latitude")


def _crs(ds, var: str, path: Path) -> str:
    import pyproj

    mapping = ds[var].attrs.get("grid_mapping")
    if mapping is None or mapping not in ds.variables:
        raise InvalidInputError(f"{path}: variable {var} has no grid_mapping, so its CRS is unknown; add a CF grid "
                                "mapping variable (crs_wkt) or write the cube with rioxarray's rio.write_crs.")
    try:
        crs = pyproj.CRS.from_cf(ds[mapping].attrs)
    except pyproj.exceptions.CRSError as exc:
        raise InvalidInputError(f"{path}: the grid mapping {mapping} of {var} is not a CRS ({exc}).") from exc
    epsg = _epsg(crs)
    return f"epsg:{epsg}" if epsg else crs.to_wkt()


def _epsg(crs) -> int | None:
    """The EPSG code of ``crs``: pyproj's match, or the code its WKT declares where EPSG's definition agrees.

    GDAL's WKT1 with a ``TOWGS84`` clause reads as a bound CRS, which pyproj matches to no code
    (the ``nrt`` cube's ``ETRS89 / LAEA Europe`` declares EPSG:3035, since renamed by EPSG).
    """
    import warnings

    import pyproj

    epsg = crs.to_epsg()
    base = crs.source_crs if crs.is_bound else crs
    declared = base.to_json_dict().get("id") or {}
    if epsg or declared.get("authority") != "EPSG":
        return epsg
    with warnings.catch_warnings():  # to_proj4: "You will likely lose important projection information"
        warnings.simplefilter("ignore", UserWarning)
        agrees = pyproj.CRS.from_epsg(int(declared["code"])).to_proj4() == base.to_proj4()
    return int(declared["code"]) if agrees else None


def _grid(ds, var: str, path: Path) -> tuple:
    """``(shape, transform)`` of ``var`` from its pixel-centre coordinates."""
    import numpy as np

    ydim, xdim = ds[var].dims[-2:]
    xs, ys = ds[xdim].values.astype(np.float64), ds[ydim].values.astype(np.float64)
    if xs.size < 2 or ys.size < 2:
        raise InvalidInputError(f"{path}: {var} is {ys.size} x {xs.size} pixels; at least 2 x 2 are needed to know the grid.")
    dx, dy = np.diff(xs), np.diff(ys)
    if not (np.allclose(dx, dx[0], rtol=1e-6) and np.allclose(dy, dy[0], rtol=1e-6)):
        raise InvalidInputError(f"{path}: the {xdim}/{ydim} coordinates of {var} are not evenly spaced; it is not on a regular grid.")
    if dy[0] > 0:
        raise InvalidInputError(f"{path}: the rows of {var} go from south to north ({ydim} increasing); write the cube "
                                f"with {ydim} decreasing (e.g. ds.sortby('{ydim}', ascending=False)).")
    a, e = float(dx[0]), float(dy[0])
    return (ys.size, xs.size), (a, 0.0, float(xs[0]) - a / 2, 0.0, e, float(ys[0]) - e / 2)


def _one_value(arr, key: str, path: Path):
    """The one number of CF attribute ``key`` of ``arr`` (None: absent)."""
    import numpy as np

    value = arr.attrs.get(key)
    if value is None:
        return None
    try:
        values = np.unique(np.atleast_1d(np.asarray(value, dtype=np.float64)))  # NaNs count as one value
    except (TypeError, ValueError):
        values = np.array([])
    if values.size != 1:
        raise InvalidInputError(f"{path}: variable {arr.name} declares {key} {np.asarray(value).tolist()!r}; antares reads "
                                f"one number: rewrite the variable with one {key}.")
    return float(values[0])


def _cf_attributes(arr, path: Path) -> dict:
    """Nodata, packing and units the CF attributes of variable ``arr`` declare (stored values, before decoding).

    Nodata is ``_FillValue``, else ``missing_value``; where one of them is NaN (xarray's default
    ``_FillValue`` of floats), the other, since NaN is never a value.

    Raises
    ------
    InvalidInputError
        ``_FillValue`` and ``missing_value`` are two different numbers, or an attribute holds several values.
    """
    import math

    declared = [v for v in (_one_value(arr, "_FillValue", path), _one_value(arr, "missing_value", path)) if v is not None]
    numbers = list(dict.fromkeys(v for v in declared if not math.isnan(v)))
    if len(numbers) > 1:
        raise InvalidInputError(f"{path}: variable {arr.name} declares _FillValue {numbers[0]:g} and missing_value "
                                f"{numbers[1]:g}; antares reads one nodata: rewrite the variable with one of them.")
    units = arr.attrs.get("units")
    return {"nodata": (numbers or declared or [None])[0], "scale_factor": _one_value(arr, "scale_factor", path),
            "add_offset": _one_value(arr, "add_offset", path),
            "units": str(units) if units is not None and str(units).strip() else None}


def cube_variables(path: Path) -> tuple[list, dict]:
    """The time steps of the cube at ``path`` and its ``(time, y, x)`` variables.

    Returns
    -------
    (times, variables)
        ``times``: list of timezone-aware UTC datetimes; ``variables``: name ->
        :class:`~antares.prepare.base.MeasurementFile` named after the variable, band 1, with its
        dtype, nodata, CRS, grid, CF packing and units.

    Raises
    ------
    InvalidInputError
        The file cannot be read, has no ``time`` dimension, no variable ``(time, y, x)``, or a
        variable's CF attributes are ambiguous (``_FillValue`` and ``missing_value`` differ).
    """
    import datetime as dt

    import pandas as pd
    import xarray as xr

    try:
        ds = xr.open_dataset(path, mask_and_scale=False, decode_times=True)
    except Exception as exc:  # OSError, ValueError (no engine), ...: the file is not a readable cube
        raise InvalidInputError(f"{path} cannot be read as NetCDF: {str(exc).splitlines()[0]}") from exc
    with ds:
        if "time" not in ds.dims:
            raise InvalidInputError(f"{path} has no time dimension (dimensions: {', '.join(map(str, ds.dims))}); "
                                    "the netcdf preparer indexes one dataset per time step.")
        variables = {}
        for var, arr in ds.data_vars.items():
            if arr.ndim != 3 or arr.dims[0] != "time" or arr.dims[1] not in Y_NAMES or arr.dims[2] not in X_NAMES:
                if "time" in arr.dims and arr.ndim == 3:
                    raise InvalidInputError(f"{path}: variable {var} has dimensions {arr.dims}; (time, y, x) is expected "
                                            "(transpose it, e.g. ds.transpose('time', 'y', 'x')).")
                continue
            variables[var] = MeasurementFile(str(var), Path(path), _crs(ds, var, path), *_grid(ds, var, path),
                                             dtype=str(arr.dtype), variable=str(var), **_cf_attributes(arr, path))
        if not variables:
            raise InvalidInputError(f"{path} has no variable of dimensions (time, y, x).")
        times = [pd.Timestamp(t).to_pydatetime().replace(tzinfo=dt.timezone.utc) for t in ds["time"].values]
    return times, variables


def gdal_path(path: Path, var: str, crs: str, transform: tuple) -> str:
    """The GDAL ``vrt://`` connection string of variable ``var`` of ``path`` with CRS and geotransform assigned."""
    a, _, c, _, e, f = transform
    srs = crs.upper() if crs.lower().startswith("epsg:") else crs
    return f'vrt://NETCDF:"{Path(path).resolve()}":{var}?a_srs={srs}&a_gt={c!r},{a!r},0,{f!r},0,{e!r}'


def check_layer(path: Path, var: str, band: int, uri: str) -> None:
    """Fail unless GDAL, reading ``uri`` as ODC does, and xarray give the same pixels for ``var`` at time index ``band - 1``."""
    import numpy as np
    import rasterio
    import xarray as xr

    with xr.open_dataset(path, mask_and_scale=False) as ds:
        expected = ds[var].isel(time=band - 1).values
    with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO"), rasterio.open(uri) as src:
        got = src.read(band)
    if got.shape != expected.shape or not np.array_equal(got, expected, equal_nan=True):
        raise InvalidInputError(f"{path}: GDAL's netCDF driver reads {var} differently from xarray (shape {got.shape} "
                                f"vs {expected.shape}); convert the cube to GeoTIFF per date instead.")


class NetcdfPreparer(Preparer):
    """NetCDF cubes (*.nc) with a time dimension: variables (time, y, x) named like the product's measurements"""

    name = "netcdf"
    default_product = "s2_l2a"

    def __init__(self, verify: bool = True):
        self.verify = verify

    def find(self, root: Path, failures: list) -> Iterator[Candidate]:
        """One candidate per time step, with ``files`` = {variable name: [(path, variable, band)]}."""
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES)
        steps: dict = {}
        for path in files:
            try:
                times, variables = cube_variables(path)
            except InvalidInputError as exc:
                failures.append((str(path), str(exc)))
                continue
            for t, when in enumerate(times):
                candidate = steps.setdefault(when, Candidate(key=when.isoformat(), label=f"{when:%Y-%m-%d %H:%M:%S} in {root}",
                                                             properties={"datetime": when, "odc:file_format": "VRT"}))
                for var, info in variables.items():
                    candidate.files.setdefault(normalise_band(var), []).append((path, var, t + 1, info))
        yield from (steps[when] for when in sorted(steps))

    def prepare(self, candidate: Candidate, product: dict, product_name: str) -> dict:
        names = measurement_names(product)
        bands, layers = [], {}
        for band, entries in sorted(candidate.files.items()):
            if self.only is not None and names.get(band) not in self.only:
                continue
            if band not in names:
                raise InvalidInputError(f"{entries[0][0]}: variable {entries[0][1]} is not a measurement of product "
                                        f"{product['name']} (measurements: {', '.join(m['name'] for m in product['measurements'])}).")
            path, var, index, info = min(entries, key=lambda e: abs(e[3].transform[0]))
            uri = gdal_path(path, var, info.crs, info.transform)
            if self.verify and index == 1:
                check_layer(path, var, index, uri)
            bands.append(dataclasses.replace(info, name=names[band], band=index))
            layers[names[band]] = uri
        if not bands:
            raise InvalidInputError(f"{candidate.label}: no variable selected.")
        finest = min(bands, key=lambda b: abs(b.transform[0]))
        key = f"netcdf:{product_name}:{candidate.key}:{finest.crs}:{finest.transform[2]:.3f}:{finest.transform[5]:.3f}"
        doc = self.build_document(dataset_id(key), product_name, bands, candidate.properties, label=candidate.label)
        for name, uri in layers.items():
            doc["measurements"][name]["path"] = uri
            doc["measurements"][name]["band"] = doc["measurements"][name].get("band", 1)
        return doc
