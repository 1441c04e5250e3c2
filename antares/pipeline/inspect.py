"""Read-only looks at the cube (``antares load``)."""

from __future__ import annotations

from antares.config import Settings
from antares.errors import NotFoundError


def region_geopolygon(settings: Settings, name: str):
    """The registered region ``name`` as an odc-geo Geometry in EPSG:4326.

    Raises
    ------
    NotFoundError
        No such region (the registered ones are listed).
    """
    from odc.geo.geom import Geometry

    from antares.db.engine import session_scope
    from antares.db.regions import list_regions, region_geometry

    with session_scope(settings) as session:
        geom = region_geometry(session, name)
        if geom is None:
            names = [r["name"] for r in list_regions(session)]
            raise NotFoundError(
                f"region '{name}' is not registered. Registered regions: {', '.join(names) or '(none)'}. "
                "Add it with 'antares register_region NAME FILE'."
            )
    return Geometry(geom, crs="EPSG:4326")


def load_product(settings: Settings, product: str, begin=None, end=None, measurements=None, region=None):
    """Load ``product`` (native grid) over a period and area; returns (xarray.Dataset, summary rows).

    ``region`` is a registered region's name or an :class:`odc.geo.geom.Geometry` (``--bbox``,
    ``-lat``/``-long``, resolved by :func:`antares.pipeline.area.resolve_area`).
    """
    from antares.cube.index import connect
    from antares.cube.load import load, summarise
    from antares.db.engine import database_url, open_database

    open_database(settings)
    geopolygon = region if hasattr(region, "to_crs") else (region_geopolygon(settings, region) if region else None)
    time = (begin or "1900-01-01", end or "2100-01-01") if (begin or end) else None
    dc = connect(database_url(settings))
    try:
        data = load(dc, product, time, measurements, geopolygon)
    finally:
        dc.close()
    return data, summarise(data)
