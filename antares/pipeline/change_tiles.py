"""The detection pass of ``detect_change``: one task per tile on the project's executor.

The change method is fitted once over the area in the command's process (:meth:`ChangeMethod.fit`: the sample
and, for MAF, the neighbour statistics, in one pass over the tiles); the fitted method then travels with every
tile's task, so that all tiles share one transform and one threshold whether they run in this process
(``scheduler='sync'``), on a local dask cluster over TLS, or on an external scheduler
(:func:`antares.pipeline.executor.task_runner`). A task reads its tile of both dates, scores and thresholds it
and writes the score and the change mask into the run's disk-backed arrays; it returns two counts, so a
worker holds one tile at a time and nothing of the size of a tile travels back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["ChangeTileJob", "detect_tile", "create_outputs", "open_output"]

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
        The method fitted over the area.
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


def detect_tile(job: ChangeTileJob) -> tuple[int, int]:
    """Read one tile of both dates, score and threshold it with the fitted method, write it into the arrays.

    Returns
    -------
    (int, int)
        The tile's change pixels and valid pixels.
    """
    from antares.change.base import CHANGE, NODATA
    from antares.cube.catalog import get_datasets
    from antares.cube.features import load_features
    from antares.cube.index import connect

    dc = connect(job.url, app="antares-detect-change")
    try:
        pre = load_features(dc, job.products[0], list(job.bands), job.part, get_datasets(dc, job.datasets[0]))
        post = load_features(dc, job.products[1], list(job.bands), job.part, get_datasets(dc, job.datasets[1]))
    finally:
        dc.close()
    score, change = job.method.detect(pre, post)
    for name, values in (("score", score), ("change", change)):
        out = open_output(job.workdir, name, job.shape, "r+")
        out[job.index] = values
        out.flush()
        del out
    return int(np.count_nonzero(change == CHANGE)), int(np.count_nonzero(change != NODATA))
