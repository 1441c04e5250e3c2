"""Repository functions for accuracy assessments (``antares validate``) and their results.

Table ``antares.validation_result``; the overlap queries read ``antares.sample``,
``antares.segment``, ``antares.prediction`` and ``antares.region``. Every value is a bound
parameter; an optional region adds clauses to the statement, never text. Callers own the
transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from antares.db.schema import Prediction, Sample, Segment, ValidationResult


def samples_centre(session: Session, set_id: int) -> tuple[float, float] | None:
    """Longitude and latitude (EPSG:4326) of the centre of the envelope of the samples of set ``set_id``.

    Returns
    -------
    (float, float) or None
        None when the set has no samples.
    """
    centre = func.ST_Centroid(func.ST_Transform(func.ST_Envelope(func.ST_Collect(Sample.geom)), 4326))
    row = session.execute(sa.select(func.ST_X(centre), func.ST_Y(centre)).where(Sample.set_id == set_id)).first()
    return None if row is None or row[0] is None else (row[0], row[1])


def _region_in(region, srid: int):
    """The geometry of region ``region`` (a name) or of a :class:`~antares.db.regions.Zone`, transformed to ``srid``."""
    from antares.db.regions import zone_in

    return zone_in(region, srid)


def _samples_in(set_id: int, srid: int):
    """The samples of set ``set_id`` with their geometries transformed to ``srid`` (a CTE ``v``)."""
    return (sa.select(Sample.id, Sample.class_code, func.ST_Transform(Sample.geom, srid).label("geom"))
            .where(Sample.set_id == set_id).cte("v"))


def overlap_pairs(session: Session, set_id: int, classification_id: int, segmentation_id: int, srid: int,
                  proj: str, region=None) -> list:
    """Every intersection of a validation sample with a classified segment, with its area in ``proj``.

    Parameters
    ----------
    set_id : int
        The validation set.
    classification_id, segmentation_id : int
        The classification and its segmentation.
    srid : int
        The SRID of the segments (samples are transformed to it).
    proj : str
        The PROJ string of the equal-area CRS the areas are measured in (m²).
    region : str or Zone, optional
        Only samples intersecting this region (a name) or area, intersections clipped to it.

    Returns
    -------
    list of rows
        ``(id, reference, mapped, area)``: sample id, its class code, the segment's predicted code,
        area (m², may be 0).
    """
    v = _samples_in(set_id, srid)
    seg = Segment.__table__.alias("seg")
    p = Prediction.__table__.alias("p")
    overlaps = (sa.select(v.c.id, v.c.class_code.label("reference"), p.c.class_code.label("mapped"),
                          func.ST_Intersection(v.c.geom, seg.c.geom).label("g"))
                .select_from(v.join(seg, sa.and_(seg.c.segmentation_id == segmentation_id,
                                                 func.ST_Intersects(v.c.geom, seg.c.geom)))
                             .join(p, sa.and_(p.c.classification_id == classification_id,
                                              p.c.segment_id == seg.c.segment_id))))
    if region is not None:
        overlaps = overlaps.where(func.ST_Intersects(v.c.geom, _region_in(region, srid)))
    o = overlaps.cte("o")
    clip = o.c.g if region is None else func.ST_Intersection(o.c.g, _region_in(region, srid))
    area = func.ST_Area(func.ST_Transform(clip, proj)).label("area")
    # in a fixed order: the caller's float sums then give the same bits on every run (rows come in any order)
    return session.execute(sa.select(o.c.id, o.c.reference, o.c.mapped, area).order_by(o.c.id, o.c.mapped, area)).all()


def count_samples(session: Session, set_id: int, srid: int, region=None) -> int:
    """Number of samples of set ``set_id`` (with ``region``: of those intersecting it, compared in ``srid``)."""
    v = _samples_in(set_id, srid)
    query = sa.select(func.count()).select_from(v)
    if region is not None:
        query = query.where(func.ST_Intersects(v.c.geom, _region_in(region, srid)))
    return session.scalar(query)


def mapped_areas(session: Session, classification_id: int, segmentation_id: int, srid: int, proj: str,
                 region=None) -> dict[int, float]:
    """Area (m², measured in ``proj``) of the segments predicted as each class code.

    With ``region``: only segments intersecting it, each clipped to it (``srid``: the segments' SRID).
    """
    seg = Segment.__table__.alias("seg")
    p = Prediction.__table__.alias("p")
    geom = seg.c.geom if region is None else func.ST_Intersection(seg.c.geom, _region_in(region, srid))
    area = func.ST_Area(func.ST_Transform(geom, proj))
    query = (sa.select(p.c.class_code, func.sum(aggregate_order_by(area, area)))  # a fixed order: the same sum each run
             .select_from(seg.join(p, sa.and_(p.c.classification_id == classification_id,
                                              p.c.segment_id == seg.c.segment_id)))
             .where(seg.c.segmentation_id == segmentation_id).group_by(p.c.class_code))
    if region is not None:
        query = query.where(func.ST_Intersects(seg.c.geom, _region_in(region, srid)))
    return dict(session.execute(query).all())


def replace_validation_result(session: Session, name: str, classification_id: int, set_id: int,
                              report: dict) -> None:
    """Store ``report`` as validation result ``name``, first deleting one of the same name."""
    session.execute(sa.delete(ValidationResult).where(ValidationResult.name == name))
    session.execute(sa.insert(ValidationResult).values(name=name, classification_id=classification_id,
                                                       sample_set_id=set_id, report=report))
