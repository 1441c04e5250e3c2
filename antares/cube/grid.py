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
