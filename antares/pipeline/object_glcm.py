"""Per-object GLCM texture (``-sp ... glcm``) of segments and training polygons, tile by tile.

The texture of an object is the GLCM of its own pixels (:mod:`antares.object_texture`). Each tile is
read with a margin of the largest pixel offset and counts only the pairs whose first pixel lies in
the tile proper, so the counts of an object crossing tile edges merge exactly over tiles
(:func:`antares.object_texture.merge_glcm`) and equal those of one whole raster.

Objects are finished tile by tile (:func:`tiled_glcm_features`): an object without a pixel in a tile's
margin has no pair across the tile's edge, and its features are computed in the tile's task and its
counts dropped there; the counts of the objects reaching into the margin are held, merged, until every
tile that they reach is done. Memory is bounded per tile (the tile's own counts plus the objects along
the edges between done and pending tiles), whatever the number of objects; the result equals the
features of the gather of every tile's counts (:func:`merged_glcm_counts`) exactly.

The grey levels are fixed per measurement at fit time (:func:`glcm_spec`: the 1st and 99th
percentiles of the training objects' pixels, 32 levels (``glcmN``: N), distance 1, angles 0/45/90/135°, symmetric)
and stored with the model (``meta["glcm"]``), so ``model_predict_object`` quantises as the fit did.
"""

from __future__ import annotations

import dataclasses
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
    the training polygons ``wkb`` (labels: ``indices + 1``); ``leaving``: set by :func:`tiled_glcm_features`."""

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
    leaving: np.ndarray | None = None
    """Objects known (from their stored extents) to have pixels in other tiles too: never finished in the tile."""


def _tile_layers(job: GlcmJob):
    """``(layers, values, core)`` of one tile read with the GLCM margin (label rasters, values ``(b, y, x)``, the
    tile proper in them), or None without an object in the tile proper. ``job.only``: only those objects."""
    from antares.cube.features import load_features, load_labels
    from antares.cube.index import connect

    margin = _margin(job.spec)
    padded = job.geobox.pad(margin)
    ny, nx = job.geobox.shape
    core = (slice(margin, margin + ny), slice(margin, margin + nx))
    dc = connect(job.url)
    try:
        layers = [load_labels(dc, job.segmentation, padded)] if job.segmentation is not None else _burnt_layers(job, padded)
        if job.only is not None:
            layers = [np.where(np.isin(layer, job.only), layer, 0) for layer in layers]
        layers = [layer for layer in layers if layer[core].any()]
        if not layers:
            return None
        values = load_features(dc, job.product, job.measurements, padded, time=job.time, one_time=True)
    finally:
        dc.close()
    return layers, values, core


def _counts(layers, values, core, spec: dict):
    from antares.object_texture import glcm_counts, merge_glcm

    return merge_glcm([glcm_counts(layer, values, spec["ranges"], spec["levels"], spec["distances"], spec["angles"],
                                   spec["symmetric"], core=core) for layer in layers])


def glcm_tile(job: GlcmJob):
    """The :class:`antares.object_texture.GlcmCounts` of one tile (read with a margin), or None without objects."""
    read = _tile_layers(job)
    return None if read is None else _counts(*read, job.spec)


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

    Holds the counts of every object at once (memory grows with the number of objects): the pipeline uses
    :func:`tiled_glcm_features`, equal to ``glcm_features`` of this; kept as its reference (tests, benchmarks).

    Raises
    ------
    InvalidInputError
        A tile failed (``what`` names the input).
    """
    from antares.object_texture import merge_glcm

    parts = []
    for job, result in execute(glcm_tile, jobs):
        _raise_failed(job, result, what)
        if result is not None:
            parts.append(result)
    return merge_glcm(parts) if parts else None


RING = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
"""The eight parts of a tile's margin (bit ``1 << k`` of :attr:`TileGlcm.ring_dirs`): above, above right, ... ."""


@dataclass
class TileGlcm:
    """One tile's per-object GLCM, objects inside it finished (:func:`finish_tile`).

    Attributes
    ----------
    ids : numpy.ndarray, (n,) int64
        Sorted objects with a pixel pair in the tile and no pixel in its margin: finished here.
    table : numpy.ndarray, (n, features x b) float64
        Their features (:func:`antares.object_texture.glcm_features`).
    open : GlcmCounts or None
        The counts of the objects with a pair here and a pixel in the margin (they may continue in the neighbours).
    ring_ids : numpy.ndarray, (r,) int64
        Sorted objects with a pixel in the tile proper and one in the margin (with or without a pair here).
    ring_dirs : numpy.ndarray, (r,) uint8
        The parts of the margin (:data:`RING` bits) each of them reaches.
    """

    ids: np.ndarray
    table: np.ndarray
    open: object
    ring_ids: np.ndarray
    ring_dirs: np.ndarray

    def entry_ids(self) -> np.ndarray:
        """Sorted objects with a pixel pair in this tile."""
        return np.union1d(self.ids, self.open.labels if self.open is not None else np.zeros(0, np.int64))


def _ring_slices(shape, core) -> list:
    """The (row, column) slices of the eight margin parts (:data:`RING`) of a block of ``shape`` around ``core``."""
    (r0, r1), (c0, c1) = (core[0].start, core[0].stop), (core[1].start, core[1].stop)
    ny, nx = shape
    rows = {"N": slice(0, r0), "S": slice(r1, ny), "": slice(r0, r1)}
    cols = {"W": slice(0, c0), "E": slice(c1, nx), "": slice(c0, c1)}
    return [(rows[d[0]] if d[0] in "NS" else rows[""], cols[d[-1]] if d[-1] in "EW" else cols[""]) for d in RING]


def finish_tile(layers, values, core, spec: dict, leaving=None) -> TileGlcm:
    """Count the GLCM of one tile's objects and finish those that lie inside it.

    An object without a pixel in the margin around ``core`` has no pixel pair across the tile's edge: its
    counts here are all it has in this tile, and unless it has other, unconnected, pixels in another tile
    (which :func:`tiled_glcm_features` detects) its features are final. The counts of the others are returned.

    Parameters
    ----------
    layers : list of numpy.ndarray, (y, x) int
        Object labels (0 = none) of the tile read with a margin; one raster per overlap layer.
    values : numpy.ndarray, (b, y, x) float
        NaN = nodata.
    core : (slice, slice)
        The tile proper in the block.
    spec : dict
        :func:`glcm_spec` (``ranges``, ``levels``, ``distances``, ``angles``, ``symmetric``, ``features``).
    leaving : numpy.ndarray of int, optional
        Objects that have pixels in other tiles too (their stored extents say so): returned open
        (in ``ring_ids``, with the margin parts they reach, maybe none) even without a pixel in the margin.

    Returns
    -------
    TileGlcm
    """
    from antares.object_texture import glcm_features

    counts = _counts(layers, values, core, spec)
    parts = _ring_slices(layers[0].shape, core)
    ring_ids, ring_dirs = [], []
    for layer in layers:
        inside = np.unique(layer[core])
        dirs = np.zeros(len(inside), np.uint8)
        for k, part in enumerate(parts):
            dirs[np.isin(inside, layer[part])] |= np.uint8(1 << k)
        keep = ((dirs > 0) | (np.isin(inside, leaving) if leaving is not None else False)) & (inside != 0)
        ring_ids.append(inside[keep].astype(np.int64))
        ring_dirs.append(dirs[keep])
    ring_ids, ring_dirs = np.concatenate(ring_ids), np.concatenate(ring_dirs)
    order = np.argsort(ring_ids, kind="stable")
    ring_ids, ring_dirs = ring_ids[order], ring_dirs[order]
    held = np.isin(counts.labels, ring_ids)

    ids, table = glcm_features(_take(counts, ~held), spec["features"])
    return TileGlcm(ids, table, _take(counts, held) if held.any() else None, ring_ids, ring_dirs)


def glcm_tile_finished(job: GlcmJob):
    """:func:`finish_tile` of one tile (read with a margin), or None without objects (a task of :func:`tiled_glcm_features`)."""
    read = _tile_layers(job)
    return None if read is None else finish_tile(*read, job.spec, getattr(job, "leaving", None))


@dataclass
class GlcmTilesReport:
    """What :func:`tiled_glcm_features` held and did.

    Attributes
    ----------
    held_after : list of int
        Objects held open (partial counts kept) after each tile result, in the order results came.
    peak_held, peak_entries : int
        The most objects, and sparse count entries, held at once.
    inside : int
        Objects finished inside one tile (counts dropped in the tile's task).
    crossing : int
        Objects finished once every tile they reach was done.
    split : int
        Objects with pairs in several tiles without a pixel in each other's margins (parts not connected):
        counted again from those tiles in a second pass.
    """

    held_after: list
    peak_held: int = 0
    peak_entries: int = 0
    inside: int = 0
    crossing: int = 0
    split: int = 0


class _Neighbours:
    """The tiles whose pixels each margin part (:data:`RING`) of a tile covers (shapely STRtree of the tile boxes)."""

    def __init__(self, jobs: list, margin: int):
        import shapely

        self.jobs, self.margin, self.cache = jobs, margin, {}
        self.crs = [str(job.geobox.crs) for job in jobs]
        self.tree = shapely.STRtree([self._box(job.geobox, 0, 0, *job.geobox.shape) for job in jobs])

    @staticmethod
    def _box(geobox, r0, c0, r1, c1):
        import shapely

        a = geobox.affine
        xs, ys = zip(*(a * (c, r) for c, r in ((c0, r0), (c1, r1))))
        return shapely.box(min(xs), min(ys), max(xs), max(ys))

    def of(self, tile: int, part: int) -> tuple:
        key = (tile, part)
        if key not in self.cache:
            job, m = self.jobs[tile], self.margin
            ny, nx = job.geobox.shape
            rows, cols = _ring_slices((ny + 2 * m, nx + 2 * m), (slice(m, m + ny), slice(m, m + nx)))[part]
            padded = job.geobox.pad(m)
            inner = 0.25  # a quarter pixel inside the part: only tiles that hold its pixels intersect it
            box = self._box(padded, rows.start + inner, cols.start + inner, rows.stop - inner, cols.stop - inner)
            hits = self.tree.query(box, predicate="intersects")
            self.cache[key] = tuple(int(t) for t in hits if t != tile and self.crs[t] == self.crs[tile])
        return self.cache[key]


def _raise_failed(job, result, what: str) -> None:
    if isinstance(result, Exception):
        raise InvalidInputError(f"{what}: per-object GLCM of the tile at ({job.geobox.affine.c:.0f}, "
                                f"{job.geobox.affine.f:.0f}) failed: {type(result).__name__}: {result}") from result


def _take(counts, mask):
    from antares.object_texture import GlcmCounts

    return GlcmCounts(counts.labels[mask], counts.codes[mask], counts.counts[mask], counts.n_bands, counts.n_offsets,
                      counts.levels)


def _extent_tiles(neighbours, extents) -> dict:
    """``{object: tiles}`` of the objects whose extent (``inset`` inside) covers more than one tile."""
    import shapely

    ids, boxes, inner = np.asarray(extents[0], np.int64), np.asarray(extents[1], np.float64), float(extents[2])
    finite = np.all(np.isfinite(boxes), axis=1)
    ids, boxes = ids[finite], boxes[finite]
    shrunk = shapely.box(boxes[:, 0] + inner, boxes[:, 1] + inner, boxes[:, 2] - inner, boxes[:, 3] - inner)
    obj, tile = neighbours.tree.query(shrunk, predicate="intersects")
    several = np.flatnonzero(np.bincount(obj, minlength=len(ids)) > 1)
    keep = np.isin(obj, several)
    out = {}
    for o, t in zip(ids[obj[keep]].tolist(), tile[keep].tolist()):
        out.setdefault(o, set()).add(t)
    return out


def tiled_glcm_features(execute, jobs: list, what: str, tasks=None, extents=None):
    """The GLCM features of every object of the tile jobs, objects finished tile by tile (memory bounded per tile).

    Each tile's task (:func:`glcm_tile_finished`) computes the features of the objects that lie inside the tile
    and drops their counts; only the counts of objects with a pixel in the tile's margin come back, and they are
    held, merged, until every tile that the margins they reach cover (:class:`_Neighbours`, followed from tile to
    tile) is done; then they are finished and dropped. The objects held at once are those crossing the edges
    between done and pending tiles, whatever the number of tiles. An object found finished twice (its parts in
    several tiles are not connected) is counted again, from the tiles with its pairs only, in a second pass.
    The result equals :func:`antares.object_texture.glcm_features` of :func:`merged_glcm_counts` exactly.

    Parameters
    ----------
    execute : callable
        ``execute(fn, jobs)`` (:func:`antares.pipeline.executor.task_runner`), results in any order.
    jobs : list of GlcmJob
        Tiles on one grid, not overlapping, all with the same ``spec`` and measurements.
    what : str
        The input named by an error.
    extents : (ids, boxes, inset), optional
        The extent of every object (``boxes``: ``(n, 4)`` xmin, ymin, xmax, ymax in the tiles' CRS; ``inset``:
        how far inside them its pixels surely reach, same units: a quarter pixel for pixel-edged segment
        polygons (:func:`segment_extents`), 0 for polygons burnt by pixel centre), e.g. the stored segments'
        (:func:`antares.db.segmentations.segment_boxes`): an object
        whose extent covers several tiles is held until they are all done even where its parts are not
        connected, which saves the second pass. Without, that pass counts such objects again.
    tasks : (callable, callable), optional
        The tasks run per job: default :func:`glcm_tile_finished` (``job -> TileGlcm or None``) and, for the
        second pass, :func:`glcm_tile` (``job -> GlcmCounts or None``, ``job.only`` the objects to count).

    Returns
    -------
    ids : numpy.ndarray, (n,) int64
        Sorted objects with at least one pixel pair.
    table : numpy.ndarray, (n, len(spec["features"]) * b) float64
        As :func:`antares.object_texture.glcm_features`.
    report : GlcmTilesReport

    Raises
    ------
    InvalidInputError
        A tile failed (``what`` names the input).
    """
    from antares.object_texture import glcm_features, merge_glcm

    finish_task, count_task = tasks or (glcm_tile_finished, glcm_tile)
    report = GlcmTilesReport([])
    if not jobs:
        return np.zeros(0, np.int64), np.zeros((0, 0)), report
    spec = jobs[0].spec
    n_columns = len(spec["features"]) * len(jobs[0].measurements)
    index = {id(job): i for i, job in enumerate(jobs)}
    neighbours = _Neighbours(jobs, _margin(spec))
    spans = _extent_tiles(neighbours, extents) if extents is not None and len(extents[0]) else {}
    if spans:
        by_extent = {}
        for obj, ts in spans.items():
            for u in ts:
                by_extent.setdefault(u, []).append(obj)
        jobs = [dataclasses.replace(job, leaving=np.array(sorted(by_extent.get(i, [])), np.int64))
                for i, job in enumerate(jobs)]
        index = {id(job): i for i, job in enumerate(jobs)}
    done = np.zeros(len(jobs), bool)
    waiting, by_tile = {}, {}  # open object -> tiles not done it reaches; tile -> open objects waiting for it
    held, chunks, pairs_in = [], [], {}  # open counts; finished (ids, table); tile -> objects with pairs there
    for job, result in execute(finish_task, jobs):
        _raise_failed(job, result, what)
        t = index[id(job)]
        done[t] = True
        candidates = by_tile.pop(t, set())
        for obj in candidates:
            waiting[obj].discard(t)
        if result is not None:
            pairs_in[t] = result.entry_ids()
            if len(result.ids):
                chunks.append((result.ids, result.table))
                report.inside += len(result.ids)
            if result.open is not None:
                held.append(result.open)
            for obj, bits in zip(result.ring_ids.tolist(), result.ring_dirs.tolist()):
                reach = {u for k in range(len(RING)) if bits >> k & 1 for u in neighbours.of(t, k) if not done[u]}
                reach.update(u for u in spans.get(obj, ()) if not done[u])
                waiting.setdefault(obj, set()).update(reach)
                for u in reach:
                    by_tile.setdefault(u, set()).add(obj)
                candidates.add(obj)
        finished = np.array(sorted(obj for obj in candidates if not waiting[obj]), np.int64)
        for obj in finished.tolist():
            del waiting[obj]
        if len(finished) and held:
            picks = [np.isin(part.labels, finished) for part in held]
            taken = [_take(part, pick) for part, pick in zip(held, picks) if pick.any()]
            if taken:
                ids, table = glcm_features(merge_glcm(taken), spec["features"])
                chunks.append((ids, table))
                report.crossing += len(ids)
            held = [_take(part, ~pick) for part, pick in zip(held, picks) if not pick.all()]
        report.held_after.append(len(waiting))
        report.peak_held = max(report.peak_held, len(waiting))
        report.peak_entries = max(report.peak_entries, sum(len(part.labels) for part in held))
    if held:  # tiles that never came back cannot be: every job yields once; kept for safety
        ids, table = glcm_features(merge_glcm(held), spec["features"])
        chunks.append((ids, table))
    if not chunks:
        return np.zeros(0, np.int64), np.zeros((0, n_columns)), report
    ids = np.concatenate([c[0] for c in chunks])
    table = np.concatenate([c[1] for c in chunks])
    values, times = np.unique(ids, return_counts=True)
    split = values[times > 1]
    if len(split):  # parts of one object finished apart: count them again from every tile with their pairs
        report.split = len(split)
        keep = ~np.isin(ids, split)
        ids, table = ids[keep], table[keep]
        again = [dataclasses.replace(jobs[t], only=split) for t in sorted(pairs_in) if np.isin(split, pairs_in[t]).any()]
        parts = []
        for job, result in execute(count_task, again):
            _raise_failed(job, result, what)
            if result is not None:
                parts.append(result)
        split_ids, split_table = glcm_features(merge_glcm(parts), spec["features"])
        ids, table = np.concatenate([ids, split_ids]), np.concatenate([table, split_table])
    order = np.argsort(ids)
    return ids[order], table[order], report


def segment_extents(settings, segmentation_id: int, tiles: list):
    """``(ids, boxes, inset)`` for :func:`tiled_glcm_features`: the stored segments' bounding boxes
    (:func:`antares.db.segmentations.segment_boxes`) and a quarter of the tiles' pixel size (the polygons follow
    pixel edges: a quarter pixel inside them lies in their pixels only); None when the segmentation
    stored no polygons or stored them in another CRS than the label tiles'."""
    from antares.db.engine import session_scope
    from antares.db.segmentations import segment_boxes, segment_srid

    if not tiles:
        return None
    with session_scope(settings) as session:
        srid = segment_srid(session, segmentation_id)
        if srid is None or tiles[0].crs is None or tiles[0].crs.epsg != srid:
            return None
        ids, boxes = segment_boxes(session, segmentation_id)
    return (ids, boxes, 0.25 * float(abs(tiles[0].affine.a))) if len(ids) else None


def object_glcm_table(execute, jobs: list, ids, what: str, extents=None) -> np.ndarray:
    """``(len(ids), len(features) * b)``: the GLCM features of objects ``ids`` (NaN for one without a pixel pair),
    objects finished tile by tile (:func:`tiled_glcm_features`, ``extents`` passed on).

    Raises
    ------
    InvalidInputError
        A tile failed (``what`` names the input).
    """
    ids = np.asarray(ids, np.int64)
    if not jobs:
        return np.full((len(ids), 0), np.nan)
    got_ids, table, _ = tiled_glcm_features(execute, jobs, what, extents=extents)
    out = np.full((len(ids), len(jobs[0].spec["features"]) * len(jobs[0].measurements)), np.nan)
    pos = np.minimum(np.searchsorted(got_ids, ids), max(len(got_ids) - 1, 0))
    found = (pos < len(got_ids)) & (got_ids[pos] == ids) if len(got_ids) else np.zeros(len(ids), bool)
    out[found] = table[pos[found]]
    return out
