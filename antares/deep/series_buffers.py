"""Labelled pixel-set series as raw buffers, one per sample, and back (the storage of a series training set).

A sample's buffer is the concatenation, sensor by sensor in the layout's order, of its
(T × C × S) float32 values, little-endian, C order: no pickle, no ``.npy`` header, nothing that runs
code on load. The layout (JSON) says how to cut and shape it::

    {"dtype": "<f4", "origin": "2016-01-01",
     "sensors": [{"sensor": "s2", "days": [334, 365, ...], "channels": ["B02", ...], "pixels": 1}, ...]}

``days`` count from ``origin`` (1 January of the first date's year), as
:class:`antares.deep.data.SensorSeries` holds them, so the dates are ``origin + days``.
"""

from __future__ import annotations

import numpy as np

from antares.deep.data import SensorSeries
from antares.errors import InvalidInputError

DTYPE = "<f4"


def pack_series(sets: dict, origin: str | None = None) -> tuple[dict, list[bytes]]:
    """The layout and the per-sample buffers of pixel sets.

    Parameters
    ----------
    sets : dict {sensor: SensorSeries}
        Values (N, T, C, S) float32 per sensor, the same N for every sensor.
    origin : str, optional
        ``YYYY-MM-DD`` from which ``days`` count (recorded for the dates; None when unknown).

    Returns
    -------
    layout : dict
        JSON-able (see the module docstring).
    buffers : list of bytes
        N buffers of ``sum(T * C * S) * 4`` bytes.

    Raises
    ------
    InvalidInputError
        No sensor, or sensors with different numbers of samples.
    """
    if not sets:
        raise InvalidInputError("no series to store: the table has no sensor.")
    sizes = {sensor: len(series) for sensor, series in sets.items()}
    if len(set(sizes.values())) != 1:
        raise InvalidInputError(f"the sensors hold different numbers of samples: "
                                f"{', '.join(f'{k} {v}' for k, v in sizes.items())}.")
    sensors = list(sets)
    layout = {"dtype": DTYPE, "origin": origin, "sensors": [
        {"sensor": s, "days": [int(d) for d in sets[s].days], "channels": list(sets[s].channels),
         "pixels": int(sets[s].values.shape[3])} for s in sensors]}
    n = next(iter(sizes.values()))
    flat = np.concatenate([np.ascontiguousarray(sets[s].values, dtype=DTYPE).reshape(n, -1) for s in sensors], axis=1)
    return layout, [row.tobytes() for row in flat]


def sample_size(layout: dict) -> int:
    """Bytes of one sample's buffer under ``layout``."""
    return 4 * sum(len(s["days"]) * len(s["channels"]) * int(s["pixels"]) for s in layout["sensors"])


def unpack_series(layout: dict, buffers, source: str = "the stored set") -> dict:
    """Pixel sets back from the per-sample buffers of :func:`pack_series`.

    Parameters
    ----------
    layout : dict
    buffers : sequence of bytes (N,)
    source : str
        Named in messages.

    Returns
    -------
    dict {sensor: SensorSeries}
        Values (N, T, C, S) float32, bit for bit as packed.

    Raises
    ------
    InvalidInputError
        A layout of another dtype, or a buffer whose size does not match the layout.
    """
    if layout.get("dtype") != DTYPE:
        raise InvalidInputError(f"{source} holds values of dtype {layout.get('dtype')!r}; this antares reads {DTYPE}.")
    size = sample_size(layout)
    buffers = [bytes(b) for b in buffers]
    wrong = [i for i, b in enumerate(buffers) if len(b) != size]
    if wrong:
        raise InvalidInputError(f"{source}: sample {wrong[0]} holds {len(buffers[wrong[0]])} bytes; its layout needs "
                                f"{size}. The set is damaged: ingest it again.")
    flat = np.frombuffer(b"".join(buffers), dtype=DTYPE).reshape(len(buffers), size // 4)
    sets, start = {}, 0
    for entry in layout["sensors"]:
        shape = (len(entry["days"]), len(entry["channels"]), int(entry["pixels"]))
        width = int(np.prod(shape))
        values = flat[:, start:start + width].reshape(len(buffers), *shape).astype(np.float32)
        sets[entry["sensor"]] = SensorSeries(values, np.asarray(entry["days"], dtype=np.int64), entry["channels"])
        start += width
    return sets


def layout_dates(layout: dict) -> dict:
    """``{sensor: [YYYY-MM-DD, ...]}`` of a layout with an origin (``{}`` without one)."""
    origin = layout.get("origin")
    if not origin:
        return {}
    base = np.datetime64(origin, "D")
    return {s["sensor"]: [str(base + np.timedelta64(int(d), "D")) for d in s["days"]] for s in layout["sensors"]}
