"""Repository functions for classifications and their predictions.

Tables ``antares.classification`` and ``antares.prediction``. Every value is a bound
parameter; callers own the transaction.
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.orm import Session

from antares.db.regions import zone_in
from antares.db.schema import Classification, Model, Prediction, Segment, Segmentation


def classification(session: Session, name: str):
    """Classification ``name`` with what its readers need, or None.

    Returns
    -------
    row or None
        ``id``, ``segmentation_id``, ``scheme_id`` (of its model), ``model`` (the model's name),
        ``meta`` (the model's metadata) and ``crs`` (of its segmentation).
    """
    return session.execute(
        sa.select(Classification.id, Classification.segmentation_id, Model.scheme_id, Model.name.label("model"),
                  Model.meta, Segmentation.crs)
        .join(Model, Model.id == Classification.model_id)
        .join(Segmentation, Segmentation.id == Classification.segmentation_id)
        .where(Classification.name == name)).first()


def classification_names(session: Session) -> list[str]:
    """The names of all classifications, sorted."""
    return list(session.scalars(sa.select(Classification.name).order_by(Classification.name)))


def classification_exists(session: Session, name: str) -> bool:
    """True if classification ``name`` exists."""
    return session.scalar(sa.select(Classification.id).where(Classification.name == name)) is not None


def replace_classification(session: Session, name: str, segmentation_id: int, model_id: int, run_id: int) -> int:
    """Insert classification ``name``, first deleting one of the same name (and its predictions); returns its id."""
    session.execute(sa.delete(Classification).where(Classification.name == name))
    return session.scalar(sa.insert(Classification).values(
        name=name, segmentation_id=segmentation_id, model_id=model_id, run_id=run_id).returning(Classification.id))


def copy_predictions(connection, classification_id: int, ids, classes, confidence, entropy) -> None:
    """Append the predictions of classification ``classification_id`` with COPY, then ANALYZE the table.

    Parameters
    ----------
    connection : sqlalchemy.engine.Connection
        In the caller's transaction.
    ids, classes : numpy.ndarray of int64, shape (n,)
        Segment ids and predicted class codes.
    confidence, entropy : numpy.ndarray of float, shape (n,)
    """
    buffer = io.StringIO()
    for row in zip(ids.tolist(), classes.tolist(), confidence.tolist(), entropy.tolist()):
        buffer.write(f"{classification_id}\t{row[0]}\t{row[1]}\t{row[2]!r}\t{row[3]!r}\n")
    buffer.seek(0)
    raw = (connection.connection.dbapi_connection if hasattr(connection.connection, "dbapi_connection")
           else connection.connection)
    with raw.cursor() as cur:
        cur.copy_expert("COPY antares.prediction (classification_id, segment_id, class_code, confidence, entropy) "
                        "FROM STDIN", buffer)
        cur.execute("ANALYZE antares.prediction")  # statistics that know the new rows (see segmentations.copy_segments)


def max_class_code(session: Session, classification_id: int) -> int | None:
    """The largest class code predicted in classification ``classification_id`` (None: no prediction)."""
    return session.scalar(sa.select(sa.func.max(Prediction.class_code))
                          .where(Prediction.classification_id == classification_id))


def objects_query(classification_id: int, segmentation_id: int, srid: int, region, clip: bool,
                  dissolve: bool, out_srid: int):
    """The SELECT of the classified objects (or of one dissolved row per class), geometries as WKB in ``out_srid``.

    Parameters
    ----------
    classification_id, segmentation_id : int
        The classification and its segmentation.
    srid : int
        The SRID of the segments.
    region : int, Zone or None
        Only objects intersecting the region of this id (or this :class:`~antares.db.regions.Zone`);
        ``clip`` cuts them to it.
    dissolve : bool
        Rows ``(code, objects, area_m2, confidence, wkb)``, one per class (area-weighted confidence);
        else ``(segment_id, code, confidence, entropy, area_m2, wkb)`` by segment id.
    out_srid : int
        The SRID of the geometries returned.

    Returns
    -------
    sqlalchemy.sql.Select
    """
    s, p = Segment.__table__, Prediction.__table__
    rows = s.join(p, sa.and_(p.c.segment_id == s.c.segment_id, p.c.classification_id == classification_id))
    geom, area = s.c.geom, s.c.area_m2
    where = [s.c.segmentation_id == segmentation_id]
    if region is not None:
        zone = zone_in(region, srid)
        where.append(func.ST_Intersects(s.c.geom, zone))
        if clip:  # OFFSET 0 keeps PostgreSQL from computing the intersection twice
            cut = sa.select(func.ST_Multi(func.ST_CollectionExtract(func.ST_Intersection(s.c.geom, zone), 3))
                            .label("geom")).correlate(s).offset(0).lateral("cut")
            rows = rows.join(cut, sa.true())
            # the stored m² (true area, whatever the CRS) times the share of the object inside the region
            geom, area = cut.c.geom, s.c.area_m2 * func.ST_Area(cut.c.geom) / func.nullif(func.ST_Area(s.c.geom), 0)
            where.append(sa.not_(func.ST_IsEmpty(cut.c.geom)))

    def out(g):
        return g if out_srid == srid else func.ST_Transform(g, out_srid)

    if not dissolve:
        return (sa.select(s.c.segment_id, p.c.class_code, p.c.confidence, p.c.entropy, area, func.ST_AsBinary(out(geom)))
                .select_from(rows).where(*where).order_by(s.c.segment_id))
    sub = (sa.select(p.c.class_code.label("code"), p.c.confidence.label("confidence"), area.label("area"),
                     geom.label("geom")).select_from(rows).where(*where).subquery())
    total = func.sum(sub.c.area)
    union = func.ST_Multi(func.ST_CollectionExtract(func.ST_Union(sub.c.geom), 3))
    return (sa.select(sub.c.code, func.count(), total, func.sum(sub.c.confidence * sub.c.area) / func.nullif(total, 0),
                      func.ST_AsBinary(out(union))).group_by(sub.c.code).order_by(sub.c.code))


def objects_in_box_sql(classification_id: int, segmentation_id: int, srid: int, out_srid: int, region,
                       box: tuple, step: float) -> str:
    """The SQL text, for GDAL, of the classified objects meeting ``box`` (minx, miny, maxx, maxy in ``out_srid``).

    Columns ``code``, ``confidence`` and ``geom``, the object clipped to the box (less to read and
    burn; a pixel whose centre is in the box is in the clipped object exactly when it is in the
    object). The statement is built with SQLAlchemy and compiled with literal values: only the
    integers and floats given here are written into the text. When ``out_srid`` differs from the
    segments' ``srid`` the box is densified every ``step`` (units of ``out_srid``) before it is
    transformed, so that curved edges are kept.
    """
    from sqlalchemy.dialects import postgresql

    s, p = Segment.__table__, Prediction.__table__
    env = func.ST_MakeEnvelope(*(sa.literal(float(v), sa.Float) for v in box), int(out_srid))
    geom, search = s.c.geom, env
    if out_srid != srid:  # a densified window, so that curved edges in the segments' CRS are kept
        geom = func.ST_Transform(s.c.geom, int(out_srid))
        search = func.ST_Transform(func.ST_Segmentize(env, sa.literal(float(step), sa.Float)), int(srid))
    where = [s.c.segmentation_id == int(segmentation_id), func.ST_Intersects(s.c.geom, search)]
    if region is not None:
        where.append(func.ST_Intersects(s.c.geom, zone_in(region, int(srid))))
    query = (sa.select(p.c.class_code.label("code"), p.c.confidence.label("confidence"),
                       # a geometry column for GDAL, not GeoAlchemy's ST_AsEWKB bytes
                       sa.type_coerce(func.ST_ClipByBox2D(geom, func.Box2D(env)), sa.types.NullType()).label("geom"))
             .select_from(s.join(p, sa.and_(p.c.segment_id == s.c.segment_id,
                                            p.c.classification_id == int(classification_id))))
             .where(*where).order_by(s.c.segment_id))
    return str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def objects_extent(session: Session, classification_id: int, segmentation_id: int, srid: int, region,
                   out_srid: int) -> tuple[float, float, float, float] | None:
    """(minx, miny, maxx, maxy) in ``out_srid`` of the region of id ``region`` (or a Zone), or of the predicted objects.

    Returns None when there is nothing (no predicted object).
    """
    if region is not None:
        query = sa.select(zone_in(region, out_srid).label("g")).subquery()
    else:
        g = Segment.geom if out_srid == srid else func.ST_Transform(Segment.geom, out_srid)
        query = (sa.select(g.label("g")).join(Prediction, sa.and_(Prediction.segment_id == Segment.segment_id,
                                                                  Prediction.classification_id == classification_id))
                 .where(Segment.segmentation_id == segmentation_id).subquery())
    box = func.ST_Extent(query.c.g)
    row = session.execute(sa.select(func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box))).first()
    return None if row[0] is None else tuple(float(v) for v in row)


def prediction_count(session: Session, classification_id: int) -> int:
    """The number of objects classified in classification ``classification_id``."""
    return int(session.scalar(sa.select(sa.func.count()).select_from(Prediction)
                              .where(Prediction.classification_id == classification_id)))
