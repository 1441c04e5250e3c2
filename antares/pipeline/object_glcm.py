"""Per-object GLCM texture (``-sp ... glcm``) of segments and training polygons, tile by tile.

The texture of an object is the GLCM of its own pixels (:mod:`antares.object_texture`). Each tile is
read with a margin of the largest pixel offset and counts only the pairs whose first pixel lies in
the tile proper, so the counts of an object crossing tile edges merge exactly over tiles
(:func:`antares.object_texture.merge_glcm`) and equal those of one whole raster.

The grey levels are fixed per measurement at fit time (:func:`glcm_spec`: the 1st and 99th
percentiles of the training objects' pixels, 32 levels (``glcmN``: N), distance 1, angles 0/45/90/135°, symmetric)
and stored with the model (``meta["glcm"]``), so ``model_predict_object`` quantises as the fit did.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from antares.errors import InvalidInputError

SAMPLE_PER_TILE = 50_000
"""At most this many valid pixels per tile (an even stride over them) go into the quantisation percentiles."""


def glcm_spec(features, ranges, levels: int, measurements) -> dict:
    """The GLCM parameters stored with a model: ``features``, ``levels``, ``distances``, ``angles``,
    ``percentiles``, the ``measurements`` whose GLCM is computed (``-sp glcm:M``, else all of the product's) and
    their quantisation ``ranges`` (one ``[low, high]`` per measurement)."""
    from antares.object_texture import DEFAULT_ANGLES, DEFAULT_DISTANCES, DEFAULT_PERCENTILES

    return {"features": list(features), "levels": int(levels), "measurements": [str(m) for m in measurements],
            "distances": list(DEFAULT_DISTANCES),
            "angles": list(DEFAULT_ANGLES), "percentiles": list(DEFAULT_PERCENTILES),
            "symmetric": True, "ranges": [[float(a), float(b)] for a, b in ranges]}


def pixel_sample(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(b, m)``: at most :data:`SAMPLE_PER_TILE` of the pixels under ``mask`` (an even stride, deterministic)."""
    picked = values[:, mask]
    step = max(1, -(-picked.shape[1] // SAMPLE_PER_TILE))
    return picked[:, ::step]


def ranges_from_samples(samples: list, n_bands: int, what: str) -> list:
    """Quantisation ranges (:func:`antares.object_texture.quantisation_ranges`) of the pooled pixel samples."""
    from antares.object_texture import quantisation_ranges

    pooled = np.concatenate(samples, axis=1) if samples else np.zeros((n_bands, 0))
    try:
        return quantisation_ranges(pooled)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{what}: {exc} Per-object GLCM needs valid pixels in every measurement.") from None


def _margin(spec: dict) -> int:
    from antares.recipes.texture import offsets

    return int(np.abs(offsets(spec["distances"], spec["angles"])).max())


@dataclass
class GlcmJob:
    """One tile of per-object GLCM counts (picklable): segments of ``segmentation`` (optionally ``only`` those), or
    the training polygons ``wkb`` (labels: ``indices + 1``)."""

    url: str
    product: str
    measurements: list
    geobox: object
    time: tuple | None
    spec: dict
    segmentation: str | None = None
    only: np.ndarray | None = None
    indices: np.ndarray | None = None
    wkb: list | None = None


def glcm_tile(job: GlcmJob):
    """The :class:`antares.object_texture.GlcmCounts` of one tile (read with a margin), or None without objects."""
    from antares.cube.features import load_features, load_labels
    from antares.cube.index import connect
    from antares.object_texture import glcm_counts, merge_glcm

    margin = _margin(job.spec)
    padded = job.geobox.pad(margin)
    ny, nx = job.geobox.shape
    core = (slice(margin, margin + ny), slice(margin, margin + nx))
    dc = connect(job.url)
    try:
        if job.segmentation is not None:
            layers = [load_labels(dc, job.segmentation, padded)]
            if job.only is not None:
                layers = [np.where(np.isin(layers[0], job.only), layers[0], 0)]
        else:
            layers = _burnt_layers(job, padded)
        if not any(layer[core].any() for layer in layers):
            return None
        values = load_features(dc, job.product, job.measurements, padded, time=job.time, one_time=True)
    finally:
        dc.close()
    spec = job.spec
    parts = [glcm_counts(layer, values, spec["ranges"], spec["levels"], spec["distances"], spec["angles"],
                         spec["symmetric"], core=core) for layer in layers if layer[core].any()]
    return merge_glcm(parts)


def _burnt_layers(job: GlcmJob, padded) -> list:
    """Sample index + 1 of the polygons covering each pixel centre of ``padded``, one raster per overlap layer."""
    import shapely

    from antares.models.samples import burn, is_point, overlap_layers

    geoms = np.asarray(shapely.from_wkb(job.wkb), dtype=object)
    areal = ~is_point(geoms)
    out = []
    for layer in overlap_layers(geoms):
        layer = layer[areal[layer]]
        if len(layer):
            local = burn(geoms, layer, padded.shape, padded.affine)  # local index + 1
            out.append(np.where(local > 0, job.indices[np.maximum(local - 1, 0)] + 1, 0).astype(np.int64))
    return out


def merged_glcm_counts(execute, jobs: list, what: str):
    """The GLCM counts of every tile job (:func:`glcm_tile` run by ``execute``), merged; None when no tile had a pair.

    Raises
    ------
    InvalidInputError
        A tile failed (``what`` names the input).
    """
    from antares.object_texture import merge_glcm

    parts = []
    for job, result in execute(glcm_tile, jobs):
        if isinstance(result, Exception):
            raise InvalidInputError(f"{what}: per-object GLCM of the tile at ({job.geobox.affine.c:.0f}, "
                                    f"{job.geobox.affine.f:.0f}) failed: {type(result).__name__}: {result}") from result
        if result is not None:
            parts.append(result)
    return merge_glcm(parts) if parts else None


def object_glcm_table(execute, jobs: list, ids, what: str) -> np.ndarray:
    """``(len(ids), len(features) * b)``: the GLCM features of objects ``ids`` from the counts of every tile job.

    Raises
    ------
    InvalidInputError
        A tile failed (``what`` names the input).
    """
    from antares.object_texture import glcm_features

    counts = merged_glcm_counts(execute, jobs, what)
    spec = jobs[0].spec if jobs else None
    ids = np.asarray(ids, np.int64)
    if counts is None:
        return np.full((len(ids), len(spec["features"]) * len(jobs[0].measurements) if jobs else 0), np.nan)
    got_ids, table = glcm_features(counts, spec["features"], ids)  # got_ids: ids sorted, unique
    return table[np.searchsorted(got_ids, ids)]
