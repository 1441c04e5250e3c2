"""The two passes of ``detect_change``: one task per tile on the project's executor, for the fit and for detection.

Fitting pass (:func:`fit_tile`): a task reads its tile of both dates and returns what the tile contributes to
the fit (:meth:`ChangeMethod.fit_part`: the tile's sample candidates, at most ``max_samples`` pixels, and, for
MAF, its neighbour sums and edge rows and columns); the command's process merges the parts as they arrive and
fits the method once (:meth:`ChangeMethod.fit_parts`). Detection pass (:func:`detect_tile`): the fitted method
travels with every tile's task, so that all tiles share one transform and one threshold whether they run in this
process (``scheduler='sync'``), on a local dask cluster over TLS, or on an external scheduler
(:func:`antares.pipeline.executor.task_runner`). A task reads its tile of both dates, scores and thresholds it
and writes the score and the change mask into the run's disk-backed arrays; it returns two counts, so a
worker holds one tile at a time and nothing of the size of a tile travels back.

Each process keeps the last tile a fitting task read (one slot, :func:`_keep`): the detection task of that tile,
if it runs in the same process, scores it without reading it again (the detection jobs go in the reverse order
of the fitting jobs, so that in this process the tile read last is scored first). A detection task that finds
another tile in the slot empties it before reading its own, so a process never holds more than one tile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ChangeTileJob", "fit_tile", "detect_tile", "create_outputs", "open_output", "forget_kept"]

OUTPUTS = {"change": np.uint8, "score": np.float32}  #: the run's disk-backed arrays of the area


@dataclass(frozen=True)
class ChangeTileJob:
    """One tile of the detection pass (picklable).

    Attributes
    ----------
    url : str
        The database of the ODC index.
    products : (str, str)
        The pre and post products.
    bands : tuple of str
    datasets : (tuple of str, tuple of str)
        Ids of the pre and post datasets chosen for the area.
    part : odc.geo.geobox.GeoBox
        The tile's grid.
    index : (slice, slice)
        The tile's rows and columns in the area.
    method : antares.change.base.ChangeMethod
        The method: not yet fitted in the fitting pass, fitted over the area in the detection pass.
    workdir : str
        Folder of the arrays made by :func:`create_outputs`.
    shape : (int, int)
        The area's shape.
    """

    url: str
    products: tuple
    bands: tuple
    datasets: tuple
    part: object
    index: tuple
    method: object
    workdir: str
    shape: tuple


def create_outputs(workdir: str, shape: tuple) -> None:
    """Create the change mask (uint8) and score (float32) arrays of an area, blocks reserved (every tile writes its part).

    Raises
    ------
    antares.errors.WriteError
        The work directory's file system has no room for them.
    """
    from antares.cube.write import reserve_file

    for name, dtype in OUTPUTS.items():
        reserve_file(Path(workdir) / f"{name}.dat", int(np.prod(shape)) * np.dtype(dtype).itemsize,
                     "free some space in $ANTARES_HOME/work or set ANTARES_HOME to a larger disk")


def open_output(workdir: str, name: str, shape: tuple, mode: str = "r") -> np.memmap:
    """The disk-backed array ``name`` (``change`` or ``score``) of the area ``shape``."""
    return np.memmap(Path(workdir) / f"{name}.dat", OUTPUTS[name], mode, shape=tuple(shape))


_KEPT: dict = {}  #: this process's last tile read by fit_tile: {key: (pre, post)}, one entry at most


def _key(job: ChangeTileJob) -> tuple:
    return job.workdir, job.index[0].start, job.index[1].start


def _keep(job: ChangeTileJob, tile: tuple) -> None:
    _KEPT.clear()
    _KEPT[_key(job)] = tile


def forget_kept() -> None:
    """Drop the tile this process kept from the fitting pass (after a run, or when it failed)."""
    _KEPT.clear()


def _read(job: ChangeTileJob) -> tuple:
    from antares.cube.catalog import get_datasets
    from antares.cube.features import load_features
    from antares.cube.index import connect

    dc = connect(job.url, app="antares-detect-change")
    try:
        pre = load_features(dc, job.products[0], list(job.bands), job.part, get_datasets(dc, job.datasets[0]))
        post = load_features(dc, job.products[1], list(job.bands), job.part, get_datasets(dc, job.datasets[1]))
    finally:
        dc.close()
    return pre, post


def fit_tile(job: ChangeTileJob):
    """Read one tile of both dates and return its part of the fit; keep the tile for its detection task.

    Returns
    -------
    antares.change.base.FitPart
        The tile's sample candidates (at most the method's ``max_samples`` pixels) and the method's per-tile
        statistics (:meth:`antares.change.base.ChangeMethod.fit_part`).
    """
    _KEPT.clear()  # the slot's tile, if any, is another run's or an earlier tile's: one tile held at a time
    pre, post = _read(job)
    part = job.method.fit_part(pre, post, (job.index[0].start, job.index[1].start))
    _keep(job, (pre, post))
    return part


def detect_tile(job: ChangeTileJob) -> tuple[int, int]:
    """Score and threshold one tile of both dates with the fitted method, write it into the arrays.

    The tile is the one this process kept from the fitting pass if it is this job's, else read.

    Returns
    -------
    (int, int)
        The tile's change pixels and valid pixels.
    """
    from antares.change.base import CHANGE, NODATA

    tile = _KEPT.pop(_key(job), None)
    _KEPT.clear()  # another tile's: dropped before reading this one
    pre, post = tile if tile is not None else _read(job)
    del tile
    score, change = job.method.detect(pre, post)
    del pre, post
    for name, values in (("score", score), ("change", change)):
        out = open_output(job.workdir, name, job.shape, "r+")
        out[job.index] = values
        out.flush()
        del out
    return int(np.count_nonzero(change == CHANGE)), int(np.count_nonzero(change != NODATA))
