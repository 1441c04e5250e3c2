"""Reprojecting measurements of indexed datasets onto a GeoBox with rasterio (GDAL warp)."""

from __future__ import annotations

import numpy as np


def measurement_source(dataset, name: str) -> tuple[str, int]:
    """The path rasterio opens and the band index of measurement ``name`` of an ODC dataset."""
    from datacube.utils.uris import uri_resolve, uri_to_local_path

    entry = dataset.metadata_doc["measurements"][name]
    uri = uri_resolve(dataset.uri, entry["path"])
    if uri.startswith("file://"):
        uri = str(uri_to_local_path(uri))
    return uri, int(entry.get("band", 1))


def _valid(values: np.ndarray, nodata) -> np.ndarray:
    if values.dtype.kind == "f":
        ok = np.isfinite(values)
        return ok if nodata is None or np.isnan(nodata) else ok & (values != nodata)
    return np.ones(values.shape, bool) if nodata is None else values != nodata


def warp_measurement(datasets, measurement: dict, geobox, resampling: str = "nearest") -> tuple[np.ndarray, np.ndarray]:
    """Reproject one measurement of ``datasets`` onto ``geobox`` and mosaic them (first valid value wins).

    Each source file is warped with ``rasterio.warp.reproject`` (GDAL's warper, which
    reads only the source window it needs), with the file's nodata (or the
    product's) as source nodata.

    Parameters
    ----------
    datasets : list of datacube.model.Dataset
        Datasets of one time step, in priority order.
    measurement : dict
        The product's measurement definition (``name``, ``dtype``, ``nodata``).
    geobox : odc.geo.geobox.GeoBox
        Target grid.
    resampling : str
        A ``rasterio.enums.Resampling`` name.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Values (y, x) in the measurement's dtype, nodata where no source covers a
        pixel; and the boolean mask of valid pixels.
    """
    import rasterio
    from rasterio.warp import Resampling, reproject

    dtype = np.dtype(measurement["dtype"])
    nodata = measurement.get("nodata")
    nodata = float("nan") if isinstance(nodata, str) and nodata.lower() == "nan" else nodata
    fill = nodata if nodata is not None else 0
    out = np.full(geobox.shape, fill, dtype=dtype)
    valid = np.zeros(geobox.shape, bool)
    for ds in datasets:
        path, band = measurement_source(ds, measurement["name"])
        part = np.full(geobox.shape, fill, dtype=dtype)
        with rasterio.open(path) as src:
            src_nodata = src.nodatavals[band - 1]
            reproject(
                rasterio.band(src, band), part,
                dst_transform=geobox.affine, dst_crs=geobox.crs.to_wkt(),
                src_nodata=nodata if src_nodata is None else src_nodata, dst_nodata=fill,
                resampling=Resampling[resampling],
            )
        new = _valid(part, nodata) & ~valid
        out[new] = part[new]
        valid |= new
    return out, valid


def xr_from_array(array: np.ndarray, geobox):
    """Wrap a (y, x) array on ``geobox`` as a georeferenced ``xarray.DataArray``."""
    from odc.geo.xr import wrap_xr

    return wrap_xr(array, geobox)
