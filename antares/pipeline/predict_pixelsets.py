"""``model_predict_object`` with a pixel-set model (pse_tae, ltae, tempcnn fitted with ``-p``/``-t``).

Per tile of the segmentation (a task), the label raster and every step of the product are read on
the same grid; each object inside the tile gets a set of ``S`` of its pixels with their series
(:func:`antares.deep.pixelsets.draw_pixel_sets`, the model's set size and seed) and is classified
there, in batches. The pixels of objects on a tile's border go back to the scheduler, are gathered
over tiles and the objects classified once from all their pixels; an object in unconnected parts
inside several tiles is gathered the same way in a second pass. Written like every classification
(class, confidence, entropy; one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from antares.errors import InvalidInputError


@dataclass
class PixelSetJob:
    """One tile of the segmentation (picklable)."""

    url: str
    product: str
    measurements: list
    segmentation: str
    geobox: object
    time: tuple | None
    model_id: int
    set_size: int
    seed: int
    geometry: tuple = ()  # the geometric features the model takes (names, antares.object_features.GEOMETRY_FEATURES)
    only: np.ndarray | None = None  # second pass: the pixels of these objects only
    layout: list | None = None  # a sensors' model: per input {"sensor", "product", "channels", "days"} (read by product)
    threads: int = 1  # torch threads of the tile's prediction: its share of the cores (timeseries.tile_threads)


def classify_sets(estimator, ids: np.ndarray, sets: np.ndarray, days, channels, extra=None, layout=None):
    """Class, confidence and entropy of objects from their pixel sets.

    Parameters
    ----------
    ids : ndarray (n,) int64
    sets : ndarray (n, T, C, S) float32
        NaN = no value; an object whose set holds no value at all is not classified. With ``layout``:
        the sensors' sets packed as ``(n, sum T_k·C_k, 1, S)`` (:func:`antares.deep.pixelsets.draw_sensor_sets`).
    days : ndarray (T,) int64
    channels : list of str
    extra : ndarray (n, E) float, optional
        Extra features per object (the shape features of a model fitted with ``geometry``).
    layout : list of dict, optional
        A sensors' model: per input ``sensor``, ``channels``, ``days`` (the model's metadata ``layout``);
        ``days`` and ``channels`` are then ignored.

    Returns
    -------
    (ids, classes, confidence, entropy, n_invalid)
        As :func:`antares.pipeline.predict.predict_features`.
    """
    from antares.deep.data import SensorSeries
    from antares.pipeline.fit_pixelsets import SERIES

    ok = ~np.isnan(sets).all(axis=(1, 2, 3)) if len(sets) else np.zeros(0, bool)
    if extra is not None:
        ok &= np.isfinite(extra).all(axis=1)
        extra = extra[ok]
    ids, sets = ids[ok], sets[ok]
    if not len(ids):
        empty = np.zeros(0)
        return ids, empty.astype(np.int64), empty, empty, int((~ok).sum())
    if layout:
        from antares.deep.pixelsets import unpack_sets

        parts = unpack_sets(sets, [(len(g["days"]), len(g["channels"])) for g in layout])
        inputs = {g["sensor"]: SensorSeries(v, g["days"], g["channels"]) for g, v in zip(layout, parts)}
    else:
        inputs = {SERIES: SensorSeries(sets, days, channels)}
    proba = estimator.predict_proba(inputs, extra)
    best = np.argmax(proba, axis=1)
    classes = np.asarray(estimator.classes_)[best].astype(np.int64)
    confidence = proba[np.arange(len(best)), best]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.sum(np.where(proba > 0, proba * np.log(proba), 0.0), axis=1)
    return ids, classes, confidence, np.maximum(entropy, 0.0), int((~ok).sum())


def _pixels_of(labels, series, ids):
    """(labels (m,), values (T, C, m)) of the pixels whose label is in ``ids``."""
    keep = np.isin(labels, ids)
    return labels[keep].astype(np.int64), series[:, :, keep]


def _draw(labels, values, set_size, seed):
    """(ids, sets) of the objects of pixels ``labels`` (m,) with ``values`` (T, C, m)."""
    from antares.deep.pixelsets import draw_pixel_sets

    ids, index = np.unique(labels, return_inverse=True)
    sets, _ = draw_pixel_sets(index, values, len(ids), set_size, seed)
    return ids, sets


def _tile_shapes(labels, affine, ids, names) -> np.ndarray:
    """(n, len(names)) geometric features of the objects ``ids`` lying wholly in the tile, from its label raster
    (polygonized as ``antares segment`` polygonizes segments: the same polygons as those stored)."""
    import shapely

    from antares.object_features import geometry_features
    from antares.segmentation.polygonize import polygon_rows

    wanted = np.unique(np.asarray(ids, np.int64))
    keep = np.isin(labels, wanted)
    dense = np.where(keep, np.searchsorted(wanted, labels) + 1, 0).astype(np.int32)  # 1..n for polygon_rows
    rows = polygon_rows(dense, 0, affine, None)
    geoms = {int(wanted[r[0] - 1]): shapely.from_wkb(bytes.fromhex(r[1])) for r in rows}
    return geometry_features(np.array([geoms.get(int(k)) for k in ids], dtype=object), names)


def _load_sensors(job: PixelSetJob):
    """(labels, packed series (sum T_k·C_k, 1, y, x), None) of a sensors' model's tile; (None, None, None) without
    an object. Each product is read once (the union of its inputs' channels)."""
    from antares.cube.features import tile_labels_and_sources

    products = list(dict.fromkeys(g["product"] for g in job.layout))
    bands = {p: list(dict.fromkeys(c for g in job.layout if g["product"] == p for c in g["channels"])) for p in products}
    loaded = tile_labels_and_sources(job.url, job.segmentation, [(p, bands[p]) for p in products], job.geobox, job.time)
    if loaded is None:
        return None, None, None
    labels, series = loaded
    parts = []
    for g in job.layout:
        times, values = series[products.index(g["product"])]
        if len(times) != len(g["days"]):
            raise InvalidInputError(f"product {g['product']} has {len(times)} step(s) on a tile of segmentation "
                                    f"{job.segmentation}; the model takes {len(g['days'])}.")
        picked = values[:, [bands[g["product"]].index(c) for c in g["channels"]]]
        parts.append(picked.reshape((-1, 1) + picked.shape[2:]))
    return labels, np.concatenate(parts, axis=0), None


def pixel_set_tile(job: PixelSetJob):
    """``(predictions, border pixels, ids inside, ids on the border)``; with ``job.only`` those objects' pixels."""
    from antares.cube.features import tile_labels_and_series
    from antares.deep.pixelsets import series_days
    from antares.pipeline.predict import _model

    if job.layout:
        labels, series, times = _load_sensors(job)
        if labels is None:
            return None
    else:
        loaded = tile_labels_and_series(job.url, job.segmentation, job.product, job.measurements, job.geobox, job.time)
        if loaded is None:
            return None
        labels, times, series = loaded
    if job.only is not None:
        return _pixels_of(labels, series, job.only)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    inside_mask = (labels > 0) & ~np.isin(labels, border)
    ids, sets = _draw(labels[inside_mask].astype(np.int64), series[:, :, inside_mask], job.set_size, job.seed)
    estimator = _model(job.url, job.model_id).set_params(n_jobs=job.threads)  # this worker's share of the cores
    extra = _tile_shapes(labels, job.geobox.affine, ids, job.geometry) if job.geometry else None
    days = None if job.layout else series_days(times)
    predicted = classify_sets(estimator, ids, sets, days, job.measurements, extra, job.layout)
    return predicted, _pixels_of(labels, series, border), ids, border


def _check_sensors(dc, layout, meta, product, datasets, area, time, model):
    """The model's inputs with ``product`` in place of the model's first product; each product's channels and days
    checked against the model's (InvalidInputError naming both)."""
    from antares.cube.catalog import find_datasets
    from antares.cube.index import product_definition
    from antares.deep.pixelsets import series_days
    from antares.errors import NotFoundError

    out = []
    for g in layout:
        name = product if g["product"] == meta["product"] else g["product"]
        found = datasets if name == product else find_datasets(dc, name, area=area, time=time or None)
        if not found:
            raise NotFoundError(f"product {name} ({g['sensor']} of model {model}) has no dataset"
                                f"{' in the area or period' if area is not None or time else ''}; compute it first.")
        have = [m["name"] for m in product_definition(dc, name)["measurements"]]
        missing = [c for c in g["channels"] if c not in have]
        if missing:
            raise InvalidInputError(f"model {model} takes {g['sensor']} channels {', '.join(g['channels'])} from product "
                                    f"{name}, which has no {', '.join(missing)}; its measurements: {', '.join(have)}.")
        times = np.unique(np.array([np.datetime64(d.center_time.replace(tzinfo=None), "ns") for d in found]))
        days = series_days(times, meta.get("origin"))
        if days.tolist() != list(g["days"]):
            raise InvalidInputError(f"model {model} was trained on {g['sensor']} steps at days {g['days']} (from 1 January "
                                    f"{meta.get('origin')}); product {name} has days {days.tolist()}"
                                    f"{' in the period' if time else ''}. Use a product with the model's steps (-b/-e).")
        out.append({**g, "product": name})
    return out


def predict_with_pixel_sets(settings, request, estimator, meta: dict, run, seg, report):
    """The pixel-set branch of :func:`antares.pipeline.predict.model_predict_object` (inside its recorded run).

    Raises
    ------
    InvalidInputError
        The product's measurements or step days differ from the model's (both listed); the
        segmentation on another grid; a tile failed.
    NotFoundError
        No dataset of the product, or no label tile, in the area and period.
    """
    from antares.cube.catalog import find_datasets
    from antares.cube.load import native_geobox
    from antares.db.classifications import copy_predictions, replace_classification
    from antares.db.engine import database_url, open_database
    from antares.deep.pixelsets import series_days
    from antares.errors import NotFoundError
    from antares.pipeline.executor import SYNC, task_runner
    from antares.models.samples import with_shape
    from antares.pipeline.predict import (_check_replaceable, _check_same_grid, gather_tiles, model_inputs,
                                          second_pass, segment_shapes)
    from antares.pipeline.timeseries import tile_threads

    product, segmentation, model, area, time = request.product, request.segmentation, request.model, request.area, request.time
    url = database_url(settings)
    layout = meta.get("layout")
    with model_inputs(url, product, model, meta, area, time) as (dc, features, datasets):
        times = np.unique(np.array([np.datetime64(d.center_time.replace(tzinfo=None), "ns") for d in datasets]))
        days = series_days(times)
        if layout:
            layout = _check_sensors(dc, layout, meta, product, datasets, area, time, model)
        elif days.tolist() != list(meta["days"]):
            raise InvalidInputError(f"model {model} was trained on steps at days {meta['days']} (of {meta['times'][0][:4]});"
                                    f" product {product} has days {days.tolist()}"
                                    f"{' in the period' if time else ''}. Use a product with the model's steps (-b/-e).")
        label_datasets = find_datasets(dc, segmentation, area=area)
        if not label_datasets:
            raise NotFoundError(f"segmentation {segmentation} has no label tile{' in the area' if area is not None else ''}.")
        tiles = [native_geobox([d], ["segment_id"]) for d in label_datasets]
        _check_same_grid(tiles[0], native_geobox(datasets, features), segmentation, product)
    set_size, seed = int(meta["set_size"]), int(meta.get("seed") or 0)
    geometry = tuple(meta.get("extra_features") or ())
    scheduler, workers = request.scheduler or settings.scheduler, request.workers or settings.workers
    threads = tile_threads(scheduler, workers)
    jobs = [PixelSetJob(url, product, features, segmentation, tile, time, meta["id"], set_size, seed, geometry,
                        layout=layout, threads=threads) for tile in tiles]
    run_params = {"product": product, "model": model, "segmentation": segmentation, "set_size": set_size,
                  "time": [str(t) for t in time] if time else None}
    with task_runner(scheduler, workers, settings) as execute:
        run.start(run_params, {"product": product, "model": model, "segmentation": segmentation,
                               "datasets": len(datasets)})
        chunks, edges, seen = gather_tiles(execute, pixel_set_tile, jobs, report)
        inside_all = np.concatenate([i for _, i, _ in seen]) if seen else np.zeros(0, np.int64)
        border_all = np.unique(np.concatenate([b for _, _, b in seen])) if seen else np.zeros(0, np.int64)
        values_, counts = np.unique(inside_all, return_counts=True)
        split = np.union1d(values_[counts > 1], np.intersect1d(inside_all, border_all))
        if len(split):  # objects inside several tiles: all their pixels in a second pass
            parts = second_pass(execute, pixel_set_tile, seen, split)
            chunks = [tuple(a[~np.isin(c[0], split)] for a in c) for c in chunks]
            edges = [(lab[~np.isin(lab, split)], val[:, :, ~np.isin(lab, split)]) for lab, val in edges] + parts
            report.notes.append(f"{len(split)} object(s) in unconnected parts over several tiles, classified once "
                                "from all their pixels")
        if edges:
            labels = np.concatenate([e[0] for e in edges])
            values = np.concatenate([e[1] for e in edges], axis=2)
            if len(labels):
                edge_ids, sets = _draw(labels, values, set_size, seed)
                extra = (with_shape(edge_ids, np.zeros((len(edge_ids), 0)),  # whole polygons, from the database
                                    segment_shapes(settings, seg.id, segmentation, geometry)) if geometry else None)
                estimator.set_params(n_jobs=tile_threads(SYNC, 1))  # after the tiles: every core of this machine
                chunks.append(classify_sets(estimator, edge_ids, sets, days, features, extra, layout)[:4])
                report.crossing = int(len(np.setdiff1d(edge_ids, split)))
    ids, classes, confidence, entropy = (np.concatenate(c) for c in zip(*chunks)) if chunks else [np.zeros(0)] * 4
    if len(np.unique(ids)) != len(ids):
        raise InvalidInputError(f"segmentation {segmentation}: an object was classified twice; please report this.")
    objects = np.union1d(inside_all, border_all)
    report.objects, report.predicted = len(objects), len(ids)
    report.no_valid = report.objects - len(ids)
    codes, n = np.unique(classes, return_counts=True)
    report.per_class = {int(c): int(k) for c, k in zip(codes, n)}
    engine = open_database(settings)
    with engine.begin() as conn:
        _check_replaceable(conn, request.name, request.overwrite, model, meta["id"])
        cid = replace_classification(conn, request.name, seg.id, meta["id"], run.id)
        copy_predictions(conn, cid, ids.astype(np.int64), classes.astype(np.int64), confidence, entropy)
    return report
