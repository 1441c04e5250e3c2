"""``antares ingest``: reproject a product onto a tile grid as COG + eo3 datasets (ODC 1.9 has no ``datacube ingest``).

Each tile of the ``GridSpec`` that the area touches is one task. A task loads the
source datasets of one solar day at a time with ``dc.load(like=tile_geobox)``
(resampling as asked), writes one tiled DEFLATE COG per measurement and an eo3
document with lineage to the source datasets, and returns the documents; the main
process indexes them. Output ids are stable (uuid5 of product, tile and day), so
a re-run skips what is indexed already, and a failed tile is reported while the
others finish.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from antares.config import Settings
from antares.errors import AlreadyExistsError, NotFoundError
from antares.pipeline.input_requests import IngestRequest
from antares.pipeline.requests import takes

log = logging.getLogger(__name__)


@dataclass
class IngestJob:
    """Everything one worker needs for one tile (picklable)."""

    url: str
    product: str
    tile: tuple[int, int]
    geobox: object
    groups: list  # [(day: str, datetime, [source dataset ids], output id)]
    measurements: list  # measurement definitions of the output product
    resampling: str
    outdir: str


@dataclass
class IngestReport:
    """Outcome of an ingest run."""

    product: str
    tiles: int = 0
    written: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)  # [(tile, message)]
    empty: int = 0
    pixels: int = 0  # pixels of the datasets written (per measurement)

    def lines(self) -> list[str]:
        out = [f"tile {ix},{iy} failed: {message}" for (ix, iy), message in self.failed]
        out.append(f"{self.written} dataset(s) written and indexed into {self.product} over {self.tiles} tile(s); "
                   f"{self.skipped} already done, {self.empty} without data, {len(self.failed)} tile(s) failed; "
                   f"{self.pixels:,} pixel(s) written per measurement")
        return out


def derive_output_product(source: dict, name: str, gridspec, description: str) -> dict:
    """The definition of the ingested product: the source's measurements, with load hints for the grid."""
    import copy

    from antares.cube.grid import crs_name

    res = gridspec.resolution
    doc = {
        "name": name,
        "description": description,
        "metadata_type": "eo3",
        "metadata": {"product": {"name": name}},
        "load": {
            "crs": crs_name(gridspec.crs),
            "resolution": {"x": float(res.x), "y": float(res.y)},
            "align": {"x": float(gridspec.alignment.x), "y": float(gridspec.alignment.y)},
        },
        "measurements": copy.deepcopy(source["measurements"]),
    }
    return doc


def ingest_tile(job: IngestJob) -> list[dict]:
    """Load, write and describe the datasets of one tile (runs on a worker).

    Returns
    -------
    list of (eo3 document, location URI)
        One per solar day with data; days whose tile is all nodata are left out.
    """
    from antares.cube.catalog import get_dataset
    from antares.cube.index import connect
    from antares.cube.write import eo3_document, write_cog, write_yaml
    from antares.cube.warp import warp_measurement, xr_from_array

    ix, iy = job.tile
    outdir = Path(job.outdir) / f"{ix}_{iy}"
    dc = connect(job.url, app="antares-ingest")
    out = []
    try:
        for day, when, source_ids, out_id in job.groups:
            datasets = [get_dataset(dc, i) for i in source_ids]
            layers = {m["name"]: warp_measurement(datasets, m, job.geobox, job.resampling) for m in job.measurements}
            if not any(valid.any() for _, valid in layers.values()):
                continue
            stem = f"{job.product}_{ix}_{iy}_{day}"
            files = {}
            for m in job.measurements:
                is_class = "flags_definition" in m  # class codes (SCL): no averaging in overviews
                fname = f"{stem}_{m['name']}.tif"
                array = xr_from_array(layers[m["name"]][0], job.geobox)
                write_cog(array, outdir / fname, nodata=m.get("nodata"), resampling="nearest" if is_class else "average")
                files[m["name"]] = fname
            doc = eo3_document(out_id, job.product, job.geobox, files,
                               {"datetime": when, "odc:region_code": f"{ix}_{iy}", "antares:resampling": job.resampling},
                               lineage={"source": source_ids})
            path = write_yaml(doc, outdir / f"{stem}.odc-metadata.yaml")
            out.append((doc, path.resolve().as_uri()))
    finally:
        dc.close()
    return out


def plan(dc, source: str, area, gridspec, time=None):
    """Tiles of ``gridspec`` over ``area`` with, per tile, the source datasets grouped by solar day.

    Raises
    ------
    NotFoundError
        No source dataset in the period and area (the product's time span is given).
    """
    from odc.geo.geom import unary_union

    from antares.cube.catalog import find_datasets, solar_day
    from antares.cube.grid import area_tiles, crop_to_area

    datasets = find_datasets(dc, source, area=area, time=time or None)
    if not datasets:
        every = find_datasets(dc, source)
        span = (f"{source} has {len(every)} datasets from {min(d.center_time for d in every):%Y-%m-%d} to "
                f"{max(d.center_time for d in every):%Y-%m-%d}" if every else f"{source} has no datasets")
        raise NotFoundError(f"no dataset of {source} in the area and period asked for; {span}.")
    tiles = {}
    for tile_index, geobox in area_tiles(gridspec, area):  # each tile cut to the area
        footprint = geobox.extent
        groups: dict[str, list] = {}
        for ds in datasets:
            if ds.extent is not None and ds.extent.to_crs(gridspec.crs).intersects(footprint):
                groups.setdefault(solar_day(ds), []).append(ds)
        if groups:  # cut to the data as well
            geobox = crop_to_area(geobox, unary_union([d.extent.to_crs(gridspec.crs) for g in groups.values() for d in g]))
            if geobox is not None:
                tiles[tuple(tile_index)] = (geobox, groups)
    return tiles


@takes(IngestRequest)
def ingest(settings: Settings, request: IngestRequest, progress=None) -> IngestReport:
    """Reproject ``request.source`` onto ``request.gridspec`` over ``request.area`` into the new product ``request.name``.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.input_requests.IngestRequest
        ``source``, ``name``: source product and output product (created if missing; resumed
        if it is an earlier ingest of the same source); ``area``; ``gridspec``; ``time``: begin
        and end dates; ``resampling``: one of :data:`antares.recipes.specs.RESAMPLINGS`;
        ``scheduler``, ``workers`` (``"sync"`` runs in process); ``outdir`` (default
        ``$ANTARES_HOME/products/<name>``). The old form ``ingest(settings, source, name, area,
        gridspec, time=..., resampling=..., ...)`` builds it.
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    IngestReport

    Raises
    ------
    NotFoundError
        Unknown source product, or no source data in the area and period.
    AlreadyExistsError
        ``name`` exists as a product that is not an ingest of ``source`` with the same measurements.
    UsageError
        Unknown resampling, a name against the name rule (raised by the request).
    """
    from antares.cube.catalog import dataset_exists, get_product
    from antares.cube.index import connect, product_definition
    from antares.cube.write import check_output_dir
    from antares.db.engine import database_url
    from antares.names import product_dir
    from antares.pipeline.run import recorded_run
    from antares.pipeline.tiles import ProductWriter, grid_params, run_tiles
    from antares.prepare.base import dataset_id

    source, name, area, gridspec, time, resampling = (request.source, request.name, request.area, request.gridspec,
                                                      request.time, request.resampling)
    outdir = check_output_dir(product_dir(settings.home, name, request.outdir))
    with recorded_run(settings, "ingest", name) as run:  # the name is taken before any work
        url = database_url(settings)
        dc = connect(url)
        try:
            src_def = product_definition(dc, source)
            description = f"{source} ingested by antares onto {gridspec.crs} at {gridspec.resolution.x:g} ({resampling})"
            out_def = derive_output_product(src_def, name, gridspec, description)
            existing = get_product(dc, name)
            if existing is not None:
                same = [m["name"] for m in existing.definition["measurements"]] == [m["name"] for m in out_def["measurements"]]
                if not same or existing.definition.get("load", {}).get("crs") != out_def["load"]["crs"]:
                    raise AlreadyExistsError(
                        f"product '{name}' exists and is not an ingest of {source} onto this grid; choose another --name."
                    )
            tiles = plan(dc, source, area, gridspec, time)
            report = IngestReport(product=name, tiles=len(tiles))
            jobs = []
            for tile, (geobox, groups) in sorted(tiles.items()):
                todo = []
                for day, dss in sorted(groups.items()):
                    out_id = dataset_id(f"ingest:{name}:{tile[0]}:{tile[1]}:{day}")
                    if dataset_exists(dc, out_id):
                        report.skipped += 1
                        continue
                    when = min(d.center_time for d in dss)
                    todo.append((day, when, [str(d.id) for d in dss], str(out_id)))
                if todo:
                    jobs.append(IngestJob(url, name, tile, geobox, todo, out_def["measurements"], resampling, str(outdir)))
        finally:
            dc.close()

        params = {"source": source, "grid": grid_params(gridspec), "time": list(time) if time else None,
                  "resampling": resampling, "area_wkt": area.to_crs("EPSG:4326").wkt}
        dc = connect(url)
        write = ProductWriter(dc, out_def if existing is None else None)

        def on_result(job: IngestJob, result: list) -> None:
            report.written += write(result)
            report.pixels += len(result) * job.geobox.shape[0] * job.geobox.shape[1]
            report.empty += len(job.groups) - len(result)

        try:
            report.failed = run_tiles(run, (params, {"product": source}), jobs, ingest_tile, on_result,
                                      (request.scheduler, request.workers), progress)
        finally:
            dc.close()
        return report
