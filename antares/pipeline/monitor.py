"""``monitor``: break detection on a product's time series of a spectral index with ``nrt``, tile by tile.

For every tile of the product's native grid that the area touches, one task reads the input
product over the history and monitoring periods in blocks (:func:`antares.cube.blockread.tile_blocks`),
converts digital numbers to reflectance, computes the index (:data:`antares.recipes.indices.INDICES`),
sets the observations that the SCL mask does not keep to NaN (:func:`antares.recipes.masks.clear_numpy`,
as recipes mask clouds), runs the monitoring method (:func:`antares.monitor.monitor_array`, ``nrt``)
and writes one COG per output measurement plus an eo3 document (time: the monitoring period; lineage:
every input dataset). The main process indexes it. Output ids are stable (uuid5 of product and tile),
so a re-run resumes; ``overwrite`` starts over.

Output measurements (0 = nodata for the integers):

==============  =======  ==========================================================================
break_date      int32    date the break was confirmed, days since 1970-01-01 (0: no break)
break_year      int16    its calendar year (0: no break)
break_doy       int16    its day of year, 1-366 (0: no break)
magnitude       float32  observed minus predicted index on that date (NaN: no break)
state           uint8    1 monitored, no break; 2 unstable history; 3 break; 4 too few observations
                         (0: no clear observation in the history, nodata)
process         float32  the method's process value at the end of the monitoring period
history_count   int16    clear observations in the history (0: none, nodata)
==============  =======  ==========================================================================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from antares.pipeline.requests import refusal, takes
from antares.pipeline.series_requests import BLOCK, MonitorRequest
from antares.pipeline.tiles import TileReport

log = logging.getLogger(__name__)

#: name -> (dtype, nodata, units, overview resampling)
OUTPUTS = {
    "break_date": ("int32", 0, "days since 1970-01-01", "nearest"),
    "break_year": ("int16", 0, "year", "nearest"),
    "break_doy": ("int16", 0, "day of year", "nearest"),
    "magnitude": ("float32", "NaN", "index", "average"),
    "state": ("uint8", 0, "class", "nearest"),
    "process": ("float32", "NaN", "1", "average"),
    "history_count": ("int16", 0, "observations", "nearest"),
}


@dataclass
class MonitorJob:
    """What one worker needs for one tile (picklable)."""

    url: str
    product: str
    index: str
    measurements: dict  # alias -> measurement name of the input product
    scl_keep: tuple
    dilate: int
    tile: tuple[int, int]
    geobox: object
    source_ids: list
    out_id: str
    out_product: str
    history: tuple  # (first day, last day), YYYY-MM-DD
    monitoring: tuple
    method: str
    params: dict
    outdir: str
    block: int = BLOCK


@dataclass
class MonitorReport(TileReport):
    """Outcome of a monitor run, with the break counts of the tiles written."""

    breaks: int = 0
    monitored: int = 0

    def lines(self) -> list[str]:
        share = f" ({100 * self.breaks / self.monitored:.1f} %)" if self.monitored else ""
        lines = super().lines()
        return lines[:-1] + [f"{self.breaks:,} of {self.monitored:,} monitored pixel(s) with a confirmed break{share}",
                             lines[-1]]


def mask_recipe(product: str, index: str, scl_keep, dilate: int):
    """The clear-observation rules and band aliases of ``monitor`` as a :class:`antares.recipes.Recipe`.

    The recipe reads the aliases ``index`` needs and masks with SCL (classes ``scl_keep`` kept,
    the masked region dilated by ``dilate`` pixels), so bands are found and clouds masked exactly as
    recipes do; its one reducer (``count``) is never computed.

    Raises
    ------
    antares.errors.UsageError
        Unknown index (the valid ones are listed).
    antares.errors.InvalidInputError
        SCL classes or dilation out of range.
    """
    from antares.recipes.indices import INDICES
    from antares.recipes.parse import parse_recipe

    name = INDICES.get(index.upper()).name
    return parse_recipe({"inputs": {"product": product, "measurements": []},
                         "mask": {"scl": {"keep": [int(c) for c in scl_keep], "dilate": int(dilate)}},
                         "indices": [name], "reducers": {name.lower(): ["count"]}}, "monitor")


def index_series(block, measurements: dict, index: str, spec, definitions: dict, properties: list, pad: int):
    """The index per date of one :class:`~antares.cube.blockread.TileBlock`, NaN where not clear.

    Returns
    -------
    numpy.ndarray of float32, (time, y, x)
    """
    import numpy as np

    from antares.cube.blockread import _fill_value
    from antares.cube.reflectance import is_reflectance, reflectance_into
    from antares.recipes.indices import INDICES
    from antares.recipes.masks import clear_numpy

    plugin = INDICES[index]
    arrays = []
    for alias in plugin.requires:
        name = measurements[alias]
        raw = block.raw[name]
        if is_reflectance(name, definitions[name], properties):
            offset, scale = block.offsets(name)
            arrays.append(reflectance_into(raw, offset, scale, _fill_value(definitions[name].get("nodata"))))
        elif raw.dtype.kind == "f":
            arrays.append(raw.astype(np.float32))
        else:
            raise InvalidInputError(f"measurement {name} must be floating reflectance or declare a scale_factor "
                                    f"(it is {raw.dtype}); declare it in the product (antares product add FILE).")
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.asarray(plugin.function(*arrays), dtype=np.float32)
    clear = clear_numpy(block.margin, spec)
    if pad:
        clear = clear[:, pad:-pad, pad:-pad]
    values[~clear] = np.nan
    values[~np.isfinite(values)] = np.nan
    return values


def monitor_tile(job: MonitorJob) -> list:
    """Read, monitor, write and describe one tile (runs on a worker); returns ``[(eo3 doc, uri)]`` or ``[]``."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from antares.cube.blockread import tile_blocks
    from antares.cube.catalog import get_datasets
    from antares.cube.index import connect, skip_iri_format_checkers
    from antares.cube.warp import xr_from_array
    from antares.cube.write import eo3_document, write_cog, write_yaml
    from antares.monitor import BREAK, break_year_doy, monitor_array

    skip_iri_format_checkers()
    recipe = mask_recipe(job.product, job.index, job.scl_keep, job.dilate)
    index = recipe.indices[0]
    names = list(dict.fromkeys(job.measurements[a] for a in recipe.measurements))
    scl = job.measurements[recipe.mask.alias]
    outputs = {name: np.full(job.geobox.shape, np.nan if dtype == "float32" else nodata, dtype=dtype)
               for name, (dtype, nodata, _, _) in OUTPUTS.items()}
    dc = connect(job.url, app="antares-monitor")
    try:
        datasets = get_datasets(dc, job.source_ids)
        if not datasets:
            return []
        definitions = dict(datasets[0].product.measurements)
        properties = [d.metadata_doc.get("properties", {}) for d in datasets]
        for block in tile_blocks(dc, datasets, names, job.geobox, job.block, scl, recipe.mask.dilate):
            values = index_series(block, job.measurements, index, recipe.mask, definitions, properties,
                                  recipe.mask.dilate)
            result = monitor_array(values, block.times, job.history, job.monitoring, job.method, job.params)
            year, doy = break_year_doy(result.break_days)
            where = (block.rows, block.cols)
            outputs["break_date"][where] = result.break_days
            outputs["break_year"][where] = year
            outputs["break_doy"][where] = doy
            outputs["magnitude"][where] = result.magnitude
            outputs["state"][where] = result.state
            outputs["process"][where] = np.where(result.state > 0, result.process, np.nan)
            outputs["history_count"][where] = result.history_count
    finally:
        dc.close()
    if not (outputs["state"] > 0).any():
        return []
    # what is written must say what the monitoring found: a break has a date, a magnitude, state 3
    broken = outputs["state"] == BREAK
    if not (np.array_equal(broken, outputs["break_date"] > 0) and np.isfinite(outputs["magnitude"][broken]).all()):
        raise InvalidInputError(f"tile {job.tile}: break dates and states disagree (an nrt version change?).")
    ix, iy = job.tile
    outdir = Path(job.outdir) / f"{ix}_{iy}"
    stem = f"{job.out_product}_{ix}_{iy}"
    files = {name: f"{stem}_{name}.tif" for name in OUTPUTS}

    def write(name):
        dtype, nodata, _, resampling = OUTPUTS[name]
        write_cog(xr_from_array(outputs[name], job.geobox), outdir / files[name],
                  nodata=float("nan") if dtype == "float32" else nodata, resampling=resampling)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="antares-monitor-write") as pool:
        list(pool.map(write, OUTPUTS))
    from antares.pipeline.recipe import period_bounds

    start, _, _ = period_bounds(*job.history)
    begin, stop, centre = period_bounds(*job.monitoring)
    props = {"datetime": centre, "dtr:start_datetime": begin, "dtr:end_datetime": stop,
             "odc:region_code": f"{ix}_{iy}", "antares:input_product": job.product, "antares:index": index,
             "antares:method": job.method, "antares:history": f"{job.history[0]}/{job.history[1]}",
             "antares:monitoring": f"{job.monitoring[0]}/{job.monitoring[1]}",
             "antares:history_start": start}
    doc = eo3_document(job.out_id, job.out_product, job.geobox, files, props, {"source": job.source_ids})
    path = write_yaml(doc, outdir / f"{stem}.odc-metadata.yaml")
    return [(doc, path.resolve().as_uri())]


def product_definition(name: str, input_product: str, index: str, method: str) -> dict:
    """The eo3 ODC product definition of a ``monitor`` result."""
    measurements = []
    for out, (dtype, nodata, units, _) in OUTPUTS.items():
        measurements.append({"name": out, "dtype": dtype, "nodata": nodata, "units": units})
    return {"name": name, "description": f"Breaks in the {index} of {input_product} found by antares monitor ({method}, nrt)",
            "metadata_type": "eo3", "metadata": {"product": {"name": name}}, "measurements": measurements}


@takes(MonitorRequest)
def monitor(settings: Settings, request: MonitorRequest, progress=None) -> MonitorReport:
    """Monitor ``request.product``'s ``index`` for breaks over ``request.area``, tile by tile, into product ``request.name``.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.series_requests.MonitorRequest
        ``product``: an indexed product with the bands ``index`` needs and an SCL measurement;
        ``name``: output product (see the module docstring for its measurements); ``area``;
        ``index``: an index of :data:`antares.recipes.indices.INDICES` (``ndvi``, ``nbr`` ...);
        ``history``, ``monitoring``: first and last day (YYYY-MM-DD, inclusive) of the stable
        history and of the monitoring; ``method`` (:data:`antares.monitor.METHODS`) and its
        ``params``; ``scl_keep``: SCL classes of clear observations; ``dilate``: pixels by which
        the masked region grows per date; ``overwrite``: replace an earlier result of ``name``
        (otherwise a re-run resumes); ``segmentation``: a segmentation (its label product) on the
        product's grid: once every tile is done, a CSV table with, per object, its pixels,
        monitored pixels, pixels with a break, their share and the first break date is written
        to ``table`` (default ``<outdir>/<name>_objects.csv``). The old form ``monitor(settings,
        product, name, area, index, history, monitoring, method=..., ...)`` builds it.
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    MonitorReport

    Raises
    ------
    UsageError
        Unknown index, method or parameter (raised by the request).
    NotFoundError
        Unknown product; no dataset in the monitoring period (the product's time span is given).
    InvalidInputError
        Periods that overlap (raised by the request); the history holds fewer dates than the method
        needs (the minimum is named; field ``history``); the product lacks the index's bands or SCL.
    AlreadyExistsError
        ``name`` is a product that ``monitor`` did not make.
    """
    from antares.cube.catalog import dataset_exists, find_datasets, get_product, solar_day
    from antares.cube.grid import area_tiles
    from antares.cube.index import connect, product_definition as indexed_definition, skip_iri_format_checkers
    from antares.cube.write import check_output_dir
    from antares.db.engine import database_url
    from antares.monitor import METHODS
    from antares.names import product_dir
    from antares.pipeline.recipe import native_gridspec
    from antares.pipeline.run import recorded_run
    from antares.pipeline.tiles import grid_params, load_section, product_writer, run_tiles, staged_outdir
    from antares.prepare.base import dataset_id

    product, name, area, history, monitoring = (request.product, request.name, request.area, request.history,
                                                 request.monitoring)
    scl_keep, dilate, overwrite, tile_size, segmentation, table = (request.scl_keep, request.dilate, request.overwrite,
                                                                   request.tile_size, request.segmentation, request.table)
    outdir, values, recipe, (h0, _, _, m1) = request.outdir, request.values, request.recipe, request.bounds
    plugin = METHODS.get(request.method, "method")
    minimum = plugin.minimum_observations(values)
    index = recipe.indices[0]
    outdir = check_output_dir(product_dir(settings.home, name, outdir), staging_beside=overwrite)
    skip_iri_format_checkers()
    if segmentation is not None:
        table = Path(table) if table else outdir / f"{name}_objects.csv"
        dc = connect(database_url(settings))
        try:
            if get_product(dc, segmentation) is None or "segment_id" not in get_product(dc, segmentation).measurements:
                raise NotFoundError(f"segmentation '{segmentation}' has no label product; run 'antares segment' first "
                                    "(antares list products).")
        finally:
            dc.close()
    with recorded_run(settings, "monitor", name) as run:
        url = database_url(settings)
        dc = connect(url)
        try:
            definition = indexed_definition(dc, product)
            measurements = recipe.resolve_measurements(definition)
            datasets = find_datasets(dc, product, area=area, time=(h0, m1))
            days = {solar_day(d): d.center_time for d in datasets}
            in_history = sorted(d for d, t in days.items() if history[0] <= d <= history[1])
            in_monitoring = sorted(d for d, t in days.items() if monitoring[0] <= d <= monitoring[1])
            if not in_monitoring:
                every = find_datasets(dc, product, area=area)
                span = (f"in this area {product} has {len(every)} datasets from {min(d.center_time for d in every):%Y-%m-%d} "
                        f"to {max(d.center_time for d in every):%Y-%m-%d}" if every else
                        f"{product} has no dataset in this area at all")
                raise NotFoundError(f"no dataset of {product} in the monitoring period {monitoring[0]} to {monitoring[1]} "
                                    f"in the area; {span}.")
            if len(in_history) < minimum:
                raise refusal(
                    f"history {history[0]} {history[1]} holds {len(in_history)} date(s) of {product} in the area; "
                    f"{plugin.name} with {plugin.regressors(values)} regressors needs at least {minimum} clear "
                    "observations per pixel: give a longer history (or a lower harmonic_order).", "history",
                    error=InvalidInputError)
            names = list(dict.fromkeys(measurements.values()))
            gridspec = native_gridspec(datasets, names, None, tile_size)
            out_def = product_definition(name, product, index, plugin.name)
            out_def["load"] = load_section(gridspec)
            existing = get_product(dc, name)
            if existing is not None and [m["name"] for m in existing.definition["measurements"]] != list(OUTPUTS):
                raise AlreadyExistsError(f"product '{name}' exists and was not made by monitor; choose another --name.")
            staging = staged_outdir(outdir) if existing is not None and overwrite else None
            report = MonitorReport(product=name)
            report.notes.append(f"{len(in_history)} date(s) in the history, {len(in_monitoring)} in the monitoring period; "
                                f"{plugin.name} needs at least {minimum} clear observations per pixel")
            jobs = []
            for tile, geobox in area_tiles(gridspec, area):
                footprint = geobox.extent
                sources = [d for d in datasets if d.extent is not None and d.extent.to_crs(gridspec.crs).intersects(footprint)]
                if not sources:
                    continue
                report.tiles += 1
                out_id = dataset_id(f"monitor:{name}:{tile[0]}:{tile[1]}")
                if staging is None and dataset_exists(dc, out_id):
                    report.skipped += 1
                    continue
                jobs.append(MonitorJob(url, product, index, measurements, tuple(int(c) for c in scl_keep), int(dilate),
                                       tuple(tile), geobox, [str(d.id) for d in sources], str(out_id), name, history,
                                       monitoring, plugin.name, values, str(staging or outdir), request.block))
        finally:
            dc.close()

        run_params = {"product": product, "index": index, "method": plugin.name, "params": values,
                      "history": list(history), "monitoring": list(monitoring), "scl_keep": [int(c) for c in scl_keep],
                      "dilate": int(dilate), "grid": grid_params(gridspec), "area_wkt": area.to_crs("EPSG:4326").wkt,
                      "overwrite": overwrite}
        dc = connect(url)
        write = product_writer(dc, out_def, existing, staging, outdir)

        def on_result(job: MonitorJob, result: list) -> None:
            report.written += write(result)
            report.pixels += len(result) * job.geobox.shape[0] * job.geobox.shape[1]
            report.empty += 1 - len(result)
            if result:
                report.breaks += _count(result, "break_date")
                report.monitored += _count(result, "state")

        try:
            report.failed = run_tiles(run, (run_params, {"product": product}), jobs, monitor_tile,
                                      on_result, (request.scheduler, request.workers), progress)
            if staging is not None:
                write.finish(report)
            if segmentation is not None and not report.failed:
                summary = object_summary(dc, name, segmentation)
                write_object_table(summary, table)
                report.notes.append(f"{summary.ids.size:,} object(s) of {segmentation}, {int((summary.breaks > 0).sum()):,} "
                                    f"with a break; table written to {table}")
        finally:
            if staging is not None:
                write.discard()
            dc.close()
        return report


def object_summary(dc, name: str, segmentation: str):
    """:func:`antares.monitor.summarise_objects` over every tile of ``monitor`` product ``name``.

    Raises
    ------
    InvalidInputError
        The segmentation's label tiles are not on the monitor product's pixel grid.
    """
    from antares.cube.catalog import find_datasets
    from antares.cube.features import load_labels
    from antares.cube.load import load_on, native_geobox
    from antares.monitor import ObjectSummary, summarise_objects
    from antares.pipeline.predict import _check_same_grid

    import numpy as np

    total = ObjectSummary(*(np.zeros(0, np.int64) for _ in range(4)), np.zeros(0, np.int32))
    for dataset in find_datasets(dc, name):
        geobox = native_geobox([dataset], ["state"])
        for label_dataset in find_datasets(dc, segmentation, area=geobox.extent):
            _check_same_grid(native_geobox([label_dataset], ["segment_id"]), geobox, segmentation, name)
        data = load_on(dc, geobox, ["state", "break_date"], datasets=[dataset]).isel(time=0)
        labels = load_labels(dc, segmentation, geobox)
        total = total.merge(summarise_objects(labels, data.state.values, data.break_date.values))
    return total


def write_object_table(summary, path) -> Path:
    """Write ``summary`` as CSV (temp file + rename): segment_id, pixels, monitored, breaks, break_share, first_break."""
    import numpy as np

    from antares.cube.write import write_text
    from antares.monitor import EPOCH

    lines = ["segment_id,pixels,monitored,breaks,break_share,first_break"]
    share = summary.break_share
    for i, sid in enumerate(summary.ids):
        first = str(EPOCH + np.timedelta64(int(summary.first_break[i]), "D")) if summary.first_break[i] else ""
        value = "" if np.isnan(share[i]) else f"{share[i]:.6f}"
        lines.append(f"{sid},{summary.pixels[i]},{summary.monitored[i]},{summary.breaks[i]},{value},{first}")
    return write_text(path, "\n".join(lines) + "\n")


def _count(result: list, measurement: str) -> int:
    """Pixels of ``measurement`` that are not nodata (0) in the COG of a tile's eo3 document."""
    import numpy as np
    import rasterio

    doc, uri = result[0]
    base = Path(uri.removeprefix("file://")).parent
    with rasterio.open(base / doc["measurements"][measurement]["path"]) as src:
        values = src.read(1)
    if measurement == "state":
        return int(np.count_nonzero((values == 1) | (values == 3)))  # monitored to the end, or until a break
    return int(np.count_nonzero(values))
