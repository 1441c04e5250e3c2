"""``db_to_raster -n CHANGE``: the objects of a change detection as a transition raster (COG).

Band 1 holds a transition code per pixel (pixel-centre rule, 0 = no change object): with classifications
(``-lc_pre``/``-lc_post``), one code per ``(pre class, post class)`` pair present, numbered 1.. in the order of
the pairs, named "forest → open land" and coloured with the post class's colour; without, code 1 "change".
The legend goes into the COG's colour table and a QGIS style ``STEM.qml`` beside it. The objects are burnt by
GDAL's ``gdal_rasterize`` straight from PostGIS, window by window, as classifications are
(:func:`antares.pipeline.export.db_to_raster`); the file is written under a temporary name, read back and renamed.
"""

from __future__ import annotations

import contextlib
import logging
import math

import numpy as np

from antares.config import Settings
from antares.errors import InvalidInputError, UsageError
from antares.legend import LegendEntry

log = logging.getLogger(__name__)

__all__ = ["change_to_raster", "transition_legend"]

CHANGE_COLOUR = "#e31a1c"  #: colour of a transition whose post class is unknown


def transition_legend(pairs, legend) -> tuple[dict, list[LegendEntry]]:
    """Codes and legend of the transitions ``pairs`` (``(pre_class, post_class)``, None = no class).

    Parameters
    ----------
    pairs : iterable of (int or None, int or None)
    legend : sequence of LegendEntry
        The class scheme of the two classifications (empty without them).

    Returns
    -------
    codes : dict
        ``{(pre, post): code}``, codes 1.. in the order of the pairs (no class first).
    entries : list of LegendEntry
        One per code: "forest → open land" (class names; "no class" for None), the post class's colour; a
        detection without classes has the one entry ``1 "change"``.

    Examples
    --------
    >>> codes, entries = transition_legend([(1, 2)], [LegendEntry(1, "forest", "#228b22"),
    ...                                               LegendEntry(2, "open land", "#f5deb3")])
    >>> codes, entries[0].name, entries[0].colour
    ({(1, 2): 1}, 'forest → open land', '#f5deb3')
    """
    names = {e.code: e for e in legend}
    order = sorted(set(pairs), key=lambda p: tuple(-1 if v is None else v for v in p))
    if order == [(None, None)] or not order:
        return {(None, None): 1}, [LegendEntry(1, "change", CHANGE_COLOUR)]
    codes, entries = {}, []
    for code, (pre, post) in enumerate(order, start=1):
        def label(value):
            return "no class" if value is None else names[value].name if value in names else f"class {value}"
        codes[(pre, post)] = code
        colour = names[post].colour if post in names else CHANGE_COLOUR
        entries.append(LegendEntry(code, f"{label(pre)} → {label(post)}", colour))
    if len(entries) > 65534:
        raise InvalidInputError(f"{len(entries)} transitions do not fit a uint16 raster (65534 at most).")
    return codes, entries


def _scheme_legend(session, inputs: dict) -> list:
    from antares.db.classifications import classification
    from antares.db.training import scheme_legend

    name = (inputs or {}).get("lc_pre")
    row = classification(session, name) if name else None
    return [] if row is None else list(scheme_legend(session, row.scheme_id))


def change_to_raster(settings: Settings, name: str, path, resolution: float, crs: str | None = None,
                     overwrite: bool = False, progress=None):
    """Rasterise the change objects of change detection ``name`` into a Cloud-Optimised GeoTIFF of transitions.

    Parameters
    ----------
    settings : Settings
    name : str
        A change detection (``antares detect_change``).
    path : str or pathlib.Path
        The output ``.tif``.
    resolution : float
        Pixel size in units of the output CRS (``crs``, default the detection's).
    crs : str, optional
        Output CRS.
    overwrite : bool
        Replace ``path``.
    progress : callable(done, total), optional
        Called after every window.

    Returns
    -------
    antares.pipeline.export.ExportReport

    Raises
    ------
    UsageError
        ``resolution`` not > 0; an invalid ``crs``.
    AlreadyExistsError
        ``path`` exists and ``overwrite`` is False.
    InvalidInputError
        No change object; a CRS without an EPSG code; a raster beyond ``MAX_RASTER_PIXELS``; gdal_rasterize missing.
    WriteError
        The COG read back holds another number of change pixels than were written; nothing is left behind.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.windows import Window, bounds as window_bounds

    from antares.cube.grid import blocks
    from antares.cube.write import check_written, count_valid
    from antares.db.changes import change_detection, change_extent, change_objects_in_box_sql, transitions
    from antares.db.engine import open_database
    from antares.export.style import raster_qml, write_qml
    from antares.pipeline.export import (CACHE_MB, MAX_RASTER_PIXELS, ExportReport, _burn, _gdal_rasterize, _gdal_source,
                                         _grid, _output_crs, _Target, _writing)
    from antares.pipeline.export_requests import WINDOW

    if not (isinstance(resolution, (int, float)) and math.isfinite(resolution) and resolution > 0):
        raise UsageError(f"--resolution must be a number > 0 in units of the output CRS. Got {resolution!r}.")
    tool = _gdal_rasterize()
    target = _Target(path, overwrite, sidecars=(".qml",))
    engine = open_database(settings)
    with _writing(target):
        with engine.connect() as conn:
            row = change_detection(conn, name)
            srid = int(row.crs.split(":")[1]) if row.crs.upper().startswith("EPSG:") else None
            if srid is None:
                raise InvalidInputError(f"change detection '{name}' is in a CRS without an EPSG code; cannot export it.")
            out_srid, out_crs = _output_crs(conn, crs, srid)
            extent = change_extent(conn, row.id, srid, out_srid)
            codes, legend = transition_legend([(r[0], r[1]) for r in transitions(conn, row.id)],
                                              _scheme_legend(conn, row.inputs))
        if extent is None:
            raise InvalidInputError(f"change detection '{name}' has no change object; nothing to rasterise.")
        dtype = "uint8" if len(legend) <= 255 else "uint16"
        grid = _grid(extent, resolution, out_crs)  # multiples of resolution (a change layer has no product grid)
        transform, (height, width) = grid.affine, grid.shape
        if width * height > MAX_RASTER_PIXELS:
            raise InvalidInputError(f"--resolution {resolution:g} gives a raster of {width:,} x {height:,} pixels; "
                                    "choose a coarser --resolution (in units of the output CRS).")
        profile = dict(driver="GTiff", width=width, height=height, count=1, transform=transform, tiled=True,
                       crs=rasterio.crs.CRS.from_user_input(out_crs), blockxsize=512, blockysize=512,
                       compress="deflate", BIGTIFF="IF_SAFER", SPARSE_OK=True)
        report = ExportReport(target.path, "COG", detail=f", {width} x {height} pixels of {resolution:g}, {out_crs}, "
                                                         f"{dtype}, {len(legend)} transition(s)")
        windows = [Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
                   for _, (rows, cols) in blocks(grid, WINDOW)]  # row by row, edge windows cut to the raster
        source = _gdal_source(engine.url.render_as_string(hide_password=False))
        work, written = target.tmp(".work.tif"), 0
        with contextlib.ExitStack() as stack:
            stack.enter_context(rasterio.Env(GDAL_CACHEMAX=CACHE_MB))
            out = stack.enter_context(rasterio.open(work, "w", dtype=dtype, nodata=0, **profile))
            for done, win in enumerate(windows, 1):
                left, bottom, right, top = window_bounds(win, transform)
                sql = change_objects_in_box_sql(row.id, srid, out_srid, (left - resolution, bottom - resolution,
                                                                         right + resolution, top + resolution),
                                                max(right - left, top - bottom) / 32, codes)
                data = _burn(tool, source, sql, "code", win, transform, {"uint8": "Byte", "uint16": "UInt16"}[dtype],
                             "0", target.tmp(".window.tif"), f"window {done} of {len(windows)}")
                if data.any():
                    out.write(data, 1, window=win)
                    written += count_valid(data, 0)
                    report.features += int(np.count_nonzero(data))
                    report.classes.update(np.unique(data[data > 0]).tolist())
                if progress:
                    progress(done, len(windows))
            out.write_colormap(1, {0: (0, 0, 0, 0), **{
                e.code: (*(int(e.colour[i:i + 2], 16) for i in (1, 3, 5)), 255) for e in legend}})
        with rasterio.Env(GDAL_CACHEMAX=CACHE_MB):
            rasterio.shutil.copy(work, target.tmp(target.path.suffix), driver="COG", COMPRESS="DEFLATE",
                                 BLOCKSIZE=512, BIGTIFF="IF_SAFER", OVERVIEW_RESAMPLING="MODE")
        work.unlink()
        check_written(target.tmp(target.path.suffix), written, target.path, "free some space or choose another -f")
        write_qml(target.tmp(".qml"), raster_qml(legend, nodata=0))
        report.style = str(target.path.with_suffix(".qml"))
        target.commit()
    return report
