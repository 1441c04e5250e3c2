"""Tile grids (odc-geo ``GridSpec``): presets from ``config/grids.yaml`` or explicit CRS/resolution/tile size."""

from __future__ import annotations

from dataclasses import dataclass

from antares.errors import InvalidInputError, UsageError


MAX_DEGREES = 0.1  # coarsest pixel accepted on a geographic grid (about 11 km): a larger one is metres taken as degrees


@dataclass(frozen=True)
class GridPreset:
    """A named tile grid. ``crs`` is an EPSG string or ``"utm"`` (zone of the area's centre)."""

    name: str
    crs: str
    resolution: float
    tile_size: int
    origin: tuple[float, float] = (0.0, 0.0)


def load_presets() -> dict[str, GridPreset]:
    """The grid presets of ``config/grids.yaml``, by name."""
    import yaml

    from antares.resources import config_dir

    raw = yaml.safe_load((config_dir() / "grids.yaml").read_text(encoding="utf-8"))
    return {
        name: GridPreset(name, str(v["crs"]), float(v["resolution"]), int(v["tile_size"]), tuple(v.get("origin", (0.0, 0.0))))
        for name, v in raw.items()
    }


def utm_crs(area) -> str:
    """The WGS 84 UTM CRS (``EPSG:326zz`` north, ``EPSG:327zz`` south) of the centre of ``area``."""
    centre = area.to_crs("EPSG:4326").centroid
    lon, lat = centre.points[0]
    zone = min(int((lon + 180) // 6) + 1, 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def crs_name(crs) -> str:
    """``EPSG:4326`` for a CRS with an EPSG code, its WKT otherwise."""
    return f"EPSG:{crs.epsg}" if crs.epsg else str(crs)


def grid_record(geobox) -> dict:
    """A GeoBox as plain JSON values (for the database): ``{"crs", "transform", "shape"}``.

    Parameters
    ----------
    geobox : odc.geo.geobox.GeoBox

    Returns
    -------
    dict
        ``crs``: ``"EPSG:n"``, else the CRS's WKT; ``transform``: the 6 affine coefficients
        ``[a, b, c, d, e, f]`` of pixel (0, 0) in units of the CRS; ``shape``: ``[height, width]``
        in pixels. :func:`geobox_of_record` gives the GeoBox back.
    """
    crs = f"EPSG:{geobox.crs.epsg}" if geobox.crs.epsg else geobox.crs.to_wkt()
    return {"crs": crs, "transform": [float(v) for v in tuple(geobox.affine)[:6]],
            "shape": [int(n) for n in geobox.shape]}


def geobox_of_record(record: dict):
    """The GeoBox of a :func:`grid_record` (odc-geo only: no ODC index, no ``datacube`` import).

    Raises
    ------
    InvalidInputError
        ``record`` lacks ``crs``, ``transform`` (6 numbers) or ``shape`` (2 integers).
    """
    from affine import Affine
    from odc.geo.geobox import GeoBox

    try:
        transform, shape = [float(v) for v in record["transform"]], tuple(int(n) for n in record["shape"])
        if len(transform) != 6 or len(shape) != 2:
            raise ValueError("transform needs 6 numbers, shape 2")
        return GeoBox(shape, Affine(*transform), record["crs"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"stored grid {record!r} is not {{'crs', 'transform' (6 numbers), 'shape' (2)}}: "
                                f"{exc}") from None


def is_metric(crs) -> bool:
    """Whether both axes of ``crs`` (an odc-geo ``CRS``) are in metres (false for geographic CRSs and feet)."""
    return not crs.geographic and all(str(u).lower() in ("metre", "meter", "m") for u in crs.units)


def make_gridspec(area, preset: str | None = None, crs: str | None = None, resolution: float | None = None,
                  tile_size: int | None = None, origin: tuple[float, float] | None = None):
    """A ``GridSpec`` from a preset name, or from explicit CRS, resolution and tile size.

    Parameters
    ----------
    area : odc.geo.geom.Geometry
        The area to cover (any CRS); used to pick the UTM zone of ``utm`` presets.
    preset : str, optional
        Name from ``config/grids.yaml`` (``antares list grids``).
    crs, resolution, tile_size, origin : optional
        Explicit grid: CRS (``EPSG:32634``), pixel size (CRS units), tile side in pixels
        and grid origin (default 0, 0). Override the preset's values when both are given.

    Returns
    -------
    odc.geo.gridspec.GridSpec

    Raises
    ------
    UsageError
        Unknown preset (the presets are listed), or neither a preset nor a full explicit grid.
    InvalidInputError
        An invalid CRS, a non-positive resolution/tile size, or pixels over ``MAX_DEGREES``
        on a geographic CRS (a resolution in metres given for a CRS in degrees).
    """
    from odc.geo import XY
    from odc.geo.crs import CRS
    from odc.geo.gridspec import GridSpec

    if preset is not None:
        presets = load_presets()
        if preset not in presets:
            raise UsageError(f"unknown grid '{preset}'; presets: {', '.join(sorted(presets))}.")
        p = presets[preset]
        crs = crs or p.crs
        resolution = resolution or p.resolution
        tile_size = tile_size or p.tile_size
        origin = origin or p.origin
    if crs is None or resolution is None or tile_size is None:
        raise UsageError("give --grid PRESET, or all of --crs, --resolution and --tile-size.")
    if resolution <= 0 or tile_size <= 0:
        raise InvalidInputError(f"resolution and tile size must be > 0. Got {resolution} and {tile_size}.")
    if str(crs).lower() == "utm":
        crs = utm_crs(area)
    try:
        crs_obj = CRS(crs)
    except Exception as exc:
        raise InvalidInputError(f"CRS {crs!r} is not valid: {exc}. Give an EPSG code such as EPSG:32634.") from exc
    if crs_obj.geographic and resolution > MAX_DEGREES:
        raise InvalidInputError(
            f"resolution {resolution:g} is in the units of {crs_name(crs_obj)}, degrees ({resolution:g}° pixels, about "
            f"{resolution * 111.32:,.0f} km); give degrees (0.0001° is about 11 m) or a projected CRS in metres, "
            f"e.g. --crs {utm_crs(area)} (the UTM zone of the area).")
    x0, y0 = origin or (0.0, 0.0)
    return GridSpec(crs_obj, tile_shape=(tile_size, tile_size), resolution=resolution, origin=XY(x0, y0))


def pixel_areas(geobox):
    """The area of the pixels of ``geobox`` in square metres, whatever its CRS.

    Geographic CRS: the geodesic area of each row's pixel on the CRS's ellipsoid
    (``pyproj.Geod.polygon_area_perimeter``); pixels of one row are equal. Projected CRS:
    the pixel area in CRS units converted to metres and divided by the projection's areal
    scale factor at the GeoBox's centre (1 for equal-area projections; UTM within its zone
    differs from 1 by less than 0.2 %).

    Parameters
    ----------
    geobox : odc.geo.geobox.GeoBox

    Returns
    -------
    numpy.ndarray
        float64, shape ``(ny, 1)``: broadcasts against (y, x) arrays of the GeoBox.

    Examples
    --------
    >>> from odc.geo.geobox import GeoBox
    >>> round(float(pixel_areas(GeoBox.from_bbox((500000, 0, 500200, 200), "EPSG:3035", resolution=20))[0, 0]), 6)
    400.0
    """
    import numpy as np
    import pyproj

    crs = pyproj.CRS.from_user_input(geobox.crs.to_wkt())
    ny, _ = geobox.shape
    a, _, c, _, e, f = geobox.affine[:6]
    if crs.is_geographic:
        geod = crs.get_geod()
        top = f + e * np.arange(ny)
        areas = [abs(geod.polygon_area_perimeter([c, c + a, c + a, c], [y, y, y + e, y + e])[0]) for y in top]
        return np.asarray(areas, np.float64).reshape(ny, 1)
    metre = crs.axis_info[0].unit_conversion_factor * crs.axis_info[1].unit_conversion_factor
    x, y = geobox.extent.centroid.points[0]
    lon, lat = pyproj.Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(x, y)
    scale = pyproj.Proj(crs).get_factors(lon, lat).areal_scale
    return np.full((ny, 1), abs(a * e) * metre / scale, np.float64)


def crop_to_area(geobox, area):
    """The part of ``geobox`` that covers the bounding box of ``area``, in whole pixels; None when they miss.

    Tiles of a grid are cut to the area so that a small area writes its own pixels, not the
    whole tile (the pixels keep the tile's grid: tiles of the same grid still line up).

    Parameters
    ----------
    geobox : odc.geo.geobox.GeoBox
    area : odc.geo.geom.Geometry
        Any CRS.

    Returns
    -------
    odc.geo.geobox.GeoBox or None

    Examples
    --------
    >>> from odc.geo.geobox import GeoBox
    >>> from odc.geo.geom import box
    >>> tile = GeoBox.from_bbox((0, 0, 40960, 40960), "EPSG:32634", resolution=10)
    >>> crop_to_area(tile, box(1005, 1003, 1175, 1167, "EPSG:32634")).shape
    Shape2d(x=18, y=17)
    """
    import math

    x0, y0, x1, y1 = area.to_crs(geobox.crs).boundingbox
    corners = [geobox.wld2pix(x, y) for x, y in ((x0, y0), (x0, y1), (x1, y0), (x1, y1))]
    cols, rows = [c for c, _ in corners], [r for _, r in corners]
    ny, nx = geobox.shape
    c0, c1 = max(0, math.floor(min(cols) + 1e-6)), min(nx, math.ceil(max(cols) - 1e-6))
    r0, r1 = max(0, math.floor(min(rows) + 1e-6)), min(ny, math.ceil(max(rows) - 1e-6))
    if c0 >= c1 or r0 >= r1:
        return None
    return geobox[r0:r1, c0:c1]


def area_tiles(gridspec, area):
    """``(tile_index, GeoBox)`` of every tile of ``gridspec`` that ``area`` touches, cut to it (:func:`crop_to_area`)."""
    for tile, geobox in gridspec.tiles_from_geopolygon(area):
        cropped = crop_to_area(geobox, area)
        if cropped is not None:
            yield tuple(tile), cropped


def blocks(geobox, size: int):
    """Yield the blocks covering ``geobox`` in squares of ``size`` pixels, row by row (odc-geo ``GeoboxTiles``).

    Parameters
    ----------
    geobox : odc.geo.geobox.GeoBox
    size : int
        Pixels per side of a block; the blocks of the last row and column are smaller when
        ``size`` does not divide ``geobox``'s shape.

    Yields
    ------
    (odc.geo.geobox.GeoBox, (slice, slice))
        The block's GeoBox and its ``(rows, columns)`` in ``geobox``'s pixels.

    Examples
    --------
    >>> from odc.geo.geobox import GeoBox
    >>> box = GeoBox.from_bbox((0, 0, 50, 30), "EPSG:32633", resolution=10)
    >>> [index for _, index in blocks(box, 2)][-1]
    (slice(2, 3, None), slice(4, 5, None))
    """
    from odc.geo.geobox import GeoboxTiles

    tiles = GeoboxTiles(geobox, (size, size))
    for iy in range(tiles.shape.y):
        for ix in range(tiles.shape.x):
            rows, cols = tiles.roi[iy, ix]
            yield geobox[rows, cols], (rows, cols)


def grid_offset(src, dst, tol: float = 1e-6, scale_tol: float = 1e-9) -> tuple[int, int] | None:
    """``(row, col)`` of ``src``'s first pixel on ``dst``'s pixel grid when ``src``'s pixels are ``dst``'s; else None.

    The pixels coincide when both GeoBoxes are in one CRS, with the same pixel size and
    orientation (no rotation), and their origins differ by whole pixels: odc-geo's
    ``compute_reproject_roi`` can then paste instead of reprojecting (``paste_ok``) without
    reading an overview (``read_shrink == 1``).

    Parameters
    ----------
    src, dst : odc.geo.geobox.GeoBox
    tol : float
        Largest distance of the offset from whole pixels, as a fraction of a pixel.
    scale_tol : float
        Largest relative difference of the pixel sizes.

    Returns
    -------
    (int, int) or None
        The offset (negative when ``src`` starts above/left of ``dst``), or None when the grids differ.

    Examples
    --------
    >>> from affine import Affine
    >>> from odc.geo.geobox import GeoBox
    >>> tile = GeoBox((100, 100), Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32633")
    >>> grid_offset(GeoBox((5, 5), Affine(10, 0, 500030, 0, -10, 3999980), "EPSG:32633"), tile)
    (2, 3)
    >>> grid_offset(GeoBox((5, 5), Affine(10, 0, 500035, 0, -10, 3999980), "EPSG:32633"), tile) is None
    True
    """
    from odc.geo.overlap import compute_reproject_roi

    if src.crs != dst.crs:  # different CRSs never share pixels; spares the point-by-point transform
        return None
    info = compute_reproject_roi(src, dst, ttol=tol, stol=scale_tol)
    if not info.paste_ok or info.read_shrink != 1:
        return None
    to_dst = info.transform.linear  # src pixel coordinates -> dst pixel coordinates
    return round(to_dst.f), round(to_dst.c)


def same_grid(a, b, tol: float = 1e-6, scale_tol: float = 1e-9) -> bool:
    """Whether the pixels of GeoBoxes ``a`` and ``b`` lie on one grid (either may be a window of the other).

    True when both are in one CRS, with the same pixel size (within ``scale_tol`` relative),
    orientation (the same rotation, no flipped axis) and origins whole pixels apart (within
    ``tol`` of a pixel): :func:`grid_offset` is not None. Unlike comparing ``affine.a`` and
    ``affine.e`` with ``numpy.isclose`` (absolute tolerance 1e-8), this refuses pixel sizes in
    degrees 1e-5 relative apart (1e-9 absolute) and a rotated grid with the same pixel size.

    Parameters
    ----------
    a, b : odc.geo.geobox.GeoBox
    tol : float
        Largest distance of the origins' offset from whole pixels, as a fraction of a pixel.
    scale_tol : float
        Largest relative difference of the pixel sizes.

    Returns
    -------
    bool

    Examples
    --------
    >>> from odc.geo.geobox import GeoBox
    >>> tile = GeoBox.from_bbox((500000, 0, 501000, 1000), "EPSG:32633", resolution=10)
    >>> same_grid(tile[20:40, 30:50], tile), same_grid(tile.translate_pix(0.5, 0), tile)
    (True, False)
    """
    return grid_offset(a, b, tol, scale_tol) is not None


def grid_difference(a, b) -> str:
    """How the grids of GeoBoxes ``a`` and ``b`` differ, in a few words (for messages); ``""`` when :func:`same_grid`.

    Parameters
    ----------
    a, b : odc.geo.geobox.GeoBox
        Any CRS; pixel sizes and origins in their CRS units.

    Returns
    -------
    str
        The first difference found: CRS, pixel size, rotation, or the origins' offset in pixels of ``a``.

    Examples
    --------
    >>> from odc.geo.geobox import GeoBox
    >>> tile = GeoBox.from_bbox((500000, 0, 501000, 1000), "EPSG:32633", resolution=10)
    >>> grid_difference(tile.translate_pix(0.25, 0), tile)
    'origins 0.25, 0 pixels apart'
    """
    if same_grid(a, b):
        return ""
    if a.crs != b.crs:
        return f"CRS {crs_name(a.crs)} vs {crs_name(b.crs)}"
    p, q = a.affine, b.affine
    if (p.b, p.d) != (q.b, q.d) and not (abs(p.b) < 1e-12 * abs(p.a) and abs(q.b) < 1e-12 * abs(q.a)
                                         and abs(p.d) < 1e-12 * abs(p.e) and abs(q.d) < 1e-12 * abs(q.e)):
        return (f"rotated differently (affine b, d {p.b:.12g}, {p.d:.12g} vs {q.b:.12g}, {q.d:.12g})")
    if abs(p.a - q.a) > 1e-9 * abs(q.a) or abs(p.e - q.e) > 1e-9 * abs(q.e):
        return f"pixel size {p.a:.12g} x {p.e:.12g} vs {q.a:.12g} x {q.e:.12g}"
    col, row = (~q) * (p.c, p.f)
    return f"origins {col - round(col):.3g}, {row - round(row):.3g} pixels apart"
