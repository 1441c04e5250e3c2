"""Sample time-series tables (labelled series extracted elsewhere) read into pixel sets of one pixel.

Wide columns of the WorldCereal extractions: ``OPTICAL-B02-ts3-10m`` (Sentinel-2 band B02 at time
step 3) and ``SAR-VV-ts3-20m`` (Sentinel-1 VV), with a ``start_date`` column giving the date of
step 0 and monthly steps. Values are WorldCereal's uint16 encoding: 65535 is nodata; S2 is
reflectance × 10000 (kept as it is: the classifier normalises each channel); S1 is decoded to dB
with ``dB = 20·log10(v) − 83`` (``v = 0`` is nodata; WorldCereal's ``src/worldcereal/train/datasets.py``).
Gaps are filled by linear interpolation in time (:func:`antares.deep.data.fill_gaps`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antares.deep.data import SensorSeries, fill_gaps
from antares.errors import InvalidInputError, UsageError

COLUMN = re.compile(r"^(OPTICAL|SAR)-([A-Za-z0-9]+)-ts(\d+)-(\d+m)$")
SENSOR_OF = {"OPTICAL": "s2", "SAR": "s1"}
NODATA = 65535


@dataclass
class SeriesTable:
    """Labelled pixel sets of a sample table.

    Attributes
    ----------
    sets : dict {sensor: SensorSeries}
        ``s2`` and/or ``s1``, values (N, T, C, 1) float32.
    labels : ndarray (N,) of str
    ids : ndarray (N,) of str
        Sample identifiers (``sample_id`` column, else row numbers).
    source : str
    origin : str or None
        ``YYYY-MM-DD`` from which the series' ``days`` count (1 January of the first date's year).
    """

    sets: dict
    labels: np.ndarray
    ids: np.ndarray
    source: str
    origin: str | None = None

    def take(self, index) -> "SeriesTable":
        return SeriesTable({k: v.take(index) for k, v in self.sets.items()}, self.labels[index], self.ids[index],
                           self.source, self.origin)

    def select(self, sensors) -> dict:
        """``{sensor: SensorSeries}`` of ``sensors`` (UsageError naming the table's sensors when one is missing)."""
        missing = [s for s in sensors if s not in self.sets]
        if missing:
            raise UsageError(f"{self.source} has no {', '.join(missing)} series; it has {', '.join(self.sets) or 'none'}.")
        return {s: self.sets[s] for s in sensors}


def month_days(start: str, steps: int) -> np.ndarray:
    """Days of ``steps`` monthly dates from ``start`` (YYYY-MM-DD), counted from 1 January of the start year."""
    start = np.datetime64(str(start)[:10], "D")
    first = np.datetime64(str(start)[:4] + "-01-01", "D")
    months = np.datetime64(str(start)[:7], "M") + np.arange(steps)
    day = start - np.datetime64(str(start)[:7] + "-01", "D")
    return ((months.astype("datetime64[D]") + day) - first).astype(np.int64)


def _frame(path: Path):
    """The table at ``path``: CSV when its name ends in .csv, else parquet."""
    import pandas as pd

    kind = "CSV" if path.suffix.lower() == ".csv" else "parquet"
    try:
        return pd.read_csv(path) if kind == "CSV" else pd.read_parquet(path)
    except (OSError, ValueError, ImportError, pd.errors.ParserError) as exc:
        raise InvalidInputError(f"{path} cannot be read as a {kind} table: {type(exc).__name__}: {exc}"[:300]) from None


def _read_long(path: Path, label, min_samples: int, mapping) -> SeriesTable:
    """A long table (one row per sample and date) read with its mapping (:mod:`antares.deep.long_table`)."""
    from antares.deep.long_table import long_arrays, read_mapping

    spec = read_mapping(mapping)
    label = label or spec.label
    if label is None:
        raise InvalidInputError(f"{spec.source} names no label column and none was given; add 'label: COLUMN' "
                                "to it or give the label column (--label).")
    frame = _frame(path)
    missing = [c for c in dict.fromkeys([spec.sample_id, spec.date, label, *spec.channels]) if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"{path} lacks column(s) {', '.join(missing)} named in {spec.source}; its columns: "
                                f"{', '.join(map(str, frame.columns))}."[:400])
    ids = frame[spec.sample_id].astype(str)
    labelled = frame[label].notna()
    per_sample = frame[labelled].groupby(ids[labelled])[label].nunique()
    if (per_sample > 1).any():
        sample = per_sample.index[(per_sample > 1).to_numpy()][0]
        found = sorted(map(str, frame.loc[ids == sample, label].dropna().unique()))
        raise InvalidInputError(f"{path}: sample {sample} has labels {', '.join(found)} in '{label}'; expected one "
                                "label per sample.")
    first = frame[labelled].groupby(ids[labelled])[label].first()
    counts = first.value_counts()
    keep = first.index[first.isin(counts[counts >= min_samples].index).to_numpy()]
    frame = frame[labelled & ids.isin(keep)].reset_index(drop=True)
    sets, sample_ids, rows = long_arrays(frame, spec, str(path))
    return SeriesTable(sets, frame[label].astype(str).to_numpy()[rows], sample_ids, str(path),
                       str(spec.dates[0])[:4] + "-01-01")


def read_table(path, label, min_samples: int = 1, mapping=None) -> SeriesTable:
    """Read a sample time-series table into labelled pixel sets.

    Without ``mapping``: a wide WorldCereal-style table (parquet, described above). With
    ``mapping``: a long table (parquet, or CSV when the name ends in .csv) of one row per (sample,
    date), its columns and declared dates named by the YAML ``mapping``
    (:mod:`antares.deep.long_table`).

    Parameters
    ----------
    path : str or Path
        A parquet file with ``OPTICAL-*-tsN-*`` and/or ``SAR-*-tsN-*`` columns, ``start_date`` and ``label``;
        or, with ``mapping``, a long table.
    label : str or None
        Column with the class names (e.g. ``sampling_label``); None with a mapping naming it.
    min_samples : int
        Classes with fewer samples are left out.
    mapping : str or Path, optional
        YAML mapping of a long table.

    Returns
    -------
    SeriesTable

    Raises
    ------
    InvalidInputError
        Unreadable file, no series column, missing label or start_date column, several start dates,
        time steps missing for a channel. Long tables: see :func:`antares.deep.long_table.read_mapping`
        and :func:`antares.deep.long_table.long_arrays`; columns named by the mapping missing (named),
        a sample with two labels.
    """
    import pandas as pd

    path = Path(path)
    if mapping is not None:
        return _read_long(path, label, min_samples, mapping)
    if label is None:
        raise InvalidInputError(f"{path}: give the label column (a wide table has no mapping naming it).")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as exc:
        raise InvalidInputError(f"{path} cannot be read as a parquet table: {type(exc).__name__}: {exc}"[:300]) from None
    if label not in frame.columns:
        raise InvalidInputError(f"{path} has no label column '{label}'; columns without time steps: "
                                f"{', '.join(c for c in frame.columns if not COLUMN.match(c))}.")
    if "start_date" not in frame.columns:
        raise InvalidInputError(f"{path} has no start_date column (the date of time step 0).")
    starts = pd.to_datetime(frame["start_date"]).dt.strftime("%Y-%m-%d").unique()
    if len(starts) != 1:
        raise InvalidInputError(f"{path} has {len(starts)} start dates ({', '.join(sorted(starts)[:5])}...); "
                                "split it into one table per start date.")
    frame = frame[frame[label].notna()]
    counts = frame[label].value_counts()
    frame = frame[frame[label].isin(counts[counts >= min_samples].index)].reset_index(drop=True)
    columns: dict = {}
    for column in frame.columns:
        match = COLUMN.match(column)
        if match:
            kind, channel, step, _ = match.groups()
            columns.setdefault(SENSOR_OF[kind], {}).setdefault(channel, {})[int(step)] = column
    if not columns:
        raise InvalidInputError(f"{path} has no time-series column of the form OPTICAL-B02-ts0-10m or SAR-VV-ts0-20m.")
    sets = {}
    for sensor in sorted(columns):
        channels = sorted(columns[sensor])
        steps = sorted(columns[sensor][channels[0]])
        for channel in channels:
            if sorted(columns[sensor][channel]) != steps or steps != list(range(len(steps))):
                raise InvalidInputError(f"{path}: {sensor} channel {channel} has time steps "
                                        f"{sorted(columns[sensor][channel])}; expected 0..{len(steps) - 1} for every channel.")
        raw = np.stack([frame[[columns[sensor][c][t] for t in steps]].to_numpy(np.float64) for c in channels], axis=2)
        values = np.where(raw == NODATA, np.nan, raw)
        if sensor == "s1":
            with np.errstate(divide="ignore"):
                values = np.where(values > 0, 20 * np.log10(values) - 83, np.nan)
        days = month_days(starts[0], len(steps))
        sets[sensor] = SensorSeries(fill_gaps(values[..., None], days), days, channels)
    ids = frame["sample_id"].astype(str).to_numpy() if "sample_id" in frame.columns else np.arange(len(frame)).astype(str)
    return SeriesTable(sets, frame[label].astype(str).to_numpy(), ids, str(path), starts[0][:4] + "-01-01")
