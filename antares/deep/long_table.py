"""Long-format sample tables: one row per (sample, date), with a small YAML mapping of the columns.

A long table (parquet or CSV) has a sample identifier column, a label column, a date column and one
column per channel. A mapping file names them and declares the dates (time steps) of the series::

    sample_id: sample_id          # column of sample identifiers
    label: sampling_label         # column of class names (optional: the --label flag / labels argument)
    date: date                    # column of dates (YYYY-MM-DD; a time of day is dropped)
    dates: [2016-12-01, 2017-01-01, 2017-02-01]   # the declared steps, or
    # start: 2016-12-01           # monthly steps from start (WorldCereal's steps) ...
    # steps: 12                   # ... this many
    nodata: 65535                 # optional: this value is no data (NaN is always no data)
    channels:                     # column: sensor/channel (sensors s1, s2)
      B02: s2/B02
      VV: s1/VV

Each sample may have any subset of the declared dates (irregular sampling); a date that is not a
declared step is refused. Missing steps and no-data values are filled by linear interpolation in
time (:func:`antares.deep.data.fill_gaps`) as in the wide tables, so a long table holding the same
values as a wide WorldCereal table gives the same arrays (channels in sorted order, samples in order
of first appearance). Values are taken as they are (no decoding: S1 in dB, S2 as stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antares.deep.data import SENSORS, SensorSeries, fill_gaps
from antares.errors import InvalidInputError

KEYS = {"sample_id", "label", "date", "dates", "start", "steps", "nodata", "channels"}


@dataclass(frozen=True)
class LongMapping:
    """The columns and declared dates of a long table (see the module docstring).

    Attributes
    ----------
    sample_id, date : str
        Column names.
    label : str or None
        Column of class names (None: given by the caller).
    dates : ndarray (T,) datetime64[D]
        Declared steps, strictly increasing.
    channels : dict {column: (sensor, channel)}
    nodata : float or None
    source : str
        The mapping file (for messages).
    """

    sample_id: str
    date: str
    label: str | None
    dates: np.ndarray
    channels: dict
    nodata: float | None
    source: str

    @property
    def days(self) -> np.ndarray:
        """Days of the declared dates since 1 January of the first date's year, int64 (T,)."""
        first = np.datetime64(str(self.dates[0])[:4] + "-01-01", "D")
        return (self.dates - first).astype(np.int64)


def _dates(raw, source: str) -> np.ndarray:
    try:
        return np.array([np.datetime64(str(d)[:10], "D") for d in raw])
    except ValueError as exc:
        raise InvalidInputError(f"{source}: 'dates' must be dates YYYY-MM-DD; {exc}.") from None


def read_mapping(path) -> LongMapping:
    """Read and check a long-table mapping file (YAML).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    LongMapping

    Raises
    ------
    InvalidInputError
        Unreadable file, unknown or missing keys, both or neither of ``dates`` and ``start``/``steps``,
        dates not strictly increasing, a channel target other than ``s1/NAME`` or ``s2/NAME``, or two
        columns for one channel.
    """
    import yaml

    source = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInputError(f"{source} cannot be read as a YAML mapping: {type(exc).__name__}: {exc}"[:300]) from None
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{source} must be a YAML mapping with keys sample_id, date, dates (or start and "
                                "steps) and channels.")
    unknown = sorted(set(map(str, doc)) - KEYS)
    if unknown:
        raise InvalidInputError(f"{source} has unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(KEYS))}.")
    missing = [k for k in ("sample_id", "date", "channels") if not doc.get(k)]
    if missing:
        raise InvalidInputError(f"{source} lacks {', '.join(missing)} (the column names of the long table).")
    if ("dates" in doc) == ("start" in doc or "steps" in doc):
        raise InvalidInputError(f"{source} must declare the steps either as 'dates: [YYYY-MM-DD, ...]' or as "
                                "'start: YYYY-MM-DD' with 'steps: N' (monthly), not both or neither.")
    if "dates" in doc:
        if not isinstance(doc["dates"], list) or not doc["dates"]:
            raise InvalidInputError(f"{source}: 'dates' must be a non-empty list of dates YYYY-MM-DD.")
        dates = _dates(doc["dates"], source)
    else:
        steps = doc.get("steps")
        if "start" not in doc or not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise InvalidInputError(f"{source}: monthly steps need 'start: YYYY-MM-DD' and 'steps' an int >= 1. "
                                    f"Got start={doc.get('start')!r}, steps={steps!r}.")
        start = _dates([doc["start"]], source)[0]
        day = start - np.datetime64(str(start)[:7] + "-01", "D")
        dates = (np.datetime64(str(start)[:7], "M") + np.arange(steps)).astype("datetime64[D]") + day
    if len(dates) > 1 and not np.all(np.diff(dates) > np.timedelta64(0, "D")):
        raise InvalidInputError(f"{source}: the declared dates must increase strictly; got "
                                f"{', '.join(str(d) for d in dates[:6])}{'...' if len(dates) > 6 else ''}.")
    if not isinstance(doc["channels"], dict):
        raise InvalidInputError(f"{source}: 'channels' must map columns to sensor/channel (B02: s2/B02).")
    channels, seen = {}, {}
    for column, target in doc["channels"].items():
        parts = str(target).split("/")
        if len(parts) != 2 or parts[0] not in SENSORS or not parts[1]:
            raise InvalidInputError(f"{source}: channel column {column} maps to {target!r}; expected "
                                    f"SENSOR/CHANNEL with SENSOR one of {', '.join(SENSORS)} (e.g. s2/B02).")
        if tuple(parts) in seen:
            raise InvalidInputError(f"{source}: columns {seen[tuple(parts)]} and {column} both map to {target}.")
        seen[tuple(parts)] = column
        channels[str(column)] = tuple(parts)
    nodata = doc.get("nodata")
    if nodata is not None and (isinstance(nodata, bool) or not isinstance(nodata, (int, float))):
        raise InvalidInputError(f"{source}: 'nodata' must be a number. Got {nodata!r}.")
    label = doc.get("label")
    return LongMapping(str(doc["sample_id"]), str(doc["date"]), None if label is None else str(label), dates,
                       channels, None if nodata is None else float(nodata), source)


def long_arrays(frame, mapping: LongMapping, source: str):
    """Pixel sets of one pixel from a long frame whose samples are already chosen.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per (sample, date); the columns of ``mapping`` checked present.
    mapping : LongMapping
    source : str
        The table (for messages).

    Returns
    -------
    sets : dict {sensor: SensorSeries}
        values (N, T, C, 1) float32, gaps filled; channels sorted by name.
    ids : ndarray (N,) of str
        Sample identifiers in order of first appearance.
    rows : ndarray (N,) int
        Each sample's first row in ``frame``.

    Raises
    ------
    InvalidInputError
        A date that is not a declared step (naming the sample, the date and the declared range), a
        missing date, or two rows for one (sample, date).
    """
    import pandas as pd

    when = pd.to_datetime(frame[mapping.date], errors="coerce")
    if when.isna().any():
        bad = int(np.flatnonzero(when.isna().to_numpy())[0])
        raise InvalidInputError(f"{source}: sample {frame[mapping.sample_id].iloc[bad]} has no readable date in "
                                f"column '{mapping.date}' (got {frame[mapping.date].iloc[bad]!r}); expected YYYY-MM-DD.")
    days = when.dt.tz_localize(None).to_numpy().astype("datetime64[D]") if when.dt.tz is not None \
        else when.to_numpy().astype("datetime64[D]")
    step = np.searchsorted(mapping.dates, days)
    inside = (step < len(mapping.dates)) & (mapping.dates[np.minimum(step, len(mapping.dates) - 1)] == days)
    if not inside.all():
        bad = int(np.flatnonzero(~inside)[0])
        raise InvalidInputError(
            f"{source}: sample {frame[mapping.sample_id].iloc[bad]} has date {days[bad]}, not one of the "
            f"{len(mapping.dates)} steps declared in {mapping.source} ({mapping.dates[0]} .. {mapping.dates[-1]}); "
            f"{int((~inside).sum())} row(s) are outside: add their dates to the mapping or drop the rows.")
    ids, sample = np.unique(frame[mapping.sample_id].astype(str).to_numpy(), return_inverse=True)
    first = np.full(len(ids), len(frame))
    np.minimum.at(first, sample, np.arange(len(frame)))
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    sample = rank[sample]
    key = sample * len(mapping.dates) + step
    if len(np.unique(key)) != len(key):
        dup = pd.Series(key).duplicated().to_numpy().argmax()
        raise InvalidInputError(f"{source}: sample {ids[order][sample[dup]]} has two rows for date {days[dup]}; "
                                "expected one row per (sample, date).")
    sets = {}
    for sensor in sorted({s for s, _ in mapping.channels.values()}):
        columns = sorted((c for c, (s, _) in mapping.channels.items() if s == sensor),
                         key=lambda c: mapping.channels[c][1])
        values = np.full((len(ids), len(mapping.dates), len(columns)), np.nan)
        for index, column in enumerate(columns):
            got = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
            if mapping.nodata is not None:
                got = np.where(got == mapping.nodata, np.nan, got)
            values[sample, step, index] = got
        sets[sensor] = SensorSeries(fill_gaps(values[..., None], mapping.days), mapping.days,
                                    [mapping.channels[c][1] for c in columns])
    return sets, ids[order], first[order]
