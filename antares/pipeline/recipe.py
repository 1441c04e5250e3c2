"""``apply_recipe``: temporal features of a period, tile by tile, written as an indexed COG product.

For every tile of the grid that the area touches, one task reads the input product
in spatial blocks of 512 pixels (the inputs' COG tiles when they are on the tile's grid,
:func:`antares.cube.blockread.tile_blocks`; ``dc.load(like=block)`` otherwise), so memory
stays bounded whatever the tile size, converts DN to reflectance with each dataset's
offset and scale and runs the recipe (masking, indices, temporal reducers, terrain) with
:class:`antares.recipes.blockwise.BlockRecipe` (the numpy form of ``Recipe.compute``)
while the next block is read, and writes one COG per output measurement plus an eo3
document whose time is the period (start, end, centre) and whose lineage lists every
input dataset. The main process indexes it. Output ids are stable (uuid5 of product and
tile), so a re-run resumes; ``overwrite`` starts over.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from antares.cube.index import skip_iri_format_checkers
from antares.pipeline.requests import RecipeRequest, takes
from antares.pipeline.tiles import TileReport

log = logging.getLogger(__name__)

BLOCK = 512  # pixels per side of the spatial blocks a tile is computed in
FILL_CONTEXT = 256  # pixels of DEM read around a tile to interpolate its terrain voids from (antares.recipes.voids)


@dataclass
class RecipeJob:
    """What one worker needs for one tile (picklable)."""

    url: str
    recipe: object  # the parsed antares.recipes.Recipe (read once by the stage; its digest is the one recorded)
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
    pca: dict | None = None  # the stored PCA of the recipe's pca section (antares.db.pca.read_pca), JSON arrays
    s1_ids: list | None = None  # the S1 datasets over the tile (recipe.sar), after the orbit filter
    s1_names: tuple = ()  # (VV, VH) measurement names of recipe.sar.product
    s1_db: bool = True  # the S1 product holds dB (else linear power)


class RecipeReport(TileReport):
    """Outcome of an apply_recipe run."""


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


class _Prefetch:
    """Iterate ``make()`` (a generator) in a background thread, at most ``depth`` items ahead.

    GDAL and the compiled loops release the GIL, so the next block is decoded while this one
    is computed. The generator runs entirely in the background thread (its ``finally`` too).
    Leaving the ``with`` block early stops it.
    """

    _END = object()

    def __init__(self, make, depth: int = 1):
        import queue
        import threading

        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(make,), name="antares-recipe-read", daemon=True)

    def _run(self, make) -> None:
        try:
            generator = make()
            try:
                for item in generator:
                    if not self._put(item):
                        return
            finally:
                generator.close()
            self._put(self._END)
        except BaseException as exc:  # handed to the consumer
            self._put(exc)

    def _put(self, item) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __enter__(self):
        self._thread.start()
        return self

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _bands(recipe, measurements: dict, definitions: dict, block, properties: list) -> dict:
    """:class:`~antares.recipes.blockwise.Conversion` per spectral measurement: converted as ``to_reflectance`` would
    (where the product or the datasets, whose ``properties`` are given, declare a scale or offset)."""
    from antares.cube.blockread import _fill_value
    from antares.cube.reflectance import is_reflectance
    from antares.recipes.blockwise import Conversion

    out = {}
    for alias in recipe.measurements:
        name = measurements[alias]
        if name in out:
            continue
        if is_reflectance(name, definitions[name], properties):
            offset, scale = block.offsets(name)
            out[name] = Conversion(True, offset, scale, _fill_value(definitions[name].get("nodata")))
        else:
            out[name] = Conversion(False)
    return out


def mask_source(recipe, measurements: dict):
    """What :func:`~antares.cube.blockread.tile_blocks` reads with a margin for the recipe's mask: the mask
    measurement's name, the tuple of the ten band names of an s2cloudless mask, or None (no mask)."""
    if recipe.mask is None:
        return None
    if recipe.mask.kind == "s2cloudless":
        return tuple(measurements[a] for a in recipe.mask.aliases)
    return measurements[recipe.mask.alias]


def _mask_values(recipe, measurements: dict, definitions: dict, block, properties: list):
    """The mask variable with its margin as ``Recipe.compute`` sees it (converted if it is a reflectance measurement);
    for an s2cloudless mask, the cloud probability computed from its ten bands (converted to reflectance)."""
    from antares.cube.blockread import _fill_value
    from antares.cube.reflectance import is_reflectance, reflectance_into

    if recipe.mask is None:
        return None

    def converted(name, values):
        if not is_reflectance(name, definitions[name], properties):
            return values
        offset, scale = block.offsets(name)
        return reflectance_into(values, offset, scale, _fill_value(definitions[name].get("nodata")))

    if recipe.mask.kind == "s2cloudless":
        import numpy as np

        from antares.recipes.cloudless import cloud_probability

        names = mask_source(recipe, measurements)
        return cloud_probability(np.stack([np.asarray(converted(n, block.margin[n]), np.float32) for n in names]))
    name = measurements[recipe.mask.alias]
    return converted(name, block.margin)


def recipe_tile(job: RecipeJob) -> list:
    """Compute, write and describe one tile (runs on a worker); returns ``[(eo3 doc, uri)]`` or ``[]``.

    The tile is computed in blocks of ``job.block`` pixels (the inputs' COG tiles when the
    grids agree): a background thread reads the next block (:func:`antares.cube.blockread.tile_blocks`)
    while :class:`antares.recipes.blockwise.BlockRecipe` computes this one, and the output COGs
    are written by two threads at the end.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from antares.cube.blockread import tile_blocks
    from antares.cube.catalog import get_datasets
    from antares.cube.index import connect
    from antares.cube.load import load_on
    from antares.cube.reflectance import is_reflectance
    from antares.cube.warp import xr_from_array
    from antares.cube.write import eo3_document, write_cog, write_yaml
    from antares.pipeline.sar_inputs import load_backscatter
    from antares.recipes.blockwise import BlockRecipe
    from antares.recipes.sar import reduce_backscatter
    from antares.recipes.specs import TERRAIN_FLAG
    from antares.recipes.voids import fill_terrain, terrain_voids

    skip_iri_format_checkers()
    started = time.perf_counter()
    recipe = job.recipe
    fitted = None
    if job.pca is not None:
        from antares.pca import FittedPca

        fitted = FittedPca.from_record(job.pca)
    engine = BlockRecipe(recipe, job.measurements, fitted)
    names = list(dict.fromkeys(job.measurements[a] for a in recipe.measurements))
    mask_name = mask_source(recipe, job.measurements)
    pad = engine.margin
    halo = recipe.texture_margin  # texture windows see this many pixels around the tile
    geobox = job.geobox.pad(halo) if halo else job.geobox
    dc = connect(job.url, app="antares-recipe")
    try:
        datasets = get_datasets(dc, job.source_ids)
        if not datasets:
            return []
        terrain_dss = get_datasets(dc, job.terrain_ids)
        s1_dss = get_datasets(dc, job.s1_ids) if job.s1_ids else []
        definitions = dict(datasets[0].product.measurements) if datasets else {}
        properties = [d.metadata_doc.get("properties", {}) for d in datasets]
        outputs = {}
        for o in recipe.outputs:
            fill = np.nan if np.dtype(o.dtype).kind == "f" else o.nodata
            outputs[o.name] = np.full(geobox.shape, fill, dtype=o.dtype)
        checked = False

        def load_terrain(geobox):
            loaded = load_on(dc, geobox.pad(pad) if pad else geobox, list(recipe.terrain.dem_layers),
                             datasets=terrain_dss, resampling=recipe.terrain.resampling).isel(time=0)
            inner = (slice(pad, pad + geobox.shape[0]), slice(pad, pad + geobox.shape[1]))
            return {layer: loaded[layer].values[inner] for layer in recipe.terrain.dem_layers}

        filled_tile = []  # the tile's terrain with its voids filled, loaded at the first block with a void

        def fill_tile():  # filled with FILL_CONTEXT pixels of DEM around the tile, so a void on its edge has sides
            m, (h, w) = FILL_CONTEXT, geobox.shape
            filled = fill_terrain(load_terrain(geobox.pad(m)))[0]
            return {layer: values[m:m + h, m:m + w] for layer, values in filled.items()}

        def block_s1(box):  # the recipe's S1 statistics on one block: reduced in linear power (antares.recipes.sar)
            if recipe.sar is None:
                return None
            if not s1_dss:  # no S1 over this tile: NaN
                return {name: np.full(box.shape, np.nan, np.float32) for name in recipe.sar.outputs}
            vv, vh = load_backscatter(dc, box, job.s1_names, s1_dss, recipe.sar.resampling)
            return reduce_backscatter(vv, vh, recipe.sar.reducers, recipe.sar.features, db=job.s1_db)

        def read():  # runs in the background thread: every use of dc while the tile is computed
            for block in tile_blocks(dc, datasets, names, geobox, job.block, mask_name, pad):
                terrain = None
                if recipe.terrain is not None and terrain_dss:
                    terrain = load_terrain(geobox[block.rows, block.cols])
                    void = terrain_voids(terrain)
                    if void.any():  # filled over the whole tile, so that a block's fill does not depend on blocks
                        if not filled_tile:
                            filled_tile.append(fill_tile())
                        terrain = {layer: np.where(void, filled_tile[0][layer][block.rows, block.cols], values)
                                   for layer, values in terrain.items()}
                    terrain[TERRAIN_FLAG] = void.astype(np.float32)
                yield block, terrain, block_s1(geobox[block.rows, block.cols])

        with _Prefetch(read) as inputs:
            mask_dtype = None
            if isinstance(mask_name, tuple):  # s2cloudless: the engine sees the cloud probability
                mask_dtype = np.float32
            elif mask_name is not None:
                mask_dtype = np.float32 if is_reflectance(mask_name, definitions[mask_name], properties) else \
                    np.dtype(definitions[mask_name]["dtype"])
            warming = time.perf_counter()
            engine.warm_up({n: np.dtype(definitions[n]["dtype"]) for n in names}, mask_dtype)  # while reading
            opened = time.perf_counter()
            warm = opened - warming
            waited = 0.0
            for block, terrain, s1 in inputs:
                waited += time.perf_counter() - opened
                bands = _bands(recipe, job.measurements, definitions, block, properties)
                if not checked:
                    engine.check({n: block.raw[n].dtype for n in names}, bands)
                    checked = True
                doys = None
                if any("doy_max" in r for r in recipe.reducers.values()):
                    days = block.times.astype("datetime64[D]")
                    doys = (days - days.astype("datetime64[Y]")).astype(np.int64) + 1
                mask = _mask_values(recipe, job.measurements, definitions, block, properties)
                result = engine.compute(block.raw, bands, mask, doys, terrain, s1)
                for name, values in result.items():  # texture outputs come after the blocks
                    outputs[name][block.rows, block.cols] = values
                opened = time.perf_counter()
    finally:
        dc.close()
    if halo:  # texture from the tile and its margin, then every output cropped to the tile
        outputs.update(recipe.compute_texture(outputs))
        inner = (slice(halo, halo + job.geobox.shape[0]), slice(halo, halo + job.geobox.shape[1]))
        outputs = {name: np.ascontiguousarray(values[inner]) for name, values in outputs.items()}

    def valid(o):
        values = outputs[o.name]
        return np.isfinite(values).any() if values.dtype.kind == "f" else (values != o.nodata).any()

    if not any(valid(o) for o in recipe.outputs if not o.name.endswith("count")):
        return []
    ix, iy = job.tile
    outdir = Path(job.outdir) / f"{ix}_{iy}"
    stem = f"{job.out_product}_{ix}_{iy}"
    files = {o.name: f"{stem}_{o.name}.tif" for o in recipe.outputs}

    def write(o):
        write_cog(xr_from_array(outputs[o.name], job.geobox), outdir / files[o.name],
                  nodata=float("nan") if np.dtype(o.dtype).kind == "f" else o.nodata,
                  resampling="nearest" if o.name.endswith(("count", "doy_max")) else "average")

    computed = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="antares-recipe-write") as pool:
        list(pool.map(write, recipe.outputs))  # compression releases the GIL
    log.debug("tile %s: set-up, reading and computing %.2f s (loading the compiled loops %.2f s, waiting for "
              "reads %.2f s), writing %.2f s", job.tile, computed - started, warm, waited,
              time.perf_counter() - computed)
    start, stop = job.period
    props = {"datetime": start + (stop - start) / 2, "dtr:start_datetime": start, "dtr:end_datetime": stop,
             "odc:region_code": f"{ix}_{iy}", "antares:recipe": recipe.name, "antares:input_product": job.product}
    lineage = {"source": job.source_ids}
    if job.terrain_ids:
        lineage["terrain"] = job.terrain_ids
    if job.s1_ids:
        lineage["s1"] = job.s1_ids
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


def recipe_gridspec(datasets, measurement_names: list[str], recipe, tile_size: int, area, load_crs=None):
    """The default tile grid of a recipe over ``datasets``, and the line that says why when it is not theirs.

    The datasets' grid (:func:`native_gridspec`) at ``recipe.resolution``, unless that
    resolution, in metres, would be read in other units: on a geographic product (or one
    in feet) a metric recipe grid goes onto a projected CRS, ``load_crs`` (the product
    definition's ``load.crs``) when it is in metres, else the WGS 84 UTM zone of the
    area's centre.

    Parameters
    ----------
    datasets : list of datacube.model.Dataset
    measurement_names : list of str
    recipe : antares.recipes.Recipe
        ``recipe.resolution`` is in metres (``None``: the native resolution, in the datasets' units).
    tile_size : int
        Tile side in pixels.
    area : odc.geo.geom.Geometry
    load_crs : str, optional

    Returns
    -------
    (odc.geo.gridspec.GridSpec, str or None)
        The grid; the one-line note naming the chosen CRS when it differs from the datasets' CRS.
    """
    from odc.geo import XY
    from odc.geo.crs import CRS
    from odc.geo.gridspec import GridSpec

    from antares.cube.grid import crs_name, is_metric, utm_crs

    crs = datasets[0].crs
    if recipe.resolution is None or is_metric(crs):
        return native_gridspec(datasets, measurement_names, recipe.resolution, tile_size), None
    if load_crs is not None and is_metric(CRS(load_crs)):
        target, why = CRS(load_crs), "the product's load CRS"
    else:
        target, why = CRS(utm_crs(area)), "the UTM zone of the area's centre"
    units = "degrees" if crs.geographic else crs.units[0]
    note = (f"the input is in {crs_name(crs)} ({units}): recipe {recipe.name}'s {recipe.resolution:g} m grid "
            f"goes onto {crs_name(target)}, {why} (give --crs/--resolution/--tile-size or --grid to choose another)")
    return GridSpec(target, tile_shape=(tile_size, tile_size), resolution=recipe.resolution, origin=XY(0.0, 0.0)), note


def period_datasets(dc, product: str, area, begin: str, end: str) -> list:
    """The datasets of ``product`` in ``area`` between ``begin`` and ``end`` (inclusive dates).

    Raises
    ------
    NotFoundError
        None there; the message gives the period the product does cover in the area.
    """
    from antares.cube.catalog import find_datasets

    start, stop, _ = period_bounds(begin, end)
    datasets = find_datasets(dc, product, area=area, time=(start, stop))
    if not datasets:
        every = find_datasets(dc, product, area=area)
        span = (f"in this area {product} has {len(every)} datasets from {min(d.center_time for d in every):%Y-%m-%d} "
                f"to {max(d.center_time for d in every):%Y-%m-%d}" if every else
                f"{product} has no dataset in this area at all")
        raise NotFoundError(f"no dataset of {product} between {begin} and {end} in the area; {span}.")
    return datasets


def _recipe_output(dc, recipe, name: str, datasets, measurements: dict, definition: dict, gridspec, tile_size: int,
                  area, notes: list):
    """``(gridspec, product definition, existing product or None)`` of a recipe's output product ``name``.

    ``gridspec`` None: the recipe's grid chosen from the inputs (a note appended to ``notes`` when
    a geographic input goes onto a projected grid, see :func:`recipe_gridspec`).

    Raises
    ------
    AlreadyExistsError
        ``name`` is a product with other measurements (made by another recipe or stage).
    """
    from antares.cube.catalog import get_product
    from antares.pipeline.tiles import load_section

    if gridspec is None:
        gridspec, note = recipe_gridspec(datasets, list(dict.fromkeys(measurements.values())), recipe, tile_size,
                                         area, definition.get("load", {}).get("crs"))
        if note:
            notes.append(note)
    out_def = recipe.product_definition(name)
    out_def["load"] = load_section(gridspec)
    existing = get_product(dc, name)
    if existing is not None:
        if [m["name"] for m in existing.definition["measurements"]] != [o.name for o in recipe.outputs]:
            raise AlreadyExistsError(f"product '{name}' exists and was not made by recipe {recipe.name}; "
                                     "choose another --name.")
    return gridspec, out_def, existing


@takes(RecipeRequest)
def apply_recipe(settings: Settings, request: RecipeRequest, progress=None) -> RecipeReport:
    """Compute recipe ``request.recipe`` over the area and period, tile by tile, into product ``request.name``.

    The recipe is read once, here; every tile runs that parsed recipe and the run records
    its hash (``recipe_sha256``), so what ran is what was recorded, wherever the tiles run.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.requests.RecipeRequest
        The recipe, the period (inclusive dates), the output product ``name`` (created from
        the recipe's outputs: float32, NaN = nodata), the area, the grid (default: the input
        product's CRS and pixel alignment at the recipe's resolution, or the native one, in
        tiles of ``tile_size`` pixels), the input and terrain products (default: the
        recipe's), ``overwrite`` (replace an earlier result; otherwise a re-run resumes).
        The old positional form ``apply_recipe(settings, recipe, begin, end, name, area, ...)``
        builds the request.
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    RecipeReport

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
    from odc.geo.geom import unary_union

    from antares.cube.catalog import dataset_exists, find_datasets
    from antares.cube.grid import area_tiles, crop_to_area
    from antares.cube.index import connect, product_definition
    from antares.cube.write import check_output_dir
    from antares.db.engine import database_url
    from antares.names import product_dir
    from antares.pipeline.run import recorded_run
    from antares.pipeline.tiles import ProductOutput, grid_params, index_tiles, staged_outdir
    from antares.prepare.base import dataset_id
    from antares.recipes import load_recipe

    name, area, begin, end, overwrite = request.name, request.area, request.begin, request.end, request.overwrite
    gridspec = request.gridspec
    # an overwrite stages the new result beside it
    outdir = check_output_dir(product_dir(settings.home, name, request.outdir), staging_beside=overwrite)
    skip_iri_format_checkers()
    recipe = load_recipe(request.recipe)  # read once: the tiles run this one, and its hash is recorded
    if recipe.steps is not None:  # a time-series recipe: one dataset per step (antares.pipeline.timeseries)
        from antares.pipeline.timeseries import apply_timeseries

        return apply_timeseries(settings, recipe, request, outdir, progress=progress)
    start, stop, _ = period_bounds(begin, end)
    reads = (("pca_fit", recipe.pca.name),) if recipe.pca is not None else ()  # no refit of it while tiles run
    with recorded_run(settings, "apply_recipe", name, reads=reads) as run:  # the name is taken before any work
        url = database_url(settings)
        product = request.product or recipe.product
        dc = connect(url)
        try:
            definition = product_definition(dc, product)
            measurements = recipe.resolve_measurements(definition)
            pca = None
            if recipe.pca is not None:  # a PCA fitted on other measurements is refused before any tile
                from antares.pipeline.pca import load_pca, pca_record

                fitted = load_pca(settings, recipe.pca.name)
                recipe.bind_pca(fitted, measurements)
                pca = pca_record(fitted)
            datasets = period_datasets(dc, product, area, begin, end)
            terrain_dss = []
            if recipe.terrain is not None:
                tproduct = request.terrain_product or recipe.terrain.product
                product_definition(dc, tproduct)
                terrain_dss = find_datasets(dc, tproduct, area=area)
                if not terrain_dss:
                    raise NotFoundError(f"recipe {recipe.name} needs terrain from {tproduct}, which has no dataset in the area; "
                                        f"index a DEM with 'antares index --dataset_name dem'.")
            s1_names, s1_db, s1_dss = (), True, []
            if recipe.sar is not None:  # refused here (unknown product, no VV/VH, no orbit left) before any tile
                from antares.pipeline.sar_inputs import s1_inputs

                s1_names, s1_db, s1_dss = s1_inputs(dc, recipe, area, begin, end)
            report = RecipeReport(product=name)
            gridspec, out_def, existing = _recipe_output(dc, recipe, name, datasets, measurements, definition, gridspec,
                                                        request.tile_size, area, report.notes)
            # --overwrite of an existing product: the new tiles go to a staging directory and replace the old
            # datasets only once all are written (the old product stays usable until then)
            staging = staged_outdir(outdir) if existing is not None and overwrite else None
            jobs = []
            for tile, geobox in area_tiles(gridspec, area):  # each tile cut to the area
                footprint = geobox.extent
                sources = [ds for ds in datasets if ds.extent is not None and ds.extent.to_crs(gridspec.crs).intersects(footprint)]
                if not sources:
                    continue
                geobox = crop_to_area(geobox, unary_union([ds.extent.to_crs(gridspec.crs) for ds in sources]))
                if geobox is None:
                    continue
                report.tiles += 1
                out_id = dataset_id(f"recipe:{name}:{tile[0]}:{tile[1]}")
                if staging is None and dataset_exists(dc, out_id):
                    report.skipped += 1
                    continue
                terrain_ids = [str(d.id) for d in terrain_dss if d.extent.to_crs(gridspec.crs).intersects(footprint)]
                s1_ids = [str(d.id) for d in s1_dss
                          if d.extent is not None and d.extent.to_crs(gridspec.crs).intersects(footprint)]
                jobs.append(RecipeJob(url, recipe, product, measurements, tuple(tile), geobox,
                                      [str(d.id) for d in sources], terrain_ids, str(out_id), name, (start, stop),
                                      str(staging or outdir), pca=pca, s1_ids=s1_ids, s1_names=s1_names,
                                      s1_db=s1_db))
        finally:
            dc.close()

        params = {"recipe": recipe.name, "recipe_sha256": recipe.digest, "begin": begin, "end": end, "product": product,
                  "grid": grid_params(gridspec), "area_wkt": area.to_crs("EPSG:4326").wkt, "overwrite": overwrite}
        output = ProductOutput(url, out_def if existing is None else None, outdir, staging)
        index_tiles(run, report, output, jobs, recipe_tile, (params, {"product": product}),
                    (request.scheduler, request.workers), progress)
        return report
