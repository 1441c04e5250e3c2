"""Repository functions for segmentations and their segments.

Tables ``antares.segmentation`` and ``antares.segment``. Every value is a bound parameter;
callers own the transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from antares.db.schema import Segment, Segmentation


def segment_srid(session: Session, segmentation_id: int) -> int | None:
    """The SRID of the segments of segmentation ``segmentation_id`` (None: it has no segments)."""
    return session.scalar(sa.select(sa.func.ST_SRID(Segment.geom))
                          .where(Segment.segmentation_id == segmentation_id).limit(1))


def segmentation(session: Session, name: str):
    """Segmentation ``name`` as a row ``(id, product)``, or None."""
    return session.execute(sa.select(Segmentation.id, Segmentation.product).where(Segmentation.name == name)).first()


def require_segmentation(session: Session, name: str):
    """Segmentation ``name`` as a row ``(id, product)``.

    Raises
    ------
    NotFoundError
        No segmentation ``name`` (the existing ones are listed).
    """
    from antares.errors import NotFoundError

    row = segmentation(session, name)
    if row is None:
        raise NotFoundError(f"segmentation '{name}' does not exist; segmentations: "
                            f"{', '.join(segmentation_names(session)) or '(none)'}. Create one with 'antares segment'.")
    return row


def segmentation_exists(session: Session, name: str) -> bool:
    """True if segmentation ``name`` exists."""
    return session.scalar(sa.select(Segmentation.id).where(Segmentation.name == name)) is not None


def segmentation_names(session: Session, product: str | None = None) -> list[str]:
    """The names of all segmentations, sorted.

    With ``product``: only those computed on it or whose label product it is (it has their name).
    """
    query = sa.select(Segmentation.name).order_by(Segmentation.name)
    if product is not None:
        query = query.where(sa.or_(Segmentation.product == product, Segmentation.name == product))
    return list(session.scalars(query))


def insert_segmentation(session: Session, name: str, run_id: int, product: str, algorithm: str, params: dict,
                        crs: str, n_segments: int, grid: dict | None = None) -> int:
    """Insert a segmentation row (without segments, see :func:`copy_segments`); returns its id.

    ``grid`` is the label rasters' pixel grid (``{"crs", "transform", "shape"}``, see
    :func:`segmentation_grid`).
    """
    return session.scalar(sa.insert(Segmentation).values(
        name=name, run_id=run_id, product=product, algorithm=algorithm, params=params, crs=crs,
        n_segments=n_segments, grid=grid).returning(Segmentation.id))


def rename_segmentation(session: Session, segmentation_id: int, name: str) -> None:
    """Give segmentation ``segmentation_id`` the name ``name``, deleting the segmentation that had it."""
    session.execute(sa.delete(Segmentation).where(Segmentation.name == name))
    session.execute(sa.update(Segmentation).where(Segmentation.id == segmentation_id).values(name=name))


def delete_segmentations(session: Session, ids: list[int] | None = None, names: list[str] | None = None) -> None:
    """Delete the segmentations of ids ``ids`` and of names ``names`` (with their segments and classifications)."""
    if ids:
        session.execute(sa.delete(Segmentation).where(Segmentation.id.in_(ids)))
    if names:
        session.execute(sa.delete(Segmentation).where(Segmentation.name.in_(names)))


def copy_segments(connection, segmentation_id: int, rows_file) -> None:
    """Copy the polygon rows of ``rows_file`` into ``antares.segment``, then ANALYZE the table.

    Parameters
    ----------
    connection : sqlalchemy.engine.Connection
        In the caller's transaction (the staging table is dropped when it commits).
    segmentation_id : int
    rows_file : path
        CSV rows ``segment_id, geom (hex EWKB), area_m2, pixel_count``
        (see :func:`antares.pipeline.segment._write_rows`).
    """
    raw = (connection.connection.dbapi_connection if hasattr(connection.connection, "dbapi_connection")
           else connection.connection)
    with raw.cursor() as cur, open(rows_file) as fh:
        cur.execute("CREATE TEMP TABLE segment_in (segment_id bigint, geom text, area_m2 float8, pixel_count bigint) "
                    "ON COMMIT DROP")
        cur.copy_expert("COPY segment_in FROM STDIN WITH (FORMAT csv)", fh)
        cur.execute("INSERT INTO antares.segment (segmentation_id, segment_id, geom, area_m2, pixel_count) "
                    "SELECT %s, segment_id, ST_GeomFromEWKB(decode(geom, 'hex')), area_m2, pixel_count FROM segment_in",
                    (segmentation_id,))
        # Fresh statistics with the rows (committed with them): without, the planner believes the new
        # segmentation has no rows and joins it by nested loops over whole tables (export of 36k objects:
        # 120 s instead of 0.3 s). ANALYZE samples a fixed number of rows, whatever the table's size.
        cur.execute("ANALYZE antares.segment")


def segment_count(session: Session, segmentation_id: int) -> int:
    """The number of segments of segmentation ``segmentation_id``."""
    return int(session.scalar(sa.select(sa.func.count()).select_from(Segment)
                              .where(Segment.segmentation_id == segmentation_id)))


def segments_query(segmentation_id: int, srid: int, out_srid: int):
    """The SELECT of the segments ``(segment_id, area_m2, pixel_count, wkb)`` by id, geometries in ``out_srid``."""
    geom = Segment.geom if out_srid == srid else sa.func.ST_Transform(Segment.geom, out_srid)
    return (sa.select(Segment.segment_id, Segment.area_m2, Segment.pixel_count, sa.func.ST_AsBinary(geom))
            .where(Segment.segmentation_id == segmentation_id).order_by(Segment.segment_id))


def segments_extent(session: Session, segmentation_id: int, srid: int, out_srid: int):
    """(minx, miny, maxx, maxy) in ``out_srid`` of the segments of ``segmentation_id``; None without segments."""
    geom = Segment.geom if out_srid == srid else sa.func.ST_Transform(Segment.geom, out_srid)
    box = sa.func.ST_Extent(geom)
    row = session.execute(sa.select(sa.func.ST_XMin(box), sa.func.ST_YMin(box), sa.func.ST_XMax(box),
                                    sa.func.ST_YMax(box)).where(Segment.segmentation_id == segmentation_id)).first()
    return None if row[0] is None else tuple(float(v) for v in row)


def segmentation_by_id(session: Session, segmentation_id: int):
    """Segmentation ``segmentation_id`` as a row ``(name, product)``, or None."""
    return session.execute(sa.select(Segmentation.name, Segmentation.product)
                           .where(Segmentation.id == segmentation_id)).first()


def segmentation_grid(session: Session, segmentation_id: int) -> dict | None:
    """The pixel grid stored with segmentation ``segmentation_id``, or None (stored before migration 0005, or no such row).

    Returns
    -------
    dict or None
        ``{"crs": "EPSG:n" or WKT, "transform": [a, b, c, d, e, f] (the affine of pixel
        (0, 0), units of ``crs``), "shape": [height, width] (pixels)}``.
    """
    return session.scalar(sa.select(Segmentation.grid).where(Segmentation.id == segmentation_id))


def segment_geometry(session: Session, segmentation_id: int, segment_id: int):
    """``(wkb, srid)`` of one segment, or None when segmentation ``segmentation_id`` has no segment ``segment_id``."""
    row = session.execute(sa.select(sa.func.ST_AsBinary(Segment.geom), sa.func.ST_SRID(Segment.geom))
                          .where(Segment.segmentation_id == segmentation_id, Segment.segment_id == segment_id)).first()
    return None if row is None else (bytes(row[0]), int(row[1]))


def segment_id_range(session: Session, segmentation_id: int) -> tuple:
    """(smallest, largest) segment id of a segmentation; (None, None) without segments."""
    return tuple(session.execute(sa.select(sa.func.min(Segment.segment_id), sa.func.max(Segment.segment_id))
                                 .where(Segment.segmentation_id == segmentation_id)).first())


def segment_boxes(session: Session, segmentation_id: int):
    """``(ids (n,) int64, boxes (n, 4) float64)``: each stored segment's bounding box (xmin, ymin, xmax, ymax) in
    the segmentation's CRS (its stored SRID), by id; empty arrays without stored segments."""
    import numpy as np

    geom = Segment.geom
    rows = session.execute(sa.select(Segment.segment_id, sa.func.ST_XMin(geom), sa.func.ST_YMin(geom),
                                     sa.func.ST_XMax(geom), sa.func.ST_YMax(geom))
                           .where(Segment.segmentation_id == segmentation_id).order_by(Segment.segment_id)).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 4))
    return np.array([r[0] for r in rows], np.int64), np.array([r[1:] for r in rows], np.float64)
