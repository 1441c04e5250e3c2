"""``ingest_training --timeseries``: labelled time series stored as a training set, and read back.

A sample time-series table (wide WorldCereal columns, or long with a YAML mapping;
:mod:`antares.deep.table`) is read and checked as ``model_fit_timeseries --timeseries`` reads it
(gaps filled, S1 decoded), its class names become legend codes of a class scheme, and each sample is
stored as one row of ``antares.series_sample``: class code, sample id and a raw float32 buffer
(:mod:`antares.deep.series_buffers`); the set's row holds the layout (sensors, days, channels).
Everything is written in one transaction, or nothing. ``model_fit_timeseries -t NAME`` and
:meth:`antares.Session.series` read it back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from antares.pipeline.requests import takes
from antares.pipeline.series_requests import SeriesSetRequest

log = logging.getLogger(__name__)


@dataclass
class SeriesSetReport:
    """What ``ingest_training --timeseries`` stored, for the CLI."""

    name: str
    scheme: str
    samples: int = 0
    per_class: dict = field(default_factory=dict)  # class name -> count
    sensors: list = field(default_factory=list)  # one line per sensor
    scheme_created: bool = False
    megabytes: float = 0.0

    def lines(self) -> list[str]:
        out = [f"training set {self.name} (time series): {self.samples} sample(s) in {len(self.per_class)} class(es) "
               f"of scheme {self.scheme}" + (" (new)" if self.scheme_created else "") + f", {self.megabytes:.2f} MB"]
        out += [f"  {s}" for s in self.sensors]
        return out + [f"  {name}: {n}" for name, n in self.per_class.items()]


@dataclass
class StoredSeries:
    """A series training set read back (:func:`read_series_set`).

    Attributes
    ----------
    table : antares.deep.table.SeriesTable
        ``sets`` {sensor: SensorSeries (N, T, C, S) float32}, ``labels`` (class names), ``ids``, ``origin``.
    codes : ndarray (N,) int64
        Legend code per sample.
    legend : list of LegendEntry
        The legend of the set's class scheme.
    scheme : str
    label : str
        The label column of the source table.
    source : str
        The table it was ingested from.
    """

    table: object
    codes: np.ndarray
    legend: list
    scheme: str
    label: str
    source: str


def sensor_lines(layout: dict) -> list[str]:
    """One line per sensor of a layout: dates (first .. last), channels and pixels."""
    from antares.deep.series_buffers import layout_dates

    dates = layout_dates(layout)
    out = []
    for entry in layout["sensors"]:
        span = dates.get(entry["sensor"])
        when = f"{span[0]} .. {span[-1]}" if span else f"days {entry['days'][0]} .. {entry['days'][-1]}"
        out.append(f"{entry['sensor']}: {len(entry['days'])} date(s) {when}, {len(entry['channels'])} channel(s) "
                   f"({', '.join(entry['channels'])}), {entry['pixels']} pixel(s) per sample")
    return out


def series_set_row(row: dict) -> dict:
    """A row of ``antares list training_sets`` for a series set (``series``: per sensor, dates x channels)."""
    layout = row["layout"]
    series = ", ".join(f"{s['sensor']} {len(s['days'])}x{len(s['channels'])}" for s in layout["sensors"])
    return {"name": row["name"], "kind": "training", "scheme": row["scheme"], "samples": row["samples"],
            "classes": row["classes"], "series": series, "year": None, "source": row["source"], "label": row["label"],
            "layout": layout, "created_at": row["created_at"]}


def _refuse_taken(session, name: str, overwrite: bool) -> None:
    from antares.db.series_sets import series_set
    from antares.db.training import sample_set

    if sample_set(session, "training", name) is not None:
        raise AlreadyExistsError(f"training set '{name}' holds polygons (ingest_training FILE); choose another "
                                 "--dataset name for the time series.")
    if series_set(session, name) is not None and not overwrite:
        raise AlreadyExistsError(f"training set '{name}' exists; use --overwrite to replace it or choose another "
                                 "--dataset name.")


@takes(SeriesSetRequest)
def ingest_series(settings: Settings, request: SeriesSetRequest, progress=None) -> SeriesSetReport:
    """Store the labelled series of a sample time-series table as training set ``request.name``.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.series_requests.SeriesSetRequest
        ``path``: the table (wide WorldCereal parquet; or long parquet/CSV with ``mapping``);
        ``label``: column with the class names (default: the mapping's); ``scheme``: class scheme to
        use or create (default: ``name``; an existing scheme must hold every class name);
        ``legend_file``: legend of a new scheme; ``overwrite``.
    progress : callable, optional
        ``progress(done, total)``: samples stored.

    Returns
    -------
    SeriesSetReport

    Raises
    ------
    InvalidInputError
        An unreadable table, missing columns (named), no label column, dates that cannot be parsed or
        are not declared steps, a sample with two labels, no labelled sample, class names outside an
        existing scheme (see :func:`antares.deep.table.read_table`).
    AlreadyExistsError
        A series set ``name`` exists and ``overwrite`` is False, or a polygon training set has that name.
    """
    from antares.db.engine import open_database, session_scope
    from antares.db.series_sets import replace_series_set
    from antares.db.training import create_scheme
    from antares.deep.series_buffers import pack_series, unpack_series
    from antares.deep.table import read_table
    from antares.legend import read_legend
    from antares.pipeline.run import recorded_run
    from antares.pipeline.samples import _resolve_scheme

    name, path, label, mapping = request.name, Path(request.path), request.label, request.mapping
    scheme_name = request.scheme or name
    open_database(settings)
    with session_scope(settings) as session:  # refused before the table is read
        _refuse_taken(session, name, request.overwrite)
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file; give a sample time-series table (parquet, or CSV with --mapping).")
    legend = read_legend(request.legend_file) if request.legend_file else None
    table = read_table(path, label, 1, mapping)
    if label is None:
        from antares.deep.long_table import read_mapping

        label = read_mapping(mapping).label
    if not len(table.labels):
        raise InvalidInputError(f"{path}: no sample has a class in column '{label}'.")
    with session_scope(settings) as session:
        existing, legend, codes = _resolve_scheme(session, scheme_name, legend, list(table.labels), str(path), label)
    layout, buffers = pack_series(table.sets, table.origin)
    back = unpack_series(layout, buffers, str(path))  # what would be read back is what was read
    if any(not np.array_equal(back[s].values, table.sets[s].values, equal_nan=True) for s in table.sets):
        raise InvalidInputError(f"{path}: the packed series do not read back equal; nothing stored.")
    source = str(path.resolve())
    names = {e.code: e.name for e in legend}
    present, counts = np.unique(codes, return_counts=True)
    report = SeriesSetReport(name, scheme_name, samples=len(buffers),
                             per_class={names[int(c)]: int(n) for c, n in zip(present, counts)},
                             sensors=sensor_lines(layout), megabytes=sum(map(len, buffers)) / 1e6)
    params = {"timeseries": source, "label": label, "mapping": None if mapping is None else str(mapping),
              "scheme": scheme_name, "legend_file": None if request.legend_file is None else str(request.legend_file)}
    rows = list(zip(table.ids, (int(c) for c in codes), buffers))
    with recorded_run(settings, "ingest_training", name) as run, \
            session_scope(settings) as session:  # one transaction: the scheme, the set and its samples, or nothing
        _refuse_taken(session, name, request.overwrite)
        scheme = existing
        if scheme is None:
            scheme = create_scheme(session, scheme_name, legend, description=f"from {path.name}")
            report.scheme_created = True
        run.start(params, {"source": source}, session=session)
        replace_series_set(session, name, scheme, source, label, layout, run.id, rows)
        if progress:
            progress(len(rows), len(rows))
        run.finish(session=session)
    return report


def read_series_set(settings: Settings, name: str) -> StoredSeries:
    """Training set ``name`` of labelled time series, read back as pixel sets.

    Parameters
    ----------
    settings : antares.config.Settings
    name : str
        A set stored by :func:`ingest_series` (``antares ingest_training --timeseries``).

    Returns
    -------
    StoredSeries
        The values equal, bit for bit, those :func:`antares.deep.table.read_table` gave at ingest.

    Raises
    ------
    NotFoundError
        No series set ``name`` (the stored ones are listed; a polygon training set of that name is named).
    InvalidInputError
        A damaged set (a buffer that does not match its layout).
    """
    from antares.db.engine import session_scope
    from antares.db.series_sets import list_series_sets, read_series_samples, series_set
    from antares.db.training import sample_set, scheme_legend
    from antares.deep.series_buffers import unpack_series
    from antares.deep.table import SeriesTable

    with session_scope(settings) as session:
        row = series_set(session, name)
        if row is None:
            hint = (" It holds polygons: give a time-series product with -p PRODUCT."
                    if sample_set(session, "training", name) is not None else "")
            stored = [s["name"] for s in list_series_sets(session)]
            raise NotFoundError(f"no training set of time series named '{name}'; they are: {', '.join(stored) or '(none)'}"
                                f" (antares ingest_training --timeseries FILE --field COLUMN -n NAME).{hint}")
        legend = scheme_legend(session, row.scheme_id)
        samples = read_series_samples(session, row.id)
    if len(samples) != row.n_samples:
        raise InvalidInputError(f"training set '{name}' records {row.n_samples} samples but holds {len(samples)}; "
                                "ingest it again.")
    sets = unpack_series(row.layout, [s.series for s in samples], f"training set '{name}'")
    codes = np.array([s.class_code for s in samples], dtype=np.int64)
    names = {e.code: e.name for e in legend}
    labels = np.array([names[int(c)] for c in codes], dtype=object).astype(str)
    ids = np.array([s.sample_id for s in samples], dtype=object).astype(str)
    table = SeriesTable(sets, labels, ids, f"training set '{name}'", row.layout.get("origin"))
    return StoredSeries(table, codes, legend, row.scheme, row.label, row.source)
