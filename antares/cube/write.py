"""Writing products: tiled DEFLATE COGs and eo3 documents, each written atomically and checked.

Every writer here (and the exports, which use :func:`write_failure` and :func:`count_valid`)
turns a failed write (a full disk, a quota, an I/O error, whether the OS, GDAL or a GDAL
tool reports it) into one :class:`~antares.errors.WriteError` that names the file and the
free space, removes what it wrote, and re-reads what it wrote: a raster whose valid pixels
read back differ from those written is an error, not a result.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

#: errno values of a file system that has no room left (space, quota, file size limit)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _size(nbytes: float) -> str:
    """``nbytes`` in B, KiB, MiB, GiB or TiB: ``'148 KiB'``, ``'1.5 GiB'``."""
    unit = "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            break
        nbytes /= 1024
    return f"{nbytes:.1f} {unit}" if unit != "B" and nbytes < 10 else f"{nbytes:.0f} {unit}"


def free_space(path: str | Path) -> str:
    """``'40 KiB free of 200 KiB on /mnt/out'``: the free space of the file system holding ``path``.

    ``path`` need not exist: its nearest existing parent is measured (``shutil.disk_usage``).
    """
    where = Path(path).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        usage = shutil.disk_usage(where)
    except OSError as exc:
        return f"free space of {where} unknown ({exc.strerror or exc})"
    mount = where
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    return f"{_size(usage.free)} free of {_size(usage.total)} on {mount}"


def is_write_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failed write of a file: an OSError, or an error raised by GDAL (rasterio, pyogrio)."""
    if isinstance(exc, OSError):
        return True
    module = type(exc).__module__ or ""
    return module.startswith(("rasterio", "pyogrio", "sqlite3"))


def write_failure(path: str | Path, exc: BaseException, fix: str = "free some space or write elsewhere"):
    """The :class:`~antares.errors.WriteError` of a failed write of ``path``: the reason and the free space.

    Parameters
    ----------
    path : path
        The file (or directory) that could not be written, as the user named it.
    exc : BaseException
        What the OS or GDAL raised (its message is cut to one line of at most 200 characters).
    fix : str
        What to do, e.g. ``"free some space or choose another --outdir"``.

    Returns
    -------
    WriteError
        ``exc`` itself when it is one already.
    """
    from antares.errors import WriteError

    if isinstance(exc, WriteError):
        return exc
    while "previous exception" in str(exc) and exc.__cause__ is not None:  # rasterio: the cause is GDAL's message
        exc = exc.__cause__
    if isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) and fix.startswith("free some space or "):
            fix = fix[len("free some space or "):]  # not a full disk (a directory in the way, no permission): space is no fix
    else:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
    return WriteError(f"cannot write {path}: {reason}; {free_space(path)}. Nothing of it was kept: {fix}, then re-run.")


def read_back_failure(path: str | Path, got: int, expected: int, what: str,
                      fix: str = "free some space or write elsewhere"):
    """The :class:`~antares.errors.WriteError` of a file that reads back ``got`` of the ``expected`` ``what`` written.

    ``what`` is e.g. ``"valid pixel(s)"`` or ``"feature(s)"``; the free space is named as by
    :func:`write_failure`.
    """
    return write_failure(path, RuntimeError(f"{got} {what} read back of {expected} written"), fix)


def reserve_file(path: str | Path, nbytes: int, fix: str = "free some space or set another ANTARES_HOME") -> Path:
    """Create the file ``path`` of ``nbytes`` bytes with its disk blocks allocated (``posix_fallocate``).

    A memmap over a sparse file dies with SIGBUS when the disk fills while it is written; over
    a reserved file it cannot. The file is created 0600 and must not exist.

    Raises
    ------
    WriteError
        The file system has no room for ``nbytes`` (nothing is left behind).
    """
    path = Path(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        if nbytes > 0 and hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, nbytes)
        elif nbytes > 0:  # macOS has no posix_fallocate: zeros written allocate the blocks too
            chunk = bytes(min(nbytes, 2**20))
            for start in range(0, nbytes, len(chunk)):
                os.write(fd, chunk[:nbytes - start])
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise write_failure(path, OSError(exc.errno, f"{exc.strerror} (it needs {_size(nbytes)})"), fix) from exc
    os.close(fd)
    return path


def count_valid(source, nodata=None) -> int:
    """Pixels of band 1 that are not nodata (nor NaN): of an array, or of a raster file read block by block.

    Parameters
    ----------
    source : numpy.ndarray or path
        An array (y, x) of any dtype, or a raster file (its declared nodata is used; memory is
        one block).
    nodata : number, optional
        For an array: the nodata value (NaN is never counted for floating-point data).

    Returns
    -------
    int

    Raises
    ------
    rasterio.errors.RasterioError
        The file cannot be read (e.g. a block was never written).
    """
    import numpy as np

    def valid(a, nd) -> int:
        good = np.isfinite(a) if np.issubdtype(a.dtype, np.floating) else np.ones(a.shape, bool)
        if nd is not None and not (isinstance(nd, float) and np.isnan(nd)):
            good &= a != nd
        return int(np.count_nonzero(good))

    if isinstance(source, np.ndarray):
        return valid(source, nodata)
    import rasterio

    with rasterio.open(source) as src:
        return sum(valid(src.read(1, window=w), src.nodata) for _, w in src.block_windows(1))


def check_written(path: str | Path, expected: int, name: str | Path | None = None,
                  fix: str = "free some space or write elsewhere") -> None:
    """Re-read the raster ``path`` and compare its valid pixels with the ``expected`` number written.

    Raises
    ------
    WriteError
        The file cannot be read back, or holds another number of valid pixels (``name``, the
        path the user asked for, and the free space are named).
    """
    name = name or path
    try:
        got = count_valid(path)
    except Exception as exc:
        if is_write_failure(exc):
            raise write_failure(name, exc, fix) from exc
        raise
    if got != expected:
        raise read_back_failure(name, got, expected, "valid pixel(s)", fix)


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
    except BaseException as exc:
        error = write_failure(path, exc) if isinstance(exc, OSError) else exc
        tmp.unlink(missing_ok=True)
        if error is not exc:
            raise error from exc
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

    Raises
    ------
    WriteError
        GDAL or the OS could not write the file (a full disk ...), or its valid pixels read back
        differ from the array's; the temporary file is removed and ``path`` left as it was.
    """
    import numpy as np
    import rasterio
    from odc.geo.cog import write_cog as odc_write_cog

    if zlevel is None:
        zlevel = 1 if np.issubdtype(array.dtype, np.floating) else 6

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        odc_write_cog(
            array, tmp, overwrite=True, blocksize=blocksize, overview_levels=overview_levels(array.shape, blocksize),
            overview_resampling=resampling, nodata=nodata if nodata is not None else "auto", compress="deflate",
            zlevel=zlevel,
        )
        with rasterio.open(tmp) as src:
            declared = src.nodata
        check_written(tmp, count_valid(np.asarray(array.values), declared), path,
                      "free some space or choose another --outdir")
        os.replace(tmp, path)
    except BaseException as exc:
        error = write_failure(path, exc, "free some space or choose another --outdir") if is_write_failure(exc) else exc
        tmp.unlink(missing_ok=True)  # after measuring the free space: as it was when the write failed
        if error is not exc:
            raise error from exc
        raise
    return path


def count_valid_bands(path: str | Path) -> list[int]:
    """Per band, the pixels of the raster file ``path`` that are not its nodata (nor NaN), read block by block.

    Every band is read in one pass per block (a pixel-interleaved file decodes each block once).

    Returns
    -------
    list of int
        One count per band, in band order.

    Raises
    ------
    rasterio.errors.RasterioError
        The file cannot be read (e.g. a block was never written).
    """
    import numpy as np
    import rasterio

    with rasterio.open(path) as src:
        counts = np.zeros(src.count, np.int64)
        for _, window in src.block_windows(1):
            block = src.read(window=window)
            for b, nodata in enumerate(src.nodatavals):
                counts[b] += count_valid(block[b], nodata)
    return [int(c) for c in counts]


def write_cog_bands(bands, geobox, path: str | Path, nodata, compress: str = "zstd", level: int = 1,
                    blocksize: int = 512, threads: int = 1) -> Path:
    """Write same-dtype 2-D arrays as the bands of one tiled COG without overviews (GDAL's COG driver).

    The cheap layout for intermediate products that are read back by pixel windows (time-series steps): one
    file for all measurements of one dtype, ZSTD level 1 with the floating-point (float) or horizontal
    (integer) predictor, no overviews (``gdaladdo`` can add them later for viewing). Written under a
    temporary name in the same directory, re-read (every band's valid pixels compared with the arrays')
    and renamed into place, so a reader never sees a partial file.

    Parameters
    ----------
    bands : sequence of numpy.ndarray, each (y, x), one dtype
        Band 1, 2, ... of the file.
    geobox : odc.geo.geobox.GeoBox
        Their grid (shape (y, x), CRS, affine).
    path : path
        Destination (``.tif``).
    nodata : number
        The file's nodata (NaN for float data); the same for every band (a GeoTIFF holds one).
    compress : str
        A GDAL COG ``COMPRESS`` value (``zstd``, ``deflate``, ``lzw``).
    level : int
        The compression level (``LEVEL``); 1 is the fastest.
    blocksize : int
        Tile size in pixels (a multiple of 16).
    threads : int
        GDAL's compression threads for this file (``NUM_THREADS``). rasterio holds the GIL while the COG
        driver compresses (the copy made when the file is closed), so Python threads writing several files
        compress one file at a time; GDAL's threads do not need the GIL.

    Raises
    ------
    ValueError
        No band, bands of different dtypes or shapes, or a shape other than the GeoBox's.
    WriteError
        GDAL or the OS could not write the file (a full disk ...), or a band's valid pixels read back differ
        from the array's; the temporary file is removed and ``path`` left as it was.
    """
    import numpy as np
    import rasterio

    bands = [np.asarray(b) for b in bands]
    if not bands or len({b.dtype for b in bands}) != 1 or any(b.shape != tuple(geobox.shape) for b in bands):
        raise ValueError(f"write_cog_bands needs one or more arrays of one dtype and shape {tuple(geobox.shape)}; got "
                         f"{[(b.dtype.name, b.shape) for b in bands]}")
    dtype = bands[0].dtype
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fix = "free some space or choose another --outdir"
    crs = geobox.crs
    opts = {"driver": "COG", "width": geobox.shape[1], "height": geobox.shape[0], "count": len(bands),
            "dtype": dtype.name, "crs": f"EPSG:{crs.epsg}" if crs.epsg else crs.to_wkt(), "transform": geobox.affine,
            "nodata": nodata, "compress": compress.upper(), "level": int(level), "blocksize": int(blocksize),
            "predictor": "FLOATING_POINT" if dtype.kind == "f" else "STANDARD", "overviews": "NONE",
            "num_threads": max(1, int(threads)), "bigtiff": "IF_SAFER"}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with rasterio.open(tmp, "w", **opts) as dst:
            for b, values in enumerate(bands, start=1):
                dst.write(values, b)
        got = count_valid_bands(tmp)
        for b, values in enumerate(bands):
            expected = count_valid(values, nodata)
            if got[b] != expected:
                raise read_back_failure(path, got[b], expected, f"valid pixel(s) of band {b + 1}", fix)
        os.replace(tmp, path)
    except BaseException as exc:
        error = write_failure(path, exc, fix) if is_write_failure(exc) else exc
        tmp.unlink(missing_ok=True)
        if error is not exc:
            raise error from exc
        raise
    return path


def write_yaml(doc: dict, path: str | Path) -> Path:
    """Write one YAML document atomically (temp file + rename)."""
    import yaml

    return write_text(path, yaml.safe_dump(doc, sort_keys=False))


def _measurement_entry(where) -> dict:
    """The eo3 measurement entry of a file name, or of a ``(file name, band)`` pair."""
    if isinstance(where, (tuple, list)):
        fname, band = where
        return {"path": str(fname), "band": int(band)}
    return {"path": str(where)}


def eo3_document(id_, product: str, geobox, measurements: dict, properties: dict,
                 lineage: dict[str, list] | None = None) -> dict:
    """An eo3 dataset document for files on one GeoBox.

    Parameters
    ----------
    id_ : uuid.UUID
    product : str
    geobox : odc.geo.geobox.GeoBox
        The grid of every measurement (the ``default`` grid).
    measurements : dict
        Measurement name -> file name relative to the document's location, or ``(file name, band)`` for a
        band of a multi-band file (eo3 ``{path, band}``; bands count from 1).
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
        "measurements": {name: _measurement_entry(where) for name, where in measurements.items()},
        "lineage": {k: [str(v) for v in ids] for k, ids in (lineage or {}).items()},
    }
