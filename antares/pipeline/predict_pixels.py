"""``antares model_predict``: pixel-wise classification written as a classified COG product, indexed in ODC.

Each dataset (tile) of the features product is a task: the model (loaded once per
worker from the database) predicts every pixel whose features are all valid; the
tile's ``class`` (legend codes, uint8 or uint16, 0 = nodata) and ``confidence``
(largest class probability, float32, NaN = nodata) are written as COGs with an eo3
document (lineage: the source dataset; the model in the properties) and indexed.
Tiles already written are skipped on a re-run (resume); ``--overwrite`` replaces them.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError
from antares.pipeline.requests import PixelRequest, takes
from antares.pipeline.tiles import TileReport

log = logging.getLogger(__name__)


@dataclass
class PixelJob:
    """One tile (picklable)."""

    url: str
    product: str
    features: list
    tile: tuple
    geobox: object
    source_id: str
    time: tuple | None
    model_name: str
    model_id: int
    dtype: str
    out_id: str
    out_product: str
    outdir: str
    datetime: str


class PixelReport(TileReport):
    """Outcome of model_predict."""

    def summary(self) -> str:
        return (f"{self.written} tile(s) of classified product {self.product} written, {self.skipped} already done, "
                f"{self.empty} without valid pixels, {len(self.failed)} failed")


def classified_product(name: str, model: str, legend: list, dtype: str) -> dict:
    """The ODC product definition of a pixel classification."""
    classes = ", ".join(f"{e['code']}={e['name']}" for e in legend)
    return {
        "name": name, "metadata_type": "eo3", "metadata": {"product": {"name": name}},
        "description": f"pixel classification by model {model} (classes: {classes}); 0 = nodata",
        "measurements": [
            {"name": "class", "dtype": dtype, "nodata": 0, "units": "1"},
            {"name": "confidence", "dtype": "float32", "nodata": "NaN", "units": "1"},
        ],
    }


def predict_pixels(job: PixelJob) -> list:
    """Classify one tile; returns ``[(eo3 doc, uri)]`` or ``[]`` when it has no valid pixel."""
    from antares.cube.catalog import get_dataset
    from antares.cube.features import load_features
    from antares.cube.index import connect
    from antares.cube.warp import xr_from_array
    from antares.cube.write import eo3_document, write_cog, write_yaml
    from antares.pipeline.predict import _model

    dc = connect(job.url)
    try:
        dataset = get_dataset(dc, job.source_id)
        values = load_features(dc, job.product, job.features, job.geobox, datasets=[dataset])
    finally:
        dc.close()
    flat = values.reshape(len(job.features), -1).T
    ok = np.all(np.isfinite(flat), axis=1)
    if not ok.any():
        return []
    estimator = _model(job.url, job.model_id)
    classes = np.zeros(flat.shape[0], dtype=job.dtype)
    confidence = np.full(flat.shape[0], np.nan, dtype=np.float32)
    index = np.flatnonzero(ok)
    for start in range(0, len(index), 262144):  # bounded memory for the class probabilities
        chunk = index[start:start + 262144]
        proba = estimator.predict_proba(flat[chunk].astype(np.float64))
        best = np.argmax(proba, axis=1)
        classes[chunk] = np.asarray(estimator.classes_)[best]
        confidence[chunk] = proba[np.arange(len(best)), best]
    ix, iy = job.tile
    outdir = Path(job.outdir) / f"{ix}_{iy}"
    stem = f"{job.out_product}_{ix}_{iy}"
    files = {"class": f"{stem}_class.tif", "confidence": f"{stem}_confidence.tif"}
    write_cog(xr_from_array(classes.reshape(job.geobox.shape), job.geobox), outdir / files["class"], nodata=0,
              resampling="mode")
    write_cog(xr_from_array(confidence.reshape(job.geobox.shape), job.geobox), outdir / files["confidence"],
              nodata=float("nan"), resampling="average")
    props = {"datetime": job.datetime, "odc:region_code": f"{ix}_{iy}", "antares:model": job.model_name,
             "antares:input_product": job.product}
    doc = eo3_document(job.out_id, job.out_product, job.geobox, files, props, {"source": [job.source_id]})
    path = write_yaml(doc, outdir / f"{stem}.odc-metadata.yaml")
    return [(doc, path.resolve().as_uri())]


@takes(PixelRequest)
def model_predict(settings: Settings, request: PixelRequest, progress=None) -> PixelReport:
    """Classify every pixel of ``request.product`` with ``request.model`` into the indexed product ``request.name``.

    ``request.trust_pickle`` loads a model stored as a pickle by an earlier antares and re-saves it
    with skops before any tile is read (see :func:`antares.pipeline.train.load_model`).

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.requests.PixelRequest
        The old form ``model_predict(settings, product, model, name, area=..., ...)`` builds it.
    progress : callable, optional
        ``progress(done, total)`` after each tile.

    Returns
    -------
    PixelReport

    Raises
    ------
    NotFoundError
        Unknown product or model, or no dataset in the area/period.
    InvalidInputError
        The product's measurements are not the model's features (missing/extra listed);
        the model was stored with another major version of its libraries.
    UntrustedModelError
        The model is a pickle and ``trust_pickle`` is False, or holds an untrusted type.
    AlreadyExistsError
        ``name`` is a product that is not a classification of this model.
    """
    from antares.cube.catalog import dataset_exists, get_product
    from antares.cube.load import native_geobox
    from antares.cube.write import check_output_dir
    from antares.db.engine import database_url
    from antares.pipeline.predict import model_inputs
    from antares.pipeline.run import recorded_run
    from antares.names import product_dir
    from antares.pipeline.tiles import ProductOutput, index_tiles, staged_outdir
    from antares.models.registry import require_features
    from antares.pipeline.train import load_model
    from antares.prepare.base import dataset_id

    product, model, name, time, overwrite = request.product, request.model, request.name, request.time, request.overwrite
    # the name is taken before any work; the model cannot be refitted while this run reads it
    with recorded_run(settings, "model_predict", name, reads=(("model_fit", model),)) as run:
        url = database_url(settings)
        _, meta = load_model(settings, model, request.trust_pickle)  # checked (and re-saved) before the workers read it
        require_features(meta["kind"], model)
        if len(meta.get("columns") or meta["features"]) != len(meta["features"]):
            raise InvalidInputError(f"model {model} was fitted on object features -sp {meta.get('aggregation')} "
                                    f"({len(meta['columns'])} columns); a pixel has only its {len(meta['features'])} "
                                    "measurements: classify objects (model_predict_object) or fit with one statistic.")
        dtype = "uint8" if max(e["code"] for e in meta["legend"]) <= 255 else "uint16"
        out_def = classified_product(name, model, meta["legend"], dtype)
        outdir = check_output_dir(product_dir(settings.home, name, request.outdir),
                                  staging_beside=overwrite)  # an overwrite stages the new result beside it
        with model_inputs(url, product, model, meta, request.area, time,
                          f"product {product} has no dataset in the area/period; compute it first.") as (dc, features, datasets):
            existing = get_product(dc, name)
            if existing is not None:
                if existing.definition.get("description") != out_def["description"]:
                    raise AlreadyExistsError(f"product '{name}' exists and is not a classification by model {model}; "
                                             "choose another --name.")
            # --overwrite: the new tiles go to a staging directory and replace the old datasets once all are written
            staging = staged_outdir(outdir) if existing is not None and overwrite else None
            report = PixelReport(name)
            jobs = []
            for number, ds in enumerate(sorted(datasets, key=lambda d: str(d.id))):
                out_id = dataset_id(f"predict:{name}:{ds.id}")
                report.tiles += 1
                if staging is None and dataset_exists(dc, out_id):
                    report.skipped += 1
                    continue
                region = ds.metadata_doc.get("properties", {}).get("odc:region_code")
                tile = tuple(int(v) for v in region.split("_")) if region and region.replace("_", "").isdigit() \
                    and region.count("_") == 1 else (number, 0)
                when = ds.center_time if ds.center_time else dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
                jobs.append(PixelJob(url, product, features, tile, native_geobox([ds], features), str(ds.id), time, model,
                                     meta["id"], dtype, str(out_id), name, str(staging or outdir), when.isoformat()))
        params = {"product": product, "model": model, "time": [str(t) for t in time] if time else None,
                  "overwrite": overwrite}
        output = ProductOutput(url, out_def if existing is None else None, outdir, staging)
        index_tiles(run, report, output, jobs, predict_pixels, (params, {"product": product, "model": model}),
                    (request.scheduler, request.workers), progress)
        return report
