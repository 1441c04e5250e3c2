"""``antares view``: classifications, segmentations, sample sets, change detections and product quicklooks on one HTML map.

Each NAME becomes one toggleable layer with its legend. A name is looked up among the
classifications, segmentations, training sets, validation sets, change detections and products,
in that order; ``KIND:NAME`` (``classification:``, ``segmentation:``, ``training:``, ``validation:``,
``change:``, ``product:``) picks one kind. Change objects are coloured by transition
(:mod:`antares.pipeline.view_change`). Vector layers of more than ``MAX_OBJECTS`` objects are drawn
as an image (rasterised on the Web Mercator grid, at most ``RASTER_SIZE`` pixels a side) so
that the page stays fast; smaller ones are simplified to about a fifth of a screen pixel at the
extent's zoom.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import InvalidInputError, NotFoundError
from antares.pipeline.requests import ViewRequest, takes

log = logging.getLogger(__name__)

#: Most objects drawn as vectors in one layer; beyond, the layer is an image.
MAX_OBJECTS = 50_000
#: The larger side, in pixels, of an image layer (product quicklook or rasterised objects).
RASTER_SIZE = 2048
KINDS = ("classification", "segmentation", "training", "validation", "change", "product")
RGB_SETS = (("B04", "B03", "B02"), ("red", "green", "blue"), ("nbart_red", "nbart_green", "nbart_blue"))


@dataclass
class ViewReport:
    """The map written and what each layer holds."""

    path: Path
    layers: list = field(default_factory=list)  # (kind, name, what)

    def lines(self) -> list[str]:
        return [f"wrote {self.path}: {len(self.layers)} layer(s)"] + [f"  {k} {n}: {w}" for k, n, w in self.layers]


def _catalog(conn, dc) -> dict:
    from antares.db.changes import change_names
    from antares.db.classifications import classification_names
    from antares.db.segmentations import segmentation_names
    from antares.db.training import list_sample_sets

    sets = list_sample_sets(conn)
    return {"classification": classification_names(conn), "segmentation": segmentation_names(conn),
            "training": [s["name"] for s in sets if s["kind"] == "training"],
            "validation": [s["name"] for s in sets if s["kind"] == "validation"],
            "change": change_names(conn),
            "product": sorted(p.name for p in dc.index.products.get_all())}


def resolve(catalog: dict, name: str) -> tuple[str, str]:
    """(kind, name) of layer ``name`` (or ``KIND:NAME``) in ``catalog`` ({kind: [names]}, some of :data:`KINDS`).

    Raises
    ------
    NotFoundError
        No such layer: one line listing the names of every kind.
    """
    kinds = [k for k in KINDS if k in catalog]
    kind, _, bare = name.partition(":") if name.split(":", 1)[0] in kinds else ("", "", name)
    for k in (kind,) if kind else kinds:
        if bare in catalog[k]:
            return k, bare
    known = "; ".join(f"{k}: {', '.join(catalog[k][:20]) + (' ...' if len(catalog[k]) > 20 else '') or '(none)'}"
                      for k in kinds)
    raise NotFoundError(f"no layer named '{name}'; layers: {known}.")


def _colours(legend) -> dict:
    return {e.code: e.colour for e in legend}


def _frame(rows, columns: list, srid: int = 4326):
    import geopandas as gpd
    import shapely

    cols = list(zip(*rows)) if rows else [[] for _ in range(len(columns) + 1)]
    data = {c: list(v) for c, v in zip(columns, cols[:-1])}
    return gpd.GeoDataFrame(data, geometry=shapely.from_wkb([bytes(g) for g in cols[-1]]), crs=f"EPSG:{srid}")


def _simplify(frame):
    """Geometries simplified to about a fifth of a screen pixel when the whole layer fills 1000 pixels."""
    if len(frame) == 0:
        return frame
    x0, y0, x1, y1 = frame.total_bounds
    frame["geometry"] = frame.geometry.simplify(max(x1 - x0, y1 - y0) / 5000, preserve_topology=True)
    return frame


def _rasterise(conn, query, extent, colour_of, size: int = RASTER_SIZE, opaque: bool = False):
    """The objects of ``query`` (rows ending in their WKB) burnt into an RGBA image, coloured by ``colour_of(row)``.

    Rows are read in batches of 20,000 and burnt one batch at a time (pixel-centre rule), so memory is the
    image plus a batch. ``extent`` (minx, miny, maxx, maxy) is in the CRS of the geometries; the image has
    at most ``size`` pixels a side, square pixels; alpha is 200 (255 when ``opaque``), 0 where no object.

    Returns
    -------
    (numpy.ndarray of uint8 (y, x, 4), int, tuple)
        The image, the number of objects burnt and the image's (left, right, bottom, top).
    """
    import matplotlib.colors as mcolors
    import shapely
    from affine import Affine
    from rasterio.features import rasterize

    x0, y0, x1, y1 = extent
    step = max(x1 - x0, y1 - y0) / size
    shape = (max(1, int(np.ceil((y1 - y0) / step))), max(1, int(np.ceil((x1 - x0) / step))))
    transform = Affine(step, 0, x0, 0, -step, y1)
    index = np.zeros(shape, np.uint16)  # colour index, 0 = none
    palette: dict = {}
    result = conn.connection().execution_options(stream_results=True).execute(query)
    n = 0
    while rows := result.fetchmany(20_000):
        shapes = []
        for row in rows:
            code = palette.setdefault(colour_of(row), len(palette) + 1)
            shapes.append((shapely.from_wkb(bytes(row[-1])), code))
        rasterize(shapes, out=index, transform=transform, all_touched=False)
        n += len(rows)
    table = np.zeros((len(palette) + 1, 4), np.uint8)
    for colour, code in palette.items():
        table[code] = [round(255 * v) for v in mcolors.to_rgba(colour)]
        table[code, 3] = 255 if opaque else 200
    return table[index], n, (x0, x0 + shape[1] * step, y1 - shape[0] * step, y1)


def _latlon_bounds(box3857) -> tuple:
    from pyproj import Transformer

    t = Transformer.from_crs(3857, 4326, always_xy=True)
    w, s = t.transform(box3857[0], box3857[1])
    e, n = t.transform(box3857[2], box3857[3])
    return (s, w), (n, e)


def _classification_layer(conn, name: str, max_objects: int, raster_size: int = RASTER_SIZE):
    from antares.db.classifications import objects_extent, objects_query, prediction_count
    from antares.export.webmap import ImageLayer, VectorLayer
    from antares.pipeline.export import _source

    src = _source(conn, name)
    names, colours = {e.code: e.name for e in src.legend}, _colours(src.legend)
    n = prediction_count(conn, src.id)
    if n == 0:
        raise InvalidInputError(f"classification '{name}' has no classified object; re-run 'antares model_predict_object'.")
    if n > max_objects:
        extent = objects_extent(conn, src.id, src.segmentation_id, src.srid, None, 3857)
        query = objects_query(src.id, src.segmentation_id, src.srid, None, False, False, 3857)
        rgba, _, (left, right, bottom, top) = _rasterise(conn, query, extent, lambda r: colours.get(int(r[1]), "#888888"),
                                                         size=raster_size)
        bounds = _latlon_bounds((left, bottom, right, top))
        codes = sorted({int(c) for c in colours})
        return ImageLayer(name, rgba, bounds, legend=[(names[c], colours[c]) for c in codes],
                          note=f"{n} objects > {max_objects}: drawn as an image"), f"{n} objects (image)"
    rows = conn.execute(objects_query(src.id, src.segmentation_id, src.srid, None, False, False, 4326)).all()
    frame = _simplify(_frame(rows, ["object_id", "code", "confidence", "entropy", "area_m2"]))
    frame["class"] = [names.get(int(c), f"class {c}") for c in frame.code]
    frame["_colour"] = [colours.get(int(c), "#888888") for c in frame.code]
    frame["confidence"] = frame.confidence.astype(float).round(3)
    frame["entropy"] = frame.entropy.astype(float).round(3)
    frame["area_m2"] = frame.area_m2.astype(float).round(1)
    present = sorted(set(frame.code.astype(int)))
    legend = [(names.get(c, f"class {c}"), colours.get(c, "#888888")) for c in present]
    popup = [("class", "class"), ("confidence", "confidence"), ("entropy", "entropy"), ("area_m2", "area (m²)"),
             ("object_id", "object id")]
    return VectorLayer(name, frame, popup, legend), f"{len(frame)} objects, {len(present)} classes"


def _segmentation_layer(conn, name: str, max_objects: int, raster_size: int = RASTER_SIZE):
    from antares.db.segmentations import segment_count, segment_srid, segmentation, segments_extent, segments_query
    from antares.export.webmap import ImageLayer, VectorLayer

    row = segmentation(conn, name)
    srid = segment_srid(conn, row.id)
    if srid is None:
        raise InvalidInputError(f"segmentation '{name}' has no segments; re-run 'antares segment'.")
    n = segment_count(conn, row.id)
    colour = "#ff00ff"
    if n > max_objects:
        extent = segments_extent(conn, row.id, srid, 3857)
        rgba, _, (left, right, bottom, top) = _rasterise(
            conn, segments_query(row.id, srid, 3857), extent,
            lambda r: ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00")[int(r[0]) % 5], size=raster_size)
        bounds = _latlon_bounds((left, bottom, right, top))
        return ImageLayer(name, rgba, bounds, note=f"{n} segments > {max_objects}: drawn as an image"), f"{n} segments (image)"
    frame = _simplify(_frame(conn.execute(segments_query(row.id, srid, 4326)).all(),
                             ["object_id", "area_m2", "pixel_count"]))
    frame["area_m2"] = frame.area_m2.astype(float).round(1)
    frame["_colour"] = colour
    return (VectorLayer(name, frame, [("object_id", "object id"), ("area_m2", "area (m²)"), ("pixel_count", "pixels")],
                        [("segment outline", colour)], outline=True), f"{len(frame)} segments")


def _samples_layer(conn, kind: str, name: str, max_objects: int):
    import geopandas as gpd

    from antares.db.training import read_samples, sample_set, scheme_legend
    from antares.export.webmap import VectorLayer

    row = sample_set(conn, kind, name)
    legend = scheme_legend(conn, row.scheme_id)
    ids, codes, geoms, _ = read_samples(conn, row.id, srid=4326)
    if len(ids) > max_objects:
        raise InvalidInputError(f"{kind} set '{name}' has {len(ids)} samples, more than the {max_objects} a map layer "
                                "draws; view a classification or a subset instead.")
    names, colours = {e.code: e.name for e in legend}, _colours(legend)
    frame = _simplify(gpd.GeoDataFrame({"sample_id": ids, "code": codes}, geometry=list(geoms), crs="EPSG:4326"))
    frame["class"] = [names.get(int(c), f"class {c}") for c in codes]
    frame["_colour"] = [colours.get(int(c), "#888888") for c in codes]
    present = sorted(set(codes.tolist()))
    return (VectorLayer(f"{name} ({kind})", frame, [("class", "class"), ("sample_id", "sample id")],
                        [(names.get(c, f"class {c}"), colours.get(c, "#888888")) for c in present]),
            f"{len(frame)} samples, {len(present)} classes")


def quicklook_image(data, measurement: str | None = None, cmap: str = "viridis"):
    """(RGBA uint8 (y, x, 4), ramp or None, what) of a loaded quicklook: RGB bands or one measurement.

    RGB (B04/B03/B02 or red/green/blue) unless ``measurement`` is given; each channel (or the
    measurement) is stretched linearly between its 2nd and 98th percentile of valid pixels; nodata
    (declared, or NaN) is transparent.

    Raises
    ------
    InvalidInputError
        No valid pixel.
    """
    import matplotlib

    def valid(var):
        values = var.values.astype(np.float64)
        ok = np.isfinite(values)
        nodata = var.attrs.get("nodata")
        if nodata is not None and np.isfinite(float(nodata)):
            ok &= values != float(nodata)
        return values, ok

    if measurement is None:
        rgb = next((s for s in RGB_SETS if all(b in data.data_vars for b in s)), None)
        measurement = None if rgb else next(iter(data.data_vars))
    if measurement is None:
        channels, oks = zip(*(valid(data[b]) for b in rgb))
        ok = np.logical_and.reduce(oks)
        if not ok.any():
            raise InvalidInputError(f"the quicklook of {'/'.join(rgb)} on {data.attrs.get('date')} has no valid pixel.")
        out = np.zeros((*ok.shape, 4), np.uint8)
        for i, values in enumerate(channels):
            low, high = np.percentile(values[ok], [2, 98])
            out[..., i] = np.clip((values - low) / max(high - low, 1e-12) * 255, 0, 255).round().astype(np.uint8)
        out[..., 3] = np.where(ok, 255, 0)
        return out, None, f"RGB {'/'.join(rgb)}"
    values, ok = valid(data[measurement])
    if not ok.any():
        raise InvalidInputError(f"the quicklook of {measurement} on {data.attrs.get('date')} has no valid pixel.")
    low, high = np.percentile(values[ok], [2, 98])
    out = (matplotlib.colormaps[cmap]((values - low) / max(high - low, 1e-12)) * 255).round().astype(np.uint8)
    out[..., 3] = np.where(ok, 255, 0)
    return out, (cmap, float(low), float(high), measurement), measurement


def _product_layer(dc, name: str, measurement: str | None, time: str | None, cmap: str, size: int = RASTER_SIZE // 2):
    from antares.cube.load import load_quicklook
    from antares.export.webmap import ImageLayer

    data = load_quicklook(dc, name, [measurement] if measurement else None, time, max_size=size)
    rgba, ramp, what = quicklook_image(data, measurement, cmap)
    x0, y0, x1, y1 = data.odc.geobox.extent.boundingbox
    return (ImageLayer(f"{name} {data.attrs['date']}", rgba, _latlon_bounds((x0, y0, x1, y1)), ramp=ramp,
                       note=what if ramp is None else ""), f"{what} on {data.attrs['date']}, {rgba.shape[1]} x {rgba.shape[0]} px")


def _bounds(layer) -> tuple:
    if hasattr(layer, "rgba"):
        (s, w), (n, e) = layer.bounds
        return w, s, e, n
    return tuple(layer.frame.total_bounds)


@takes(ViewRequest)
def view(settings: Settings, request: ViewRequest, progress=None) -> ViewReport:
    """Write a self-contained HTML map of the layers ``request.names`` (classifications, segmentations, sample sets,
    change detections, products).

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.requests.ViewRequest
        ``names``: layer names, or ``KIND:NAME`` (see the module's docstring), one layer each, in this order;
        ``path``: the ``.html`` file, written under a temporary name and renamed when complete;
        ``basemap`` (None or ``"osm"``): an OpenStreetMap tile basemap, fetched by the browser when the
        page is opened (none by default, so the page works offline); ``measurement``, ``time``, ``cmap``:
        for product layers, one measurement drawn with the matplotlib colour map ``cmap`` (default: RGB
        when the product has B04/B03/B02 or red/green/blue) and the date (default: the latest);
        ``max_objects``: most objects drawn as vectors per layer (50,000), beyond which a classification,
        segmentation or change layer is an image and a sample set is refused; ``raster_size``: the larger
        side in pixels of such an image (2048; product quicklooks get half of it). The old form
        ``view(settings, names, path, basemap, overwrite, ...)`` builds the request.
    progress : callable, optional
        ``progress(done, total)`` after each layer is read (``total``: the number of layers).

    Returns
    -------
    ViewReport

    Raises
    ------
    NotFoundError
        An unknown layer name (all names are listed), measurement or date.
    UsageError
        Raised by the request: no name or a name twice, ``path`` not ending in .html, an unknown basemap
        or colour map.
    AlreadyExistsError
        ``path`` exists and ``overwrite`` is False.
    InvalidInputError
        An empty layer, a quicklook without valid pixels.

    Examples
    --------
    >>> from antares.pipeline.requests import ViewRequest
    >>> view(settings, ViewRequest(("map_2017", "map_val", "b10"), "map.html"))  # doctest: +SKIP
    """
    from antares.cube.index import connect
    from antares.cube.write import read_back_failure
    from antares.db.engine import database_url, session_scope
    from antares.export.webmap import write_html
    from antares.pipeline.export import _Target, _writing

    names, path, overwrite, basemap = request.names, request.path, request.overwrite, request.basemap
    max_objects, raster_size = request.max_objects, request.raster_size
    target = _Target(path, overwrite)
    report = ViewReport(target.path)
    dc = connect(database_url(settings))
    layers = []
    try:
        with session_scope(settings) as conn:
            catalog = _catalog(conn, dc)
            picked = [resolve(catalog, n) for n in names]
            for kind, name in picked:
                if kind == "classification":
                    layer, what = _classification_layer(conn, name, max_objects, raster_size)
                elif kind == "segmentation":
                    layer, what = _segmentation_layer(conn, name, max_objects, raster_size)
                elif kind in ("training", "validation"):
                    layer, what = _samples_layer(conn, kind, name, max_objects)
                elif kind == "change":
                    from antares.pipeline.view_change import change_layer

                    layer, what = change_layer(conn, name, max_objects, raster_size)
                else:
                    layer, what = _product_layer(dc, name, request.measurement, request.time, request.cmap,
                                                 raster_size // 2)
                if not hasattr(layer, "rgba") and len(layer.frame) == 0:
                    raise InvalidInputError(f"{kind} '{name}' has nothing to draw.")
                layers.append(layer)
                report.layers.append((kind, name, what))
                if progress:
                    progress(len(layers), len(picked))
    finally:
        dc.close()
    boxes = np.array([_bounds(layer) for layer in layers])
    bounds = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
    text = write_html(layers, target.path, bounds, basemap, title=" · ".join(names))
    with _writing(target):
        tmp = target.tmp(".html")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if tmp.stat().st_size != len(text.encode("utf-8")):
            raise read_back_failure(target.path, tmp.stat().st_size, len(text.encode("utf-8")), "byte(s)",
                                    "free some space or choose another -f")
        target.commit()
    return report
