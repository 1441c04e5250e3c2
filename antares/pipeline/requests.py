"""Request objects: what a stage is asked to do, validated when the request is made.

A stage function takes the settings, one request and a ``progress`` callback
(``apply_recipe(settings, RecipeRequest(...), progress)``). A request is a frozen
dataclass whose ``__post_init__`` refuses bad values before anything is read or
written, with messages in the library's vocabulary: they name the request's fields
(``aggregation must be one of mean, ...``), never a command-line flag. Each such error
carries the fields it names in ``fields``; the CLI turns them into its flag names at
its edge (``antares.cli.options.flag_names``), so ``antares model_fit`` still says
``-sp must be one of ...``.

Requests hold names and values, not connections: they are cheap to build, compare and
record. What validation produces is kept on the request (the validated segmenter of a
:class:`SegmentRequest`, the parsed estimator parameters of a :class:`FitRequest`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from antares.errors import InvalidInputError, UsageError

UNITS = ("polygons", "pixels", "segments")


def refusal(message: str, *fields: str, error: type = UsageError):
    """An ``error`` with ``message`` that names the request fields ``fields`` (kept in ``exc.fields``).

    The CLI rewrites exactly these words into its flag names (``antares.cli.options.flag_names``).

    Examples
    --------
    >>> exc = refusal("cv must be at least 2. Got 1.", "cv")
    >>> str(exc), exc.fields, exc.exit_code
    ('cv must be at least 2. Got 1.', ('cv',), 2)
    """
    exc = error(message)
    exc.fields = fields
    return exc


def _name(value, field_name: str = "name") -> None:
    """UsageError naming field ``field_name`` unless ``value`` follows the name rule (:mod:`antares.names`)."""
    from antares.names import name_problem

    problem = name_problem(value)
    if problem:
        raise refusal(f"{field_name} {problem}", field_name)


def _positive(value, field_name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise refusal(f"{field_name} must be an integer >= {minimum}. Got {value!r}.", field_name)


def _aggregation(value, error: type = UsageError) -> None:
    """Refuse an object-feature specification :func:`antares.models.samples.parse_aggregation` does not take."""
    from antares.models.samples import AGGREGATIONS, parse_aggregation

    try:
        parse_aggregation(value)
    except (ValueError, AttributeError, TypeError) as exc:
        if not isinstance(value, str) or len(value.replace(",", " ").split()) <= 1:
            raise refusal(f"aggregation must be one of {', '.join(AGGREGATIONS)} or a percentile pNN (p10, p90). "
                          f"Got {value!r}.", "aggregation", error=error) from None
        raise refusal(f"aggregation must be statistics ({', '.join(AGGREGATIONS)}, pNN), each once, and optionally "
                      f"glcm (or glcm_contrast, ...; glcm:MEASUREMENT for chosen measurements) and shape: {exc}. "
                      f"Got {value!r}.", "aggregation", error=error) from None


def _object_features(aggregation, unit: str, categorical) -> None:
    """Refuse shape for pixel samples and several statistics with categorical variables."""
    from antares.models.samples import glcm_features_of, parse_aggregation

    statistics, shape = parse_aggregation(aggregation)
    if glcm_features_of(aggregation) and unit == "pixels":
        raise refusal("aggregation glcm is the texture of an object's own pixels; pixel samples have none: use unit "
                      f"polygons (or segments) or leave glcm out. Got aggregation {aggregation!r} with unit pixels.",
                      "aggregation", "unit")
    if shape and unit == "pixels":
        raise refusal("aggregation shape describes objects; pixel samples have none: use unit polygons (or segments) "
                      f"or leave shape out. Got aggregation {aggregation!r} with unit pixels.", "aggregation", "unit")
    if categorical and (len(statistics) > 1 or shape or glcm_features_of(aggregation)):
        raise refusal(f"categorical variables need one aggregation (min or max); got {aggregation!r}.",
                      "aggregation", "categorical")


def _period(value) -> tuple | None:
    """``value`` as a ``(begin, end)`` tuple of dates, checked; None stays None."""
    from antares.pipeline.recipe import period_bounds

    if value is None:
        return None
    if isinstance(value, str) or len(value) != 2:
        raise refusal(f"time must be a (begin, end) pair of dates YYYY-MM-DD. Got {value!r}.", "time")
    period_bounds(str(value[0]), str(value[1]))
    return tuple(value)


def _freeze(request, **values) -> None:
    for key, value in values.items():
        object.__setattr__(request, key, value)


@dataclass(frozen=True)
class RecipeRequest:
    """``apply_recipe``: a recipe's temporal features over an area and period, into product ``name``.

    Attributes
    ----------
    recipe : str
        A built-in recipe (``antares list recipes``) or the path of a recipe YAML; the stage
        reads it once and its tiles run that parsed recipe.
    begin, end : str
        The period, inclusive dates (YYYY-MM-DD).
    name : str
        The output product.
    area : odc.geo.geom.Geometry
    gridspec : odc.geo.gridspec.GridSpec, optional
        Tile grid (default: the input's CRS and pixel grid at the recipe's resolution).
    product, terrain_product : str, optional
        Override the recipe's input and terrain products.
    scheduler, workers : optional
        Executor (default: the settings'); see :func:`antares.pipeline.executor.task_runner`.
    overwrite : bool
        Replace an earlier result of ``name`` (otherwise a re-run resumes).
    outdir : str, optional
        Where the COGs go (default ``$ANTARES_HOME/products/NAME``).
    tile_size : int
        Tile side in pixels of the default grid.

    Raises
    ------
    UsageError
        ``name`` breaks the name rule; ``tile_size`` < 1.
    InvalidInputError
        A date cannot be parsed, or ``end`` is before ``begin``.
    """

    recipe: str
    begin: str
    end: str
    name: str
    area: object
    gridspec: object = None
    product: str | None = None
    terrain_product: str | None = None
    scheduler: str | None = None
    workers: int | None = None
    overwrite: bool = False
    outdir: str | None = None
    tile_size: int = 2048

    def __post_init__(self):
        from antares.pipeline.recipe import period_bounds

        _name(self.name)
        _positive(self.tile_size, "tile_size")
        period_bounds(self.begin, self.end)


@dataclass(frozen=True)
class SegmentRequest:
    """``segment``: objects of ``product`` over ``area``, stored as segmentation ``name``.

    Attributes
    ----------
    product : str
        Input product (features; nodata and NaN are masked).
    name : str
        The segmentation (and its label product).
    area : odc.geo.geom.Geometry
    algorithm : str
        A segmenter of :data:`antares.segmentation.SEGMENTERS`.
    params : dict, optional
        The algorithm's parameters, checked against its declaration.
    bands : sequence of str, optional
        Measurements to segment on (default: all).
    tile_size, margin : int
        Tile side and stability margin, pixels of the product's grid; ``tile_size > 2 * margin``.
    scheduler, workers, overwrite, outdir :
        As for :class:`RecipeRequest`.
    labels : dict, optional
        Free labels recorded with the run (antares3's year and data source).
    time : str, optional
        The date (YYYY-MM-DD) to segment when the product has several in the area.
    segmenter : antares.segmentation.base.Segmenter
        Not given: the validated segmenter, made once here and sent to every window.

    Raises
    ------
    UsageError
        ``name`` breaks the name rule; ``tile_size`` not larger than twice ``margin``; an unknown
        algorithm or parameter, or a parameter out of its range.
    InvalidInputError
        ``time`` is not a date.
    """

    product: str
    name: str
    area: object
    algorithm: str
    params: dict | None = None
    bands: tuple | None = None
    tile_size: int = 1024
    margin: int = 64
    scheduler: str | None = None
    workers: int | None = None
    overwrite: bool = False
    outdir: str | None = None
    labels: dict | None = None
    time: str | None = None
    segmenter: object = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        from antares.pipeline.recipe import period_bounds
        from antares.segmentation import get_segmenter

        _name(self.name)
        if not isinstance(self.margin, int) or not isinstance(self.tile_size, int) or self.margin < 0 \
                or self.tile_size <= 2 * self.margin:
            raise refusal(f"tile_size must be larger than twice margin. Got {self.tile_size} and {self.margin}.",
                          "tile_size", "margin")
        if self.time is not None:
            period_bounds(self.time, self.time)
        params = dict(self.params or {})
        _freeze(self, params=params, bands=tuple(self.bands) if self.bands else None,
                labels=dict(self.labels or {}), segmenter=get_segmenter(self.algorithm, **params))


@dataclass(frozen=True)
class SampleRequest:
    """Features of the samples of training set ``training_set`` from ``product`` (:func:`~antares.pipeline.train.training_features`).

    Attributes
    ----------
    product, training_set : str
    area : odc.geo.geom.Geometry, optional
        Only samples intersecting it.
    aggregation : {'mean', 'median', 'min', 'max', 'std'} or 'pNN' (a percentile, as numpy.nanpercentile)
    with_pixels : bool
        Also return every covered pixel (for ``unit='pixels'``).
    scheduler, workers :
        As for :class:`RecipeRequest`.
    tile_size : int
        Tile side in pixels.
    time : (begin, end), optional
        The product's period, when it has several.
    series : bool
        Read every time of the period (a time-series product's steps): features and pixels hold
        ``T * C`` values, time-major, and the times are returned.

    Raises
    ------
    UsageError
        Unknown aggregation; ``tile_size`` < 1.
    InvalidInputError
        ``time`` is not a pair of dates in order.
    """

    product: str
    training_set: str
    area: object = None
    aggregation: str = "mean"
    with_pixels: bool = False
    scheduler: str | None = None
    workers: int | None = None
    tile_size: int = 1024
    time: tuple | None = None
    series: bool = False

    def __post_init__(self):
        _aggregation(self.aggregation)
        _positive(self.tile_size, "tile_size")
        _freeze(self, time=_period(self.time))


@dataclass(frozen=True)
class FitRequest:
    """``model_fit``: a ``kind`` classifier fitted on training set ``training_set``'s features from ``product``.

    Attributes
    ----------
    kind : str
        A model of :data:`antares.models.registry.MODELS` (``rf``, ``lightgbm``, a plugin's).
    product, training_set, name : str
    area : odc.geo.geom.Geometry, optional
    aggregation : {'mean', 'median', 'min', 'max', 'std'} or 'pNN' (a percentile, as numpy.nanpercentile)
    unit : {'polygons', 'pixels', 'segments'}
        ``segments``: one sample per segment of ``segmentation`` that lies by more than half of its
        pixels (centres) inside one training polygon, labelled with its class (grouped by polygon in CV).
    sample, per_class : optional
        Stratified subsample: a fraction (0, 1] of each class, at most N per class.
    seed : int
    cv : int, optional
        K-fold cross-validation, K >= 2.
    cv_spatial : float, optional
        Spatial block size in metres (> 0).
    grid_specs, extra : sequence of 'k=v1,v2' / 'k=v'
        Grid search values and estimator parameters.
    scheduler, workers, tile_size, time :
        As for :class:`SampleRequest`.
    overwrite : bool
        Replace a stored model of ``name``.
    categorical : sequence of str
        Measurements holding category codes (native categorical features of LightGBM and
        XGBoost, one-hot encoded for the others; antares3's ``-categorical_variables``).
    remove_outliers : bool
        Drop, per class, the ``contamination`` share of samples an IsolationForest finds most
        anomalous before the fit (antares3's ``--remove-outliers``).
    contamination : float in (0, 0.5]
        Default 0.25 (antares3's).
    table_file : str, optional
        Write the training table (X, y) to this Parquet file instead of fitting; ``kind`` and
        ``name`` may then be None (antares3's ``-filename``).
    segmentation : str, optional
        The segmentation (on the product's grid) of ``unit='segments'``.
    params, grid : dict
        Not given: ``extra`` and ``grid_specs`` parsed and checked against the estimator.

    Raises
    ------
    UsageError
        ``name`` breaks the name rule; unknown aggregation, unit, model or parameter; a value
        out of range (the message names the field, e.g. ``cv_spatial must be ...``).
    InvalidInputError
        ``time`` is not a pair of dates in order.
    """

    kind: str
    product: str
    training_set: str
    name: str
    area: object = None
    aggregation: str = "mean"
    unit: str = "polygons"
    sample: float | None = None
    per_class: int | None = None
    seed: int = 0
    cv: int | None = None
    cv_spatial: float | None = None
    grid_specs: tuple = ()
    extra: tuple = ()
    scheduler: str | None = None
    workers: int | None = None
    tile_size: int = 1024
    time: tuple | None = None
    overwrite: bool = False
    categorical: tuple = ()
    remove_outliers: bool = False
    contamination: float = 0.25
    table_file: str | None = None
    segmentation: str | None = None
    params: dict = field(init=False, repr=False, compare=False)
    grid: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        from antares.models.fitting import parse_grid
        from antares.models.registry import make_estimator, parse_params

        if not 0 < self.contamination <= 0.5:
            raise refusal(f"contamination must be a fraction in (0, 0.5]. Got {self.contamination!r}.", "contamination")
        categorical = tuple(self.categorical or ())
        if self.table_file is not None and self.kind is None:  # the training table only: no estimator to check
            if self.grid_specs or self.extra or self.cv:
                raise refusal("extra, grid_specs and cv need a kind (a model to fit); the training table "
                              "(table_file) takes none of them.", "extra", "grid_specs", "cv", "kind", "table_file")
            _aggregation(self.aggregation)
            self._check_unit()
            if self.name is not None:
                _name(self.name)
            _freeze(self, grid_specs=(), extra=(), time=_period(self.time), params={}, grid={}, categorical=categorical)
            return
        if self.kind is None or self.name is None:
            missing = [f for f in ("kind", "name") if getattr(self, f) is None]
            raise refusal(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} needed to fit a model "
                          "(only table_file, writing the training table, goes without).", *missing)
        _name(self.name)
        _aggregation(self.aggregation)
        self._check_unit()
        if self.cv_spatial is not None and not self.cv_spatial > 0:
            raise refusal(f"cv_spatial must be a block size > 0 in metres. Got {self.cv_spatial}.", "cv_spatial")
        if self.cv is not None and (isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv < 2):
            raise refusal(f"cv must be at least 2. Got {self.cv!r}.", "cv")
        if self.sample is not None and not 0 < self.sample <= 1:
            raise refusal(f"sample must be a fraction in (0, 1]. Got {self.sample!r}.", "sample")
        if self.per_class is not None:
            _positive(self.per_class, "per_class")
        _positive(self.tile_size, "tile_size")
        grid_specs, extra = tuple(self.grid_specs or ()), tuple(self.extra or ())
        try:
            params = parse_params(self.kind, extra, option="extra")
        except UsageError as exc:
            exc.fields = ("extra",)
            raise
        grid = parse_grid(self.kind, grid_specs)
        make_estimator(self.kind, params, self.seed)
        _freeze(self, grid_specs=grid_specs, extra=extra, time=_period(self.time), params=params, grid=grid,
                categorical=categorical)

    def _check_unit(self) -> None:
        if self.unit not in UNITS:
            raise refusal(f"unit must be polygons, pixels or segments. Got {self.unit!r}.", "unit")
        if (self.unit == "segments") != (self.segmentation is not None):
            raise refusal("unit 'segments' needs segmentation (its samples are segments), and segmentation needs "
                          f"unit 'segments'. Got unit {self.unit!r} and segmentation {self.segmentation!r}.",
                          "unit", "segmentation")
        _object_features(self.aggregation, self.unit, self.categorical)

    def samples(self) -> SampleRequest:
        """The request for the training samples' features this fit needs."""
        return SampleRequest(self.product, self.training_set, self.area, self.aggregation, self.unit == "pixels",
                             self.scheduler, self.workers, self.tile_size, self.time)


@dataclass(frozen=True)
class PredictRequest:
    """``model_predict_object``: every object of ``segmentation`` classified by ``model`` from ``product``.

    Attributes
    ----------
    product, model, segmentation, name : str
    area : odc.geo.geom.Geometry, optional
        Only the segmentation's tiles intersecting it.
    aggregation : str, optional
        Per-object aggregation (default: the model's).
    scheduler, workers, time, overwrite :
        As for :class:`FitRequest`.
    trust_pickle : bool
        Load (and re-save with skops) a model stored as a pickle.

    Raises
    ------
    UsageError
        ``name`` breaks the name rule.
    InvalidInputError
        Unknown aggregation; ``time`` is not a pair of dates in order.
    """

    product: str
    model: str
    segmentation: str
    name: str
    area: object = None
    aggregation: str | None = None
    scheduler: str | None = None
    workers: int | None = None
    time: tuple | None = None
    overwrite: bool = False
    trust_pickle: bool = False

    def __post_init__(self):
        _name(self.name)
        if self.aggregation is not None:
            _aggregation(self.aggregation, InvalidInputError)
        _freeze(self, time=_period(self.time))


@dataclass(frozen=True)
class PixelRequest:
    """``model_predict``: every pixel of ``product`` classified by ``model`` into product ``name``.

    Attributes
    ----------
    product, model, name : str
    area : odc.geo.geom.Geometry, optional
    time : (begin, end), optional
    scheduler, workers, overwrite, outdir, trust_pickle :
        As for :class:`RecipeRequest` and :class:`PredictRequest`.

    Raises
    ------
    UsageError
        ``name`` breaks the name rule.
    InvalidInputError
        ``time`` is not a pair of dates in order.
    """

    product: str
    model: str
    name: str
    area: object = None
    time: tuple | None = None
    scheduler: str | None = None
    workers: int | None = None
    overwrite: bool = False
    outdir: str | None = None
    trust_pickle: bool = False

    def __post_init__(self):
        _name(self.name)
        _freeze(self, time=_period(self.time))


@dataclass(frozen=True)
class ViewRequest:
    """``view``: layers ``names`` on one self-contained HTML map written to ``path``.

    Attributes
    ----------
    names : tuple of str
        Layer names or ``KIND:NAME`` (:mod:`antares.pipeline.view`), each once, in drawing order.
    path : str or path-like
        The ``.html`` (or ``.htm``) file.
    basemap : {None, "osm"}
    measurement, time, cmap : str, optional
        Product layers: one measurement with the matplotlib colour map ``cmap``, and the date.
    max_objects, raster_size : int
        Most objects drawn as vectors per layer, and the larger side (pixels) of an image layer.
    overwrite : bool

    Raises
    ------
    UsageError
        No name or a name twice, a ``path`` not ending in .html, an unknown basemap or colour map,
        ``max_objects`` < 1 or ``raster_size`` < 16.
    """

    names: tuple
    path: object
    basemap: str | None = None
    overwrite: bool = False
    measurement: str | None = None
    time: str | None = None
    cmap: str = "viridis"
    max_objects: int = 50_000
    raster_size: int = 2048

    def __post_init__(self):
        from pathlib import Path

        import matplotlib

        names = (self.names,) if isinstance(self.names, str) else tuple(self.names)
        if not names:
            raise refusal("names must give at least one layer (a classification, segmentation, sample set, change "
                          "detection or product).", "names")
        if len(set(names)) != len(names):
            raise refusal(f"names must name each layer once. Got {' '.join(names)}.", "names")
        if Path(self.path).suffix.lower() not in (".html", ".htm"):
            raise refusal(f"path must be a file name ending in .html (the map is an HTML page). Got {str(self.path)!r}.",
                          "path")
        from antares.export.webmap import BASEMAPS

        if self.basemap is not None and self.basemap not in BASEMAPS:
            raise refusal(f"basemap must be None or one of {', '.join(BASEMAPS)}. Got {self.basemap!r}.", "basemap")
        if self.cmap not in matplotlib.colormaps:
            raise refusal(f"cmap must be a matplotlib colour map, e.g. viridis, magma, RdYlGn. Got {self.cmap!r}.", "cmap")
        _positive(self.max_objects, "max_objects")
        _positive(self.raster_size, "raster_size", 16)
        _freeze(self, names=names)


def takes(request_type: type):
    """Decorate a stage ``stage(settings, request, progress=None)`` to also accept the request's fields.

    ``stage(settings, request)`` runs the request; ``stage(settings, *fields, **fields)``
    (the positional-and-keyword form of the Python API before requests) builds
    ``request_type(*fields, **fields)`` first, so it is validated the same way. The
    signature shown (``inspect.signature``) is the stage's own.
    """
    def wrap(stage):
        @functools.wraps(stage)
        def call(settings, *args, progress=None, **fields):
            if args and len(args) <= 2 and not fields and isinstance(args[0], request_type):
                request = args[0]
                if len(args) == 2:  # stage(settings, request, progress): the signature shown
                    progress = args[1]
            else:
                request = request_type(*args, **fields)
            return stage(settings, request, progress)
        return call
    return wrap
