"""The area a command works on: a registered region, a bounding box, or lat/long ranges."""

from __future__ import annotations

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
        None or several of the three were given, or a range is empty.
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
        if minx >= maxx or miny >= maxy:
            raise UsageError(f"--bbox must be MINX MINY MAXX MAXY with MINX < MAXX and MINY < MAXY. Got {' '.join(map(str, bbox))}.")
        try:
            return box(minx, miny, maxx, maxy, bbox_crs)
        except Exception as exc:
            raise InvalidInputError(f"--bbox-crs {bbox_crs!r} is not a valid CRS: {exc}.") from exc
    if not (lat and long):
        raise UsageError("-lat and -long go together: give both ranges.")
    if lat[0] >= lat[1] or long[0] >= long[1] or not (-90 <= lat[0] and lat[1] <= 90):
        raise UsageError(f"-lat MIN MAX and -long MIN MAX must be increasing ranges in degrees. Got -lat {lat} -long {long}.")
    return box(long[0], lat[0], long[1], lat[1], "EPSG:4326")
