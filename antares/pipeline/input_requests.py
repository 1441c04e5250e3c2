"""Requests of the stages that bring data in: ``ingest``, ``ingest_samples``, ``ingest_from_raster``.

The same pattern as :mod:`antares.pipeline.requests` (frozen dataclasses validated when
made, messages naming the request's fields, rewritten into flag names by the CLI with
:func:`antares.cli.options.flag_names`); the helpers are shared from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from antares.errors import InvalidInputError, UsageError
from antares.pipeline.requests import _freeze, _name, _period, _positive, refusal
from antares.recipes.specs import RESAMPLINGS
KINDS = ("training", "validation")


@dataclass(frozen=True)
class IngestRequest:
    """``ingest``: product ``source`` reprojected onto ``gridspec`` over ``area`` into product ``name``.

    Attributes
    ----------
    source, name : str
        Source product and output product (created if missing; resumed if it is an earlier
        ingest of the same source).
    area : odc.geo.geom.Geometry
    gridspec : odc.geo.gridspec.GridSpec
        The output tile grid (CRS, resolution, tile size, origin).
    time : (begin, end), optional
        Inclusive dates (YYYY-MM-DD) of the source datasets to ingest (default: all).
    resampling : str
        One of :data:`antares.recipes.specs.RESAMPLINGS` (rasterio/GDAL names).
    scheduler, workers :
        Executor (default: the settings'); see :func:`antares.pipeline.executor.task_runner`.
    outdir : str, optional
        Where the COGs go (default ``$ANTARES_HOME/products/NAME``).

    Raises
    ------
    UsageError
        ``name`` breaks the name rule; unknown resampling (the valid ones are listed).
    InvalidInputError
        ``time`` is not a pair of dates in order.

    Examples
    --------
    >>> IngestRequest("s2_l2a", "s2_utm", None, None, time=["2018-01-01", "2018-12-31"]).time
    ('2018-01-01', '2018-12-31')
    """

    source: str
    name: str
    area: object
    gridspec: object
    time: tuple | None = None
    resampling: str = "nearest"
    scheduler: str | None = None
    workers: int | None = None
    outdir: str | None = None

    def __post_init__(self):
        _name(self.name)
        if self.resampling not in RESAMPLINGS:  # names no field: the word is the concept, as the flag is
            raise UsageError(f"unknown resampling '{self.resampling}'; valid: {', '.join(RESAMPLINGS)}.")
        _freeze(self, time=_period(self.time))


def _kind(value) -> None:
    if value not in KINDS:  # names no field: the kind is the command (ingest_training / ingest_validation)
        raise InvalidInputError(f"sample set kind must be one of {', '.join(KINDS)}; got {value!r}.")


@dataclass(frozen=True)
class SampleFileRequest:
    """``ingest_samples``: the labelled features of a vector file stored as sample set ``name``.

    Attributes
    ----------
    kind : {'training', 'validation'}
    path : str or path
        Any vector file GDAL/OGR reads.
    field_name : str
        The field holding each feature's class, as a legend code or a class name.
    name : str
        The sample set (antares3's ``--dataset``).
    scheme : str, optional
        Class scheme to use or create (default: ``name``).
    legend_file : path, optional
        CSV/YAML legend (code, name, colour) for a new scheme.
    layer : str, optional
        The layer to read (required when the file has several).
    where : str, optional
        OGR SQL expression selecting features.
    year : int, optional
        Reference year of the labels (recorded).
    overwrite : bool
        Replace a sample set of ``name``.
    every : int, optional
        Keep every ``every``-th feature after ``where`` (antares3's ``--filter N``); None or 1 keeps all.

    Raises
    ------
    UsageError
        ``name`` or ``scheme`` breaks the name rule.
    InvalidInputError
        Unknown ``kind``; ``every`` not a whole number >= 1.
    """

    kind: str
    path: object
    field_name: str
    name: str
    scheme: str | None = None
    legend_file: object = None
    layer: str | None = None
    where: str | None = None
    year: int | None = None
    overwrite: bool = False
    every: int | None = None

    def __post_init__(self):
        _name(self.name)
        if self.scheme is not None:
            _name(self.scheme, "scheme")
        _kind(self.kind)
        every = self.every
        if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
            raise refusal(f"every must be a whole number of 1 or more (keep every N-th feature), got {every!r}.",
                          "every", error=InvalidInputError)


@dataclass(frozen=True)
class RasterSampleRequest:
    """``ingest_from_raster``: stratified random samples (pixels or pure patches) of a reference raster.

    Attributes
    ----------
    raster : str or path
        A single-band raster of class codes or, with ``bins``, of continuous values.
    name, scheme : str
        The sample set and its class scheme (used or created).
    legend_file : path, optional
        CSV/YAML legend for a new scheme.
    per_class, fraction :
        Exactly one: samples per class (>= 1), or a fraction (0, 1] of each class's candidates.
    classes : sequence of int, optional
        Only these class codes (after binning).
    seed : int
    patch : int
        Side in pixels (>= 1) of the single-class square each sample covers.
    bins : sequence of float, optional
        Increasing class edges for continuous values.
    band : int
        The raster band (1-based; its range is checked against the raster by the stage).
    kind : {'training', 'validation'}
    overwrite : bool
    holdout, holdout_name : optional
        A share in (0, 1) of each class's samples stored instead as validation set ``holdout_name``.

    Raises
    ------
    UsageError
        A name against the name rule; not exactly one of ``per_class`` and ``fraction``, or either
        out of range; ``patch`` < 1.
    InvalidInputError
        Unknown ``kind``; ``holdout`` outside (0, 1) or without ``holdout_name``.
    """

    raster: object
    name: str
    scheme: str
    legend_file: object = None
    per_class: int | None = None
    fraction: float | None = None
    classes: tuple | None = None
    seed: int = 0
    patch: int = 1
    bins: tuple | None = None
    band: int = 1
    kind: str = "training"
    overwrite: bool = False
    holdout: float | None = None
    holdout_name: str | None = None

    def __post_init__(self):
        _name(self.name)
        _name(self.scheme, "scheme")
        if self.holdout_name is not None:
            _name(self.holdout_name, "holdout_name")
        if (self.per_class is None) == (self.fraction is None):
            raise refusal("give exactly one of per_class N or fraction F.", "per_class", "fraction")
        if self.per_class is not None:
            _positive(self.per_class, "per_class")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise refusal(f"fraction must be in (0, 1]. Got {self.fraction!r}.", "fraction")
        _positive(self.patch, "patch")
        _kind(self.kind)
        if self.holdout is not None and (not 0 < self.holdout < 1 or not self.holdout_name):
            raise refusal(f"holdout must be a share in (0, 1) with holdout_name NAME. Got {self.holdout}.",
                          "holdout", "holdout_name", error=InvalidInputError)
        _freeze(self, classes=tuple(self.classes) if self.classes else None,
                bins=tuple(self.bins) if self.bins else None)
