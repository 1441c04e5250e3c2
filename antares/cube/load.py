"""Loading indexed products with ``dc.load`` on their native grid."""

from __future__ import annotations

import logging

from antares.errors import InvalidInputError, NotFoundError

log = logging.getLogger(__name__)


def native_geobox(datasets, measurements: list[str], geopolygon=None):
    """The GeoBox covering ``datasets`` on the grid of the finest of ``measurements``.

    The extent is the union of the datasets' grids, cut to ``geopolygon``'s bounding
    box when one is given, snapped outwards to whole pixels of the native grid, so
    that ``dc.load(like=geobox)`` returns the source pixels without resampling.

    Returns
    -------
    odc.geo.geobox.GeoBox

    Raises
    ------
    InvalidInputError
        The datasets are in more than one CRS, a dataset's grid is rotated or not north-up
        (``transform`` b or d not 0, a <= 0 or e >= 0), or the geopolygon misses them.
    """
    import math

    from affine import Affine
    from odc.geo.geobox import GeoBox

    crss = {str(ds.crs) for ds in datasets}
    if len(crss) > 1:
        raise InvalidInputError(
            f"the datasets are in {len(crss)} CRSs ({', '.join(sorted(crss))}); put them on one grid first with "
            "'antares ingest --grid PRESET' and load that product."
        )
    crs = datasets[0].crs
    res, origin, bounds = None, None, [math.inf, math.inf, -math.inf, -math.inf]
    for ds in datasets:
        grids = ds.metadata_doc.get("grids", {})
        for name in measurements:
            grid = grids[ds.metadata_doc["measurements"][name].get("grid", "default")]
            a, b, c, d, e, f = grid["transform"][:6]
            if b != 0 or d != 0 or a <= 0 or e >= 0:  # the GeoBox below is north-up: a rotated grid would be lost
                raise InvalidInputError(
                    f"dataset {ds.id} has a rotated or not north-up grid (transform {a:g}, {b:g}, {c:g}, {d:g}, {e:g}, "
                    f"{f:g}); antares reads north-up grids only: put it on one with 'antares ingest --grid PRESET'.")
            h, w = grid["shape"]
            if res is None or abs(a) * abs(e) < res[0] * res[1]:
                res, origin = (abs(a), abs(e)), (c, f)
            bounds = [min(bounds[0], c), min(bounds[1], f + e * h), max(bounds[2], c + a * w), max(bounds[3], f)]
    if geopolygon is not None:
        gx0, gy0, gx1, gy1 = geopolygon.to_crs(crs).boundingbox
        bounds = [max(bounds[0], gx0), max(bounds[1], gy0), min(bounds[2], gx1), min(bounds[3], gy1)]
        if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
            raise InvalidInputError("the region does not overlap the datasets found.")
    (rx, ry), (ox, oy) = res, origin  # pixels need not be square (e.g. 9.995 m x 9.997 m)
    x0 = ox + math.floor((bounds[0] - ox) / rx + 1e-6) * rx
    x1 = ox + math.ceil((bounds[2] - ox) / rx - 1e-6) * rx
    y1 = oy - math.floor((oy - bounds[3]) / ry + 1e-6) * ry
    y0 = oy - math.ceil((oy - bounds[1]) / ry - 1e-6) * ry
    shape = (round((y1 - y0) / ry), round((x1 - x0) / rx))
    return GeoBox(shape, Affine(rx, 0.0, x0, 0.0, -ry, y1), crs)


def product_geobox(dc, product: str):
    """The native GeoBox (:func:`native_geobox`, all measurements) of one dataset of ``product``.

    Parameters
    ----------
    dc : datacube.Datacube
    product : str

    Returns
    -------
    odc.geo.geobox.GeoBox or None
        None when ``product`` is not indexed, has no active dataset, or its dataset declares
        no grids (not an eo3 document).
    """
    from antares.cube.catalog import first_dataset, product_exists

    if not product_exists(dc, product):
        return None
    dataset = first_dataset(dc, product)
    if dataset is None or not dataset.metadata_doc.get("grids"):
        return None
    return native_geobox([dataset], list(dataset.metadata_doc["measurements"]))


def load(dc, product: str, time=None, measurements=None, geopolygon=None, output_crs=None, resolution=None):
    """``dc.load`` of ``product`` on its native grid (the finest of the requested measurements).

    Parameters
    ----------
    dc : datacube.Datacube
    product : str
    time : tuple of str, optional
        (begin, end) dates, inclusive.
    measurements : list of str, optional
        Measurement names or aliases; all by default.
    geopolygon : odc.geo.geom.Geometry, optional
        Area to load (any CRS).
    output_crs, resolution : optional
        Load onto this CRS and pixel size instead of the native grid.

    Returns
    -------
    xarray.Dataset
        Variables (time, y, x) in the product's dtypes, nodata as declared by the product.

    Raises
    ------
    NotFoundError
        Unknown product or measurement, or no dataset matches the query.
    InvalidInputError
        A file of the product cannot be read (missing, unreadable).
    """
    definition = dc.index.products.get_by_name(product)
    if definition is None:
        names = sorted(p.name for p in dc.index.products.get_all())
        raise NotFoundError(f"product '{product}' is not indexed. Indexed products: {', '.join(names) or '(none)'}.")
    known = {m: m for m in definition.measurements}
    known.update({a: name for name, m in definition.measurements.items() for a in m.get("aliases", [])})
    wanted = list(measurements or definition.measurements)
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise NotFoundError(
            f"product {product} has no measurement {', '.join(unknown)}; its measurements: {', '.join(definition.measurements)}."
        )
    query = {"product": product}
    if time:
        query["time"] = time
    if geopolygon is not None:
        query["geopolygon"] = geopolygon
    datasets = dc.find_datasets(**query)
    if not datasets:
        times = [ds.center_time for ds in dc.find_datasets(product=product)]
        span = f"its {len(times)} datasets span {min(times):%Y-%m-%d} to {max(times):%Y-%m-%d}" if times else "it has no datasets"
        raise NotFoundError(f"no dataset of product {product} matches the time/area asked for; {span}.")
    import rasterio

    names = [known[m] for m in wanted]
    try:
        if output_crs is None:
            geobox = native_geobox(datasets, names, geopolygon)
            log.debug("loading %d datasets of %s onto %s", len(datasets), product, geobox)
            return dc.load(datasets=datasets, measurements=wanted, like=geobox)
        return dc.load(datasets=datasets, measurements=wanted, output_crs=output_crs,
                       resolution=(-resolution, resolution), geopolygon=geopolygon)
    except rasterio.errors.RasterioIOError as exc:
        raise InvalidInputError(f"a file of product {product} cannot be read: {str(exc).splitlines()[0]}; restore it, "
                                "or remove its dataset and index the files again.") from exc


def load_on(dc, geobox, measurements: list, datasets=None, product: str | None = None, time=None, resampling=None):
    """``dc.load`` of ``measurements`` onto ``geobox``: from ``datasets``, else from ``product`` (within ``time``).

    Parameters
    ----------
    dc : datacube.Datacube
    geobox : odc.geo.geobox.GeoBox
        The grid to load onto (``like=``).
    measurements : list of str
    datasets : list of datacube.model.Dataset, optional
        The datasets to read; without them ``product``'s datasets over ``geobox`` are found.
    product : str, optional
    time : tuple, optional
        ``(start, end)``, as ``dc.load(time=)`` takes it.
    resampling : str, optional
        ODC's resampling name (nearest when not given).

    Returns
    -------
    xarray.Dataset
        Variables (time, y, x) in the product's dtypes, its declared nodata in ``attrs``.
    """
    query: dict = {"datasets": datasets} if datasets is not None else {"product": product}
    if time is not None:
        query["time"] = time
    if resampling is not None:
        query["resampling"] = resampling
    return dc.load(like=geobox, measurements=measurements, **query)


def one_date(datasets: list, product: str, time: str | None = None) -> list:
    """The datasets of ``product`` found in the area on one date: ``time``'s, or the only one.

    Raises
    ------
    NotFoundError
        No dataset in the area, or none on ``time`` (the dates there are listed).
    InvalidInputError
        Datasets on several dates and ``time`` not given: how many, the first and last.
    """
    import datetime as dt

    if not datasets:
        raise NotFoundError(f"product {product} has no dataset in the area; index or compute it there first.")
    days = sorted({d.center_time.astimezone(dt.timezone.utc).date() for d in datasets})
    if time is not None:
        day = dt.datetime.fromisoformat(str(time)).date()
        chosen = [d for d in datasets if d.center_time.astimezone(dt.timezone.utc).date() == day]
        if not chosen:
            shown = ", ".join(map(str, days[:10])) + (f" ... ({len(days)} dates)" if len(days) > 10 else "")
            raise NotFoundError(f"product {product} has no dataset on --time {time} in the area; its dates there: {shown}.")
        return chosen
    if len(days) > 1:
        raise InvalidInputError(
            f"product {product} has {len(days)} dates in the area ({days[0]} to {days[-1]}) and segment works on one; "
            f"choose it with --time DATE (e.g. --time {days[-1]}), or segment a product of features made with apply_recipe.")
    return datasets


def summarise(data) -> list[dict]:
    """Per measurement: dtype, nodata, share of valid pixels, min/mean/max of valid values."""
    import numpy as np

    rows = []
    for name, var in data.data_vars.items():
        values = var.values
        nodata = var.attrs.get("nodata")
        valid = np.isfinite(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
        if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
            valid &= values != nodata
        picked = values[valid]
        rows.append({
            "measurement": name,
            "dtype": str(values.dtype),
            "nodata": nodata,
            "valid_%": 100.0 * valid.mean() if values.size else 0.0,
            "min": float(picked.min()) if picked.size else None,
            "mean": float(picked.mean()) if picked.size else None,
            "max": float(picked.max()) if picked.size else None,
        })
    return rows


def load_quicklook(dc, product: str, measurements: list | None = None, time: str | None = None, max_size: int = 1024,
                   crs: str | None = "EPSG:3857"):
    """One date of ``product`` on a grid of ``crs`` (Web Mercator by default), at most ``max_size`` pixels a side.

    Parameters
    ----------
    dc : datacube.Datacube
    product : str
    measurements : list of str, optional
        All by default.
    time : str, optional
        The date (YYYY-MM-DD); the latest date of the product by default.
    max_size : int
        The larger side of the image in pixels; the pixel size is the product's native one when that is coarser.
    crs : str or None
        The output CRS; None: the CRS of the product's datasets on that date.

    Returns
    -------
    xarray.Dataset
        Variables (y, x) in the product's dtypes, nodata as declared, nearest-neighbour resampled,
        with attributes ``date`` (YYYY-MM-DD) and ``credits`` (the product's description and licence, the
        datasets' platform, instrument and producer, those that are given, joined by "; ").

    Raises
    ------
    NotFoundError
        Unknown product or measurement, no dataset, or none on ``time`` (the dates are listed).
    """
    import datetime as dt

    from odc.geo.geom import unary_union

    definition = dc.index.products.get_by_name(product)
    if definition is None:
        names = sorted(p.name for p in dc.index.products.get_all())
        raise NotFoundError(f"product '{product}' is not indexed. Indexed products: {', '.join(names) or '(none)'}.")
    wanted = list(measurements or definition.measurements)
    unknown = [m for m in wanted if m not in definition.measurements]
    if unknown:
        raise NotFoundError(f"product {product} has no measurement {', '.join(unknown)}; "
                            f"its measurements: {', '.join(definition.measurements)}.")
    datasets = dc.find_datasets(product=product)
    if not datasets:
        raise NotFoundError(f"product {product} has no dataset; index or compute it first.")
    if time is None:
        latest = max(d.center_time.astimezone(dt.timezone.utc).date() for d in datasets)
        time = latest.isoformat()
    chosen = one_date(datasets, product, time)
    crs = crs or str(chosen[0].crs)
    area = unary_union([d.extent.to_crs(crs) for d in chosen])
    x0, y0, x1, y1 = area.boundingbox
    grid = chosen[0].metadata_doc.get("grids", {}).get("default", {})
    native = abs(float(grid["transform"][0])) if "transform" in grid and chosen[0].crs.projected else 0.0
    native = native if area.crs.projected else 0.0
    resolution = max(native, max(x1 - x0, y1 - y0) / max_size)
    data = dc.load(datasets=chosen, measurements=wanted, output_crs=crs, resolution=resolution,
                   geopolygon=area)
    data = data.isel(time=0)
    data.attrs["date"] = str(time)[:10]
    props = chosen[0].metadata_doc.get("properties", {})
    parts = [definition.metadata_doc.get("description"), *(props.get(k) for k in ("eo:platform", "eo:instrument", "odc:producer")),
             definition.metadata_doc.get("license") or props.get("license")]
    data.attrs["credits"] = "; ".join(str(p) for p in parts if p)
    return data


def load_point(dc, product: str, x: float, y: float, crs: str = "EPSG:4326", measurements: list | None = None):
    """Every date of ``product`` at the pixel holding the point (``x``, ``y``) in ``crs``.

    Parameters
    ----------
    dc : datacube.Datacube
    product : str
    x, y : float
        The point, in units of ``crs`` (longitude and latitude in degrees for EPSG:4326).
    crs : str
    measurements : list of str, optional
        All by default.

    Returns
    -------
    xarray.Dataset
        Variables (time,) in the product's dtypes, nodata as declared, the pixel's values on its
        native grid (no resampling); attributes ``x``, ``y`` (the pixel's centre) and ``crs`` (the product's CRS).

    Raises
    ------
    NotFoundError
        Unknown product or measurement.
    InvalidInputError
        The point is outside every dataset of the product (its extent is given).
    """
    from odc.geo.geom import point, unary_union

    definition = dc.index.products.get_by_name(product)
    if definition is None:
        names = sorted(p.name for p in dc.index.products.get_all())
        raise NotFoundError(f"product '{product}' is not indexed. Indexed products: {', '.join(names) or '(none)'}.")
    wanted = list(measurements or definition.measurements)
    unknown = [m for m in wanted if m not in definition.measurements]
    if unknown:
        raise NotFoundError(f"product {product} has no measurement {', '.join(unknown)}; "
                            f"its measurements: {', '.join(definition.measurements)}.")
    where = point(x, y, crs)
    datasets = [d for d in dc.find_datasets(product=product, geopolygon=where.buffer(1e-9))
                if d.extent is not None and d.extent.contains(where.to_crs(d.crs))]
    if not datasets:
        every = dc.find_datasets(product=product)
        extent = (unary_union([d.extent.to_crs(crs) for d in every]).boundingbox if every else None)
        span = (f"its datasets cover x {extent.left:.6g} to {extent.right:.6g}, y {extent.bottom:.6g} to {extent.top:.6g} in {crs}"
                if extent else "it has no dataset")
        raise InvalidInputError(f"the point ({x:g}, {y:g}) in {crs} is outside product {product}: {span}. "
                                "Give a point inside it.")
    own = where.to_crs(datasets[0].crs)
    geobox = native_geobox(datasets, wanted, own.buffer(1e-6))
    data = dc.load(datasets=datasets, measurements=wanted, like=geobox)
    col, row = (~geobox.affine) * (own.coords[0][0], own.coords[0][1])
    col, row = min(int(col), geobox.shape[1] - 1), min(int(row), geobox.shape[0] - 1)
    pixel = data.isel(y=row, x=col) if "y" in data.dims else data.isel(latitude=row, longitude=col)
    cx, cy = geobox.affine * (col + 0.5, row + 0.5)
    pixel.attrs.update(x=float(cx), y=float(cy), crs=str(datasets[0].crs))
    return pixel


def load_polygon(dc, product: str, geometry, measurements: list):
    """Every date of ``product`` over a polygon on its native grid, with the mask of the pixels inside it.

    Parameters
    ----------
    geometry : odc.geo.geom.Geometry
        The polygon (any CRS); a pixel is inside when its centre is.
    measurements : list of str

    Returns
    -------
    (xarray.Dataset, numpy.ndarray of bool (y, x))
        Variables (time, y, x) as stored; the mask of the pixels whose centre is in the polygon.

    Raises
    ------
    InvalidInputError
        No dataset of the product overlaps the polygon, or no pixel centre falls inside it.
    """
    from rasterio.features import geometry_mask

    datasets = dc.find_datasets(product=product, geopolygon=geometry)
    if not datasets:
        raise InvalidInputError(f"the object is outside product {product}: no dataset overlaps it.")
    own = geometry.to_crs(datasets[0].crs)
    geobox = native_geobox(datasets, measurements, own)
    data = dc.load(datasets=datasets, measurements=measurements, like=geobox)
    inside = ~geometry_mask([own.geom], out_shape=geobox.shape, transform=geobox.affine)
    if not inside.any():
        raise InvalidInputError(f"no pixel centre of product {product} falls inside the object.")
    return data, inside
