"""Repository functions for fitted PCAs (table ``antares.pca``).

Every value is a bound parameter; callers own the transaction.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from antares.db.schema import Pca


def pca_exists(session: Session, name: str) -> bool:
    """True if PCA ``name`` exists."""
    return session.scalar(sa.select(Pca.id).where(Pca.name == name)) is not None


def pca_names(session: Session) -> list[str]:
    """The names of all stored PCAs, sorted."""
    return list(session.scalars(sa.select(Pca.name).order_by(Pca.name)))


def read_pca(session: Session, name: str) -> dict | None:
    """PCA ``name`` as a dict of its columns (``name``, ``product``, ``measurements``, ``n_components``,
    ``components``, ``mean``, ``explained_variance``, ``explained_variance_ratio``, ``n_samples``, ``meta``), or None."""
    row = session.execute(sa.select(Pca.name, Pca.product, Pca.measurements, Pca.n_components, Pca.components,
                                    Pca.mean, Pca.explained_variance, Pca.explained_variance_ratio, Pca.n_samples,
                                    Pca.meta).where(Pca.name == name)).first()
    return None if row is None else dict(row._mapping)


def replace_pca(session: Session, name: str, product: str, run_id: int | None, measurements: list[str],
                components: list, mean: list, explained_variance: list, explained_variance_ratio: list,
                n_samples: int, meta: dict) -> None:
    """Insert PCA ``name``, first deleting one of the same name."""
    session.execute(sa.delete(Pca).where(Pca.name == name))
    session.execute(sa.insert(Pca).values(
        name=name, product=product, run_id=run_id, measurements=measurements, n_components=len(components),
        components=components, mean=mean, explained_variance=explained_variance,
        explained_variance_ratio=explained_variance_ratio, n_samples=n_samples, meta=meta))
