"""Requests of the time-series stages: ``monitor`` and ``model_fit_timeseries``.

The same pattern as :mod:`antares.pipeline.requests` (frozen dataclasses validated when
made, messages naming the request's fields, rewritten into flag names by the CLI with
:func:`antares.cli.options.flag_names`); the helpers are shared from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from antares.errors import InvalidInputError, UsageError
from antares.pipeline.requests import _freeze, _name, _positive, refusal

SENSORS = ("s1", "s2")
BLOCK = 256  # pixels per side of a monitor block: 140 dates x 256^2 x float64 = 73 MB


def check_periods(history: tuple, monitoring: tuple):
    """The bounds ``(h0, h1, m0, m1)`` (UTC datetimes) of both periods; the monitoring must begin after the history ends.

    Raises
    ------
    InvalidInputError
        A date that cannot be parsed, a period that ends before it begins, or a monitoring period
        that does not begin after the history (fields ``monitoring`` and ``history``).
    """
    from antares.pipeline.recipe import period_bounds

    h0, h1, _ = period_bounds(*history)
    m0, m1, _ = period_bounds(*monitoring)
    if m0 <= h1:
        raise refusal(f"monitoring {monitoring[0]} {monitoring[1]} must begin after history "
                      f"{history[0]} {history[1]} ends.", "monitoring", "history", error=InvalidInputError)
    return h0, h1, m0, m1


def _pair(value, field_name: str) -> tuple:
    if isinstance(value, str) or len(value) != 2:
        raise refusal(f"{field_name} must be a (begin, end) pair of dates YYYY-MM-DD. Got {value!r}.", field_name)
    return tuple(value)


@dataclass(frozen=True)
class MonitorRequest:
    """``monitor``: breaks in ``product``'s ``index`` over ``area``, tile by tile, into product ``name``.

    Attributes
    ----------
    product : str
        An indexed product with the bands ``index`` needs and an SCL measurement.
    name : str
        Output product.
    area : odc.geo.geom.Geometry
    index : str
        An index of :data:`antares.recipes.indices.INDICES` (``ndvi``, ``nbr`` ...), any case.
    history, monitoring : (str, str)
        First and last day (YYYY-MM-DD, inclusive) of the stable history and of the monitoring;
        kept as ``YYYY-MM-DD`` strings.
    method : str
        A method of :data:`antares.monitor.METHODS`; ``params`` its parameter values.
    scl_keep : sequence of int
        SCL classes of clear observations.
    dilate : int
        Pixels by which the masked region grows per date.
    scheduler, workers, overwrite, outdir :
        As for :class:`antares.pipeline.requests.RecipeRequest`.
    tile_size : int
        Tile side in pixels of the product's native grid.
    block : int
        Block side in pixels each task reads at a time.
    segmentation, table : str, optional
        A segmentation on the product's grid, summarised per object into the CSV ``table``.
    values : dict
        Not given: every parameter of the method, checked (defaults filled in).
    recipe : antares.recipes.Recipe
        Not given: the clear-observation rules and band aliases (:func:`antares.pipeline.monitor.mask_recipe`).
    bounds : tuple of datetime
        Not given: ``(h0, h1, m0, m1)`` of :func:`check_periods`.

    Raises
    ------
    UsageError
        ``name`` breaks the name rule; unknown index, method or parameter, or a parameter out of
        range; ``tile_size`` or ``block`` < 1.
    InvalidInputError
        A date that cannot be parsed; the monitoring does not begin after the history ends; SCL
        classes or dilation out of range.
    """

    product: str
    name: str
    area: object
    index: str
    history: tuple
    monitoring: tuple
    method: str = "ewma"
    params: dict | None = None
    scl_keep: tuple = (4, 5, 6, 7)
    dilate: int = 0
    scheduler: str | None = None
    workers: int | None = None
    overwrite: bool = False
    outdir: str | None = None
    tile_size: int = 2048
    block: int = BLOCK
    segmentation: str | None = None
    table: str | None = None
    values: dict = field(init=False, repr=False, compare=False)
    recipe: object = field(init=False, repr=False, compare=False)
    bounds: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        from antares.monitor import METHODS
        from antares.pipeline.monitor import mask_recipe

        _name(self.name)
        plugin = METHODS.get(self.method, "method")
        params = dict(self.params or {})
        values = plugin.check(params)
        recipe = mask_recipe(self.product, self.index, self.scl_keep, self.dilate)
        history, monitoring = _pair(self.history, "history"), _pair(self.monitoring, "monitoring")
        bounds = check_periods(history, monitoring)
        _positive(self.tile_size, "tile_size")
        _positive(self.block, "block")
        _freeze(self, params=params, values=values, recipe=recipe, bounds=bounds,
                history=tuple(str(d)[:10] for d in history), monitoring=tuple(str(d)[:10] for d in monitoring),
                scl_keep=tuple(int(c) for c in self.scl_keep))


@dataclass(frozen=True)
class TimeSeriesFitRequest:
    """``model_fit_timeseries``: a temporal deep model ``name`` fitted on the series of a sample table.

    Attributes
    ----------
    name : str
        The model.
    path : str or path or None
        Sample time-series table (see :func:`antares.deep.table.read_table`); None with ``training``.
    label : str or None
        Column with the class names (None: the one ``mapping`` names; not used with ``training``).
    kind : str
        A pixel-set model of :data:`antares.models.registry.MODELS` (``pse_tae``, ``ltae``, ``tempcnn``).
    sensors : sequence of {'s1', 's2'}
        One or both, each once.
    fusion : {'early', 'pse', 'tsa', 'decision'}, optional
        Needed (only) with two sensors.
    interpolate, device, seed :
        As the model parameters of the same names (``extra`` may set the others).
    extra : sequence of 'k=v'
        Model parameters.
    min_samples : int
        Classes with fewer samples in the table are left out (at least 2).
    scheme : str, optional
        Class scheme (default: the model's name).
    overwrite : bool
        Replace a stored model of ``name``.
    mapping : str or path, optional
        YAML mapping of a long table (one row per sample and date; :mod:`antares.deep.long_table`).
    training : str, optional
        A stored training set of time series (``ingest_training --timeseries``) instead of ``path``.
    params : dict
        Not given: ``extra`` parsed, with ``interpolate``, ``device`` and ``fusion``, checked by the model.

    Raises
    ------
    UsageError
        ``name`` or ``scheme`` breaks the name rule; a kind that is not a pixel-set model; unknown
        parameters or values out of range; sensors that are not one or both of s1, s2; fusion with
        one sensor or none with two; ``min_samples`` < 2; both or neither of ``path`` and ``training``.
    """

    name: str
    path: object
    label: str
    kind: str
    sensors: tuple
    fusion: str | None = None
    interpolate: str = "nn"
    device: str = "auto"
    extra: tuple = ()
    seed: int = 0
    min_samples: int = 2
    scheme: str | None = None
    overwrite: bool = False
    mapping: object = None
    training: str | None = None
    params: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        from antares.models.registry import MODELS, make_estimator, model_kind, parse_params

        _name(self.name)
        if (self.path is None) == (self.training is None):
            raise refusal("give either path (a sample time-series table) or training (a stored training set of "
                          "time series).", "path", "training")
        if self.training is not None:
            if self.mapping is not None or self.label is not None:
                raise refusal("label and mapping are for a table path; a stored training set has its classes.",
                              "label", "mapping")
        elif self.label is None and self.mapping is None:
            raise refusal("label (the column with the class names) is needed unless a mapping names it.", "label")
        if self.kind not in MODELS or model_kind(self.kind).inputs != "pixel_sets":
            pixel = [k for k in MODELS if model_kind(k).inputs == "pixel_sets"]
            raise refusal(f"kind {self.kind!r} is not a pixel-set time-series model; valid: {', '.join(pixel)}.",
                          "kind")
        extra = tuple(self.extra or ())
        try:
            params = parse_params(self.kind, extra, option="extra")
        except UsageError as exc:
            exc.fields = ("extra",)
            raise
        params.setdefault("interpolate", self.interpolate)
        params.setdefault("device", self.device)
        sensors = (self.sensors,) if isinstance(self.sensors, str) else tuple(self.sensors)
        if not sensors or len(set(sensors)) != len(sensors) or not set(sensors) <= set(SENSORS):
            raise refusal(f"sensors must be one or both of s1, s2, each once. Got {self.sensors!r}.", "sensors")
        if len(sensors) == 2 and self.fusion is None:
            raise refusal(f"sensors {','.join(sensors)} needs fusion early, pse, tsa or decision.", "sensors", "fusion")
        if len(sensors) == 1 and self.fusion is not None:
            raise refusal(f"fusion {self.fusion} needs two sensors; got {sensors[0]}.", "fusion")
        if self.fusion:
            params["fusion"] = self.fusion
        make_estimator(self.kind, params, self.seed)  # every value checked before any work
        if self.scheme is not None:
            _name(self.scheme, "scheme")
        if isinstance(self.min_samples, bool) or not isinstance(self.min_samples, int) or self.min_samples < 2:
            raise refusal(f"min_samples must be at least 2. Got {self.min_samples!r}.", "min_samples")
        _freeze(self, extra=extra, sensors=sensors, params=params)


@dataclass(frozen=True)
class SeriesSetRequest:
    """``ingest_training --timeseries``: the labelled series of a sample table stored as training set ``name``.

    Attributes
    ----------
    name : str
        The training set.
    path : str or path
        Sample time-series table (see :func:`antares.deep.table.read_table`): wide (WorldCereal
        columns) or, with ``mapping``, long.
    label : str or None
        Column with the class names (None: the one ``mapping`` names).
    mapping : str or path, optional
        YAML mapping of a long table (:mod:`antares.deep.long_table`).
    scheme : str, optional
        Class scheme to use or create (default: ``name``).
    legend_file : str or path, optional
        CSV or YAML legend for a new scheme.
    overwrite : bool
        Replace a stored series set of ``name``.

    Raises
    ------
    UsageError
        ``name`` or ``scheme`` breaks the name rule; neither ``label`` nor ``mapping``.
    """

    name: str
    path: object
    label: str | None = None
    mapping: object = None
    scheme: str | None = None
    legend_file: object = None
    overwrite: bool = False

    def __post_init__(self):
        _name(self.name)
        if self.scheme is not None:
            _name(self.scheme, "scheme")
        if self.label is None and self.mapping is None:
            raise refusal("label (the column with the class names) is needed unless a mapping names it.", "label")
