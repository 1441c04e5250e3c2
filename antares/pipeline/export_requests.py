"""Request objects of the stages that read a classification: ``db_to_vector``, ``db_to_raster``, ``validate``.

As in :mod:`antares.pipeline.requests`: frozen dataclasses validated on construction, messages
naming their fields (the CLI writes them as its flags). The area is a registered ``region`` (kept
by name: the database joins its stored geometry) or an ``area`` geometry (``--bbox``,
``-lat``/``-long``, an :class:`odc.geo.geom.Geometry` in any CRS), never both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from antares.pipeline.requests import _freeze, refusal

#: rows read and written at a time by db_to_vector (see antares.pipeline.export)
BATCH_SIZE = 50_000
#: side in pixels of the windows db_to_raster rasterises one at a time
WINDOW = 2048


def _one_area(request) -> None:
    """UsageError naming region and area when both are given; area must be a Geometry."""
    if request.region is not None and request.area is not None:
        raise refusal("give region or area, not both.", "region", "area")
    if request.area is not None and not hasattr(request.area, "to_crs"):
        raise refusal(f"area must be an odc.geo Geometry. Got {type(request.area).__name__}.", "area")


def area_zone(region, area, srid: int):
    """What the database filters on: the region's name/id as given, a Zone of ``area`` in ``srid``, or None.

    ``area`` is densified (odc-geo ``to_crs(resolution='auto')``) so that a lat/long box keeps its
    curved edges in a projected CRS.
    """
    from antares.db.regions import Zone

    if area is None:
        return region
    return Zone(area.to_crs(f"EPSG:{int(srid)}", resolution="auto").wkt, int(srid))


def area_words(region, area) -> str:
    """`` intersecting region 'x'`` / `` in the area`` / ``''`` for messages."""
    if region is not None:
        return f" intersecting region '{region}'"
    return " in the area" if area is not None else ""


@dataclass(frozen=True)
class VectorRequest:
    """``db_to_vector``: classification ``name``'s objects into vector file ``path``.

    Attributes
    ----------
    name : str
        A classification (or a change detection).
    path : str or path-like
    region : str, optional
        Only objects intersecting this registered region.
    layer, driver, crs : str, optional
    clip : bool
        Cut the objects to the region or area.
    dissolve : bool
    overwrite : bool
    batch_size : int
        Rows read and written at a time (>= 1).
    area : odc.geo.geom.Geometry, optional
        Only objects intersecting it (instead of ``region``).

    Raises
    ------
    UsageError
        Both ``region`` and ``area``; ``clip`` without either; ``batch_size`` < 1.
    """

    name: str
    path: object
    region: str | None = None
    layer: str | None = None
    driver: str | None = None
    crs: str | None = None
    clip: bool = False
    dissolve: bool = False
    overwrite: bool = False
    batch_size: int = BATCH_SIZE
    area: object = None

    def __post_init__(self):
        _one_area(self)
        if self.clip and self.region is None and self.area is None:
            raise refusal("clip needs region or area (the objects are cut to it).", "clip", "region", "area")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise refusal(f"batch_size must be an integer >= 1. Got {self.batch_size!r}.", "batch_size")


@dataclass(frozen=True)
class RasterRequest:
    """``db_to_raster``: classification ``name``'s class codes rasterised into GeoTIFF ``path``.

    Attributes
    ----------
    name : str
    path : str or path-like
    resolution : float
        Pixel size in units of the output CRS (> 0, finite).
    crs : str, optional
    region : str, optional
        Cover the region's extent; pixels outside it are nodata.
    overwrite, confidence : bool
    window : int
        Side in pixels of the windows rasterised one at a time (>= 1).
    area : odc.geo.geom.Geometry, optional
        As ``region``, for a geometry.

    Raises
    ------
    UsageError
        Both ``region`` and ``area``; a resolution that is not a finite number > 0; ``window`` < 1.
    """

    name: str
    path: object
    resolution: float
    crs: str | None = None
    region: str | None = None
    overwrite: bool = False
    confidence: bool = False
    window: int = WINDOW
    area: object = None

    def __post_init__(self):
        _one_area(self)
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise refusal(f"window must be an integer >= 1. Got {self.window!r}.", "window")
        value = self.resolution
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise refusal(f"resolution must be a number > 0 in units of the output CRS. Got {value!r}.", "resolution")
        _freeze(self, resolution=float(value))


@dataclass(frozen=True)
class ValidateRequest:
    """``validate``: ``classification`` against validation set ``validation_set``.

    Attributes
    ----------
    classification, validation_set : str
    region : str, optional
        Only validation polygons and objects inside this registered region.
    json_file, plot_file : path, optional
    log_name : str, optional
        Store the report under this name.
    overwrite : bool
    comment : str, optional
    area : odc.geo.geom.Geometry, optional
        As ``region``, for a geometry.

    Raises
    ------
    UsageError
        Both ``region`` and ``area``.
    """

    classification: str
    validation_set: str
    region: str | None = None
    json_file: object = None
    plot_file: object = None
    log_name: str | None = None
    overwrite: bool = False
    comment: str | None = None
    area: object = None

    def __post_init__(self):
        _one_area(self)
