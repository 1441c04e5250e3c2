"""Slope and aspect of a DEM with Horn's (1981) 3x3 method, as ``gdaldem`` computes them.

``slope_aspect`` reproduces ``gdaldem slope -compute_edges`` and ``gdaldem aspect
-compute_edges -zero_for_flat`` (``-alg Horn``, degrees, azimuth angles) on projected
DEMs, to within float32 rounding, so that terrain has no holes where the DEM has heights:

* the 1-pixel border is computed from the DEM extrapolated by one cell (``2 * edge -
  next``; the first and last rows repeat the edge columns, as gdaldem does);
* a neighbour without a height takes the centre's; only a cell without a height (no-data
  or NaN) is NaN;
* flat cells (no downslope direction) have aspect 0 and slope exactly 0 (the flag that
  tells them from a north-facing slope).

with two deliberate differences:

* aspect uses the metric gradient (each difference divided by its pixel size), so it is
  right for non-square pixels; gdaldem's aspect ignores the pixel size (it assumes
  square pixels). On square pixels the two are identical;
* geographic DEMs (pixel size in degrees) get a horizontal pixel size in metres per
  row, from the radii of curvature of the CRS's ellipsoid at the row's latitude,
  where gdaldem takes one global factor (``-s 111120``) and so overestimates slopes
  away from the equator.

The heavy imports (rasterio) happen inside :func:`write_slope_aspect`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np

from antares.errors import InvalidInputError

log = logging.getLogger(__name__)

#: Aspect of flat cells (no downslope direction), as ``gdaldem aspect -zero_for_flat``; their slope is 0.
FLAT_ASPECT = 0.0

#: Rows processed at a time; bounds the temporary float64 arrays to ~ _STRIP_ROWS * width.
_STRIP_ROWS = 1024

#: Creation options of the COG driver for the outputs.
_COG_OPTIONS = {
    "compress": "DEFLATE",
    "predictor": "YES",  # floating-point predictor (3) for float32
    "blocksize": 512,
    "overviews": "AUTO",
    "bigtiff": "IF_SAFER",
}


def slope_aspect(elevation, transform, crs, nodata=None) -> tuple[np.ndarray, np.ndarray]:
    """Slope and aspect of a DEM with Horn's 3x3 finite differences (``gdaldem`` defaults).

    For the window ::

        a b c      (row 0 is north when the transform is north-up)
        d e f
        g h i

    the gradient is (Horn 1981, as in GDAL's ``gdaldem_lib.cpp``)::

        dz/dcol = ((c + 2f + i) - (a + 2d + g)) / 8
        dz/drow = ((g + 2h + i) - (a + 2b + c)) / 8
        dz/deast = dz/dcol / res_x        dz/dnorth = dz/drow / res_y

    with ``res_x``, ``res_y`` the signed pixel sizes in metres (``res_y`` < 0 for a
    north-up raster), then ``slope = degrees(atan(hypot(dz/deast, dz/dnorth)))`` and
    ``aspect = degrees(atan2(-dz/deast, -dz/dnorth)) mod 360``: the azimuth of the
    steepest descent, clockwise from north. This is gdaldem's
    ``90 - degrees(atan2(dy, -dx))`` folded into [0, 360).

    Parameters
    ----------
    elevation : numpy.ndarray, shape (y, x)
        Heights in metres, any integer or floating dtype. A ``numpy.ma.MaskedArray``'s
        mask counts as no data.
    transform : affine.Affine
        Pixel-to-CRS transform of ``elevation``; it must not be rotated or sheared.
    crs : rasterio.crs.CRS, pyproj.CRS, str or int
        Horizontal CRS of ``transform``. Projected CRSs must have metre axes; for
        geographic CRSs (pixel size in degrees) the pixel size is converted to metres
        row by row: ``res_x = dlon * N(lat) * cos(lat)`` and ``res_y = dlat * M(lat)``,
        with ``N`` and ``M`` the prime-vertical and meridional radii of curvature of the
        CRS's ellipsoid (WGS 84 for EPSG:4326) at the row centre's latitude.
    nodata : number, optional
        Value marking missing heights, in addition to NaN (which always means no data).

    Returns
    -------
    slope : numpy.ndarray of float32, shape (y, x)
        Slope in degrees, 0 to 90; exactly 0 on flat cells.
    aspect : numpy.ndarray of float32, shape (y, x)
        Downslope direction in degrees clockwise from north, [0, 360): 0 north,
        90 east, 180 south, 270 west. ``FLAT_ASPECT`` (0) on flat cells (both
        differences exactly 0), as gdaldem ``-zero_for_flat``.

    The border is computed as gdaldem ``-compute_edges`` does, and a neighbour without
    data takes the centre's height; both are NaN only where the DEM has no height. An
    array with fewer than 2 rows or columns gives all NaN.

    Raises
    ------
    InvalidInputError
        ``elevation`` is not a 2-D numeric array; ``crs`` is missing, unreadable,
        neither geographic nor projected, or projected with a unit other than metre;
        ``transform`` is rotated, sheared or has a zero pixel size; a geographic
        transform reaches beyond +-90 degrees of latitude.

    Notes
    -----
    Horn, B. K. P. (1981). Hill shading and the reflectance map. Proceedings of the
    IEEE, 69(1), 14-47. Heights are assumed to be in metres (gdaldem's ``-s 1``).

    Examples
    --------
    >>> import numpy as np
    >>> from affine import Affine
    >>> z = np.add.outer(np.zeros(5), np.arange(5.0) * -10)  # falls 10 m per 10 m eastwards
    >>> slope, aspect = slope_aspect(z, Affine(10, 0, 500000, 0, -10, 5000000), "EPSG:32633")
    >>> float(slope[2, 2]), float(aspect[2, 2])
    (45.0, 90.0)
    """
    z, invalid = _elevation_and_mask(elevation, nodata)
    res_x, res_y = _pixel_sizes_m(transform, crs, z.shape[0])
    ny, nx = z.shape
    slope = np.full((ny, nx), np.nan, dtype=np.float32)
    aspect = np.full((ny, nx), np.nan, dtype=np.float32)
    if ny < 2 or nx < 2:
        log.debug("DEM of shape %s has no 3x3 window even with its edges extrapolated: all NaN", z.shape)
        return slope, aspect
    z, invalid = _extrapolate(z, invalid, axis=0)
    padded = _extrapolate(z, invalid, axis=1)
    for start in range(0, ny, _STRIP_ROWS):
        stop = min(start + _STRIP_ROWS, ny)  # output rows [start, stop): padded rows [start, stop + 2)
        rows = slice(start, stop + 2)
        slope[start:stop], aspect[start:stop] = _horn(padded[0][rows], padded[1][rows], res_x[start:stop],
                                                      res_y[start:stop])
    # gdaldem's first and last rows repeat the edge columns instead of extrapolating them
    repeated = np.pad(z, ((0, 0), (1, 1)), mode="edge"), np.pad(invalid, ((0, 0), (1, 1)), mode="edge")
    for row in (0, ny - 1):
        rows = slice(row, row + 3)
        s, a = _horn(repeated[0][rows], repeated[1][rows], res_x[row:row + 1], res_y[row:row + 1])
        slope[row], aspect[row] = s[0], a[0]
    return slope, aspect


def _extrapolate(z, invalid, axis: int):
    """``z`` and ``invalid`` padded by one cell along ``axis``, each outside cell ``2 * edge - next``.

    As gdaldem ``-compute_edges``: an outside cell is invalid when either cell it comes from is.
    """
    first, second = np.take(z, [0], axis), np.take(z, [1], axis)
    last, before = np.take(z, [-1], axis), np.take(z, [-2], axis)
    values = np.concatenate([2 * first - second, z, 2 * last - before], axis=axis)
    flags = np.concatenate([np.take(invalid, [0], axis) | np.take(invalid, [1], axis), invalid,
                            np.take(invalid, [-1], axis) | np.take(invalid, [-2], axis)], axis=axis)
    return values, flags


def _horn(z, invalid, res_x, res_y):
    """Horn slope and aspect of the interior of a strip ``z`` (rows r-1..r+1 around each output row).

    ``z``, ``invalid``: (n + 2, x + 2) float64 and bool (edges extrapolated); ``res_x``,
    ``res_y``: (n, 1) signed metres. A neighbour without data takes the centre's height (as
    gdaldem with ``-compute_edges``); a centre without data gives NaN. Returns float32 arrays
    of shape (n, x).
    """
    centre = z[1:-1, 1:-1]

    def cell(dy, dx):
        values = z[dy : dy + z.shape[0] - 2, dx : dx + z.shape[1] - 2]
        missing = invalid[dy : dy + z.shape[0] - 2, dx : dx + z.shape[1] - 2]
        return np.where(missing, centre, values)

    a, b, c = cell(0, 0), cell(0, 1), cell(0, 2)
    d, f = cell(1, 0), cell(1, 2)
    g, h, i = cell(2, 0), cell(2, 1), cell(2, 2)
    d_col = (c + 2 * f + i) - (a + 2 * d + g)
    d_row = (g + 2 * h + i) - (a + 2 * b + c)
    with np.errstate(divide="ignore", invalid="ignore"):
        east = d_col / (8 * res_x)  # dz/deast
        north = d_row / (8 * res_y)  # dz/dnorth (res_y < 0 for north-up)
        slope = np.degrees(np.arctan(np.hypot(east, north))).astype(np.float32)
        aspect = np.mod(np.degrees(np.arctan2(-east, -north)), 360.0).astype(np.float32)
    aspect[aspect >= 360.0] = 0.0  # values just under 360 round up to 360 in float32
    aspect[(d_col == 0) & (d_row == 0)] = FLAT_ASPECT  # flat: no direction; slope 0 flags it
    bad = ~np.isfinite(slope) | invalid[1:-1, 1:-1]  # pixel size 0 at a pole; no height at the centre
    slope[bad] = np.nan
    aspect[bad] = np.nan
    return slope, aspect


def _elevation_and_mask(elevation, nodata):
    """``elevation`` as float64 with invalid cells set to 0, and the (y, x) bool no-data mask."""
    mask = np.ma.getmaskarray(elevation) if np.ma.isMaskedArray(elevation) else None
    values = np.asarray(np.ma.getdata(elevation))
    if values.ndim != 2:
        raise InvalidInputError(
            f"The 'elevation' parameter of slope_aspect must be a 2-D (y, x) array. Got shape {values.shape}."
        )
    if values.dtype.kind not in "iuf":
        raise InvalidInputError(
            f"The 'elevation' parameter of slope_aspect must have an integer or floating dtype. Got {values.dtype}."
        )
    z = values.astype(np.float64)
    invalid = ~np.isfinite(z)
    if mask is not None:
        invalid |= mask
    if nodata is not None and not np.isnan(nodata):
        # Compare in the array's own float type, so that a float32 no-data value given
        # as a Python float (e.g. -3.4028235e38) still matches.
        ref = values.dtype.type(nodata) if values.dtype.kind == "f" else float(nodata)
        invalid |= values == ref
    z[invalid] = 0.0  # keep the arithmetic finite; these cells are masked afterwards
    return z, invalid


def _horizontal_crs(crs):
    """``crs`` as a 2-D pyproj CRS (the horizontal part of a compound CRS)."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if crs is None or (not isinstance(crs, int) and not crs):
        raise InvalidInputError(
            "The DEM has no CRS. Pass the CRS of its transform, e.g. crs='EPSG:32633'."
        )
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as exc:
        raise InvalidInputError(f"The 'crs' parameter of slope_aspect is not a CRS pyproj understands. Got {crs!r}.") from exc
    if parsed.is_compound:
        parsed = parsed.sub_crs_list[0]
    return parsed


def _pixel_sizes_m(transform, crs, ny):
    """Signed pixel sizes in metres, each of shape (ny, 1): east-west per column, north-south per row."""
    if transform.b != 0 or transform.d != 0:
        raise InvalidInputError(
            f"slope_aspect needs a north-up transform without rotation or shear. Got {tuple(transform)[:6]}; "
            "warp the DEM first (gdalwarp)."
        )
    if transform.a == 0 or transform.e == 0:
        raise InvalidInputError(f"The DEM transform has a zero pixel size. Got {tuple(transform)[:6]}.")
    horizontal = _horizontal_crs(crs)
    if horizontal.is_geographic:
        rad_per_unit = horizontal.axis_info[0].unit_conversion_factor
        lat = (transform.f + transform.e * (np.arange(ny, dtype=np.float64) + 0.5)) * rad_per_unit
        if np.any(np.abs(lat) > np.pi / 2 + 1e-12):
            raise InvalidInputError(
                f"The DEM's rows reach latitude {np.degrees(np.abs(lat)).max():.3f} degrees, beyond +-90; "
                f"its transform {tuple(transform)[:6]} does not fit the geographic CRS {horizontal.name}."
            )
        semi_major, flattening = _ellipsoid(horizontal)
        e2 = flattening * (2 - flattening)
        w = 1.0 - e2 * np.sin(lat) ** 2
        prime_vertical = semi_major / np.sqrt(w)  # N
        meridional = semi_major * (1 - e2) / w**1.5  # M
        res_x = transform.a * rad_per_unit * prime_vertical * np.cos(lat)
        res_y = transform.e * rad_per_unit * meridional
        return res_x[:, None], res_y[:, None]
    if not horizontal.is_projected:
        raise InvalidInputError(
            f"slope_aspect needs a projected (metre) or geographic CRS. Got {horizontal.name} "
            f"({horizontal.type_name}); reproject the DEM first (gdalwarp -t_srs ...)."
        )
    units = {axis.unit_name for axis in horizontal.axis_info}
    if any(axis.unit_conversion_factor != 1.0 for axis in horizontal.axis_info):
        raise InvalidInputError(
            f"The DEM's CRS {horizontal.name} has axes in {', '.join(sorted(units))}; slope_aspect needs metres. "
            "Reproject the DEM to a metre CRS (gdalwarp -t_srs EPSG:<UTM zone>)."
        )
    return np.full((ny, 1), float(transform.a)), np.full((ny, 1), float(transform.e))


def _ellipsoid(horizontal):
    """(semi-major axis in metres, flattening) of a geographic CRS, WGS 84 when it has none."""
    ellipsoid = horizontal.ellipsoid
    if ellipsoid is None:
        log.warning("CRS %s has no ellipsoid; using WGS 84 for the pixel size in metres", horizontal.name)
        return 6378137.0, 1 / 298.257223563
    inverse = ellipsoid.inverse_flattening
    return ellipsoid.semi_major_metre, (1.0 / inverse if inverse else 0.0)


def write_slope_aspect(dem_path, out_dir, band: int = 1) -> dict[str, Path]:
    """Write the slope and aspect of a DEM GeoTIFF as Cloud Optimized GeoTIFFs.

    Reads band ``band`` (1-based) of ``dem_path`` (its declared no-data value and NaN are no data),
    computes :func:`slope_aspect` and writes ``<stem>_slope.tif`` and
    ``<stem>_aspect.tif`` to ``out_dir`` with GDAL's COG driver: float32, no-data NaN,
    the DEM's CRS and transform, 512x512 DEFLATE tiles with the floating-point
    predictor, and overviews halving the size until it fits one tile (none for a DEM
    of 512 pixels or less). Slope overviews are averages; aspect overviews take the
    nearest value, since averaging angles across north (359 and 1 degrees) is wrong.

    Each file is written to a hidden temporary file in ``out_dir`` and renamed into
    place (``os.replace``) once both are complete, so no half-written output remains;
    existing outputs are replaced.

    Parameters
    ----------
    dem_path : str or pathlib.Path
        A DEM raster GDAL reads, heights in metres, in a metre-projected or geographic
        CRS. GDAL virtual paths work, e.g. ``/vsizip/srtm.zip/n45e014.tif``.
    out_dir : str or pathlib.Path
        Output folder; created when missing.
    band : int
        The elevation band of a multi-band file (1-based).

    Returns
    -------
    dict of str to pathlib.Path
        ``{"slope": out_dir / "<stem>_slope.tif", "aspect": out_dir / "<stem>_aspect.tif"}``.

    Raises
    ------
    InvalidInputError
        A missing or unreadable file, a DEM without CRS, or one :func:`slope_aspect`
        rejects; the one-line message names the file.
    WriteError
        A slope or aspect file could not be written whole (a full disk ...): the file and the
        free space are named, and nothing is left in ``out_dir``.

    Examples
    --------
    >>> write_slope_aspect("dem.tif", "terrain")  # doctest: +SKIP
    {'slope': PosixPath('terrain/dem_slope.tif'), 'aspect': PosixPath('terrain/dem_aspect.tif')}
    """
    import rasterio

    name = os.fspath(dem_path)
    virtual = name.startswith("/vsi") or "://" in name
    if not virtual and not Path(name).is_file():
        raise InvalidInputError(f"DEM file {name} does not exist.")
    try:
        with rasterio.open(name) as src:
            if not src.crs:
                raise InvalidInputError(
                    f"DEM {name} has no CRS. Assign one, e.g. 'gdal_edit.py -a_srs EPSG:32633 {name}'."
                )
            elevation = src.read(band)
            nodata, transform, crs = src.nodatavals[band - 1], src.transform, src.crs
    except InvalidInputError:
        raise
    except Exception as exc:  # RasterioIOError, CPLE_* errors of a truncated file, ...
        raise InvalidInputError(f"cannot read DEM {name}: {_first_line(exc)}") from exc
    try:
        slope, aspect = slope_aspect(elevation, transform, crs, nodata=nodata)
    except InvalidInputError as exc:
        raise InvalidInputError(f"DEM {name}: {exc}") from exc

    from antares.cube.write import check_written, count_valid, is_write_failure, write_failure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = PurePosixPath(name.rsplit("!", 1)[-1]).stem
    layers = {
        "slope": (slope, "average", "slope in degrees (Horn 1981, gdaldem slope)"),
        "aspect": (aspect, "nearest", "aspect in degrees clockwise from north (Horn 1981, gdaldem aspect)"),
    }
    finals = {key: out_dir / f"{stem}_{key}.tif" for key in layers}
    temps: dict[str, Path] = {}
    key = "slope"
    fix = "free some space or choose another output directory"
    try:
        for key, (array, resampling, description) in layers.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{stem}_{key}.", suffix=".tif.part", dir=out_dir)
            os.close(fd)
            temps[key] = Path(tmp)
            _write_cog(temps[key], array, transform, crs, resampling, description)
            # read back: a full disk can leave a file GDAL wrote without an error (cube/write.py)
            check_written(temps[key], count_valid(array), finals[key], fix)
        for key, tmp in temps.items():
            os.replace(tmp, finals[key])
    except BaseException as exc:
        # the free space is measured before the partial files are removed: as it was when the write failed
        error = write_failure(finals[key], exc, fix) if is_write_failure(exc) else exc
        for tmp in temps.values():
            for leftover in out_dir.glob(tmp.name + "*"):
                leftover.unlink(missing_ok=True)
        if error is not exc:
            raise error from exc
        raise
    log.info("wrote %s and %s", finals["slope"], finals["aspect"])
    return finals


def _write_cog(path: Path, array, transform, crs, resampling: str, description: str) -> None:
    """Write one float32 band as a COG (NaN no-data) to ``path``."""
    import rasterio

    profile = {
        "driver": "COG",
        "width": array.shape[1],
        "height": array.shape[0],
        "count": 1,
        "dtype": "float32",
        "nodata": float("nan"),
        "crs": crs,
        "transform": transform,
        "overview_resampling": resampling,
        **_COG_OPTIONS,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
        dst.set_band_description(1, description)
        dst.set_band_unit(1, "degree")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
