"""Block-by-block reading of datasets that already lie on a tile's pixel grid, each file opened once.

``dc.load`` re-resolves every dataset's metadata and re-opens every file for each block it
is asked for; over a tile read in many blocks that overhead is a large share of the time
(see docs/performance.md, recipes). When every requested measurement of every dataset is
on the tile's grid (same CRS, same pixel size, whole-pixel offsets), :class:`GridReader`
reads windows straight from the files with rasterio instead, keeping them open for the
whole tile, and returns what ``dc.load(..., group_by="solar_day")`` would: values
(time, y, x) in the product's dtype with its nodata, time = the solar day, datasets of
one day mosaicked (first valid value wins). Other cases return None: use ``dc.load``.

The files stay open for the whole tile: read inside ``rasterio.Env(GDAL_CACHEMAX=CACHE_MB)``
(as :func:`tile_blocks` does), or GDAL's block cache keeps decoded blocks of every open file (up
to 5 % of RAM by default). Windows of different measurements may be read by different threads
at the same time (each file is used by the reads of its own measurement only); reads of one
measurement must not overlap.
"""

from __future__ import annotations

import logging

import numpy as np

from antares.errors import InvalidInputError

log = logging.getLogger(__name__)

CACHE_MB = 64  # GDAL block cache while a GridReader holds its files open


def _aligned(grid: dict, crs, geobox) -> tuple[int, int] | None:
    """(row, col) offset of a dataset grid's origin on ``geobox``'s pixel grid, or None if not aligned.

    :func:`antares.cube.grid.grid_offset` (odc-geo) with the tolerances of the check it replaced:
    pixel sizes equal to 1e-9 (relative), offsets whole to 1e-6 pixel.
    """
    from affine import Affine
    from odc.geo.geobox import GeoBox

    from antares.cube.grid import grid_offset

    return grid_offset(GeoBox(tuple(grid["shape"]), Affine(*grid["transform"][:6]), crs), geobox, 1e-6, 1e-9)


def _fill_value(nodata):
    """The value a product's ``nodata`` declares (NaN for "NaN"), or None."""
    if isinstance(nodata, str):
        return np.nan if nodata.lower() == "nan" else float(nodata)
    return nodata


class GridReader:
    """Reads ``measurements`` of ``datasets`` in windows of ``geobox`` (a tile), files opened once.

    Use :meth:`open` (None when a dataset is not on the tile's grid), then :meth:`window`
    (numpy) or :meth:`read` (xarray, per block GeoBox) as often as needed, then :meth:`close`.

    Attributes
    ----------
    times : numpy.ndarray of datetime64[ns], (time,)
        The solar days, ascending.
    groups : list of list of datacube.model.Dataset
        The datasets of each time step, in mosaic order (earliest first).
    """

    def __init__(self, measurements: list[str], geobox, product_measurements: dict, groups: list, times, layout: dict):
        self.measurements = measurements
        self.geobox = geobox
        self.defs = product_measurements
        self.groups = groups
        self.times = times
        self.layout = layout  # (time index, measurement) -> [(dataset index, (row, col), (height, width))]
        self.paths: dict = {}  # (dataset index, measurement) -> (path, band)
        self.handles: dict = {}

    @classmethod
    def open(cls, datasets, measurements: list[str], geobox):
        """A reader, or None when any measurement of any dataset is not on ``geobox``'s grid."""
        from datacube.api.query import solar_day

        if not datasets:
            return None
        defs = datasets[0].product.measurements
        ordered = sorted(datasets, key=lambda d: d.center_time)
        offsets = {}
        for k, ds in enumerate(ordered):
            doc = ds.metadata_doc
            grids = doc.get("grids", {})
            crs = ds.crs
            for name in measurements:
                entry = doc["measurements"].get(name)
                if entry is None:
                    return None
                grid = grids[entry.get("grid", "default")]
                offset = _aligned(grid, crs, geobox)
                if offset is None:
                    return None
                offsets[(k, name)] = (offset, tuple(grid["shape"]))
        days: dict = {}
        for k, ds in enumerate(ordered):
            days.setdefault(np.datetime64(solar_day(ds), "ns"), []).append(k)
        layout = {(t, name): [(k, *offsets[(k, name)]) for k in members]
                  for t, members in enumerate(days.values()) for name in measurements}
        groups = [[ordered[k] for k in members] for members in days.values()]
        reader = cls(measurements, geobox, defs, groups, np.array(list(days), dtype="datetime64[ns]"), layout)
        reader.datasets = ordered
        return reader

    # ------------------------------------------------------------------ product metadata
    def dtype(self, name: str) -> np.dtype:
        """The product's dtype of measurement ``name``."""
        return np.dtype(self.defs[name]["dtype"])

    def nodata(self, name: str):
        """The product's nodata of measurement ``name`` (a number, NaN, or None)."""
        return _fill_value(self.defs[name].get("nodata"))

    def attrs(self, name: str) -> dict:
        """The attributes ``dc.load`` gives measurement ``name``: units, nodata (and flags_definition)."""
        definition = self.defs[name]
        attrs = {"units": definition.get("units", "1"), "nodata": definition.get("nodata")}
        if "flags_definition" in definition:
            attrs["flags_definition"] = definition["flags_definition"]
        return attrs

    # ------------------------------------------------------------------ reading
    def _src(self, k: int, name: str):
        import rasterio

        from antares.cube.warp import measurement_source

        key = (k, name)
        if key not in self.handles:
            path, band = measurement_source(self.datasets[k], name)
            src = rasterio.open(path)
            nodata = src.nodatavals[band - 1]
            src_dtype = np.dtype(src.dtypes[band - 1])
            if not np.can_cast(src_dtype, self.dtype(name), "safe"):
                src.close()
                raise InvalidInputError(
                    f"{path} band {band} ({name}) holds {src_dtype}, which does not fit product dtype {self.dtype(name)} "
                    "without loss; index the files into a product derived from them (antares index --product NEW_NAME).")
            self.handles[key] = (src, band, nodata, src_dtype)
        return self.handles[key]

    def window(self, name: str, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Measurement ``name`` in the window of the tile grid at (``row0``, ``col0``), all time steps.

        The window may extend beyond the tile (and beyond the files: nodata there).

        Returns
        -------
        numpy.ndarray, (time, height, width), C-contiguous
            The product's dtype; its nodata where no dataset of the day has a valid value.
        """
        from rasterio.windows import Window

        dtype = self.dtype(name)
        nodata = self.nodata(name)
        fill = nodata if nodata is not None else 0
        out = np.empty((len(self.times), height, width), dtype=dtype)
        for t in range(len(self.times)):
            layer = out[t]
            have = None  # pixels of this day already taken; None: none yet
            entries = self.layout[(t, name)]
            for n, (k, (r, c), (gh, gw)) in enumerate(entries):
                # the window in this file's pixels, cut to the file
                y0, x0 = row0 - r, col0 - c
                ys, xs = max(0, y0), max(0, x0)
                ye, xe = min(gh, y0 + height), min(gw, x0 + width)
                if ys >= ye or xs >= xe:
                    continue
                src, band, src_nodata, src_dtype = self._src(k, name)
                file_window = Window(xs, ys, xe - xs, ye - ys)
                whole = (ys, xs, ye, xe) == (y0, x0, y0 + height, x0 + width)
                plain = src_dtype == dtype and (
                    (src_nodata is None and dtype.kind in "iub") or
                    (src_nodata is not None and nodata is not None and not np.isnan(src_nodata) and src_nodata == fill))
                if have is None and whole and plain:
                    # the first dataset of the day covers the window: decode straight into the output
                    src.read(band, window=file_window, out=layer)
                    if n + 1 < len(entries):  # more datasets this day: they fill what this one left
                        have = np.ones(layer.shape, bool) if src_nodata is None else layer != fill
                    else:
                        have = True
                    continue
                if have is None:
                    layer[...] = fill
                    have = np.zeros(layer.shape, bool)
                values = src.read(band, window=file_window)
                if src_nodata is not None and not np.isnan(src_nodata):
                    valid = values != src_nodata
                elif values.dtype.kind == "f":
                    valid = np.isfinite(values)
                else:
                    valid = np.ones(values.shape, bool)
                target = (slice(ys - y0, ye - y0), slice(xs - x0, xe - x0))
                new = valid & ~have[target]
                np.copyto(layer[target], values.astype(dtype, copy=False), where=new)
                have[target] |= new
            if have is None:
                layer[...] = fill
        return out

    def read(self, block):
        """The block (a GeoBox on the tile's grid) as an xarray Dataset (time, y, x), like ``dc.load``.

        The spatial dimensions are the GeoBox's: ``(latitude, longitude)`` on a geographic CRS.
        """
        import xarray as xr
        from odc.geo.xr import xr_coords

        row0, col0 = self.offset(block)
        h, w = block.shape
        variables = {name: (("time", *block.dimensions), self.window(name, row0, col0, h, w), self.attrs(name))
                     for name in self.measurements}
        coords = {"time": list(self.times), **xr_coords(block)}
        return xr.Dataset(variables, coords=coords)

    def offset(self, block) -> tuple[int, int]:
        """(row, col) of a block GeoBox's first pixel on the tile grid (negative beyond the tile)."""
        row0 = round((block.affine.f - self.geobox.affine.f) / self.geobox.affine.e)
        col0 = round((block.affine.c - self.geobox.affine.c) / self.geobox.affine.a)
        return row0, col0

    def close(self) -> None:
        for src, *_ in self.handles.values():
            src.close()
        self.handles.clear()


def read_first_time(datasets, measurements: list[str], geobox) -> dict | None:
    """The first time step of ``dc.load(datasets=datasets, like=geobox, measurements=measurements)``, read directly.

    As ``dc.load``'s default grouping: the datasets of the earliest ``center_time``,
    mosaicked in order of id (first valid value wins). Read with a :class:`GridReader`
    inside ``rasterio.Env(GDAL_CACHEMAX=CACHE_MB)``, files opened once and closed on return.

    Returns
    -------
    dict of str to (numpy.ndarray, nodata), or None
        Each measurement as (y, x) values in the product's dtype, nodata where no dataset
        has a valid value, with the product's nodata (a number, NaN, or None). None when a
        dataset has no time or is not on ``geobox``'s grid: use ``dc.load``.
    """
    import rasterio
    from datacube.utils.dates import normalise_dt

    if not datasets or any(ds.center_time is None for ds in datasets):
        return None
    times = [normalise_dt(ds.center_time) for ds in datasets]  # dc.load's time coordinate
    first = min(times)
    group = sorted((ds for ds, t in zip(datasets, times) if t == first), key=lambda ds: ds.id)
    reader = GridReader.open(group, measurements, geobox)
    if reader is None:
        return None
    try:
        with rasterio.Env(GDAL_CACHEMAX=CACHE_MB):
            return {name: (reader.window(name, 0, 0, *geobox.shape)[0], reader.nodata(name)) for name in measurements}
    finally:
        reader.close()


class MarginWindows:
    """Windows of one measurement with a margin of ``pad`` pixels, each file block decoded once.

    A block of the tile widened by a margin straddles up to four tiles of a COG whose tiles
    are the blocks; reading it directly decodes all four. Instead the measurement is read in
    full-width strips (the tile's block rows, plus a ``pad``-row strip above and below the
    tile), each once, and windows are cut from the strips that are still needed. Windows must
    be asked for in row order (block rows from top to bottom); a strip is dropped once a
    window starts below it.

    Parameters
    ----------
    window : callable
        ``window(row0, col0, height, width) -> (time, height, width) array`` on the tile grid
        (e.g. :meth:`GridReader.window` with the measurement bound).
    shape : (int, int)
        The tile's (height, width).
    size : int
        The tile's block size (rows per strip).
    pad : int
        The margin, in pixels.
    """

    def __init__(self, window, shape: tuple[int, int], size: int, pad: int):
        self._read = window
        self.height, self.width = shape
        self.pad = pad
        edges = [-pad] if pad else []
        edges += list(range(0, self.height, size)) + [self.height]
        if pad:
            edges.append(self.height + pad)
        self.strips = list(zip(edges[:-1], edges[1:]))
        self.cache: dict = {}  # strip start -> (time, rows, width + 2 pad) array

    def window(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """The window (rows and columns may reach ``pad`` beyond the tile), C-contiguous (time, height, width)."""
        row1 = row0 + height
        for start in [s for s in self.cache if self.cache[s].shape[1] + s <= row0]:
            del self.cache[start]  # above every later window
        parts = []
        for start, stop in self.strips:
            if stop <= row0 or start >= row1:
                continue
            if start not in self.cache:
                self.cache[start] = self._read(start, -self.pad, stop - start, self.width + 2 * self.pad)
            strip = self.cache[start]
            parts.append(strip[:, max(row0, start) - start:min(row1, stop) - start,
                               col0 + self.pad:col0 + self.pad + width])
        return np.ascontiguousarray(np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0])


class TileBlock:
    """The inputs of one block of a tile, as :func:`tile_blocks` yields them.

    Attributes
    ----------
    rows, cols : slice
        The block's place in the tile.
    raw : dict of str to numpy.ndarray, (time, height, width)
        Each measurement on the block, in the product's dtype with its nodata (C-contiguous).
    margin : numpy.ndarray, (time, height + 2 pad, width + 2 pad), or None
        The margin measurement on the block widened by ``pad`` pixels on each side.
    times : numpy.ndarray of datetime64[ns], (time,)
        The solar days, ascending.
    """

    __slots__ = ("rows", "cols", "raw", "margin", "times", "_offsets")

    def __init__(self, rows, cols, raw, margin, times, offsets):
        self.rows, self.cols, self.raw, self.margin, self.times = rows, cols, raw, margin, times
        self._offsets = offsets

    def offsets(self, name: str) -> tuple:
        """``(add_offset, scale_factor)``, float32 arrays (time,), of measurement ``name`` (:mod:`~antares.cube.reflectance`)."""
        return self._offsets(name)


def tile_blocks(dc, datasets, measurements: list[str], geobox, size: int, margin_measurement=None,
                pad: int = 0, threads: int = 2):
    """Yield the :class:`TileBlock` of every block of ``geobox`` (``size`` pixels square) that some dataset touches.

    Datasets on the tile's grid are read with a :class:`GridReader` (files opened once, windows
    aligned with the blocks, the margin measurement from :class:`MarginWindows`), the
    measurements of a block split over ``threads`` threads (GDAL decodes without the GIL);
    others with ``dc.load(like=block widened by pad, group_by="solar_day")`` per block. A block
    that no dataset touches (its footprint widened by ``pad``) is not yielded: its outputs stay
    nodata. Opening, reading and closing happen in the thread that iterates and its helpers.

    ``margin_measurement`` is one measurement name (the block's ``margin`` is its array) or a tuple
    of names (``margin`` is a dict name -> array: the ten bands of an s2cloudless mask).
    """
    import rasterio
    from concurrent.futures import ThreadPoolExecutor

    from antares.cube.grid import blocks
    from antares.cube.reflectance import offsets_per_group, offsets_per_time

    several = isinstance(margin_measurement, (tuple, list))
    margin_names = list(margin_measurement) if several else ([margin_measurement] if margin_measurement else [])
    footprints = [d.extent.to_crs(geobox.crs) if d.extent is not None else None for d in datasets]
    names = list(dict.fromkeys(measurements + margin_names))
    reader = GridReader.open(datasets, names, geobox)
    env = rasterio.Env(GDAL_CACHEMAX=CACHE_MB)
    pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="antares-read") if reader else None
    env.__enter__()
    try:
        if reader is not None:
            cached: dict = {}

            def grid_offsets(name):
                if name not in cached:
                    cached[name] = offsets_per_group(reader.groups, name, reader.times, reader.defs[name])
                return cached[name]

            margins = None
            if margin_names:
                margins = {name: MarginWindows(lambda r, c, h, w, name=name: reader.window(name, r, c, h, w),
                                               geobox.shape, size, pad) for name in margin_names}
            # each thread reads its own measurements (so a file is never read by two threads at once);
            # the margin measurement (cheap: few classes) goes with the smaller group
            others = [m for m in measurements if m not in margin_names]
            groups = [others[i::max(1, threads)] for i in range(max(1, threads))]
            groups[-1].extend(m for m in margin_names if m in measurements)

            def read_group(group, with_margin, y0, x0, h, w):
                out = {name: reader.window(name, y0, x0, h, w) for name in group if name not in margin_names}
                if with_margin:
                    wide = {name: margins[name].window(y0 - pad, x0 - pad, h + 2 * pad, w + 2 * pad)
                            for name in margin_names}
                    inner = (slice(None), slice(pad, pad + h), slice(pad, pad + w))
                    out.update({name: np.ascontiguousarray(wide[name][inner]) for name in group if name in wide})
                    out[None] = wide if several else wide[margin_names[0]]
                return out

        for block, (rows, cols) in blocks(geobox, size):
            padded = block.pad(pad) if pad else block
            footprint = padded.extent
            if not any(f is not None and f.intersects(footprint) for f in footprints):
                continue
            h, w = block.shape
            if reader is not None:
                parts = [pool.submit(read_group, group, margins is not None and i == len(groups) - 1, rows.start,
                                     cols.start, h, w) for i, group in enumerate(groups)]
                raw = {}
                for part in parts:
                    raw.update(part.result())
                margin = raw.pop(None, None)
                yield TileBlock(rows, cols, {name: raw[name] for name in measurements}, margin, reader.times,
                                grid_offsets)
                continue
            inside = [d for d, f in zip(datasets, footprints) if f is not None and f.intersects(footprint)]
            loaded = dc.load(datasets=inside, like=padded, measurements=names, group_by="solar_day")
            inner = (slice(None), slice(pad, pad + h), slice(pad, pad + w))
            raw = {name: np.ascontiguousarray(loaded[name].values[inner]) for name in measurements}
            margin = None
            if margin_names:
                wide = {name: np.ascontiguousarray(loaded[name].values) for name in margin_names}
                margin = wide if several else wide[margin_names[0]]
            yield TileBlock(rows, cols, raw, margin, loaded.time.values.astype("datetime64[ns]"),
                            lambda name, loaded=loaded, inside=inside: offsets_per_time(loaded, inside, name,
                                                                                     loaded[name].attrs))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if reader is not None:
            reader.close()
        env.__exit__(None, None, None)
