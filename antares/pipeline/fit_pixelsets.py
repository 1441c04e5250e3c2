"""``model_fit_timeseries -p PRODUCT -t TRAINING_SET``: a temporal deep model fitted on pixel sets from the cube.

The cube path of issue 19: every training polygon's pixels are read at every time (step) of a
product, tile by tile (:func:`antares.pipeline.train.training_features` with ``series=True``: a
polygon crossing tiles gets all its pixels), ``S`` of them drawn per polygon with their whole series
(:func:`antares.deep.pixelsets.draw_pixel_sets`), and the model is fitted on those pixel sets
``(N, T, C, S)`` with the steps' day numbers as positional encoding. It is stored like the other
models (safetensors + JSON config, the training set's class scheme), with the product, its times
and the set size in the metadata, so that ``model_predict_object`` applies it to the objects of a
segmentation of that product (or of another product with the same measurements and dates).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from antares.config import Settings
from antares.deep.pixelsets import DEFAULT_VALIDATION_BLOCK
from antares.errors import AlreadyExistsError, InvalidInputError, UsageError

log = logging.getLogger(__name__)

#: the sensor key of a cube pixel-set model (one product)
SERIES = "series"


@dataclass(frozen=True)
class PixelSetFitRequest:
    """A pixel-set model ``kind`` fitted on training set ``training_set`` over the steps of ``product``.

    Attributes
    ----------
    kind : {'pse_tae', 'ltae', 'tempcnn'}
    product, training_set, name : str
    set_size : int >= 1
        Pixels per set ``S`` (Garnot et al. 2020 use 64).
    time : (begin, end), optional
        The steps of this period only.
    extra : tuple of 'k=v'
        Model parameters (``antares model_params pse_tae``).
    seed : int
        Seed of the draw, the weights, the batches and the validation split.
    device : {'auto', 'cpu', 'cuda'}
    overwrite : bool
    scheduler, workers
        As for the other tiled stages.
    geometry : bool
        Give the pixel-set encoder the shape of each polygon as extra features (Garnot et al. 2020's
        geometric features): :data:`antares.object_features.GEOMETRY_FEATURES` (the shape features and
        the cover ratio) of the polygon's pixels
        on the product's grid (pixel centres inside, polygonized as segments are), so that training
        polygons and segments are measured alike. Not for tempcnn (no pixel-set encoder).
    validation_block : float > 0 or None, optional
        Side (metres, the product's CRS units) of the square blocks of the early-stopping validation
        split: polygons whose centroids share a block stay on one side (spatially blocked). Default
        :data:`antares.deep.pixelsets.DEFAULT_VALIDATION_BLOCK` (1000), as the CLI; None: a stratified
        random split.
    sensors : tuple of {'s1', 's2'}, optional
        Channel groups as sensors (:func:`antares.deep.sensors.sensor_channels`): of ``product`` (S1
        measurements recognised by name, or ``sensor_measurements``), or one sensor per product with
        ``products``. Default (empty): every measurement of ``product`` as one input.
    fusion : {'early', 'pse', 'tsa', 'decision'}, optional
        Needed (only) with two sensors (Ofori-Ampofo et al. 2021; :func:`antares.deep.data.arrange`).
    interpolate : {'nn', 'linear'}
        Alignment of S1 to the S2 dates for early and pse fusion.
    products : tuple of str
        A second product (the other sensor's, each with its own dates; ``s1=NAME`` names its sensor).
        Its pixels must be those of ``product`` (the same grid): the sets are drawn at the same positions.
    sensor_measurements : tuple of (sensor, tuple of str), optional
        The measurements of each sensor (:func:`antares.deep.sensors.parse_sensor_measurements`).
    min_temp_seq : int >= 1, optional
        Minimum-sequence sampling at training (Ofori-Ampofo et al. 2021's ``min_temp_seq``): each
        training sample keeps ``min_temp_seq`` of the available dates of each input, drawn at random
        for that sample at each pass (pse_tae and ltae: tempcnn needs all its dates).

    Raises
    ------
    UsageError
        A kind that is not a pixel-set model, unknown parameters or values, ``set_size`` < 1, fusion
        with one sensor or two sensors without fusion, a second product for one sensor, ``--device
        cuda`` without CUDA.
    """

    kind: str
    product: str
    training_set: str
    name: str
    set_size: int = 32
    time: tuple | None = None
    extra: tuple = ()
    seed: int = 0
    device: str = "auto"
    overwrite: bool = False
    scheduler: str | None = None
    workers: int | None = None
    validation_block: float | None = DEFAULT_VALIDATION_BLOCK
    geometry: bool = False
    sensors: tuple = ()
    fusion: str | None = None
    interpolate: str = "nn"
    products: tuple = ()
    sensor_measurements: tuple | None = None
    min_temp_seq: int | None = None

    def __post_init__(self):
        from antares.models.registry import MODELS, make_estimator, model_kind, parse_params
        from antares.names import check_name

        check_name(self.name)
        if self.kind not in MODELS or model_kind(self.kind).inputs != "pixel_sets":
            pixel = [k for k in MODELS if model_kind(k).inputs == "pixel_sets"]
            raise UsageError(f"-model {self.kind!r} is not a pixel-set time-series model; valid: {', '.join(pixel)}.")
        if self.validation_block is not None and not (isinstance(self.validation_block, (int, float))
                                                      and np.isfinite(self.validation_block)
                                                      and self.validation_block > 0):
            raise UsageError(f"--val-spatial must be a block size > 0 (metres). Got {self.validation_block!r}.")
        if not isinstance(self.set_size, int) or self.set_size < 1:
            raise UsageError(f"--set-size must be an int >= 1. Got {self.set_size!r}.")
        if self.geometry and self.kind == "tempcnn":
            raise UsageError("tempcnn has no pixel-set encoder: --geometry is for pse_tae and ltae.")
        sensors = list(self.sensors)
        if len(set(sensors)) != len(sensors) or not set(sensors) <= {"s1", "s2"}:
            raise UsageError(f"--sensors must be s2, s1 or s1,s2. Got {','.join(sensors)!r}.")
        if self.fusion is not None and len(sensors) != 2:
            raise UsageError(f"--fusion {self.fusion} needs two sensors (--sensors s1,s2); got "
                             f"{','.join(sensors) or 'one product as one input'}.")
        if len(sensors) == 2 and self.fusion is None:
            raise UsageError("two sensors need --fusion early, pse, tsa or decision.")
        if self.fusion == "pse" and self.kind == "tempcnn":
            raise UsageError("tempcnn has no pixel-set encoder: --fusion pse is for pse_tae and ltae; use early, tsa "
                             "or decision.")
        if self.products and len(sensors) != 2:
            raise UsageError("a second product (-p) is the other sensor's: give --sensors s1,s2 and --fusion.")
        if len(self.products) > 1:
            raise UsageError(f"at most two products (one per sensor); got {1 + len(self.products)}.")
        if self.sensor_measurements and not sensors:
            raise UsageError("--sensor-measurements needs --sensors.")
        if self.min_temp_seq is not None:
            if not isinstance(self.min_temp_seq, int) or self.min_temp_seq < 1:
                raise UsageError(f"--min-temp-seq must be an int >= 1. Got {self.min_temp_seq!r}.")
            if self.kind == "tempcnn":
                raise UsageError("tempcnn takes a fixed number of dates: --min-temp-seq is for pse_tae and ltae.")
        if self.interpolate not in ("nn", "linear"):
            raise UsageError(f"--interpolate must be nn or linear. Got {self.interpolate!r}.")
        params = parse_params(self.kind, self.extra)
        if "fusion" in params or "min_temp_seq" in params:
            raise UsageError("give the fusion and the minimum sequence with --sensors/--fusion and --min-temp-seq, "
                             "not -extra.")
        make_estimator(self.kind, _params(self), self.seed)  # every value checked before any work


def _params(request: PixelSetFitRequest) -> dict:
    from antares.models.registry import parse_params

    params = parse_params(request.kind, request.extra)
    params.setdefault("device", request.device)
    if request.fusion:
        params["fusion"], params["interpolate"] = request.fusion, request.interpolate
    if request.min_temp_seq:
        params["min_temp_seq"] = request.min_temp_seq
    return params


def _read_sensors(settings, request, progress):
    """The training features of each product, the sensors' channel groups and the pixel sets of every sensor.

    Returns
    -------
    (tf, groups, sets, n_pixels, origin)
        ``tf``: :class:`antares.pipeline.train.TrainingFeatures` of the first product; ``groups``: per
        input (sensor, or the product as one input) ``sensor``, ``product``, ``channels``, ``days``,
        ``times``; ``sets``: per input ``(n, T, C, S)``, drawn at the same pixels in every input;
        ``n_pixels`` (n,); ``origin``: the year whose 1 January is day 0 of every input.
    """
    from antares.deep.pixelsets import draw_sensor_sets, series_days
    from antares.deep.sensors import product_spec, sensor_channels
    from antares.pipeline.requests import SampleRequest
    from antares.pipeline.train import training_features

    specs = [request.product, *request.products]
    if request.sensors:  # the sensors' channels checked on the product definitions, before any pixel is read
        from antares.cube.index import connect, product_definition
        from antares.db.engine import database_url

        dc = connect(database_url(settings))
        try:
            declared = [(s, [m["name"] for m in product_definition(dc, product_spec(s)[1])["measurements"]])
                        for s in specs]
        finally:
            dc.close()
        sensor_channels(request.sensors, declared, request.sensor_measurements)
    tfs = []
    for spec in specs:
        tfs.append(training_features(settings, SampleRequest(product_spec(spec)[1], request.training_set, None, "mean",
                                                             True, request.scheduler, request.workers,
                                                             time=request.time, series=True), progress=progress))
    tf = tfs[0]
    names = [product_spec(s)[1] for s in specs]
    if len(tfs) == 2:
        same = (np.array_equal(tfs[0].sample_ids, tfs[1].sample_ids)
                and np.array_equal(tfs[0].pixels[0], tfs[1].pixels[0]))
        if not same:
            raise InvalidInputError(f"products {names[0]} and {names[1]} do not have the same pixels in the training "
                                    f"polygons ({len(tfs[0].pixels[0])} and {len(tfs[1].pixels[0])}): the pixel sets "
                                    "are drawn at the same positions in both sensors; put both on one grid first.")
    origin = min(int(str(t.times[0])[:4]) for t in tfs if len(t.times))
    if request.sensors:
        groups = sensor_channels(request.sensors, [(s, t.measurements) for s, t in zip(specs, tfs)],
                                 request.sensor_measurements)
    else:
        groups = [{"sensor": SERIES, "product": names[0], "channels": list(tf.measurements)}]
    values = []
    for g in groups:
        t = tfs[names.index(g["product"])]
        index, flat = t.pixels
        cube = flat.reshape(len(t.times), len(t.measurements), -1)
        values.append(cube[:, [list(t.measurements).index(c) for c in g["channels"]]])
        g["days"] = series_days(t.times, origin).tolist()
        g["times"] = [str(x) for x in t.times]
    sets, n_pixels = draw_sensor_sets(tf.pixels[0], values, len(tf.sample_ids), request.set_size, request.seed)
    return tf, groups, sets, n_pixels, origin


def _footprint_shapes(geoms, datasets, measurements) -> np.ndarray:
    """(n, 6) geometric features (:data:`antares.object_features.GEOMETRY_FEATURES`) of the product's pixels whose centres fall in each polygon (a point: its pixel),
    polygonized on the product's grid as :func:`antares.segmentation.polygonize.polygon_rows` polygonizes segments;
    a polygon's part outside the product's extent is left out, as its pixels are. NaN without a pixel."""
    import rasterio.features
    import rasterio.windows
    import shapely

    from antares.cube.load import native_geobox
    from antares.models.samples import is_point
    from antares.object_features import geometry_features
    from antares.segmentation.polygonize import polygon_rows

    box = native_geobox(datasets, measurements)
    grid, (height, width) = box.affine, box.shape
    out = []
    for g in geoms:
        minx, miny, maxx, maxy = g.bounds
        (c0, c1), (r0, r1) = zip(~grid * (minx, maxy), ~grid * (maxx, miny))  # (cols), (rows) of the corners
        col, row = int(np.floor(min(c0, c1))) - 1, int(np.floor(min(r0, r1))) - 1  # a pixel of margin
        col_end, row_end = int(np.ceil(max(c0, c1))) + 1, int(np.ceil(max(r0, r1))) + 1
        col, row, col_end, row_end = max(col, 0), max(row, 0), min(col_end, width), min(row_end, height)
        if col_end <= col or row_end <= row:  # outside the product: no pixel
            out.append(None)
            continue
        window = rasterio.windows.Window(col, row, col_end - col, row_end - row)  # within the product's pixels
        affine = rasterio.windows.transform(window, grid)
        shape = (int(window.height), int(window.width))
        if is_point(np.array([g], dtype=object))[0]:
            col, row = ~affine * tuple(shapely.get_coordinates(g)[0])
            mask = np.zeros(shape, np.int32)
            if 0 <= row < shape[0] and 0 <= col < shape[1]:
                mask[int(np.floor(row)), int(np.floor(col))] = 1
        else:
            mask = rasterio.features.rasterize([g], out_shape=shape, transform=affine, dtype="int32")
        rows = polygon_rows(mask, 0, affine, None)
        out.append(shapely.from_wkb(bytes.fromhex(rows[0][1])) if rows else None)
    return geometry_features(np.array(out, dtype=object))


def model_fit_pixelsets(settings: Settings, request: PixelSetFitRequest, progress=None, epoch_progress=None):
    """Fit and store model ``request.name`` on pixel sets of the training polygons over ``request.product``'s steps.

    Parameters
    ----------
    settings : antares.config.Settings
    request : PixelSetFitRequest
    progress : callable, optional
        ``progress(done, total)`` after each tile read.
    epoch_progress : callable, optional
        ``progress(epoch, epochs, loss, val_oa)`` after each epoch.

    Returns
    -------
    antares.pipeline.fit_timeseries.TimeseriesFitReport

    Raises
    ------
    NotFoundError
        Unknown product or training set; no dataset in the period.
    InvalidInputError
        No polygon with a pixel; fewer than 2 classes or a class with fewer than 2 polygons; times
        that differ between tiles or fall twice on one day.
    AlreadyExistsError
        Model ``name`` exists and ``overwrite`` is False.
    """
    from antares.db.engine import session_scope
    from antares.db.models import model_exists, replace_model
    from antares.deep.classifier import resolve_device
    from antares.deep.data import SensorSeries
    from antares.deep.sensors import product_spec
    from antares.models.store import deserialize
    from antares.pipeline.fit_timeseries import TimeseriesFitReport
    from antares.pipeline.run import recorded_run
    from antares.pipeline.train import _jsonable
    from antares.models.fitting import check_classes
    from antares.models.registry import make_estimator
    from antares.object_features import GEOMETRY_FEATURES
    from antares.sampling import spatial_blocks

    params = _params(request)
    resolve_device(params["device"])
    name = request.name
    with recorded_run(settings, "model_fit", name) as run:
        with session_scope(settings) as session:
            if model_exists(session, name) and not request.overwrite:
                raise AlreadyExistsError(f"model '{name}' exists; use --overwrite to replace it or choose another --name.")
        tf, layout, sets, n_pixels, origin = _read_sensors(settings, request, progress)
        days = np.asarray(next(g for g in layout if g["product"] == product_spec(request.product)[1])["days"])
        n_t, n_c = len(tf.times), sum(len(g["channels"]) for g in layout)
        keep = n_pixels > 0
        if not keep.any():
            raise InvalidInputError(f"no polygon of training set {request.training_set} covers a pixel centre of "
                                    f"product {layout[0]['product']}; nothing to fit.")
        skipped = int((~keep).sum())
        run.start({"model": request.kind, "product": request.product, "products": list(request.products),
                   "sensors": list(request.sensors), "fusion": request.fusion, "training_set": request.training_set,
                   "set_size": request.set_size, "params": params, "seed": request.seed,
                   "time": [str(t) for t in request.time] if request.time else None},
                  {"product": request.product, "training_set": request.training_set, "datasets": len(tf.datasets)})
        data = {g["sensor"]: SensorSeries(v[keep], g["days"], g["channels"]) for g, v in zip(layout, sets)}
        codes = tf.codes[keep]
        check_classes(codes, {e.code: e.name for e in tf.legend})
        groups = None
        if request.validation_block:
            import shapely

            centres = shapely.get_coordinates(shapely.centroid(tf.geoms[keep]))
            groups = spatial_blocks(centres[:, 0], centres[:, 1], request.validation_block)
        extra = _footprint_shapes(tf.geoms[keep], tf.datasets, tf.measurements) if request.geometry else None
        estimator = make_estimator(request.kind, params, request.seed).fit(data, codes, extra=extra,
                                                                           progress=epoch_progress, groups=groups)
        present, counts = np.unique(codes, return_counts=True)
        result = SimpleNamespace(estimator=estimator, legend=tf.legend,
                                 samples_per_class={int(c): int(n) for c, n in zip(present, counts)})
        blob = result.estimator.to_bytes()
        back = deserialize(blob, name)  # a blob that cannot be read back is not written
        if not np.array_equal(back.classes_, result.estimator.classes_):
            raise InvalidInputError(f"model '{name}': the stored blob reads back other classes; not stored.")
        config = result.estimator.config
        meta = {
            "features": list(tf.measurements), "unit": "pixel_sets", "aggregation": None,
            "product": product_spec(request.product)[1],
            "training_set": request.training_set, "set_size": request.set_size,
            "times": [str(t) for t in tf.times], "days": days.tolist(),
            "legend": [{"code": e.code, "name": e.name, "colour": e.colour} for e in result.legend],
            "classes": config["classes"], "sensors": config["sensors"], "fusion": request.fusion,
            "params": config["params"], "layout": None if not request.sensors else layout, "origin": origin,
            "architecture": config["arch"], "mode": config["mode"], "inputs": config["inputs"],
            "history": config["history"], "best_epoch": config["best_epoch"],
            "samples_per_class": result.samples_per_class, "skipped_samples": tf.sample_ids[~keep].tolist(),
            "seed": request.seed, "versions": config["versions"], "cv": None,
            "validation_block": request.validation_block,
            "extra_features": list(GEOMETRY_FEATURES) if request.geometry else [],
            "validation_groups": None if groups is None else int(len(np.unique(groups))),
            "time": [str(t) for t in request.time] if request.time else None,
        }
        names = {e.code: e.name for e in result.legend}
        report = TimeseriesFitReport(name, request.kind, samples=int(keep.sum()),
                                     per_class={names[c]: n for c, n in result.samples_per_class.items()},
                                     epochs=len(config["history"]), best_epoch=config["best_epoch"],
                                     scheme=f"of training set {request.training_set}")
        oas = [h["val_oa"] for h in config["history"] if h.get("epoch") == config["best_epoch"]]
        report.val_oa = oas[0] if oas else None
        with session_scope(settings) as session:
            if not request.overwrite and model_exists(session, name):
                raise AlreadyExistsError(f"model '{name}' was stored by another process while this one ran; "
                                         "use --overwrite to replace it or choose another --name.")
            replace_model(session, name, request.kind, tf.scheme_id, run.id, product_spec(request.product)[1], blob,
                          _jsonable(meta))
            run.finish(session=session)
        if request.sensors:
            inputs = "; ".join(f"{g['sensor']} {len(g['days'])} step(s) x {len(g['channels'])} channel(s) of "
                               f"{g['product']}" for g in layout)
            what = f"  pixel sets of {int(keep.sum())} polygon(s) x {request.set_size} pixel(s), {inputs}"
            what += f"; fusion {request.fusion}" if request.fusion else ""
        else:
            what = (f"  pixel sets of {int(keep.sum())} polygon(s) x {n_t} step(s) x {n_c} measurement(s) x "
                    f"{request.set_size} pixel(s) from {layout[0]['product']}")
        report.notes.append(what
                            + (f"; {skipped} polygon(s) without a pixel centre skipped" if skipped else ""))
        return report
