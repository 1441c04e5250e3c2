"""Repository functions for training sets of labelled time series (tables ``antares.series_set``, ``series_sample``).

Every value is a bound parameter; callers own the transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from antares.db.schema import ClassScheme, SeriesSample, SeriesSet


def series_set(session: Session, name: str):
    """Series set ``name`` as a row ``(id, scheme_id, scheme, source, label, layout, n_samples)``, or None."""
    return session.execute(sa.select(SeriesSet.id, SeriesSet.scheme_id, ClassScheme.name.label("scheme"),
                                     SeriesSet.source, SeriesSet.label, SeriesSet.layout, SeriesSet.n_samples)
                           .join(ClassScheme, ClassScheme.id == SeriesSet.scheme_id)
                           .where(SeriesSet.name == name)).first()


def replace_series_set(session: Session, name: str, scheme: int, source: str, label: str, layout: dict,
                       run_id: int | None, samples: list, batch: int = 5_000) -> int:
    """Insert series set ``name``, first deleting one of the same name (its samples go with it).

    ``samples``: ``(sample_id, class_code, buffer)`` in order (their positions 0, 1, ...), inserted
    ``batch`` at a time. Returns the new set's id.
    """
    session.execute(sa.delete(SeriesSet).where(SeriesSet.name == name))
    set_id = session.scalar(sa.insert(SeriesSet).values(
        name=name, scheme_id=scheme, source=source, label=label, layout=layout, n_samples=len(samples),
        run_id=run_id).returning(SeriesSet.id))
    for start in range(0, len(samples), batch):
        session.execute(sa.insert(SeriesSample), [
            {"set_id": set_id, "position": start + i, "sample_id": str(sid), "class_code": int(code), "series": buf}
            for i, (sid, code, buf) in enumerate(samples[start:start + batch])])
    return set_id


def read_series_samples(session: Session, set_id: int) -> list:
    """The samples of series set ``set_id`` in order, as rows ``(sample_id, class_code, series)``."""
    return session.execute(sa.select(SeriesSample.sample_id, SeriesSample.class_code, SeriesSample.series)
                           .where(SeriesSample.set_id == set_id).order_by(SeriesSample.position)).all()


def list_series_sets(session: Session) -> list[dict]:
    """Series sets with their scheme, number of samples and classes, label column, layout and source."""
    classes = (sa.select(sa.func.count(sa.distinct(SeriesSample.class_code)))
               .where(SeriesSample.set_id == SeriesSet.id).scalar_subquery())
    query = (sa.select(SeriesSet.name, ClassScheme.name.label("scheme"), SeriesSet.n_samples.label("samples"),
                       classes.label("classes"), SeriesSet.label, SeriesSet.layout, SeriesSet.source,
                       SeriesSet.created_at)
             .join(ClassScheme, ClassScheme.id == SeriesSet.scheme_id).order_by(SeriesSet.name))
    return [dict(r._mapping) for r in session.execute(query)]

