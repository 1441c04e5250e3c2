"""``apply_recipe`` of a time-series recipe (``steps:``): one indexed dataset per step and tile.

For every tile of the area, one task reads the input product in spatial blocks
(:func:`antares.cube.blockread.tile_blocks`, as :func:`antares.pipeline.recipe.recipe_tile`),
converts DN to reflectance, masks, computes the indices, and per block (every pixel's series is
independent) composites the clear observations of each step, fills the gaps and smooths
(:mod:`antares.pipeline.timeseries_blocks`, :mod:`antares.timeseries`). It then writes, per step, one multi-band
COG of the float32 measurements (variables, S1 features, terrain) and one uint16 COG of the QA bands
``clear_count`` (clear observations in the step) and ``filled`` (0 observed, 1 interpolated, 2 edge filled by
the nearest composite; nodata 65535 where the pixel has no observation in the period), ZSTD, no overviews
(:func:`antares.cube.write.write_cog_bands`; eo3 ``{path, band}``), and an eo3 document whose time is the step's centre and whose
``dtr:start_datetime``/``dtr:end_datetime`` are the step's bounds. Lineage: the input datasets
of the step, or of the whole period when gap filling or smoothing used the other steps.
The main process indexes a tile's steps in one transaction; dataset ids are stable (uuid5 of
product, tile and step start), so a re-run resumes and ``overwrite`` starts over.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import InvalidInputError
from antares.pipeline.tiles import TileReport

log = logging.getLogger(__name__)


@dataclass
class SeriesJob:
    """What one worker needs for one tile of a time-series recipe (picklable)."""

    url: str
    recipe: object  # the parsed antares.recipes.Recipe (what runs is what was hashed and recorded)
    product: str
    measurements: dict  # alias -> measurement name of the input product
    tile: tuple[int, int]
    geobox: object
    source_ids: list
    out_ids: list  # one per step
    out_product: str
    steps: list  # (start, stop) per step, UTC, stop exclusive
    outdir: str
    block: int = 512
    s1_ids: list = field(default_factory=list)  # the S1 datasets over the tile (recipe.sar)
    s1_names: tuple = ()  # (VV, VH) measurement names of recipe.sar.product
    s1_db: bool = True  # the S1 product holds dB (else linear power)
    terrain_ids: list = field(default_factory=list)  # the DEM datasets over the tile (recipe.terrain)
    threads: int = 1  # the tile's share of the cores: numba threads of the compiled loops, COG writers
    stored: dict = field(default_factory=dict)  # output -> (dtype, nodata) as the output product declares it


def step_files(outputs, stored: dict) -> dict:
    """Which file of a step holds which outputs: one multi-band COG per dtype of the output product.

    Parameters
    ----------
    outputs : list of str
        The recipe's outputs in product order.
    stored : dict
        Output -> ``(dtype, nodata)`` of the product definition (absent: float32, NaN).

    Returns
    -------
    dict of str to (str, float or int, list of str)
        File suffix (``""`` for the float32 measurements, ``"_qa"`` for the uint16 QA bands, ``"_<dtype>"``
        otherwise) -> (dtype, nodata, outputs in band order). A product made before the QA bands were integers
        (float32 ``clear_count``/``filled``) keeps its declared float32: its steps are one float32 file.
    """
    from antares.recipes.specs import STEP_QA_DTYPE

    files = {}
    for name in outputs:
        dtype, nodata = stored.get(name, ("float32", float("nan")))
        suffix = "" if dtype == "float32" else "_qa" if dtype == STEP_QA_DTYPE else f"_{dtype}"
        files.setdefault(suffix, (dtype, nodata, []))[2].append(name)
    return files


def stored_types(definition: dict) -> dict:
    """Output -> ``(dtype, nodata)`` of an output product definition (``"NaN"`` read as float NaN)."""
    out = {}
    for m in definition.get("measurements") or []:
        nodata = m.get("nodata")
        if isinstance(nodata, str) and nodata.lower() == "nan":
            nodata = float("nan")
        out[m["name"]] = (m["dtype"], nodata)
    return out


def tile_threads(scheduler, workers) -> int:
    """The threads one tile may use: every core of this machine with ``-sc sync``, its share among a local cluster's
    ``workers`` processes, 1 on an external scheduler (its workers' cores are not known here)."""
    import os

    from antares.pipeline.executor import SYNC

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if scheduler == SYNC:
        return cores
    if scheduler is None:
        return max(1, cores // max(1, int(workers or 1)))
    return 1


def sar_series(recipe, loaded, vv: str, vh: str, in_db: bool, steps) -> tuple[dict, np.ndarray]:
    """Per step, the S1 features of :attr:`Recipe.sar` from S1 backscatter loaded on the tile.

    Parameters
    ----------
    recipe : antares.recipes.Recipe
        With ``recipe.sar``.
    loaded : xarray.Dataset
        Variables ``vv`` and ``vh`` (time, y, x), float, dB or linear power (``in_db``), NaN = nodata.
    vv, vh : str
        Their names in ``loaded``.
    in_db : bool
    steps : list of (datetime, datetime)

    Returns
    -------
    dict of str to numpy.ndarray of float32, (step, y, x)
        ``s1_<feature>``: each step's mean linear power of VV and VH (the observations in the step where both are
        valid), then :func:`antares.recipes.sar.sar_features`; NaN where a step has no observation.
    numpy.ndarray of int, (time,)
        The step of each S1 observation (-1: outside every step).
    """
    from antares.recipes.sar import db_to_linear, sar_features
    from antares.timeseries import step_index

    times = loaded.time.values.astype("datetime64[ns]")
    which = step_index(times, steps)
    power = {}
    for name in (vv, vh):
        values = np.asarray(loaded[name].values, np.float32)
        power[name] = db_to_linear(values) if in_db else values
    both = ~(np.isnan(power[vv]) | np.isnan(power[vh]))
    shape = (len(steps),) + power[vv].shape[1:]
    out = {o: np.full(shape, np.nan, np.float32) for o in recipe.sar.outputs}
    for k in range(len(steps)):
        mine = which == k
        if not mine.any():
            continue
        ok = both[mine]
        count = ok.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = [np.where(ok, power[n][mine], 0).sum(axis=0, dtype=np.float64) / count for n in (vv, vh)]
        means = [np.where(count > 0, m, np.nan) for m in means]
        for feature, values in sar_features(means[0], means[1], recipe.sar.features).items():
            out[f"s1_{feature}"][k] = values
    return out, which


class SeriesReport(TileReport):
    """Outcome of a time-series apply_recipe run; ``written`` counts datasets (steps x tiles)."""

    steps: int = 0

    def summary(self) -> str:
        return (f"{self.written} dataset(s) ({self.steps} step(s) per tile) written and indexed into {self.product} "
                f"({self.tiles} tile(s) in the area); {self.skipped} tile(s) already done, {self.empty} without "
                f"valid data, {len(self.failed)} failed; {self.pixels:,} pixel(s) written per measurement")


def series_tile(job: SeriesJob) -> list:
    """Compute, write and describe one tile's steps (runs on a worker); returns ``[(eo3 doc, uri)]`` or ``[]``."""
    from concurrent.futures import ThreadPoolExecutor

    from antares.cube.blockread import tile_blocks
    from antares.cube.catalog import get_datasets
    from antares.cube.index import connect, skip_iri_format_checkers
    from antares.cube.write import eo3_document, write_cog_bands, write_yaml
    from antares.pipeline.recipe import _Prefetch, mask_source
    from antares.pipeline.timeseries_blocks import _block_inputs, _raw_block_series, _raw_conversions, series_block
    from antares.timeseries import step_index

    from antares._timeseries_kernels import use_threads

    skip_iri_format_checkers()
    threads = use_threads(job.threads)
    recipe = job.recipe
    names = list(dict.fromkeys(job.measurements[a] for a in recipe.measurements))
    mask_name = mask_source(recipe, job.measurements)
    pad = recipe.mask.margin if recipe.mask is not None else 0
    n_steps = len(job.steps)
    outputs = {o.name: np.empty((n_steps,) + tuple(job.geobox.shape), np.float32) for o in recipe.outputs}
    # NaN wherever no block writes (blocks no dataset touches are not read). numpy releases the GIL while it
    # fills, so the first touch of the tile's outputs (1.2 GB at 2048², 12 steps, 6 outputs: ~1 s of page
    # faults) runs beside the connection, the dataset lookup and the first block's read, not before them
    filler = threading.Thread(target=_fill_nan, args=(list(outputs.values()),), name="antares-series-fill")
    filler.start()
    dc = connect(job.url, app="antares-recipe")
    try:
        datasets = get_datasets(dc, job.source_ids)
        if not datasets:
            return []
        definitions = dict(datasets[0].product.measurements)
        properties = [d.metadata_doc.get("properties", {}) for d in datasets]
        times = None

        def read():
            yield from tile_blocks(dc, datasets, names, job.geobox, job.block, mask_name, pad)

        with _Prefetch(read) as blocks:
            for block in blocks:
                conversions = _raw_conversions(recipe, job, block, definitions, properties)
                if conversions is not None:
                    result = _raw_block_series(recipe, job, block, conversions, definitions, properties, job.steps)
                else:
                    variables, valid = _block_inputs(recipe, job, block, definitions, properties)
                    result = series_block(recipe, variables, valid, block.times, job.steps)
                filler.join()
                for key, values in result.items():
                    outputs[key][:, block.rows, block.cols] = values
                times = block.times
        filler.join()  # a tile whose blocks were all skipped
        s1_step = None
        if recipe.sar is not None and job.s1_ids:
            from antares.cube.load import load_on

            s1_datasets = get_datasets(dc, job.s1_ids)
            vv, vh = job.s1_names
            loaded = load_on(dc, job.geobox, [vv, vh], datasets=s1_datasets, resampling=recipe.sar.resampling)
            for name in (vv, vh):  # declared nodata -> NaN (float S1 products use NaN already)
                nodata = loaded[name].attrs.get("nodata")
                if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
                    loaded[name] = loaded[name].astype(np.float32).where(loaded[name] != nodata)
            features, s1_step = sar_series(recipe, loaded, vv, vh, job.s1_db, job.steps)
            outputs.update(features)
            s1_by_time = {}
            for d in s1_datasets:
                s1_by_time.setdefault(np.datetime64(d.center_time.replace(tzinfo=None), "ns"), []).append(str(d.id))
            s1_sources = [[] for _ in job.steps]
            for t in s1_by_time:
                k = step_index(np.array([t]), job.steps)[0]
                if k >= 0:
                    s1_sources[k] += s1_by_time[t]
        if recipe.terrain is not None and job.terrain_ids:
            for layer, values in static_terrain(dc, recipe, job).items():
                outputs[layer][:] = values[None]
    finally:
        filler.join()
        dc.close()
    if times is None or not np.any(outputs["clear_count"] > 0):
        return []
    ix, iy = job.tile
    outdir = Path(job.outdir) / f"{ix}_{iy}"
    spec = recipe.steps
    uses_all = spec.gapfill != "none" or spec.smooth is not None
    step_of = step_index(np.array([np.datetime64(d.center_time.replace(tzinfo=None), "ns") for d in datasets]),
                         job.steps)
    stems = [f"{job.out_product}_{ix}_{iy}_{start:%Y%m%d}" for start, _ in job.steps]
    input_ids = [str(d.id) for d in datasets]  # once: datacube's Dataset.id re-derives the metadata fields per call

    layout = step_files([o.name for o in recipe.outputs], job.stored)
    specs = {o.name: o for o in recipe.outputs}

    def write(task):
        k, suffix = task
        dtype, nodata, names = layout[suffix]
        if dtype == "float32":
            bands = [outputs[n][k] for n in names]
        else:
            bands = [specs[n].encode_array(outputs[n][k]) if specs[n].dtype == dtype else
                     _encode_as(outputs[n][k], dtype, nodata, n) for n in names]
        write_cog_bands(bands, job.geobox, outdir / f"{stems[k]}{suffix}.tif", nodata, threads=threads)

    # one file per step and dtype. rasterio holds the GIL while GDAL's COG driver compresses a file (its
    # CreateCopy), so two of these threads do not compress at once: each file is compressed by GDAL's own
    # ``threads`` threads instead, while the other thread reads its file back (reads release the GIL)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="antares-series-write") as pool:
        list(pool.map(write, [(k, suffix) for k in range(n_steps) for suffix in layout]))
    results = []
    for k, (start, stop) in enumerate(job.steps):
        stem = stems[k]
        files = {n: (f"{stem}{suffix}.tif", b) for suffix, (_, _, names) in layout.items()
                 for b, n in enumerate(names, start=1)}
        end = stop - dt.timedelta(microseconds=1)
        props = {"datetime": start + (stop - start) / 2, "dtr:start_datetime": start, "dtr:end_datetime": end,
                 "odc:region_code": f"{ix}_{iy}", "antares:recipe": recipe.name, "antares:input_product": job.product,
                 "antares:step": k, "antares:steps": n_steps}
        sources = [i for i, s in zip(input_ids, step_of) if uses_all or s == k]
        if s1_step is not None:
            sources += s1_sources[k]
        lineage = {"source": sources}
        if job.terrain_ids:
            lineage["terrain"] = job.terrain_ids
        doc = eo3_document(job.out_ids[k], job.out_product, job.geobox, files, props, lineage)
        path = write_yaml(doc, outdir / f"{stem}.odc-metadata.yaml")
        results.append((doc, path.resolve().as_uri()))
    return results


def _fill_nan(arrays: list) -> None:
    """Fill float arrays with NaN (in a thread: ``ndarray.fill`` runs without the GIL)."""
    for values in arrays:
        values.fill(np.nan)


def _encode_as(values: np.ndarray, dtype: str, nodata, name: str) -> np.ndarray:
    """Float values (NaN = nodata) in an integer ``dtype`` an existing product declares for output ``name``."""
    from antares.recipes.specs import OutputSpec

    return OutputSpec(name, dtype=dtype, nodata=nodata).encode_array(values)


def static_terrain(dc, recipe, job) -> dict:
    """The recipe's terrain layers on the tile (the same in every step), voids filled and flagged as
    :func:`antares.pipeline.recipe.recipe_tile` does (with ``FILL_CONTEXT`` pixels of DEM around the tile)."""
    from antares.cube.catalog import get_datasets
    from antares.cube.load import load_on
    from antares.pipeline.recipe import FILL_CONTEXT
    from antares.recipes.specs import TERRAIN_FLAG
    from antares.recipes.voids import fill_terrain, terrain_voids

    m, (h, w) = FILL_CONTEXT, job.geobox.shape
    layers = list(recipe.terrain.dem_layers)
    loaded = load_on(dc, job.geobox.pad(m), layers, datasets=get_datasets(dc, job.terrain_ids),
                     resampling=recipe.terrain.resampling).isel(time=0)
    wide = {layer: np.asarray(loaded[layer].values, np.float32) for layer in layers}
    inner = {layer: values[m:m + h, m:m + w] for layer, values in wide.items()}
    void = terrain_voids(inner)
    if void.any():
        filled = fill_terrain(wide)[0]
        inner = {layer: np.where(void, filled[layer][m:m + h, m:m + w], values) for layer, values in inner.items()}
    inner[TERRAIN_FLAG] = void.astype(np.float32)
    return {layer: inner[layer] for layer in recipe.terrain.layers}


def sar_measurements(recipe, definition) -> tuple[tuple[str, str], bool]:
    """The (VV, VH) measurement names of the recipe's S1 product and whether it holds dB.

    Raises
    ------
    InvalidInputError
        The product has no VV or VH measurement (by name or alias), or their units are neither dB nor linear.
    """
    definition = getattr(definition, "definition", definition)
    found, units = {}, {}
    for m in definition.get("measurements") or []:
        for key in [m["name"]] + list(m.get("aliases") or []):
            if key.lower() in ("vv", "vh") and key.lower() not in found:
                found[key.lower()] = m["name"]
                units[key.lower()] = str(m.get("units", "")).lower()
    missing = [p.upper() for p in ("vv", "vh") if p not in found]
    if missing:
        names = ", ".join(m["name"] for m in definition.get("measurements") or []) or "none"
        raise InvalidInputError(f"recipe {recipe.name}: S1 product '{recipe.sar.product}' has no {' or '.join(missing)} "
                                f"measurement (by name or alias); its measurements: {names}. Index S1 with antares index "
                                "--dataset_name s1_grd, or name another product in s1.product.")
    kinds = {"db" if u in ("db", "decibel") else "linear" if u in ("1", "linear", "power") else u for u in units.values()}
    if len(kinds) != 1 or not kinds <= {"db", "linear"}:
        raise InvalidInputError(f"recipe {recipe.name}: S1 product '{recipe.sar.product}' declares VV/VH units "
                                f"{units['vv']!r}/{units['vh']!r}; expected dB (s1_grd) or linear power (s1_grd_linear).")
    return (found["vv"], found["vh"]), kinds == {"db"}


def check_steps_observed(recipe, steps, datasets, product: str) -> None:
    """Refuse steps in which no input dataset falls (nothing to composite anywhere).

    Raises
    ------
    InvalidInputError
        No dataset's time lies in any step; the message gives the steps' span and the datasets' dates.
    """
    from antares.timeseries import step_index

    times = np.array([np.datetime64(d.center_time.replace(tzinfo=None), "ns") for d in datasets])
    if (step_index(times, steps) >= 0).any():
        return
    raise InvalidInputError(
        f"recipe {recipe.name}: its steps ({steps[0][0]:%Y-%m-%d} to {steps[-1][1] - dt.timedelta(days=1):%Y-%m-%d}, "
        f"{len(steps)} step(s)) hold no observation of {product}, whose datasets here are from "
        f"{min(times).astype('datetime64[D]')} to {max(times).astype('datetime64[D]')}; change the steps' periods "
        "or -b/-e.")


def apply_timeseries(settings: Settings, recipe, request, outdir: Path, progress=None) -> SeriesReport:
    """:func:`antares.pipeline.recipe.apply_recipe` for a recipe with ``steps:``: one dataset per step and tile.

    Parameters
    ----------
    recipe : antares.recipes.Recipe
        Loaded, with ``recipe.steps``; the tiles run this object.
    request : antares.pipeline.requests.RecipeRequest
        As for :func:`~antares.pipeline.recipe.apply_recipe`; the steps start at ``request.begin``
        (explicit periods are cut to it).
    outdir : pathlib.Path
        Checked output directory (:func:`antares.cube.write.check_output_dir`).
    progress : callable, optional
        ``progress(done, total)`` per tile.

    Raises
    ------
    InvalidInputError
        No step holds an input dataset; the product lacks measurements the recipe needs.
    NotFoundError
        Unknown product; no input data in the period and area.
    AlreadyExistsError
        ``name`` is a product with other measurements.
    """
    from odc.geo.geom import unary_union

    from antares.cube.catalog import dataset_exists
    from antares.cube.grid import area_tiles, crop_to_area
    from antares.cube.index import connect, product_definition
    from antares.db.engine import database_url
    from antares.pipeline.recipe import period_bounds, period_datasets, _recipe_output
    from antares.pipeline.sar_inputs import filter_orbits
    from antares.pipeline.run import recorded_run
    from antares.pipeline.tiles import grid_params, product_writer, run_tiles, staged_outdir
    from antares.prepare.base import dataset_id
    from antares.timeseries import step_calendar

    begin, end, name, area, gridspec = request.begin, request.end, request.name, request.area, request.gridspec
    product, scheduler, workers = request.product, request.scheduler, request.workers
    overwrite, tile_size = request.overwrite, request.tile_size
    spec = recipe.steps
    start, stop, _ = period_bounds(begin, end)
    steps = step_calendar(begin, end, spec.every, list(spec.periods) if spec.periods else None)
    with recorded_run(settings, "apply_recipe", name) as run:
        url = database_url(settings)
        product = product or recipe.product
        dc = connect(url)
        try:
            definition = product_definition(dc, product)
            measurements = recipe.resolve_measurements(definition)
            datasets = period_datasets(dc, product, area, begin, end)
            check_steps_observed(recipe, steps, datasets, product)
            terrain_dss = []
            if recipe.terrain is not None:
                from antares.cube.catalog import find_datasets
                from antares.errors import NotFoundError

                tproduct = request.terrain_product or recipe.terrain.product
                product_definition(dc, tproduct)
                terrain_dss = find_datasets(dc, tproduct, area=area)
                if not terrain_dss:
                    raise NotFoundError(f"recipe {recipe.name} needs terrain from {tproduct}, which has no dataset in the "
                                        "area; index a DEM with 'antares index --dataset_name dem'.")
            s1_names, s1_db, s1_datasets = (), True, []
            if recipe.sar is not None:
                s1_names, s1_db = sar_measurements(recipe, product_definition(dc, recipe.sar.product))
                s1_datasets = filter_orbits(period_datasets(dc, recipe.sar.product, area, begin, end), recipe)
            report = SeriesReport(product=name)
            report.steps = len(steps)
            gridspec, out_def, existing = _recipe_output(dc, recipe, name, datasets, measurements, definition, gridspec,
                                                        tile_size, area, report.notes)
            staging = staged_outdir(outdir) if existing is not None and overwrite else None
            # the files hold the dtypes the product declares (an older product's float32 QA bands stay float32,
            # also under --overwrite, which keeps the product's definition)
            stored = stored_types(existing.definition if existing is not None else out_def)
            jobs = []
            for tile, geobox in area_tiles(gridspec, area):
                footprint = geobox.extent
                sources = [ds for ds in datasets if ds.extent is not None and ds.extent.to_crs(gridspec.crs).intersects(footprint)]
                if not sources:
                    continue
                geobox = crop_to_area(geobox, unary_union([ds.extent.to_crs(gridspec.crs) for ds in sources]))
                if geobox is None:
                    continue
                report.tiles += 1
                out_ids = [str(dataset_id(f"recipe:{name}:{tile[0]}:{tile[1]}:{a.isoformat()}")) for a, _ in steps]
                # a tile's steps are indexed in one transaction: one of them indexed means all are
                if staging is None and dataset_exists(dc, out_ids[0]):
                    report.skipped += 1
                    continue
                s1_ids = [str(d.id) for d in s1_datasets
                          if d.extent is not None and d.extent.to_crs(gridspec.crs).intersects(geobox.extent)]
                jobs.append(SeriesJob(url, recipe, product, measurements, tuple(tile), geobox,
                                      [str(d.id) for d in sources], out_ids, name, steps, str(staging or outdir),
                                      s1_ids=s1_ids, s1_names=s1_names, s1_db=s1_db, threads=tile_threads(scheduler, workers),
                                      stored=stored,
                                      terrain_ids=[str(d.id) for d in terrain_dss
                                                   if d.extent.to_crs(gridspec.crs).intersects(geobox.extent)]))
        finally:
            dc.close()

        params = {"recipe": recipe.name, "recipe_sha256": recipe.digest, "begin": begin, "end": end, "product": product,
                  "steps": len(steps), "grid": grid_params(gridspec), "area_wkt": area.to_crs("EPSG:4326").wkt,
                  "overwrite": overwrite}
        dc = connect(url)
        write = product_writer(dc, out_def, existing, staging, outdir)

        def on_result(job: SeriesJob, result: list) -> None:
            report.written += write(result)
            report.pixels += len(result) * job.geobox.shape[0] * job.geobox.shape[1]
            report.empty += 0 if result else 1

        try:
            report.failed = run_tiles(run, (params, {"product": product}), jobs, series_tile, on_result,
                                      (scheduler, workers), progress)
            if staging is not None:
                write.finish(report)
        finally:
            if staging is not None:
                write.discard()
            dc.close()
        return report
