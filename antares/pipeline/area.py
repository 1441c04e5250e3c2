"""The area a command works on: a registered region, a bounding box, or lat/long ranges."""

from __future__ import annotations

import math

from antares.config import Settings
from antares.errors import InvalidInputError, UsageError


def resolve_area(settings: Settings, region: str | None = None, bbox=None, bbox_crs: str = "EPSG:4326",
                 lat=None, long=None):
    """One area from exactly one of ``region``, ``bbox`` or ``lat`` + ``long``.

    Parameters
    ----------
    region : str, optional
        Name of a registered region (``antares register_region``).
    bbox : (minx, miny, maxx, maxy), optional
        In ``bbox_crs`` (default EPSG:4326, lon/lat).
    lat, long : (min, max), optional
        Latitude and longitude ranges in degrees (antares3's ``-lat``/``-long``).

    Returns
    -------
    odc.geo.geom.Geometry

    Raises
    ------
    UsageError
        None or several of the three were given, a range is empty, a coordinate is not finite
        (NaN, inf), or degrees lie beyond -90..90 (latitude) or -180..180 (longitude).
    NotFoundError
        The region is not registered.
    InvalidInputError
        An invalid ``bbox_crs``.
    """
    from odc.geo.geom import box

    given = [name for name, value in (("-region", region), ("--bbox", bbox), ("-lat/-long", lat or long)) if value]
    if len(given) != 1:
        raise UsageError("give the area with exactly one of -region NAME, --bbox MINX MINY MAXX MAXY or -lat MIN MAX -long MIN MAX"
                         + (f" (got {', '.join(given)})." if given else "."))
    if region:
        from antares.pipeline.inspect import region_geopolygon

        return region_geopolygon(settings, region)
    if bbox:
        minx, miny, maxx, maxy = bbox
        shown = " ".join(map(str, bbox))
        if not all(math.isfinite(v) for v in bbox):
            raise UsageError(f"--bbox must be four finite numbers MINX MINY MAXX MAXY. Got {shown}.")
        if minx >= maxx or miny >= maxy:
            raise UsageError(f"--bbox must be MINX MINY MAXX MAXY with MINX < MAXX and MINY < MAXY. Got {shown}.")
        try:
            geometry = box(minx, miny, maxx, maxy, bbox_crs)
        except Exception as exc:
            raise InvalidInputError(f"--bbox-crs {bbox_crs!r} is not a valid CRS: {exc}.") from exc
        if geometry.crs.geographic and not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
            raise UsageError(f"--bbox {shown} is not in {bbox_crs}, whose longitudes lie in -180..180 and latitudes in "
                             "-90..90 (MINX MINY MAXX MAXY = west south east north); give a --bbox inside them, or "
                             "its --bbox-crs.")
        return geometry
    if not (lat and long):
        raise UsageError("-lat and -long go together: give both ranges.")
    if (not all(math.isfinite(v) for v in (*lat, *long)) or lat[0] >= lat[1] or long[0] >= long[1]
            or not (-90 <= lat[0] and lat[1] <= 90 and -180 <= long[0] and long[1] <= 180)):
        raise UsageError(f"-lat MIN MAX and -long MIN MAX must be increasing ranges in degrees within -90..90 and "
                         f"-180..180. Got -lat {lat} -long {long}.")
    return box(long[0], lat[0], long[1], lat[1], "EPSG:4326")


def region_or_area(settings: Settings, region: str | None = None, bbox=None, bbox_crs: str = "EPSG:4326",
                   lat=None, long=None):
    """``(region, area)``: a registered region kept by name, or the geometry of ``bbox`` / ``lat`` + ``long``.

    For the stages that filter in the database by a stored region (db_to_vector, db_to_raster,
    validate): a region stays a name; a box becomes an :class:`odc.geo.geom.Geometry`. Neither: ``(None, None)``.

    Raises
    ------
    UsageError
        Several of region, bbox and lat/long were given, or a box is invalid (see :func:`resolve_area`).
    """
    if not (region or bbox or lat or long):
        return None, None
    if region and not (bbox or lat or long):
        return region, None
    return None, resolve_area(settings, region, bbox, bbox_crs, lat, long)
