"""``model_fit_timeseries``: fit a temporal deep model (pse_tae, ltae, tempcnn) on a sample time-series table and store it.

The table path of issue 19 (the cube path, pixel sets from time-series products, comes next): a
parquet table of labelled series (:mod:`antares.deep.table`) → :func:`antares.train.fit_timeseries`
→ one row of the model table: the safetensors blob (weights + JSON config) and the metadata
(legend, sensors, channels, dates, normalisation, training curve, versions). The class scheme is
created from the table's labels, or an existing scheme of that name is used when its class names
cover them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError
from antares.pipeline.requests import takes
from antares.pipeline.series_requests import TimeSeriesFitRequest

log = logging.getLogger(__name__)


@dataclass
class TimeseriesFitReport:
    """What ``model_fit_timeseries`` did, for the CLI."""

    name: str
    kind: str
    samples: int = 0
    per_class: dict = field(default_factory=dict)
    epochs: int = 0
    best_epoch: int | None = None
    val_oa: float | None = None
    scheme: str = ""
    scheme_created: bool = False
    notes: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"model {self.name}: {self.kind} fitted on {self.samples} samples "
               f"({', '.join(f'{k} {v}' for k, v in self.per_class.items())}); scheme {self.scheme}"
               + (" (created)" if self.scheme_created else "")]
        out.append(f"  {self.epochs} epoch(s), best at epoch {self.best_epoch}"
                   + (f", validation overall accuracy {self.val_oa:.3f}" if self.val_oa is not None else ""))
        return out + list(self.notes)


def _scheme(session, scheme_name: str, names: list[str]):
    """(scheme id or None, legend): an existing scheme must hold every class name."""
    from antares.db.training import scheme_id, scheme_legend
    from antares.legend import assign_codes

    existing = scheme_id(session, scheme_name)
    if existing is None:
        _, legend = assign_codes(names, None, "the table", "label")
        return None, legend
    legend = scheme_legend(session, existing)
    known = {e.name.lower() for e in legend}
    missing = sorted({n for n in names if n.lower() not in known})
    if missing:
        raise InvalidInputError(f"class scheme '{scheme_name}' has no class {', '.join(missing)}; its classes: "
                                f"{', '.join(e.name for e in legend)}. Choose another --scheme.")
    return existing, legend


@takes(TimeSeriesFitRequest)
def model_fit_timeseries(settings: Settings, request: TimeSeriesFitRequest, progress=None) -> TimeseriesFitReport:
    """Fit model ``request.name`` of ``request.kind`` on the series of a parquet table and store it in the model table.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.series_requests.TimeSeriesFitRequest
        ``path``: sample time-series table (see :func:`antares.deep.table.read_table`);
        ``label``: column with the class names; ``kind``: ``pse_tae``, ``ltae`` or ``tempcnn``;
        ``sensors``: one or both of ``s1``, ``s2``; ``fusion``: ``early``, ``pse``, ``tsa`` or
        ``decision``, needed (only) with two sensors; ``interpolate``, ``device``, ``seed``: as
        the model parameters of the same names (``extra`` may set the others); ``min_samples``:
        classes with fewer samples in the table are left out (at least 2 are needed per class);
        ``scheme``: class scheme (default: the model's name); ``mapping``: the YAML mapping of a long
        table (one row per sample and date); ``training``: a stored training set of time series
        instead of ``path`` (its class scheme is the model's unless ``scheme`` is given). The old form
        ``model_fit_timeseries(settings, name, path, label, kind, sensors, fusion=..., ...)`` builds it.
    progress : callable, optional
        ``progress(epoch, epochs, loss, val_oa)`` after each epoch.

    Returns
    -------
    TimeseriesFitReport

    Raises
    ------
    UsageError
        A kind that is not a pixel-set model, unknown parameters, fusion with one sensor or none with two
        (raised by the request); ``device='cuda'`` without CUDA.
    AlreadyExistsError
        Model ``name`` exists and ``overwrite`` is False.
    InvalidInputError
        Unreadable table, a sensor it lacks, fewer than 2 classes.
    NotFoundError
        No stored training set ``training``.
    """
    import numpy as np

    from antares.db.engine import session_scope
    from antares.db.models import model_exists, replace_model
    from antares.db.training import create_scheme
    from antares.deep.classifier import resolve_device
    from antares.pipeline.run import recorded_run
    from antares.pipeline.train import _jsonable
    from antares.train import fit_timeseries

    name, kind, sensors, fusion = request.name, request.kind, list(request.sensors), request.fusion
    seed, min_samples, overwrite = request.seed, request.min_samples, request.overwrite
    params = dict(request.params)
    resolve_device(params["device"])
    with recorded_run(settings, "model_fit", name) as run:
        with session_scope(settings) as session:
            if model_exists(session, name) and not overwrite:
                raise AlreadyExistsError(f"model '{name}' exists; use --overwrite to replace it or choose another --name.")
        table, labels, label, origin = _labelled_series(settings, request)
        scheme = request.scheme or origin.get("scheme") or name
        sets = table.select(sensors)
        with session_scope(settings) as session:
            scheme_id, legend = _scheme(session, scheme, sorted(set(table.labels)))
        run.start({"model": kind, **origin["params"], "label": label, "sensors": sensors, "fusion": fusion,
                   "params": params, "seed": seed, "min_samples": min_samples,
                   "mapping": None if request.mapping is None else str(request.mapping)}, origin["inputs"])
        result = fit_timeseries(sets, labels, kind, legend=legend, params=params, seed=seed, progress=progress)
        blob = result.estimator.to_bytes()
        from antares.models.store import deserialize

        back = deserialize(blob, name)  # a blob that cannot be read back is not written
        if not np.array_equal(back.classes_, result.estimator.classes_):
            raise InvalidInputError(f"model '{name}': the stored blob reads back other classes; not stored.")
        config = result.estimator.config
        meta = {
            "features": [], "unit": "pixel_sets", "aggregation": None, "table": origin["table"], "label": label,
            "mapping": None if request.mapping is None else str(request.mapping),
            "legend": [{"code": e.code, "name": e.name, "colour": e.colour} for e in result.legend],
            "classes": config["classes"], "product": origin["product"], "training_set": origin["training_set"],
            "sensors": config["sensors"],
            "fusion": fusion, "params": config["params"], "architecture": config["arch"], "mode": config["mode"],
            "inputs": config["inputs"], "history": config["history"], "best_epoch": config["best_epoch"],
            "samples_per_class": result.samples_per_class, "seed": seed, "versions": config["versions"], "cv": None,
        }
        names = {e.code: e.name for e in result.legend}
        report = TimeseriesFitReport(name, kind, samples=len(table.labels),
                                     per_class={names[c]: n for c, n in result.samples_per_class.items()},
                                     epochs=len(config["history"]), best_epoch=config["best_epoch"],
                                     scheme=scheme, scheme_created=scheme_id is None)
        oas = [h["val_oa"] for h in config["history"] if h.get("epoch") == config["best_epoch"]]
        report.val_oa = oas[0] if oas else None
        with session_scope(settings) as session:  # scheme and model in one transaction
            if not overwrite and model_exists(session, name):
                raise AlreadyExistsError(f"model '{name}' was stored by another process while this one ran; "
                                         "use --overwrite to replace it or choose another --name.")
            if scheme_id is None:
                scheme_id = create_scheme(session, scheme, legend, description=f"from {origin['source']}")
            replace_model(session, name, kind, scheme_id, run.id, origin["product"], blob, _jsonable(meta))
            run.finish(session=session)
        return report


def _labelled_series(settings: Settings, request: TimeSeriesFitRequest):
    """(table, labels, label column, origin) of a fit: a table's classes with ``min_samples`` or more samples.

    ``labels`` are the class names of a table, or the legend codes of a stored training set (whose
    scheme, in ``origin['scheme']``, is the model's by default); ``origin`` holds what the run and
    the model's metadata record of where the series came from.
    """
    import numpy as np

    from antares.deep.table import read_table

    min_samples = request.min_samples
    if request.training is not None:
        from antares.pipeline.series_sets import read_series_set

        stored = read_series_set(settings, request.training)
        present, counts = np.unique(stored.codes, return_counts=True)
        keep = np.isin(stored.codes, present[counts >= min_samples])
        table, labels, label = stored.table.take(np.flatnonzero(keep)), stored.codes[keep], stored.label
        where = f"training set '{request.training}'"
        origin = {"scheme": stored.scheme, "table": stored.source, "product": f"training:{request.training}",
                  "training_set": request.training, "source": where,
                  "params": {"training": request.training}, "inputs": {"training": request.training}}
    else:
        path, label = Path(request.path), request.label
        table = read_table(path, label, min_samples, request.mapping)
        if label is None:
            from antares.deep.long_table import read_mapping

            label = read_mapping(request.mapping).label
        labels, where = table.labels, str(path)
        origin = {"table": str(path), "product": f"table:{path.name}", "training_set": f"{path.name} ({label})",
                  "source": path.name, "params": {"table": str(path)}, "inputs": {"table": str(path)}}
    if len(set(table.labels)) < 2:
        raise InvalidInputError(f"{where}: fewer than 2 classes with at least {min_samples} samples in '{label}'.")
    return table, labels, label, origin


def check_plot_path(path, overwrite: bool = False) -> Path:
    """``path`` made absolute, checked before a fit: an extension matplotlib writes, not existing unless ``overwrite``.

    Raises
    ------
    UsageError
        An extension matplotlib cannot write.
    AlreadyExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    from antares.errors import UsageError
    from antares.export.plots import check_figure_path

    try:
        check_figure_path(path)
    except UsageError as exc:  # its message names -f, the flag of antares plot
        raise UsageError(str(exc).replace("-f ", "--plot ", 1)) from None
    path = Path(path).absolute()
    if path.exists() and not overwrite:
        raise AlreadyExistsError(f"--plot {path} exists; use --overwrite to replace it or choose another file.")
    return path


@dataclass
class TrainingCurveReport:
    """The training-curve figure written by :func:`plot_training_curve` (``figure`` holds its line data)."""

    path: Path
    name: str
    epochs: int
    best_epoch: int | None
    figure: object = None

    def lines(self) -> list[str]:
        return [f"training curve of model {self.name} ({self.epochs} epoch(s), best {self.best_epoch}) written to {self.path}"]


def plot_training_curve(settings: Settings, name: str, path, overwrite: bool = False) -> TrainingCurveReport:
    """Write the training curve of the stored temporal deep model ``name`` as a figure.

    Loss, validation loss and validation overall accuracy per epoch, the best epoch (whose weights
    were kept) marked (:func:`antares.export.plots.training_curve_figure`); matplotlib's Agg canvas,
    written to a temporary file renamed when complete.

    Parameters
    ----------
    settings : antares.config.Settings
    name : str
        A model fitted by ``model_fit_timeseries`` (table or pixel sets).
    path : path-like
        The figure; its extension (png, svg, pdf, ...) gives the format.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    TrainingCurveReport

    Raises
    ------
    UsageError
        An extension matplotlib cannot write.
    AlreadyExistsError
        ``path`` exists and ``overwrite`` is False.
    NotFoundError
        No model ``name``.
    InvalidInputError
        The model has no training curve (not a temporal deep model).
    """
    from antares.export.plots import save_figure, training_curve_figure
    from antares.pipeline.train import load_model

    path = check_plot_path(path, overwrite)
    _, meta = load_model(settings, name, estimator=False)
    history = meta.get("history") or []
    if not history:
        raise InvalidInputError(f"model '{name}' ({meta.get('kind')}) has no training curve; --plot is for the temporal "
                                "deep models of model_fit_timeseries (pse_tae, ltae, tempcnn).")
    figure = training_curve_figure(history, meta.get("best_epoch"),
                                   f"{name}: {meta.get('architecture') or meta.get('kind')}, {meta.get('product')}")
    save_figure(figure, path)
    return TrainingCurveReport(path, name, len(history), meta.get("best_epoch"), figure)
