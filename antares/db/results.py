"""Repository functions to list, find the dependants of, delete and rename results by kind.

Kinds: ``segmentation``, ``classification``, ``model``, ``training_set``, ``validation_set``,
``region``, ``change`` (a change detection and its objects), ``pca``. Every value is a bound parameter; callers own the transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from antares.db.schema import (ChangeDetection, Classification, ClassScheme, Model, Pca, Prediction, Region, SampleSet,
                               Segment, Segmentation, ValidationResult)

SAMPLE_KINDS = {"training_set": "training", "validation_set": "validation"}


def list_segmentations(session: Session) -> list[dict]:
    """Segmentations: name, product, algorithm, objects, area (km²), classifications, created."""
    area = sa.select(sa.func.coalesce(sa.func.sum(Segment.area_m2), 0.0) / 1e6).where(
        Segment.segmentation_id == Segmentation.id).scalar_subquery()
    maps = sa.select(sa.func.count()).where(Classification.segmentation_id == Segmentation.id).scalar_subquery()
    rows = session.execute(sa.select(Segmentation.name, Segmentation.product, Segmentation.algorithm,
                                     Segmentation.n_segments.label("objects"), area.label("area_km2"),
                                     maps.label("classifications"), Segmentation.crs, Segmentation.created_at)
                           .order_by(Segmentation.name))
    return [dict(r._mapping) for r in rows]


def list_classifications(session: Session) -> list[dict]:
    """Classifications: name, segmentation, model, classified objects, area (km²), validations, created."""
    objects = sa.select(sa.func.count()).where(Prediction.classification_id == Classification.id).scalar_subquery()
    area = (sa.select(sa.func.coalesce(sa.func.sum(Segment.area_m2), 0.0) / 1e6)
            .join(Prediction, sa.and_(Prediction.segment_id == Segment.segment_id,
                                      Prediction.classification_id == Classification.id))
            .where(Segment.segmentation_id == Classification.segmentation_id).scalar_subquery())
    validations = sa.select(sa.func.count()).where(
        ValidationResult.classification_id == Classification.id).scalar_subquery()
    rows = session.execute(sa.select(Classification.name, Segmentation.name.label("segmentation"),
                                     Model.name.label("model"), objects.label("objects"), area.label("area_km2"),
                                     validations.label("validations"), Classification.created_at)
                           .join(Segmentation, Segmentation.id == Classification.segmentation_id)
                           .join(Model, Model.id == Classification.model_id)
                           .order_by(Classification.name))
    return [dict(r._mapping) for r in rows]


def exists(session: Session, kind: str, name: str) -> bool:
    """True if a result of ``kind`` named ``name`` exists."""
    return _row_id(session, kind, name) is not None


def names(session: Session, kind: str) -> list[str]:
    """The names of every result of ``kind``, sorted."""
    table, column, where = _table(kind)
    return list(session.execute(sa.select(column).where(*where).order_by(column)).scalars())


def dependants(session: Session, kind: str, name: str) -> dict[str, list[str]]:
    """The results that depend on result ``name`` of ``kind``: dependant kind -> names.

    segmentation <- classifications of it; classification <- validation results of it;
    model <- classifications made with it; training set <- models fitted on it (by the
    ``training_set`` the model recorded); validation set <- validation results against it.
    Regions have no dependants (runs record region names, not rows).
    """
    rid = _row_id(session, kind, name)
    if rid is None:
        return {}
    out: dict[str, list[str]] = {}
    if kind == "segmentation":
        out["classification"] = _names(session, Classification.name, Classification.segmentation_id == rid)
    elif kind == "classification":
        out["validation result"] = _names(session, ValidationResult.name, ValidationResult.classification_id == rid)
    elif kind == "model":
        out["classification"] = _names(session, Classification.name, Classification.model_id == rid)
    elif kind == "training_set":
        out["model"] = _names(session, Model.name, Model.meta["training_set"].astext == name)
    elif kind == "validation_set":
        out["validation result"] = _names(session, ValidationResult.name, ValidationResult.sample_set_id == rid)
    return {k: v for k, v in out.items() if v}


def delete(session: Session, kind: str, name: str) -> int:
    """Delete result ``name`` of ``kind`` (rows that reference it go by their foreign keys' cascade).

    Returns
    -------
    int
        Rows deleted (0 or 1).
    """
    table, column, where = _table(kind)
    return session.execute(sa.delete(table).where(column == name, *where)).rowcount


def delete_models(session: Session, model_names: list[str]) -> None:
    """Delete the models ``model_names`` (their classifications go by cascade)."""
    if model_names:
        session.execute(sa.delete(Model).where(Model.name.in_(model_names)))


def rename(session: Session, kind: str, old: str, new: str) -> int:
    """Rename result ``old`` of ``kind`` to ``new``; returns the rows renamed (0 or 1).

    A training set's models record its name: they are updated in the same transaction.
    """
    table, column, where = _table(kind)
    done = session.execute(sa.update(table).where(column == old, *where).values({column.key: new})).rowcount
    if done and kind == "training_set":
        session.execute(sa.update(Model).where(Model.meta["training_set"].astext == old)
                        .values(meta=Model.meta.op("||")(sa.func.jsonb_build_object("training_set", new))))
    return done


def scheme_of_sample_set(session: Session, kind: str, name: str) -> str | None:
    """The class scheme of sample set ``name`` (``training_set`` or ``validation_set``)."""
    return session.execute(sa.select(ClassScheme.name).join(SampleSet, SampleSet.scheme_id == ClassScheme.id)
                           .where(SampleSet.name == name, SampleSet.kind == SAMPLE_KINDS[kind])).scalar()


def _table(kind: str):
    if kind == "segmentation":
        return Segmentation, Segmentation.name, ()
    if kind == "classification":
        return Classification, Classification.name, ()
    if kind == "model":
        return Model, Model.name, ()
    if kind == "region":
        return Region, Region.name, ()
    if kind == "change":
        return ChangeDetection, ChangeDetection.name, ()
    if kind == "pca":
        return Pca, Pca.name, ()
    if kind in SAMPLE_KINDS:
        return SampleSet, SampleSet.name, (SampleSet.kind == SAMPLE_KINDS[kind],)
    raise ValueError(f"unknown result kind {kind!r}")


def _row_id(session: Session, kind: str, name: str) -> int | None:
    table, column, where = _table(kind)
    return session.execute(sa.select(table.id).where(column == name, *where)).scalar()


def _names(session: Session, column, *where) -> list[str]:
    return list(session.execute(sa.select(column).where(*where).order_by(column)).scalars())
