"""Repository functions for class schemes, legends and sample sets (training / validation).

Tables ``antares.class_scheme``, ``antares.legend_class``, ``antares.sample_set`` and
``antares.sample``. Every value is a bound parameter; callers own the transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from antares.db.schema import ClassScheme, LegendClass, Sample, SampleSet
from antares.legend import LegendEntry


def scheme_id(session: Session, name: str) -> int | None:
    """The id of class scheme ``name``, or None."""
    return session.scalar(sa.select(ClassScheme.id).where(ClassScheme.name == name))


def scheme_legend(session: Session, scheme: int) -> list[LegendEntry]:
    """The legend of scheme id ``scheme``, by code."""
    rows = session.execute(
        sa.select(LegendClass.code, LegendClass.name, LegendClass.colour)
        .where(LegendClass.scheme_id == scheme).order_by(LegendClass.code)
    )
    return [LegendEntry(int(c), n, col) for c, n, col in rows]


def create_scheme(session: Session, name: str, legend: list[LegendEntry], description: str | None = None) -> int:
    """Insert a class scheme with its legend; returns its id."""
    new_id = session.scalar(sa.insert(ClassScheme).values(name=name, description=description).returning(ClassScheme.id))
    session.execute(sa.insert(LegendClass), [
        {"scheme_id": new_id, "code": e.code, "name": e.name, "colour": e.colour} for e in legend
    ])
    return new_id


def list_schemes(session: Session) -> list[dict]:
    """Class schemes with their number of classes and of sample sets."""
    classes = sa.select(sa.func.count()).where(LegendClass.scheme_id == ClassScheme.id).scalar_subquery()
    sets = sa.select(sa.func.count()).where(SampleSet.scheme_id == ClassScheme.id).scalar_subquery()
    query = sa.select(ClassScheme.name, classes.label("classes"), sets.label("sample_sets"),
                      ClassScheme.description, ClassScheme.created_at).order_by(ClassScheme.name)
    return [dict(r._mapping) for r in session.execute(query)]


def sample_set(session: Session, kind: str, name: str) -> SampleSet | None:
    """The sample set ``name`` of ``kind`` ('training' or 'validation'), or None."""
    return session.scalar(sa.select(SampleSet).where(SampleSet.kind == kind, SampleSet.name == name))


def replace_sample_set(session: Session, kind: str, name: str, scheme: int, source: str, year: int | None,
                       run_id: int | None, samples: list[dict], inserted=None, batch: int = 10_000) -> int:
    """Insert sample set ``name`` with its samples, first deleting a set of the same kind and name.

    Each sample has ``class_code``, ``wkb`` (geometry WKB, plain or extended), ``srid`` and ``attributes``
    (JSON-able dict). They are inserted ``batch`` at a time, ``inserted(n)`` called after each
    batch with its number of samples (all in the caller's transaction).
    Returns the new set's id.
    """
    session.execute(sa.delete(SampleSet).where(SampleSet.kind == kind, SampleSet.name == name))
    set_id = session.scalar(
        sa.insert(SampleSet).values(kind=kind, name=name, scheme_id=scheme, source=source, year=year, run_id=run_id)
        .returning(SampleSet.id)
    )
    if samples:
        import shapely
        from geoalchemy2.elements import WKBElement

        def ewkb(sample):
            geom = shapely.set_srid(shapely.from_wkb(sample["wkb"]), sample["srid"])
            return WKBElement(shapely.to_wkb(geom, include_srid=True), srid=sample["srid"], extended=True)

        for start in range(0, len(samples), batch):
            part = samples[start:start + batch]
            session.execute(sa.insert(Sample), [
                {"set_id": set_id, "class_code": s["class_code"], "attributes": s["attributes"], "geom": ewkb(s)}
                for s in part
            ])
            if inserted:
                inserted(len(part))
    return set_id


def list_sample_sets(session: Session, kind: str | None = None) -> list[dict]:
    """Sample sets with their scheme, number of samples and classes, and source."""
    n = sa.select(sa.func.count()).where(Sample.set_id == SampleSet.id).scalar_subquery()
    classes = sa.select(sa.func.count(sa.distinct(Sample.class_code))).where(Sample.set_id == SampleSet.id).scalar_subquery()
    query = (sa.select(SampleSet.name, SampleSet.kind, ClassScheme.name.label("scheme"), n.label("samples"),
                       classes.label("classes"), SampleSet.year, SampleSet.source, SampleSet.created_at)
             .join(ClassScheme, ClassScheme.id == SampleSet.scheme_id).order_by(SampleSet.kind, SampleSet.name))
    if kind:
        query = query.where(SampleSet.kind == kind)
    return [dict(r._mapping) for r in session.execute(query)]


def class_counts(session: Session, set_id: int) -> dict[int, int]:
    """Number of samples per class code in set ``set_id``."""
    rows = session.execute(sa.select(Sample.class_code, sa.func.count()).where(Sample.set_id == set_id)
                           .group_by(Sample.class_code))
    return {int(c): int(n) for c, n in rows}


def read_samples(session: Session, set_id: int, srid: int | None = None):
    """The samples of set ``set_id`` as (ids, class codes, shapely geometries, srids).

    With ``srid`` every geometry is transformed to it (in PostGIS) first.
    """
    import numpy as np
    import shapely

    geom = Sample.geom if srid is None else sa.func.ST_Transform(Sample.geom, srid)
    rows = session.execute(
        sa.select(Sample.id, Sample.class_code, sa.func.ST_AsBinary(geom), sa.func.ST_SRID(geom))
        .where(Sample.set_id == set_id).order_by(Sample.id)
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    codes = np.array([r[1] for r in rows], dtype=np.int64)
    geoms = shapely.from_wkb([bytes(r[2]) for r in rows]) if rows else np.array([], dtype=object)
    srids = [int(r[3]) for r in rows]
    return ids, codes, geoms, srids
