"""Writing products: tiled DEFLATE COGs and eo3 documents, each written atomically."""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

log = logging.getLogger(__name__)


def overview_levels(shape: tuple[int, int], blocksize: int = 512) -> list[int]:
    """Overview factors 2, 4, 8, ... until the image fits one block."""
    levels, factor = [], 2
    while max(shape) / factor >= blocksize / 2 and factor <= 64:
        levels.append(factor)
        factor *= 2
    return levels


def check_output_dir(path: str | Path, option: str = "--outdir", staging_beside: bool = False) -> Path:
    """``path`` as a Path, once it is known that files can be written there; nothing is created.

    Checked before a stage records its run, so that an unwritable output directory fails
    at once with one message instead of in every tile.

    Parameters
    ----------
    path : path
        The output directory (it need not exist yet: its nearest existing parent is checked).
    option : str
        The command-line option named in the message.
    staging_beside : bool
        The stage also writes a staging directory beside ``path``: its parent must be writable.

    Raises
    ------
    InvalidInputError
        ``path`` is a file, or the directory where it (or its staging directory) would be
        written is not writable.
    """
    from antares.errors import InvalidInputError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{option} {path} is a file, not a directory; choose another {option}.")
    where = path.parent if staging_beside else path
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir():
        raise InvalidInputError(f"{option} {path} cannot be created: {where} is a file; choose another {option}.")
    reason = unwritable(where)
    if reason:
        raise InvalidInputError(f"cannot write {option} {path}: directory {where} is not writable ({reason}); "
                                f"choose another {option}.")
    return path


def unwritable(directory: str | Path) -> str | None:
    """Why a file cannot be created in the existing ``directory``, or None if it can.

    Tried with a probe file (removed at once): ``os.access`` says yes to root everywhere, even in /proc.
    """
    probe = Path(directory) / f".antares-probe-{uuid.uuid4().hex[:8]}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file atomically (a temporary file in the same directory, then rename).

    Readers see the old file or the complete new one, never a partial one; the file gets the
    usual permissions (the umask applies). The directory must exist.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_cog(array, path: str | Path, nodata=None, resampling: str = "nearest", blocksize: int = 512,
              zlevel: int | None = None) -> Path:
    """Write a 2-D georeferenced DataArray (y, x) as a tiled DEFLATE COG with overviews.

    The file is written under a temporary name in the same directory and renamed
    into place, so a reader never sees a partial file.

    Parameters
    ----------
    array : xarray.DataArray
        2-D (y, x) with an odc-geo GeoBox (``array.odc.geobox``).
    path : path
        Destination (``.tif``).
    nodata : number, optional
        Nodata value to declare (NaN for float data).
    resampling : str
        Overview resampling (``nearest`` for classes, ``average`` for continuous values).
    zlevel : int, optional
        DEFLATE level 1-9. Default: 1 for floating-point data, whose noisy mantissas the
        floating-point predictor + DEFLATE barely compress further at higher levels (sizes
        within 0.5 % of level 6 on recipe outputs, half the CPU; docs/performance.md), and 6
        for integer data (labels, classes), which compress well.
    """
    import numpy as np
    from odc.geo.cog import write_cog as odc_write_cog

    if zlevel is None:
        zlevel = 1 if np.issubdtype(array.dtype, np.floating) else 6

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        odc_write_cog(
            array, tmp, overwrite=True, blocksize=blocksize, overview_levels=overview_levels(array.shape, blocksize),
            overview_resampling=resampling, nodata=nodata if nodata is not None else "auto", compress="deflate",
            zlevel=zlevel,
        )
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_yaml(doc: dict, path: str | Path) -> Path:
    """Write one YAML document atomically (temp file + rename)."""
    import yaml

    return write_text(path, yaml.safe_dump(doc, sort_keys=False))


def eo3_document(id_, product: str, geobox, measurements: dict[str, str], properties: dict,
                 lineage: dict[str, list] | None = None) -> dict:
    """An eo3 dataset document for files on one GeoBox.

    Parameters
    ----------
    id_ : uuid.UUID
    product : str
    geobox : odc.geo.geobox.GeoBox
        The grid of every measurement (the ``default`` grid).
    measurements : dict
        Measurement name -> file name relative to the document's location.
    properties : dict
        eo3 properties; ``datetime`` is required (a datetime or ISO string).
    lineage : dict, optional
        Classifier -> list of source dataset ids (eo3 lineage).
    """
    import datetime as dt

    props = dict(properties)
    for key, value in props.items():
        if isinstance(value, dt.datetime):
            props[key] = value.isoformat()
    x0, y0, x1, y1 = geobox.extent.boundingbox
    return {
        "$schema": "https://schemas.opendatacube.org/dataset",
        "id": str(id_),
        "product": {"name": product},
        "crs": f"epsg:{geobox.crs.epsg}" if geobox.crs.epsg else geobox.crs.to_wkt(),
        "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]},
        "grids": {"default": {"shape": list(geobox.shape), "transform": list(geobox.affine)[:6] + [0.0, 0.0, 1.0]}},
        "properties": {"odc:file_format": "GeoTIFF", **props},
        "measurements": {name: {"path": fname} for name, fname in measurements.items()},
        "lineage": {k: [str(v) for v in ids] for k, ids in (lineage or {}).items()},
    }
