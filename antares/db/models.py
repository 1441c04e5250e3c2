"""Repository functions for fitted models (table ``antares.model``).

Every value is a bound parameter; callers own the transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from antares.db.schema import Model


def model_exists(session: Session, name: str) -> bool:
    """True if model ``name`` exists."""
    return session.scalar(sa.select(Model.id).where(Model.name == name)) is not None


def model_names(session: Session, product: str | None = None) -> list[str]:
    """The names of all models (with ``product``: of those fitted on it), sorted."""
    query = sa.select(Model.name).order_by(Model.name)
    if product is not None:
        query = query.where(Model.product == product)
    return list(session.scalars(query))


def read_model(session: Session, name: str, blob: bool = True):
    """Model ``name`` as a row ``(blob, meta, scheme_id, kind, id)``, or None.

    With ``blob`` False only the first 16 bytes of the blob are read (enough to tell its format).
    """
    data = Model.blob if blob else sa.func.substring(Model.blob, 1, 16).label("blob")
    return session.execute(sa.select(data, Model.meta, Model.scheme_id, Model.kind, Model.id)
                           .where(Model.name == name)).first()


def model_blob(session: Session, model_id: int) -> bytes | None:
    """The serialized estimator of model ``model_id``, or None."""
    return session.scalar(sa.select(Model.blob).where(Model.id == model_id))


def lock_model(session: Session, model_id: int) -> bool:
    """Lock the row of model ``model_id`` (``FOR SHARE``) until the transaction ends; False if it is gone."""
    return session.execute(sa.select(Model.id).where(Model.id == model_id).with_for_update(read=True)).first() \
        is not None


def replace_model(session: Session, name: str, kind: str, scheme_id: int, run_id: int, product: str, blob: bytes,
                  meta: dict) -> None:
    """Insert model ``name``, first deleting one of the same name (and its classifications)."""
    session.execute(sa.delete(Model).where(Model.name == name))
    session.execute(sa.insert(Model).values(name=name, kind=kind, scheme_id=scheme_id, run_id=run_id,
                                            product=product, blob=blob, meta=meta))


def update_model(session: Session, model_id: int, blob: bytes, meta: dict) -> None:
    """Replace the blob and metadata of model ``model_id``."""
    session.execute(sa.update(Model).where(Model.id == model_id).values(blob=blob, meta=meta))


def list_models(session: Session) -> list:
    """All models by name, as rows ``(name, kind, product, meta, created_at)``."""
    return session.execute(sa.select(Model.name, Model.kind, Model.product, Model.meta, Model.created_at)
                           .order_by(Model.name)).all()


def delete_models(session: Session, names: list[str]) -> None:
    """Delete the models named ``names`` (with their classifications)."""
    session.execute(sa.delete(Model).where(Model.name.in_(names)))
