"""``antares plot timeseries``: a pixel's values over time, clear and masked observations apart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError, UsageError

#: Sen2Cor SCL classes counted as clear observations (vegetation, not vegetated, water, unclassified),
#: the classes ``dates.csv`` of the Romania sample and the s2 recipes keep.
CLEAR_SCL = (4, 5, 6, 7)
_SCL_NAMES = ("SCL", "scl")


@dataclass
class TimeseriesReport:
    """The plot written and its data: dates, values per measurement and why each date is masked ("" = clear)."""

    path: Path
    times: np.ndarray
    series: dict
    reasons: list
    x: float
    y: float
    crs: str
    figure: object = None
    where: str = "pixel centre"

    def lines(self) -> list[str]:
        clear = sum(r == "" for r in self.reasons)
        return [f"wrote {self.path}: {len(self.times)} date(s), {clear} clear, {len(self.times) - clear} masked, "
                f"{self.where} ({self.x:.2f}, {self.y:.2f}) in {self.crs}"]


def mask_reasons(scl, nodata_rows) -> list[str]:
    """Per date: "" (clear), ``"nodata"`` or the name of the SCL class that masks it.

    Parameters
    ----------
    scl : numpy.ndarray of int, shape (t,), or None
        Sen2Cor scene classes (0 = nodata); None when the product has no SCL: only nodata masks.
    nodata_rows : numpy.ndarray of bool, shape (t,)
        Dates where a plotted measurement holds no value.
    """
    from antares.recipes.specs import SCL_CLASSES

    reasons = []
    for i, missing in enumerate(nodata_rows):
        code = None if scl is None else int(scl[i])
        if missing or code == 0:
            reasons.append("nodata")
        elif code is not None and code not in CLEAR_SCL:
            reasons.append(f"SCL {code} {SCL_CLASSES.get(code, 'unknown')}")
        else:
            reasons.append("")
    return reasons


def plot_timeseries(settings: Settings, product: str, path, point: tuple | None = None, crs: str = "EPSG:4326",
                    measurements: list | None = None, overwrite: bool = False,
                    segment: tuple | None = None) -> TimeseriesReport:
    """Plot every date of ``product`` at a point or over an object: clear observations as a line, masked ones grey.

    With ``segment`` = (segmentation, object id) each date's value is the mean over the object's pixels
    (centre inside) that are clear (SCL 4-7) and valid; a date without such a pixel is masked, with the
    mean of its valid pixels, by the most frequent SCL class among the object's pixels (or ``nodata``).

    Parameters
    ----------
    product : str
        An indexed product.
    path : path-like
        The figure; its extension (png, svg, pdf, ...) gives the format.
    point : (float, float), optional
        x and y in ``crs`` (longitude, latitude in degrees for the default EPSG:4326); or ``segment``.
    segment : (str, int), optional
        A segmentation and the id of one of its objects.
    measurements : list of str, optional
        What to plot; default every measurement but SCL. A product with an ``SCL`` measurement has its
        dates masked by scene class (clear: 4, 5, 6, 7); any product has dates without a value (nodata) masked.
    overwrite : bool

    Returns
    -------
    TimeseriesReport
        The values plotted, as stored (digital numbers, before any scale factor), NaN for nodata.

    Raises
    ------
    UsageError
        An extension matplotlib cannot write; SCL asked as a measurement to plot.
    AlreadyExistsError
        ``path`` exists and ``overwrite`` is False.
    NotFoundError
        Unknown product or measurement.
    InvalidInputError
        The point or object is outside the product.
    NotFoundError
        Unknown segmentation, or an object id not in it (its id range is given).
    """
    from antares.cube.catalog import get_product
    from antares.cube.index import connect
    from antares.cube.load import load_point
    from antares.db.engine import database_url
    from antares.export.plots import check_figure_path, save_figure, timeseries_figure

    check_figure_path(path)
    if (point is None) == (segment is None):
        raise UsageError("give either --point X Y or -s SEGMENTATION --object ID.")
    path = Path(path).absolute()
    if path.exists() and not overwrite:
        raise AlreadyExistsError(f"{path} exists; use --overwrite to replace it or choose another -f.")
    geometry = None if segment is None else _object_geometry(settings, *segment)
    dc = connect(database_url(settings))
    try:
        definition = get_product(dc, product)
        if definition is None:
            load_point(dc, product, 0.0, 0.0, crs, measurements)  # NotFoundError listing the products
        available = list(definition.measurements)
        scl = next((m for m in _SCL_NAMES if m in available), None)
        wanted = list(measurements or [m for m in available if m != scl])
        if scl is not None and scl in (measurements or []):
            raise UsageError(f"-m {scl}: the scene classes mask the dates; plot the other measurements.")
        unknown = [m for m in wanted if m not in available]
        if unknown:
            raise NotFoundError(f"product {product} has no measurement {', '.join(unknown)}; "
                                f"its measurements: {', '.join(available)}.")
        if geometry is not None:
            return _plot_object(dc, product, path, segment, geometry, wanted, scl)
        data = load_point(dc, product, float(point[0]), float(point[1]), crs, wanted + ([scl] if scl else []))
    finally:
        dc.close()
    data = data.sortby("time")
    series, units = {}, {}
    for name in wanted:
        values = data[name].values.astype(np.float64)
        nodata = data[name].attrs.get("nodata")
        if nodata is not None and np.isfinite(float(nodata)):
            values[values == float(nodata)] = np.nan
        series[name] = values
        units[name] = data[name].attrs.get("units", "")
    missing = np.logical_or.reduce([~np.isfinite(v) for v in series.values()])
    reasons = mask_reasons(data[scl].values if scl else None, missing)
    times = data.time.values
    figure = timeseries_figure(times, series, reasons, f"{product} at ({point[0]:g}, {point[1]:g}) {crs}: "
                               f"{len(times)} dates", {k: v for k, v in units.items() if v not in ("", "1")})
    save_figure(figure, path)
    return TimeseriesReport(path, times, series, reasons, data.attrs["x"], data.attrs["y"], data.attrs["crs"], figure)


@dataclass
class QuicklookReport:
    """The map figure written: what it shows and its credits line."""

    path: Path
    kind: str
    name: str
    what: str
    credits: str
    figure: object = None

    def lines(self) -> list[str]:
        return [f"wrote {self.path}: {self.kind} {self.name}, {self.what}"]


def quicklook(settings: Settings, name: str, path, measurement: str | None = None, time: str | None = None,
              cmap: str = "viridis", overwrite: bool = False, size: int = 1024) -> QuicklookReport:
    """A map figure of a classification, a change detection or a product in its own CRS, with legend, scale bar and credits.

    Parameters
    ----------
    name : str
        A classification, a change detection or a product (``classification:NAME``, ``change:NAME``,
        ``product:NAME`` to choose). Change objects are coloured by transition (classes before and
        after) when the detection was made with classifications, else in one colour.
    path : path-like
        The figure; its extension (png, svg, pdf, ...) gives the format.
    measurement, time, cmap : str, optional
        For a product: one measurement with a colour ramp (default RGB when it has B04/B03/B02), the date
        (default the latest).
    size : int
        The larger side of the image in pixels.

    Returns
    -------
    QuicklookReport
        Credits: for a product, its description and licence and the datasets' platform, instrument and
        producer as its metadata gives them, with the date; for a classification, its model, segmentation
        and the segmentation's product; for a change detection, its method and the products (and years)
        compared.

    Raises
    ------
    UsageError
        An extension matplotlib cannot write.
    AlreadyExistsError
        ``path`` exists and ``overwrite`` is False.
    NotFoundError
        No classification, change detection or product of that name (the names are listed).
    InvalidInputError
        A classification or change detection without objects.
    """
    import matplotlib

    from antares import __version__
    from antares.cube.grid import crs_name
    from antares.cube.index import connect
    from antares.cube.load import load_quicklook
    from antares.db.engine import database_url, session_scope
    from antares.export.plots import check_figure_path, map_figure, save_figure
    from antares.pipeline.view import _catalog, quicklook_image, resolve

    check_figure_path(path)
    path = Path(path).absolute()
    if path.exists() and not overwrite:
        raise AlreadyExistsError(f"{path} exists; use --overwrite to replace it or choose another -f.")
    if cmap not in matplotlib.colormaps:
        raise UsageError(f"--cmap {cmap!r} is not a matplotlib colour map; e.g. viridis, magma, RdYlGn.")
    dc = connect(database_url(settings))
    try:
        with session_scope(settings) as conn:
            catalog = _catalog(conn, dc)
            catalog = {k: v for k, v in catalog.items() if k in ("classification", "change", "product")}
            kind, name = resolve(catalog, name)
            if kind == "classification":
                rgba, extent, crs, legend, what, credits = _classification_image(conn, name, size)
                ramp = None
            elif kind == "change":
                from antares.pipeline.view_change import change_image

                rgba, extent, crs, legend, what, credits = change_image(conn, name, size)
                ramp = None
            else:
                data = load_quicklook(dc, name, [measurement] if measurement else None, time, max_size=size, crs=None)
                rgba, ramp, what = quicklook_image(data, measurement, cmap)
                x0, y0, x1, y1 = data.odc.geobox.extent.boundingbox
                extent, crs, legend = (x0, x1, y0, y1), data.odc.crs, None
                credits = f"product {name} on {data.attrs['date']}" + (f"; {data.attrs['credits']}" if data.attrs["credits"] else "")
                what = f"{what} on {data.attrs['date']}"
    finally:
        dc.close()
    credits = f"{credits}. Map: antares {__version__}."
    metres = bool(crs.projected) and str(crs.units[0]).lower() in ("metre", "meter", "m")
    figure = map_figure(rgba, extent, crs_name(crs), metres, f"{kind} {name}", credits, legend, ramp)
    save_figure(figure, path)
    return QuicklookReport(path, kind, name, what, credits, figure)


def _classification_image(conn, name: str, size: int):
    """(RGBA, (left, right, bottom, top), odc CRS, legend, what, credits) of a classification in its segments' CRS."""
    from odc.geo import CRS

    from antares.db.classifications import classification, objects_extent, objects_query
    from antares.db.segmentations import segmentation_by_id
    from antares.pipeline.export import _source
    from antares.pipeline.view import _rasterise

    src = _source(conn, name)
    names, colours = {e.code: e.name for e in src.legend}, {e.code: e.colour for e in src.legend}
    box = objects_extent(conn, src.id, src.segmentation_id, src.srid, None, src.srid)
    if box is None:
        raise InvalidInputError(f"classification '{name}' has no classified object; re-run 'antares model_predict_object'.")
    query = objects_query(src.id, src.segmentation_id, src.srid, None, False, False, src.srid)
    seen: set = set()

    def colour_of(row):
        seen.add(int(row[1]))
        return colours.get(int(row[1]), "#888888")

    rgba, n, grid = _rasterise(conn, query, box, colour_of, size=size, opaque=True)
    legend = [(names.get(c, f"class {c}"), colours.get(c, "#888888")) for c in sorted(seen)]
    row = classification(conn, name)
    segmentation_name, product = segmentation_by_id(conn, src.segmentation_id)
    credits = f"classification {name}: model {row.model} on segmentation {segmentation_name} of product {product}"
    return rgba, grid, CRS(f"EPSG:{src.srid}"), legend, f"{n} objects, {len(seen)} classes", credits


@dataclass
class SamplesReport:
    """The figure written and the per-sample features it shows."""

    path: Path
    training_set: str
    product: str
    samples: int
    without_values: int
    figure: object = None

    def lines(self) -> list[str]:
        return [f"wrote {self.path}: {self.samples} sample(s) of {self.training_set} on {self.product}"
                + (f", {self.without_values} without a valid pixel left out" if self.without_values else "")]


def plot_samples(settings: Settings, training_set: str, product: str, path, overwrite: bool = False,
                 time=None) -> SamplesReport:
    """Per-class distributions (box plots) of the product's values over the samples of a training set.

    Each sample contributes one value per measurement: the mean of the product's pixels whose centre
    falls inside it (as ``antares model_fit`` aggregates them), NaN-aware.

    Parameters
    ----------
    training_set, product : str
    path : path-like
        The figure; its extension gives the format.
    time : (str, str), optional
        The period of the product to read (one date per sample location; as ``model_fit --time``).

    Returns
    -------
    SamplesReport

    Raises
    ------
    UsageError
        An extension matplotlib cannot write.
    AlreadyExistsError
        ``path`` exists and ``overwrite`` is False.
    NotFoundError
        Unknown product or training set.
    InvalidInputError
        No sample overlaps the product.
    """
    from antares.export.plots import check_figure_path, samples_figure, save_figure
    from antares.pipeline.train import training_features

    check_figure_path(path)
    path = Path(path).absolute()
    if path.exists() and not overwrite:
        raise AlreadyExistsError(f"{path} exists; use --overwrite to replace it or choose another -f.")
    tf = training_features(settings, product, training_set, scheduler="sync", time=time)
    features = np.where(tf.n_pixels[:, None] > 0, tf.features, np.nan)
    figure = samples_figure(features, tf.codes, tf.legend, tf.measurements,
                            f"training set {training_set} on {product}: {len(tf.codes)} samples (mean of their pixels)")
    save_figure(figure, path)
    without = int((~np.isfinite(features).any(axis=1)).sum())
    return SamplesReport(path, training_set, product, len(tf.codes), without, figure)


def _object_geometry(settings: Settings, segmentation_name: str, object_id: int):
    """The odc-geo Geometry of object ``object_id`` of a segmentation (NotFoundError naming the ids there)."""
    import shapely
    from odc.geo.geom import Geometry

    from antares.db.engine import session_scope
    from antares.db.segmentations import segment_geometry, segment_id_range, segmentation, segmentation_names

    with session_scope(settings) as conn:
        row = segmentation(conn, segmentation_name)
        if row is None:
            raise NotFoundError(f"segmentation '{segmentation_name}' does not exist; segmentations: "
                                f"{', '.join(segmentation_names(conn)) or '(none)'}.")
        found = segment_geometry(conn, row.id, int(object_id))
        if found is None:
            low, high = segment_id_range(conn, row.id)
            raise NotFoundError(f"object {object_id} is not in segmentation {segmentation_name} "
                                f"(its object ids run from {low} to {high}); give one of them to --object.")
    return Geometry(shapely.from_wkb(found[0]), crs=f"EPSG:{found[1]}")


def _plot_object(dc, product: str, path: Path, segment: tuple, geometry, wanted: list, scl: str | None):
    from antares.cube.load import load_polygon
    from antares.export.plots import save_figure, timeseries_figure
    from antares.recipes.specs import SCL_CLASSES

    data, inside = load_polygon(dc, product, geometry, wanted + ([scl] if scl else []))
    data = data.sortby("time")
    t = data.sizes["time"]
    values = {}
    valid = np.ones((t, int(inside.sum())), bool)
    for name in wanted:
        v = data[name].values[:, inside].astype(np.float64)
        nodata = data[name].attrs.get("nodata")
        if nodata is not None and np.isfinite(float(nodata)):
            v[v == float(nodata)] = np.nan
        values[name] = v
        valid &= np.isfinite(v)
    classes = data[scl].values[:, inside].astype(np.int64) if scl else None
    clear = valid & (np.isin(classes, CLEAR_SCL) if scl else True)
    series = {name: np.full(t, np.nan) for name in wanted}
    reasons = []
    for i in range(t):
        use = clear[i] if clear[i].any() else valid[i]
        for name in wanted:
            series[name][i] = values[name][i, use].mean() if use.any() else np.nan
        if clear[i].any():
            reasons.append("")
        elif not valid[i].any():
            reasons.append("nodata")
        elif scl:
            found, counts = np.unique(classes[i][valid[i]], return_counts=True)
            code = int(found[np.argmax(counts)])
            reasons.append(f"SCL {code} {SCL_CLASSES.get(code, 'unknown')}")
        else:
            reasons.append("nodata")
    times = data.time.values
    figure = timeseries_figure(times, series, reasons, f"{product}, object {segment[1]} of {segment[0]} "
                               f"({int(inside.sum())} pixels): {t} dates")
    save_figure(figure, path)
    centre = geometry.centroid
    return TimeseriesReport(path, times, series, reasons, float(centre.coords[0][0]), float(centre.coords[0][1]),
                            str(geometry.crs), figure, where=f"object centroid, {int(inside.sum())} pixels,")
