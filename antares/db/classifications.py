"""Repository functions for classifications and their predictions.

Tables ``antares.classification`` and ``antares.prediction``. Every value is a bound
parameter; callers own the transaction.
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from sqlalchemy.orm import Session

from antares.db.schema import Classification, Model, Segmentation


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
