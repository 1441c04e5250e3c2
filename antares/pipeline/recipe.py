"""``apply_recipe``: temporal features of a period, tile by tile, written as an indexed COG product.

For every tile of the grid that the area touches, one task loads the input product
in spatial blocks (``dc.load(like=block)``, so memory stays bounded whatever the tile
size), converts DN to reflectance with each dataset's offset and scale, runs the
recipe (masking, indices, temporal reducers, terrain) and writes one COG per output
measurement plus an eo3 document whose time is the period (start, end, centre) and
whose lineage lists every input dataset. The main process indexes it. Output ids
are stable (uuid5 of product and tile), so a re-run resumes; ``overwrite`` starts over.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

BLOCK = 512  # pixels per side of the spatial blocks a tile is computed in


@dataclass
class RecipeJob:
    """What one worker needs for one tile (picklable)."""

    url: str
    recipe: str
    product: str
    measurements: dict  # alias -> measurement name of the input product
    tile: tuple[int, int]
    geobox: object
    source_ids: list
    terrain_ids: list
    out_id: str
    out_product: str
    period: tuple  # (start, end) datetimes, UTC
    outdir: str
    block: int = BLOCK


@dataclass
class RecipeReport:
    """Outcome of an apply_recipe run."""

    product: str
    tiles: int = 0
    written: int = 0
    skipped: int = 0
    empty: int = 0
    failed: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"tile {ix},{iy} failed: {message}" for (ix, iy), message in self.failed]
        out.append(f"{self.written} tile(s) written and indexed into {self.product} ({self.tiles} in the area); "
                   f"{self.skipped} already done, {self.empty} without valid data, {len(self.failed)} failed")
        return out


def period_bounds(begin: str, end: str) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(start, end, centre) of a period given as inclusive dates, in UTC.

    ``end`` is the last day included, so the period ends at 23:59:59.999999 that day,
    and the centre lies halfway between start and end (antares3 put it before the start).

    Raises
    ------
    InvalidInputError
        A date cannot be parsed, or ``end`` is before ``begin``.
    """
    try:
        start = dt.datetime.fromisoformat(begin).replace(tzinfo=dt.timezone.utc)
        stop = dt.datetime.fromisoformat(end).replace(tzinfo=dt.timezone.utc)
    except ValueError as exc:
        raise InvalidInputError(f"dates must be YYYY-MM-DD: {exc}.") from None
    if stop.time() == dt.time(0):
        stop = stop + dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    if stop < start:
        raise InvalidInputError(f"the period ends ({end}) before it begins ({begin}).")
    return start, stop, start + (stop - start) / 2


def blocks(geobox, size: int):
    """Yield ``(block GeoBox, (row slice, column slice))`` covering ``geobox`` in squares of ``size`` pixels."""
    ny, nx = geobox.shape
    for y0 in range(0, ny, size):
        for x0 in range(0, nx, size):
            rows, cols = slice(y0, min(y0 + size, ny)), slice(x0, min(x0 + size, nx))
            yield geobox[rows, cols], (rows, cols)


def recipe_tile(job: RecipeJob) -> list:
    """Compute, write and describe one tile (runs on a worker); returns ``[(eo3 doc, uri)]`` or ``[]``."""
    import numpy as np

    from antares.cube.blockread import GridReader
    from antares.cube.index import connect
    from antares.cube.reflectance import to_reflectance
    from antares.cube.warp import xr_from_array
    from antares.cube.write import eo3_document, write_cog, write_yaml
    from antares.recipes import load_recipe

    recipe = load_recipe(job.recipe)
    names = list(dict.fromkeys(job.measurements.values()))
    dc = connect(job.url, app="antares-recipe")
    try:
        datasets = [dc.index.datasets.get(i) for i in job.source_ids]
        terrain_dss = [dc.index.datasets.get(i) for i in job.terrain_ids]
        outputs = {}
        for o in recipe.outputs:
            fill = np.nan if np.dtype(o.dtype).kind == "f" else o.nodata
            outputs[o.name] = np.full(job.geobox.shape, fill, dtype=o.dtype)
        # the cloud mask is dilated per date: read each block with a margin as wide as the
        # dilation, so that a cloud at a block's edge grows into the next block too
        pad = recipe.mask.dilate if recipe.mask is not None else 0
        inner = (slice(pad, -pad or None), slice(pad, -pad or None))
        # inputs already on the tile's grid are read with each file opened once (GridReader);
        # others (another CRS or resolution) go through dc.load's resampling
        reader = GridReader.open(datasets, names, job.geobox)
        for block, (rows, cols) in blocks(job.geobox, job.block):
            padded = block.pad(pad) if pad else block
            footprint = padded.extent
            inside = [d for d in datasets if d.extent is not None and d.extent.to_crs(block.crs).intersects(footprint)]
            if not inside:  # no input data here: the block stays nodata
                continue
            if reader is not None:
                raw, refl_datasets = reader.read(padded), datasets
            else:
                raw, refl_datasets = dc.load(datasets=inside, like=padded, measurements=names, group_by="solar_day"), inside
            refl = to_reflectance(raw, refl_datasets)
            data = recipe.rename_to_aliases(refl, job.measurements)
            terrain = None
            if recipe.terrain is not None and terrain_dss:
                terrain = dc.load(datasets=terrain_dss, like=padded, measurements=list(recipe.terrain.layers),
                                  resampling=recipe.terrain.resampling).isel(time=0)
            result = recipe.compute(data, terrain)
            for o in recipe.outputs:
                outputs[o.name][rows, cols] = np.asarray(result[o.name].values, dtype=o.dtype)[inner]
    finally:
        if "reader" in locals() and reader is not None:
            reader.close()
        dc.close()

    def valid(o):
        values = outputs[o.name]
        return np.isfinite(values).any() if values.dtype.kind == "f" else (values != o.nodata).any()

    if not any(valid(o) for o in recipe.outputs if not o.name.endswith("count")):
        return []
    ix, iy = job.tile
    outdir = Path(job.outdir) / f"{ix}_{iy}"
    stem = f"{job.out_product}_{ix}_{iy}"
    files = {}
    for o in recipe.outputs:
        fname = f"{stem}_{o.name}.tif"
        write_cog(xr_from_array(outputs[o.name], job.geobox), outdir / fname,
                  nodata=float("nan") if np.dtype(o.dtype).kind == "f" else o.nodata,
                  resampling="nearest" if o.name.endswith(("count", "doy_max")) else "average")
        files[o.name] = fname
    start, stop = job.period
    props = {"datetime": start + (stop - start) / 2, "dtr:start_datetime": start, "dtr:end_datetime": stop,
             "odc:region_code": f"{ix}_{iy}", "antares:recipe": recipe.name, "antares:input_product": job.product}
    lineage = {"source": job.source_ids}
    if job.terrain_ids:
        lineage["terrain"] = job.terrain_ids
    doc = eo3_document(job.out_id, job.out_product, job.geobox, files, props, lineage)
    path = write_yaml(doc, outdir / f"{stem}.odc-metadata.yaml")
    return [(doc, path.resolve().as_uri())]


def native_gridspec(datasets, measurement_names: list[str], resolution: float | None, tile_size: int):
    """A GridSpec in the CRS of ``datasets``, aligned with their pixels, at ``resolution`` (default: native)."""
    from odc.geo import XY
    from odc.geo.gridspec import GridSpec

    from antares.cube.load import native_geobox

    geobox = native_geobox(datasets, measurement_names)
    res = resolution or abs(geobox.resolution.x)
    origin = XY(geobox.affine.c % res, geobox.affine.f % res)
    return GridSpec(geobox.crs, tile_shape=(tile_size, tile_size), resolution=res, origin=origin)


def apply_recipe(settings: Settings, recipe_name: str, begin: str, end: str, name: str, area, gridspec=None,
                 product: str | None = None, terrain_product: str | None = None, scheduler: str | None = None,
                 workers: int | None = None, overwrite: bool = False, outdir: str | None = None,
                 tile_size: int = 2048, progress=None) -> RecipeReport:
    """Compute recipe ``recipe_name`` over ``area`` and the period, tile by tile, into product ``name``.

    Parameters
    ----------
    recipe_name : str
        A built-in recipe (``antares list recipes``) or the path of a recipe YAML.
    begin, end : str
        The period, inclusive dates (YYYY-MM-DD).
    name : str
        Output product; created from the recipe's outputs (float32, NaN = nodata).
    area : odc.geo.geom.Geometry
    gridspec : odc.geo.gridspec.GridSpec, optional
        Tile grid; by default the input product's CRS and pixel alignment at the
        recipe's resolution (or the native one), in tiles of ``tile_size`` pixels.
    product, terrain_product : str, optional
        Override the recipe's input and terrain products.
    overwrite : bool
        Delete the datasets of an earlier run of ``name`` first (otherwise it resumes).

    Raises
    ------
    NotFoundError
        Unknown recipe or product; no input data in the period and area (the
        product's time span is given).
    InvalidInputError
        The product lacks measurements the recipe needs (they are listed).
    AlreadyExistsError
        ``name`` is a product that this recipe did not make.
    """
    from antares.cube.index import connect, product_definition
    from antares.db.engine import database_url, open_database
    from antares.pipeline.tiles import ProductWriter, grid_params, run_tiles
    from antares.prepare.base import dataset_id
    from antares.recipes import load_recipe

    recipe = load_recipe(recipe_name)
    start, stop, _ = period_bounds(begin, end)
    open_database(settings).dispose()
    url = database_url(settings)
    product = product or recipe.product
    outdir = Path(outdir) if outdir else settings.home / "products" / name
    dc = connect(url)
    try:
        definition = product_definition(dc, product)
        measurements = recipe.resolve_measurements(definition)
        datasets = dc.find_datasets(product=product, time=(start, stop), geopolygon=area)
        if not datasets:
            every = dc.find_datasets(product=product, geopolygon=area)
            span = (f"in this area {product} has {len(every)} datasets from {min(d.center_time for d in every):%Y-%m-%d} "
                    f"to {max(d.center_time for d in every):%Y-%m-%d}" if every else
                    f"{product} has no dataset in this area at all")
            raise NotFoundError(f"no dataset of {product} between {begin} and {end} in the area; {span}.")
        terrain_dss = []
        if recipe.terrain is not None:
            tproduct = terrain_product or recipe.terrain.product
            product_definition(dc, tproduct)
            terrain_dss = dc.find_datasets(product=tproduct, geopolygon=area)
            if not terrain_dss:
                raise NotFoundError(f"recipe {recipe.name} needs terrain from {tproduct}, which has no dataset in the area; "
                                    f"index a DEM with 'antares index --dataset_name dem'.")
        if gridspec is None:
            gridspec = native_gridspec(datasets, list(dict.fromkeys(measurements.values())),
                                       recipe.resolution, tile_size)
        out_def = recipe.product_definition(name)
        res = gridspec.resolution
        out_def["load"] = {"crs": f"EPSG:{gridspec.crs.epsg}" if gridspec.crs.epsg else str(gridspec.crs),
                           "resolution": {"x": float(res.x), "y": float(res.y)},
                           "align": {"x": float(gridspec.alignment.x), "y": float(gridspec.alignment.y)}}
        existing = dc.index.products.get_by_name(name)
        if existing is not None:
            if [m["name"] for m in existing.definition["measurements"]] != [o.name for o in recipe.outputs]:
                raise AlreadyExistsError(f"product '{name}' exists and was not made by recipe {recipe.name}; "
                                         "choose another --name.")
            if overwrite:
                ids = [ds.id for ds in dc.find_datasets(product=name)]
                if ids:
                    dc.index.datasets.archive(ids)
                    dc.index.datasets.purge(ids)
        report = RecipeReport(product=name)
        jobs = []
        for tile, geobox in gridspec.tiles_from_geopolygon(area):
            footprint = geobox.extent
            sources = [ds for ds in datasets if ds.extent is not None and ds.extent.to_crs(gridspec.crs).intersects(footprint)]
            if not sources:
                continue
            report.tiles += 1
            out_id = dataset_id(f"recipe:{name}:{tile[0]}:{tile[1]}")
            if dc.index.datasets.has(out_id):
                report.skipped += 1
                continue
            terrain_ids = [str(d.id) for d in terrain_dss if d.extent.to_crs(gridspec.crs).intersects(footprint)]
            jobs.append(RecipeJob(url, recipe_name, product, measurements, tuple(tile), geobox,
                                  [str(d.id) for d in sources], terrain_ids, str(out_id), name, (start, stop), str(outdir)))
    finally:
        dc.close()

    params = {"recipe": recipe.name, "recipe_sha256": recipe.digest, "begin": begin, "end": end, "product": product,
              "grid": grid_params(gridspec), "area_wkt": area.to_crs("EPSG:4326").wkt, "overwrite": overwrite}
    dc = connect(url)
    write = ProductWriter(dc, out_def if existing is None else None)

    def on_result(job: RecipeJob, result: list) -> None:
        report.written += write(result)
        report.empty += 1 - len(result)

    try:
        report.failed = run_tiles(settings, "apply_recipe", name, params, {"product": product}, jobs, recipe_tile,
                                  on_result, scheduler, workers, progress)
    finally:
        dc.close()
    return report
