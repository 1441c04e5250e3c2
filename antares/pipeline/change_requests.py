"""Request objects of the change stages: ``detect_change`` and the vector export of a change detection.

The pattern of :mod:`antares.pipeline.requests`: frozen dataclasses validated when made, with messages that
name the request's fields (``mmu must be an area > 0 in m²``), never a command-line flag; each error carries
the fields it names in ``fields`` so that the CLI can write them as its flags (``CHANGE_FLAGS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from antares.pipeline.requests import _freeze, _name, refusal

__all__ = ["ChangeRequest", "ChangeExportRequest"]

MIN_TILE = 16  #: the smallest tile side of detect_change, pixels


@dataclass(frozen=True)
class ChangeRequest:
    """``detect_change``: change objects between ``pre_product`` and ``post_product`` over ``area``, as ``name``.

    Attributes
    ----------
    algorithm : str
        A change method of :data:`antares.change.CHANGE_METHODS` (``distance``, ``imadmaf``).
    name : str
        The change detection (the name rule of :mod:`antares.names`).
    pre_product, post_product : str
        Indexed products (may be one product with ``pre_year`` != ``post_year``), one date each in the area.
    area : odc.geo.geom.Geometry
    bands : tuple of str, optional
        Measurements compared, present in both products (default: all of the pre product's).
    params : dict, optional
        The method's parameters; checked against its declaration and kept complete (defaults filled in).
    pre_year, post_year : int, optional
        Only the datasets of that year.
    lc_pre, lc_post : str, optional
        Classifications of one class scheme giving each object its pre and post class (both or neither).
    mmu : float, optional
        Minimum mapping unit, m² (> 0; at least one pixel, checked by the stage against the grid).
    label_filter : bool
        With ``lc_pre``/``lc_post``: drop the objects whose class is the same in both.
    tile_size : int
        Side of the tiles read at a time, pixels (at least 16).
    overwrite : bool
        Replace an existing change detection ``name``.
    scheduler, workers : optional
        Where the tiles are scored once the method is fitted (default: the settings'); see
        :func:`antares.pipeline.executor.task_runner`. An area of one tile is scored in the process.

    Raises
    ------
    UsageError
        Unknown algorithm or parameter; ``name`` breaks the name rule; only one of ``lc_pre``/``lc_post``;
        ``mmu`` not > 0; ``tile_size`` below 16; ``workers`` below 1; the same product and year as pre and post.
    """

    algorithm: str
    name: str
    pre_product: str
    post_product: str
    area: object
    bands: tuple | None = None
    params: dict | None = None
    pre_year: int | None = None
    post_year: int | None = None
    lc_pre: str | None = None
    lc_post: str | None = None
    mmu: float | None = None
    label_filter: bool = True
    tile_size: int = 1024
    overwrite: bool = False
    scheduler: str | None = None
    workers: int | None = None

    def __post_init__(self):
        from antares.change import get_change_method

        params = get_change_method(self.algorithm, **(self.params or {})).get_params()
        _name(self.name)
        if (self.lc_pre is None) != (self.lc_post is None):
            raise refusal("lc_pre and lc_post go together: give the classifications of both dates.",
                          "lc_pre", "lc_post")
        if self.mmu is not None and not (isinstance(self.mmu, (int, float)) and math.isfinite(self.mmu)
                                         and self.mmu > 0):
            raise refusal(f"mmu must be an area > 0 in m². Got {self.mmu}.", "mmu")
        if isinstance(self.tile_size, bool) or not isinstance(self.tile_size, int) or self.tile_size < MIN_TILE:
            raise refusal(f"tile_size must be at least {MIN_TILE} pixels. Got {self.tile_size!r}.", "tile_size")
        if self.workers is not None and (isinstance(self.workers, bool) or not isinstance(self.workers, int)
                                         or self.workers < 1):
            raise refusal(f"workers must be at least 1. Got {self.workers!r}.", "workers")
        if self.pre_product == self.post_product and self.pre_year == self.post_year:
            when = f" in {self.pre_year}" if self.pre_year else ""
            raise refusal(f"pre_product and post_product are both {self.pre_product}{when}: give two products, or "
                          "one product with two years pre_year and post_year.",
                          "pre_product", "post_product", "pre_year", "post_year")
        _freeze(self, params=params, bands=tuple(self.bands) if self.bands else None)


@dataclass(frozen=True)
class ChangeExportRequest:
    """``db_to_vector -n CHANGE``: the objects of change detection ``name`` written to ``path``.

    Attributes
    ----------
    name : str
        A change detection.
    path : str or pathlib.Path
        The output file; its extension chooses the driver unless ``driver`` is given.
    layer : str, optional
        Layer name (GeoPackage; default ``name``).
    driver : str, optional
        An OGR vector driver (GPKG, ESRI Shapefile, FlatGeobuf, ...).
    crs : str, optional
        Output CRS (default: the detection's).
    overwrite : bool
        Replace an existing ``path``.

    Raises
    ------
    UsageError
        ``path`` is empty.
    """

    name: str
    path: object
    layer: str | None = None
    driver: str | None = None
    crs: str | None = None
    overwrite: bool = False

    def __post_init__(self):
        if not str(self.path or "").strip():
            raise refusal("path must name the output file. Got an empty path.", "path")
