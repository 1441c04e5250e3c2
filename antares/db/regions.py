"""Repository functions for regions (table ``antares.region``)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from geoalchemy2.elements import WKBElement
from sqlalchemy.orm import Session

from antares.db.schema import Region


def region_names(session: Session, names: list[str]) -> list[str]:
    """The subset of ``names`` that are registered regions."""
    return list(session.scalars(sa.select(Region.name).where(Region.name.in_(names))))


def replace_regions(session: Session, rows: list[dict]) -> None:
    """Insert regions, first deleting any with the same names (in the caller's transaction).

    Each row has ``name``, ``collection``, ``wkb`` (EPSG:4326 MultiPolygon WKB),
    ``area_km2``, ``source`` and ``source_crs``.
    """
    session.execute(sa.delete(Region).where(Region.name.in_([r["name"] for r in rows])))
    session.execute(
        sa.insert(Region),
        [
            {
                "name": r["name"],
                "collection": r["collection"],
                "geom": WKBElement(r["wkb"], srid=4326),
                "area_km2": r["area_km2"],
                "source": r["source"],
                "source_crs": r["source_crs"],
            }
            for r in rows
        ],
    )


def list_regions(session: Session) -> list[dict]:
    """All regions, by name, with their area, bounds (EPSG:4326) and source."""
    box = sa.func.Box2D(Region.geom)
    query = sa.select(
        Region.name,
        Region.collection,
        Region.area_km2,
        sa.func.ST_XMin(box).label("west"),
        sa.func.ST_YMin(box).label("south"),
        sa.func.ST_XMax(box).label("east"),
        sa.func.ST_YMax(box).label("north"),
        Region.source,
        Region.source_crs,
        Region.created_at,
    ).order_by(Region.name)
    return [dict(row._mapping) for row in session.execute(query)]


def region_geometry(session: Session, name: str):
    """The shapely geometry (EPSG:4326) of region ``name``, or None."""
    from shapely import wkb

    data = session.scalar(sa.select(sa.func.ST_AsBinary(Region.geom)).where(Region.name == name))
    return None if data is None else wkb.loads(bytes(data))


def region_id(session: Session, name: str) -> int | None:
    """The id of region ``name``, or None."""
    return session.scalar(sa.select(Region.id).where(Region.name == name))


def all_region_names(session: Session) -> list[str]:
    """The names of all regions, sorted."""
    return list(session.scalars(sa.select(Region.name).order_by(Region.name)))


def region_in(region: int, srid: int):
    """The geometry of the region of id ``region`` transformed to ``srid``: a scalar subquery to build statements with."""
    return sa.select(sa.func.ST_Transform(Region.geom, srid)).where(Region.id == region).scalar_subquery()


@dataclass(frozen=True)
class Zone:
    """An area given as a geometry rather than a registered region (``--bbox``, ``-lat``/``-long``).

    Attributes
    ----------
    wkt : str
        The polygon as WKT, in EPSG ``srid`` (densified by the caller before a change of CRS).
    srid : int
    """

    wkt: str
    srid: int


def zone_in(zone, srid: int):
    """The geometry of an area transformed to ``srid``, to build statements with.

    Parameters
    ----------
    zone : int, str or Zone
        A region's id, a region's name, or a :class:`Zone` (its WKT a bound parameter).
    srid : int
    """
    if isinstance(zone, Zone):
        geometry = sa.func.ST_GeomFromText(sa.literal(zone.wkt, sa.String), sa.literal(int(zone.srid), sa.Integer))
        return geometry if int(zone.srid) == int(srid) else sa.func.ST_Transform(geometry, int(srid))
    if isinstance(zone, str):
        return sa.func.ST_Transform(sa.select(Region.geom).where(Region.name == zone).scalar_subquery(), srid)
    return region_in(zone, srid)


def region_wkb(session: Session, region: int, srid: int) -> bytes | None:
    """The geometry of the region of id ``region`` transformed to ``srid``, as WKB (None: no such region)."""
    data = session.scalar(sa.select(sa.func.ST_AsBinary(region_in(region, srid))))
    return None if data is None else bytes(data)
