"""The antares schema (PostgreSQL schema ``antares``), as SQLAlchemy 2.0 tables.

The tables are created and changed only by the Alembic migrations shipped in
``antares/db/migrations``; this module is what the code reads and writes through.
Geometries: regions in EPSG:4326; training/validation samples in the CRS of their
source file (the SRID is stored per geometry); segments in the CRS of the product
they were computed on.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import BYTEA, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SCHEMA = "antares"


class Base(DeclarativeBase):
    metadata = sa.MetaData(schema=SCHEMA)


def _created() -> Mapped[dt.datetime]:
    return mapped_column(sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


class Region(Base):
    """A named area of interest; every ``-region`` option looks regions up here."""

    __tablename__ = "region"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    collection: Mapped[str | None] = mapped_column(sa.Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True), nullable=False)
    area_km2: Mapped[float] = mapped_column(sa.Float)
    source: Mapped[str | None] = mapped_column(sa.Text)
    source_crs: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = _created()


class ClassScheme(Base):
    """A legend: the set of classes a training set, model and map use."""

    __tablename__ = "class_scheme"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = _created()


class LegendClass(Base):
    """One class of a scheme: integer code, name and colour (``#rrggbb``)."""

    __tablename__ = "legend_class"
    __table_args__ = (
        sa.UniqueConstraint("scheme_id", "name"),
        sa.CheckConstraint("colour ~ '^#[0-9a-f]{6}$'", name="colour_hex"),
    )
    scheme_id: Mapped[int] = mapped_column(sa.ForeignKey("class_scheme.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text)
    colour: Mapped[str] = mapped_column(sa.Text)


class Run(Base):
    """One execution of a stage, with its parameters, inputs, timings and outcome."""

    __tablename__ = "run"
    __table_args__ = (
        sa.CheckConstraint("status IN ('running', 'done', 'failed', 'interrupted')", name="status_valid"),
        sa.Index("ix_run_kind_name", "kind", "name"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text)
    name: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.Text, server_default="running")
    params = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    inputs = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    #: what the run made: dataset ids indexed, regions registered, files written (with sizes), a stored report
    outputs = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    code_version: Mapped[str] = mapped_column(sa.Text)
    started_at: Mapped[dt.datetime] = _created()
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(sa.Text)


class RunTile(Base):
    """The outcome of one tile ``(ix, iy)`` of a run (resume skips tiles that are done)."""

    __tablename__ = "run_tile"
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.id", ondelete="CASCADE"), primary_key=True)
    ix: Mapped[int] = mapped_column(primary_key=True)
    iy: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(sa.Text)
    seconds: Mapped[float | None] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))


class SampleSet(Base):
    """A training or validation set of labelled reference samples."""

    __tablename__ = "sample_set"
    __table_args__ = (
        sa.UniqueConstraint("kind", "name"),
        sa.CheckConstraint("kind IN ('training', 'validation')", name="kind_valid"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.Text)
    name: Mapped[str] = mapped_column(sa.Text)
    scheme_id: Mapped[int] = mapped_column(sa.ForeignKey("class_scheme.id"))
    source: Mapped[str | None] = mapped_column(sa.Text)
    year: Mapped[int | None]
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _created()


class Sample(Base):
    """A labelled reference polygon, point or pixel (geometry in its source CRS)."""

    __tablename__ = "sample"
    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    set_id: Mapped[int] = mapped_column(sa.ForeignKey("sample_set.id", ondelete="CASCADE"), index=True)
    class_code: Mapped[int]
    geom = mapped_column(Geometry("GEOMETRY", spatial_index=True), nullable=False)
    attributes = mapped_column(JSONB)


class Segmentation(Base):
    """The result of one ``segment`` run: a label-raster product plus its segments."""

    __tablename__ = "segmentation"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"))
    product: Mapped[str] = mapped_column(sa.Text)
    algorithm: Mapped[str] = mapped_column(sa.Text)
    params = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    crs: Mapped[str] = mapped_column(sa.Text)
    n_segments: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: the label rasters' pixel grid, ``{"crs", "transform" (6 affine coefficients), "shape" (y, x)}``; NULL for
    #: segmentations stored before migration 0005 (their grid is read from the ODC index)
    grid = mapped_column(JSONB, nullable=True)
    created_at: Mapped[dt.datetime] = _created()


class Segment(Base):
    """One segment (object) of a segmentation, in the CRS of its product."""

    __tablename__ = "segment"
    segmentation_id: Mapped[int] = mapped_column(sa.ForeignKey("segmentation.id", ondelete="CASCADE"), primary_key=True)
    segment_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    geom = mapped_column(Geometry("MULTIPOLYGON", spatial_index=True), nullable=False)
    area_m2: Mapped[float] = mapped_column(sa.Float)
    pixel_count: Mapped[int] = mapped_column(sa.BigInteger)


class Model(Base):
    """A fitted classifier: serialized estimator plus its metadata (features, legend, CV report, ...)."""

    __tablename__ = "model"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    kind: Mapped[str] = mapped_column(sa.Text)
    scheme_id: Mapped[int] = mapped_column(sa.ForeignKey("class_scheme.id"))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"))
    product: Mapped[str] = mapped_column(sa.Text)
    blob: Mapped[bytes] = mapped_column(BYTEA)
    meta = mapped_column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = _created()


class Classification(Base):
    """A named map: the predictions of one model for the segments of one segmentation."""

    __tablename__ = "classification"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    segmentation_id: Mapped[int] = mapped_column(sa.ForeignKey("segmentation.id", ondelete="CASCADE"))
    model_id: Mapped[int] = mapped_column(sa.ForeignKey("model.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _created()


class Prediction(Base):
    """The class (legend code), confidence (max probability) and entropy of one object."""

    __tablename__ = "prediction"
    classification_id: Mapped[int] = mapped_column(sa.ForeignKey("classification.id", ondelete="CASCADE"), primary_key=True)
    segment_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    class_code: Mapped[int]
    confidence: Mapped[float] = mapped_column(sa.Float)
    entropy: Mapped[float] = mapped_column(sa.Float)


class ValidationResult(Base):
    """An accuracy assessment of a map against a validation set (report as JSON)."""

    __tablename__ = "validation_result"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    classification_id: Mapped[int | None] = mapped_column(sa.ForeignKey("classification.id", ondelete="CASCADE"))
    sample_set_id: Mapped[int] = mapped_column(sa.ForeignKey("sample_set.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"))
    report = mapped_column(JSONB, nullable=False)
    created_at: Mapped[dt.datetime] = _created()


class Pca(Base):
    """A fitted principal component analysis of a product's measurements (``antares pca_fit``).

    Stored as plain arrays (JSON lists of floats), never as a pickled estimator: ``components``
    (k x m, rows = components), ``mean`` (m), ``explained_variance`` and ``explained_variance_ratio`` (k),
    as scikit-learn's PCA (``whiten=False``) holds them; ``measurements`` names the m inputs in order.
    """

    __tablename__ = "pca"
    __table_args__ = (sa.CheckConstraint("n_components >= 1", name="components_positive"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    product: Mapped[str] = mapped_column(sa.Text)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"))
    measurements = mapped_column(JSONB, nullable=False)
    n_components: Mapped[int] = mapped_column(sa.Integer)
    components = mapped_column(JSONB, nullable=False)
    mean = mapped_column(JSONB, nullable=False)
    explained_variance = mapped_column(JSONB, nullable=False)
    explained_variance_ratio = mapped_column(JSONB, nullable=False)
    n_samples: Mapped[int] = mapped_column(sa.Integer)
    meta = mapped_column("metadata", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    created_at: Mapped[dt.datetime] = _created()
class ChangeDetection(Base):
    """The result of one ``detect_change`` run: method, inputs, fitted statistics and its change objects."""

    __tablename__ = "change_detection"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(sa.Text)
    params = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    statistics = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    inputs = mapped_column(JSONB, nullable=False, server_default=sa.text("'{}'::jsonb"))
    crs: Mapped[str] = mapped_column(sa.Text)
    pixel_area_m2: Mapped[float] = mapped_column(sa.Float)
    n_objects: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[dt.datetime] = _created()


class ChangeObject(Base):
    """One change object (connected change pixels) with its pre and post class when classifications were given."""

    __tablename__ = "change_object"
    change_id: Mapped[int] = mapped_column(sa.ForeignKey("change_detection.id", ondelete="CASCADE"), primary_key=True)
    object_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    geom = mapped_column(Geometry("MULTIPOLYGON", spatial_index=True), nullable=False)
    area_m2: Mapped[float] = mapped_column(sa.Float)
    pixel_count: Mapped[int] = mapped_column(sa.BigInteger)
    score: Mapped[float] = mapped_column(sa.Float)
    pre_class: Mapped[int | None]
    post_class: Mapped[int | None]
    class_tie: Mapped[bool | None]


class SeriesSet(Base):
    """A training set of labelled time series (``antares ingest_training --timeseries``): no geometry.

    ``layout`` describes each sample's buffer: ``{"sensors": [{"sensor", "days", "channels", "pixels"}],
    "origin": "YYYY-01-01", "dtype": "<f4"}``; a sample's ``series`` is the concatenation, sensor by
    sensor in that order, of its (dates × channels × pixels) float32 values, little-endian, C order.
    """

    __tablename__ = "series_set"
    __table_args__ = (sa.CheckConstraint("n_samples >= 0", name="samples_not_negative"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.Text, unique=True)
    scheme_id: Mapped[int] = mapped_column(sa.ForeignKey("class_scheme.id"))
    source: Mapped[str] = mapped_column(sa.Text)
    label: Mapped[str] = mapped_column(sa.Text)
    layout = mapped_column(JSONB, nullable=False)
    n_samples: Mapped[int] = mapped_column(sa.Integer)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _created()


class SeriesSample(Base):
    """One labelled sample of a series set: its class code and its values as a raw float32 buffer."""

    __tablename__ = "series_sample"
    set_id: Mapped[int] = mapped_column(sa.ForeignKey("series_set.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    sample_id: Mapped[str] = mapped_column(sa.Text)
    class_code: Mapped[int]
    series: Mapped[bytes] = mapped_column(BYTEA)
