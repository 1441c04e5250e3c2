"""Block-by-block reading of datasets that already lie on a tile's pixel grid, each file opened once.

``dc.load`` re-resolves every dataset's metadata and re-opens every file for each block it
is asked for; over a tile read in many blocks that overhead is a large share of the time
(see docs/performance.md, recipes). When every requested measurement of every dataset is
on the tile's grid (same CRS, same pixel size, whole-pixel offsets), :class:`GridReader`
reads the blocks straight from the files with rasterio instead, keeping them open for
the whole tile, and returns what ``dc.load(..., group_by="solar_day")`` would: variables
(time, y, x) in the product's dtype with its nodata, time = the solar day, datasets of
one day mosaicked (first valid value wins). Other cases return None: use ``dc.load``.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

CACHE_MB = 64  # GDAL block cache while a GridReader holds its files open


def _aligned(grid: dict, crs, geobox) -> tuple[int, int] | None:
    """(row, col) offset of a dataset grid's origin on ``geobox``'s pixel grid, or None if not aligned."""
    a, b, c, d, e, f = grid["transform"][:6]
    g = geobox.affine
    if crs != geobox.crs or b or d or abs(a - g.a) > 1e-9 * abs(g.a) or abs(e - g.e) > 1e-9 * abs(g.e):
        return None
    col, row = (c - g.c) / g.a, (f - g.f) / g.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return round(row), round(col)


class GridReader:
    """Reads ``measurements`` of ``datasets`` block by block on ``geobox`` (a tile), files opened once.

    Use :meth:`open` (None when a dataset is not on the tile's grid), then :meth:`read` per
    block GeoBox (a window of the tile, possibly padded beyond it), then :meth:`close`.
    """

    def __init__(self, datasets, measurements: list[str], geobox, product_measurements: dict):
        self.datasets = datasets
        self.measurements = measurements
        self.geobox = geobox
        self.defs = product_measurements
        self.handles: dict = {}

    @classmethod
    def open(cls, datasets, measurements: list[str], geobox):
        """A reader, or None when any measurement of any dataset is not on ``geobox``'s grid."""
        from datacube.api.query import solar_day

        if not datasets:
            return None
        defs = datasets[0].product.measurements
        reader = cls(datasets, measurements, geobox, defs)
        reader.layout = {}
        for ds in datasets:
            grids = ds.metadata_doc.get("grids", {})
            for name in measurements:
                entry = ds.metadata_doc["measurements"].get(name)
                if entry is None:
                    return None
                offset = _aligned(grids[entry.get("grid", "default")], ds.crs, geobox)
                if offset is None:
                    return None
                reader.layout[(ds.id, name)] = (offset, tuple(grids[entry.get("grid", "default")]["shape"]))
        days: dict = {}
        for ds in sorted(datasets, key=lambda d: d.center_time):
            days.setdefault(np.datetime64(solar_day(ds), "ns"), []).append(ds)
        reader.days = days
        return reader

    def _src(self, ds, name):
        import rasterio

        from antares.cube.warp import measurement_source

        key = (ds.id, name)
        if key not in self.handles:
            if not hasattr(self, "_env"):
                # files stay open for the whole tile: keep GDAL's block cache small, or it holds
                # decoded blocks of every open file (up to 5 % of RAM by default)
                self._env = rasterio.Env(GDAL_CACHEMAX=CACHE_MB)
                self._env.__enter__()
            path, band = measurement_source(ds, name)
            self.handles[key] = (rasterio.open(path), band)
        return self.handles[key]

    def read(self, block):
        """The block (a GeoBox on the tile's grid) as an xarray Dataset (time, y, x), like ``dc.load``."""
        import xarray as xr
        from odc.geo.xr import xr_coords
        from rasterio.windows import Window

        # the block's offset on the tile grid (blocks may be padded beyond the tile)
        row0 = round((block.affine.f - self.geobox.affine.f) / self.geobox.affine.e)
        col0 = round((block.affine.c - self.geobox.affine.c) / self.geobox.affine.a)
        h, w = block.shape
        variables = {}
        for name in self.measurements:
            definition = self.defs[name]
            dtype = np.dtype(definition["dtype"])
            nodata = definition.get("nodata")
            fill = np.nan if isinstance(nodata, str) and nodata.lower() == "nan" else nodata
            out = np.full((len(self.days), h, w), fill if fill is not None else 0, dtype=dtype)
            for t, datasets in enumerate(self.days.values()):
                have = np.zeros((h, w), bool)
                for ds in datasets:
                    (r, c), (gh, gw) = self.layout[(ds.id, name)]
                    # the block's window in this file's pixels, cut to the file
                    y0, x0 = row0 - r, col0 - c
                    ys, xs = max(0, y0), max(0, x0)
                    ye, xe = min(gh, y0 + h), min(gw, x0 + w)
                    if ys >= ye or xs >= xe:
                        continue
                    src, band = self._src(ds, name)
                    values = src.read(band, window=Window(xs, ys, xe - xs, ye - ys))
                    src_nodata = src.nodatavals[band - 1]
                    valid = np.ones(values.shape, bool)
                    if src_nodata is not None and not np.isnan(src_nodata):
                        valid = values != src_nodata
                    elif values.dtype.kind == "f":
                        valid = np.isfinite(values)
                    target = (t, slice(ys - y0, ye - y0), slice(xs - x0, xe - x0))
                    new = valid & ~have[target[1:]]
                    out[target][new] = values[new].astype(dtype, copy=False)
                    have[target[1:]] |= new
            attrs = {"units": definition.get("units", "1"), "nodata": nodata}
            if "flags_definition" in definition:
                attrs["flags_definition"] = definition["flags_definition"]
            variables[name] = (("time", "y", "x"), out, attrs)
        coords = {"time": list(self.days), **xr_coords(block)}
        return xr.Dataset(variables, coords=coords)

    def close(self) -> None:
        for src, _ in self.handles.values():
            src.close()
        self.handles.clear()
        if hasattr(self, "_env"):
            self._env.__exit__(None, None, None)
            del self._env
