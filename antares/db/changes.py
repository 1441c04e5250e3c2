"""Repository functions for change detections and their change objects.

Tables ``antares.change_detection`` and ``antares.change_object``. Every value is a bound parameter;
callers own the transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.orm import Session

from antares.db.schema import ChangeDetection, ChangeObject, Classification, Prediction, Segment


def change_detection(session: Session, name: str):
    """Change detection ``name`` as a row ``(id, method, crs, pixel_area_m2, n_objects, params, statistics, inputs)``,
    or None."""
    c = ChangeDetection
    return session.execute(sa.select(c.id, c.method, c.crs, c.pixel_area_m2, c.n_objects, c.params, c.statistics,
                                     c.inputs).where(c.name == name)).first()


def change_names(session: Session) -> list[str]:
    """The names of all change detections, sorted."""
    return list(session.scalars(sa.select(ChangeDetection.name).order_by(ChangeDetection.name)))


def change_rows(session: Session) -> list:
    """One row per change detection: ``(name, method, n_objects, area_ha, created_at, inputs)`` by name."""
    c, o = ChangeDetection, ChangeObject
    area = sa.select(func.coalesce(func.sum(o.area_m2), 0.0) / 1e4).where(o.change_id == c.id).scalar_subquery()
    return session.execute(sa.select(c.name, c.method, c.n_objects, area.label("area_ha"), c.created_at, c.inputs)
                           .order_by(c.name)).all()


def insert_change_detection(session: Session, name: str, run_id: int, method: str, params: dict, statistics: dict,
                            inputs: dict, crs: str, pixel_area_m2: float, n_objects: int) -> int:
    """Insert a change-detection row (its objects with :func:`insert_change_objects`); returns its id."""
    return session.scalar(sa.insert(ChangeDetection).values(
        name=name, run_id=run_id, method=method, params=params, statistics=statistics, inputs=inputs, crs=crs,
        pixel_area_m2=pixel_area_m2, n_objects=n_objects).returning(ChangeDetection.id))


def delete_change_detection(session: Session, name: str) -> None:
    """Delete change detection ``name`` and its objects (nothing when it does not exist)."""
    session.execute(sa.delete(ChangeDetection).where(ChangeDetection.name == name))


def insert_change_objects(session: Session, change_id: int, rows: list[dict]) -> None:
    """Insert change objects: dicts ``object_id, wkb (bytes), srid, area_m2, pixel_count, score``."""
    if not rows:
        return
    statement = sa.insert(ChangeObject).values(
        change_id=sa.bindparam("p_change", type_=sa.Integer), object_id=sa.bindparam("p_object", type_=sa.BigInteger),
        geom=func.ST_Multi(func.ST_SetSRID(func.ST_GeomFromWKB(sa.bindparam("p_wkb", type_=sa.LargeBinary)),
                                           sa.bindparam("p_srid", type_=sa.Integer))),
        area_m2=sa.bindparam("p_area", type_=sa.Float), pixel_count=sa.bindparam("p_pixels", type_=sa.BigInteger),
        score=sa.bindparam("p_score", type_=sa.Float))
    session.execute(statement, [{"p_change": change_id, "p_object": r["object_id"], "p_wkb": r["wkb"],
                                 "p_srid": r["srid"], "p_area": r["area_m2"], "p_pixels": r["pixel_count"],
                                 "p_score": r["score"]} for r in rows])


def class_overlaps(session: Session, change_id: int, classification_id: int, srid: int) -> list:
    """Area (m², in the change objects' CRS ``srid``) of each class of a classification under each change object.

    Rows ``(object_id, class_code, area)``; the classification's segments are transformed to ``srid`` when
    they are in another CRS.
    """
    o, s, p = ChangeObject.__table__, Segment.__table__, Prediction.__table__
    seg_geom = func.ST_Transform(s.c.geom, srid)
    cls = sa.select(Classification.segmentation_id).where(Classification.id == classification_id).scalar_subquery()
    overlap = func.ST_Area(func.ST_Intersection(o.c.geom, seg_geom))
    query = (sa.select(o.c.object_id, p.c.class_code, func.sum(overlap))
             .select_from(o.join(s, sa.and_(s.c.segmentation_id == cls, func.ST_Intersects(o.c.geom, seg_geom)))
                          .join(p, sa.and_(p.c.classification_id == classification_id, p.c.segment_id == s.c.segment_id)))
             .where(o.c.change_id == change_id)
             .group_by(o.c.object_id, p.c.class_code))
    return session.execute(query).all()


def set_object_classes(session: Session, change_id: int, rows: list[dict]) -> None:
    """Set ``pre_class``, ``post_class`` and ``class_tie`` of change objects (dicts with ``object_id``)."""
    for r in rows:
        session.execute(sa.update(ChangeObject).where(ChangeObject.change_id == change_id,
                                                      ChangeObject.object_id == r["object_id"])
                        .values(pre_class=r["pre_class"], post_class=r["post_class"], class_tie=r["class_tie"]))


def delete_change_objects(session: Session, change_id: int, object_ids: list[int]) -> None:
    """Delete the change objects ``object_ids`` of change detection ``change_id``."""
    if object_ids:
        session.execute(sa.delete(ChangeObject).where(ChangeObject.change_id == change_id,
                                                      ChangeObject.object_id.in_(object_ids)))


def set_object_count(session: Session, change_id: int) -> int:
    """Store the number of objects of change detection ``change_id`` and return it."""
    n = session.scalar(sa.select(func.count()).select_from(ChangeObject).where(ChangeObject.change_id == change_id))
    session.execute(sa.update(ChangeDetection).where(ChangeDetection.id == change_id).values(n_objects=n))
    return int(n)


def change_objects_query(change_id: int, srid: int, out_srid: int):
    """SELECT ``object_id, area_m2, pixel_count, score, pre_class, post_class, class_tie, wkb`` by object id."""
    o = ChangeObject
    geom = o.geom if out_srid == srid else func.ST_Transform(o.geom, out_srid)
    return (sa.select(o.object_id, o.area_m2, o.pixel_count, o.score, o.pre_class, o.post_class, o.class_tie,
                      func.ST_AsBinary(geom)).where(o.change_id == change_id).order_by(o.object_id))


def change_objects_extent(session: Session, change_id: int, srid: int, out_srid: int):
    """(minx, miny, maxx, maxy) in ``out_srid`` of a change detection's objects, or None when it has none."""
    o = ChangeObject
    geom = o.geom if out_srid == srid else func.ST_Transform(o.geom, out_srid)
    box = func.ST_Extent(sa.select(geom.label("g")).where(o.change_id == change_id).subquery().c.g)
    row = session.execute(sa.select(func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box))).first()
    return None if row[0] is None else tuple(float(v) for v in row)


def transitions(session: Session, change_id: int) -> list:
    """Rows ``(pre_class, post_class, objects, area_m2)`` of a change detection's objects."""
    o = ChangeObject
    return session.execute(sa.select(o.pre_class, o.post_class, func.count(), func.sum(o.area_m2))
                           .where(o.change_id == change_id).group_by(o.pre_class, o.post_class)
                           .order_by(o.pre_class, o.post_class)).all()


def classification_overlay(session: Session, pre_id: int, post_id: int, srid: int) -> list:
    """Rows ``(pre_class, post_class, area)`` of the overlay of two classifications' objects.

    ``area`` is the sum of ``ST_Area`` of the intersections of the objects of classification ``pre_id`` with those
    of ``post_id``, in the unit of ``srid`` (the pre classification's segments' SRID; the post ones are
    transformed to it when they are in another).
    """
    s1, s2 = Segment.__table__.alias("s1"), Segment.__table__.alias("s2")
    p1, p2 = Prediction.__table__.alias("p1"), Prediction.__table__.alias("p2")
    seg1 = sa.select(Classification.segmentation_id).where(Classification.id == pre_id).scalar_subquery()
    seg2 = sa.select(Classification.segmentation_id).where(Classification.id == post_id).scalar_subquery()
    g2 = func.ST_Transform(s2.c.geom, srid)
    area = func.sum(func.ST_Area(func.ST_Intersection(s1.c.geom, g2)))
    query = (sa.select(p1.c.class_code, p2.c.class_code, area)
             .select_from(s1.join(p1, sa.and_(p1.c.classification_id == pre_id, p1.c.segment_id == s1.c.segment_id))
                          .join(s2, sa.and_(s2.c.segmentation_id == seg2, func.ST_Intersects(s1.c.geom, g2)))
                          .join(p2, sa.and_(p2.c.classification_id == post_id, p2.c.segment_id == s2.c.segment_id)))
             .where(s1.c.segmentation_id == seg1)
             .group_by(p1.c.class_code, p2.c.class_code).order_by(p1.c.class_code, p2.c.class_code))
    return session.execute(query).all()


def samples_in_change(session: Session, change_id: int, set_id: int, srid: int) -> list:
    """Rows ``(sample_id, class_code, inside)`` of validation set ``set_id``: ``inside`` is whether a point on the
    sample's surface (``ST_PointOnSurface``, the point itself for a point) lies in a change object of
    ``change_id`` (compared in ``srid``, the objects' SRID)."""
    from antares.db.schema import Sample

    o = ChangeObject
    point = func.ST_PointOnSurface(func.ST_Transform(Sample.geom, srid))
    inside = sa.exists().where(o.change_id == change_id, func.ST_Intersects(o.geom, point))
    return session.execute(sa.select(Sample.id, Sample.class_code, inside.label("inside"))
                           .where(Sample.set_id == set_id).order_by(Sample.id)).all()


def classification_meets(session: Session, classification_id: int, wkt: str, srid: int) -> bool:
    """Whether any classified object of classification ``classification_id`` intersects the polygon ``wkt`` (in
    ``srid``)."""
    s, p = Segment, Prediction
    seg = sa.select(Classification.segmentation_id).where(Classification.id == classification_id).scalar_subquery()
    area = func.ST_GeomFromText(sa.bindparam("area_wkt", wkt), srid)
    query = (sa.select(sa.literal(1)).select_from(s)
             .join(p, sa.and_(p.classification_id == classification_id, p.segment_id == s.segment_id))
             .where(s.segmentation_id == seg, func.ST_Intersects(func.ST_Transform(s.geom, srid), area)).limit(1))
    return session.scalar(query) is not None


def change_extent(session: Session, change_id: int, srid: int, out_srid: int) -> tuple | None:
    """(minx, miny, maxx, maxy) in ``out_srid`` of a change detection's objects; None when it has none."""
    o = ChangeObject
    g = o.geom if out_srid == srid else func.ST_Transform(o.geom, out_srid)
    box = func.ST_Extent(sa.select(g.label("g")).where(o.change_id == change_id).subquery().c.g)
    row = session.execute(sa.select(func.ST_XMin(box), func.ST_YMin(box), func.ST_XMax(box), func.ST_YMax(box))).first()
    return None if row[0] is None else tuple(float(v) for v in row)


def change_objects_in_box_sql(change_id: int, srid: int, out_srid: int, box: tuple, step: float,
                              codes: dict) -> str:
    """The SQL text, for GDAL, of the change objects meeting ``box`` (minx, miny, maxx, maxy in ``out_srid``).

    Columns ``code`` (the transition code of the object's ``(pre_class, post_class)`` in ``codes``, None meaning
    no class) and ``geom`` (the object clipped to the box). Built with SQLAlchemy and compiled with literal
    values: only the integers and floats given here are written into the text (as
    :func:`antares.db.classifications.objects_in_box_sql`).
    """
    from sqlalchemy.dialects import postgresql

    o = ChangeObject.__table__
    env = func.ST_MakeEnvelope(*(sa.literal(float(v), sa.Float) for v in box), int(out_srid))
    geom, search = o.c.geom, env
    if out_srid != srid:
        geom = func.ST_Transform(o.c.geom, int(out_srid))
        search = func.ST_Transform(func.ST_Segmentize(env, sa.literal(float(step), sa.Float)), int(srid))

    def same(column, value):
        return column.is_(None) if value is None else column == int(value)

    code = sa.case(*[(sa.and_(same(o.c.pre_class, pre), same(o.c.post_class, post)), int(value))
                     for (pre, post), value in codes.items()], else_=0)
    query = (sa.select(code.label("code"),
                       sa.type_coerce(func.ST_ClipByBox2D(geom, func.Box2D(env)), sa.types.NullType()).label("geom"))
             .where(o.c.change_id == int(change_id), func.ST_Intersects(o.c.geom, search)).order_by(o.c.object_id))
    return str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
