"""Stratified random sampling of training samples from a reference raster.

Pure numpy, no database: used by ``antares ingest_training_from_raster`` (samples drawn
from a land-cover map or from a continuous raster such as Copernicus tree-cover
density, binned into classes with :func:`bin_values`) and by ``model_fit`` for spatial
cross-validation (:func:`spatial_blocks`).

Rasters are 2-D arrays of shape ``(y, x)``; a sample is a square of ``patch`` x ``patch``
pixels given by its top-left pixel ``(row, col)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from antares.errors import InvalidInputError

log = logging.getLogger(__name__)


def bin_values(values, bins, nodata=None) -> np.ndarray:
    """Classes of a continuous raster from sorted bin edges.

    Intervals are closed on the left, as ``numpy.digitize(values, bins, right=False) + 1``:
    with ``bins = [10, 50]`` a value ``v < 10`` is class 1, ``10 <= v < 50`` class 2 and
    ``v >= 50`` class 3.

    Parameters
    ----------
    values : array_like of numbers, any shape
        The raster, e.g. tree-cover density in % (0 .. 100).
    bins : sequence of numbers
        Strictly increasing edges (at least one); ``len(bins) + 1`` classes.
    nodata : number, optional
        Pixels equal to it are class 0. NaN pixels are always class 0.

    Returns
    -------
    numpy.ndarray of uint16, same shape as ``values``
        Class codes 1 .. ``len(bins) + 1``; 0 for nodata.

    Raises
    ------
    InvalidInputError
        ``bins`` is empty, not finite, unsorted or has duplicate edges.

    Examples
    --------
    >>> bin_values([0, 9.9, 10, 49, 50, 100, 255], [10, 50], nodata=255).tolist()
    [1, 1, 2, 2, 3, 3, 0]
    """
    edges = np.asarray(bins, dtype=float).ravel()
    if edges.size == 0 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise InvalidInputError(
            f"The 'bins' parameter of bin_values must be a non-empty list of strictly increasing "
            f"finite edges (e.g. [10, 50]). Got {list(np.asarray(bins).ravel().tolist())}."
        )
    if edges.size + 1 > 65534:
        raise InvalidInputError(f"bin_values: {edges.size} edges give more than 65534 classes.")
    values = np.asarray(values)
    out = (np.digitize(values, edges, right=False) + 1).astype(np.uint16)
    invalid = np.isnan(values) if values.dtype.kind in "fc" else np.zeros(values.shape, bool)
    if nodata is not None:
        invalid |= np.isnan(values) if np.isnan(nodata) else values == nodata
    out[invalid] = 0
    return out


@dataclass(frozen=True, eq=False)
class Samples:
    """Samples drawn by :func:`stratified_sample`, sorted by ``(code, row, col)``.

    Attributes
    ----------
    rows, cols : numpy.ndarray of int64, shape (n,)
        Top-left pixel of each sample (read-only arrays).
    size : int
        Side of each sample in pixels (the ``patch`` parameter).
    codes : numpy.ndarray of int64, shape (n,)
        Class code of each sample.
    available : dict of int to int
        Number of candidates per class considered (the wanted classes, else every class
        present in the raster; 0 when a class has no pure patch).
    shortfall : dict of int to int
        Per class, how many samples are missing to reach ``per_class``; only classes with a
        shortfall are listed (always empty with ``fraction``).
    """

    rows: np.ndarray
    cols: np.ndarray
    size: int
    codes: np.ndarray
    available: dict[int, int] = field(default_factory=dict)
    shortfall: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.rows.size)


def _block_codes(classes: np.ndarray, patch: int, nodata: int) -> np.ndarray:
    """Code of every pure ``patch`` x ``patch`` block on the grid anchored at (0, 0), else nodata."""
    if patch == 1:
        return classes
    ny, nx = classes.shape[0] // patch, classes.shape[1] // patch
    blocks = classes[: ny * patch, : nx * patch].reshape(ny, patch, nx, patch)
    low, high = blocks.min(axis=(1, 3)), blocks.max(axis=(1, 3))
    dtype = np.promote_types(classes.dtype, np.min_scalar_type(nodata))  # nodata may lie outside the dtype
    return np.where(low == high, low.astype(dtype, copy=False), np.asarray(nodata, dtype=dtype))


def _codes_in(a: np.ndarray, nodata: int) -> list[int]:
    """Sorted distinct codes of ``a`` except ``nodata`` (hash-based where numpy >= 2.3)."""
    try:
        found = np.unique(a, sorted=False)
    except TypeError:
        found = np.unique(a)
    return sorted(int(c) for c in found if c != nodata)


def _pick(mask: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``k`` distinct True cells of ``mask``, uniformly, as (rows, cols); memory O(rows + k)."""
    per_row = np.count_nonzero(mask, axis=1)
    ends = np.cumsum(per_row)
    ranks = np.sort(rng.choice(int(ends[-1]), size=k, replace=False))
    rows = np.searchsorted(ends, ranks, side="right")
    offsets = ranks - (ends[rows] - per_row[rows])
    cols = np.empty(k, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    for start, stop in zip(starts, np.r_[starts[1:], k]):  # one pass per selected row
        cols[start:stop] = np.flatnonzero(mask[rows[start]])[offsets[start:stop]]
    return rows.astype(np.int64), cols


def _check_params(classes, per_class, fraction, patch, nodata) -> None:
    name = "stratified_sample"
    if classes.ndim != 2 or not np.issubdtype(classes.dtype, np.integer):
        raise InvalidInputError(
            f"The 'classes' parameter of {name} must be a 2-D integer raster of class codes "
            f"(bin a continuous raster with bin_values). Got shape {classes.shape}, dtype {classes.dtype}."
        )
    if (per_class is None) == (fraction is None):
        raise InvalidInputError(
            f"{name} needs exactly one of 'per_class' and 'fraction'. "
            f"Got per_class={per_class!r}, fraction={fraction!r}."
        )
    if per_class is not None and (not isinstance(per_class, Integral) or isinstance(per_class, bool) or per_class < 1):
        raise InvalidInputError(f"The 'per_class' parameter of {name} must be an int >= 1. Got {per_class!r}.")
    if fraction is not None and (not isinstance(fraction, Real) or isinstance(fraction, bool) or not 0 < fraction <= 1):
        raise InvalidInputError(f"The 'fraction' parameter of {name} must be a float in (0, 1]. Got {fraction!r}.")
    if not isinstance(patch, Integral) or isinstance(patch, bool) or patch < 1:
        raise InvalidInputError(f"The 'patch' parameter of {name} must be an int >= 1. Got {patch!r}.")
    if not isinstance(nodata, Integral) or isinstance(nodata, bool):
        raise InvalidInputError(f"The 'nodata' parameter of {name} must be an int. Got {nodata!r}.")


def stratified_sample(classes, *, per_class=None, fraction=None, classes_wanted=None,
                      seed=0, patch=1, nodata=0) -> Samples:
    """Stratified random sample of pure pixels or patches of a class raster.

    Candidates are the blocks ``(row0, col0) = (patch * i, patch * j)`` of a grid anchored
    at the raster origin (every pixel when ``patch == 1``) whose ``patch`` x ``patch``
    pixels all have the same class; the last partial rows/columns are never candidates.
    Sampled patches therefore never overlap. Within each class, samples are drawn
    uniformly without replacement with ``numpy.random.default_rng(seed)``, classes in
    increasing code order, so the result is deterministic for a given seed.

    A raster without candidates is not an error: the result is empty, ``available`` is 0
    for every class considered and ``shortfall`` says what is missing; the caller decides.

    Parameters
    ----------
    classes : array_like of int, shape (y, x)
        Class codes; ``nodata`` pixels are never sampled.
    per_class : int >= 1, optional
        Samples per class, or all candidates of a class that has fewer (see ``shortfall``).
    fraction : float in (0, 1], optional
        Share of each class's candidates, rounded half up, at least 1 when the class has
        any candidate. Exactly one of ``per_class`` and ``fraction`` is required.
    classes_wanted : iterable of int, optional
        Sample only these codes (default: every code in the raster except ``nodata``).
    seed : int or None
        Seed of the random generator.
    patch : int >= 1
        Side of a sample in pixels.
    nodata : int
        The code of pixels without a class (default 0).

    Returns
    -------
    Samples
        Sorted by ``(code, row, col)``.

    Raises
    ------
    InvalidInputError
        Invalid parameters, or a wanted code that does not occur in the raster (the message
        lists the codes present with their candidate counts).

    Examples
    --------
    >>> s = stratified_sample(np.array([[1, 1], [2, 0]]), per_class=1, seed=1)
    >>> s.codes.tolist(), s.available, s.shortfall
    ([1, 2], {1: 2, 2: 1}, {})
    """
    classes = np.asarray(classes)
    _check_params(classes, per_class, fraction, patch, nodata)
    patch, nodata = int(patch), int(nodata)
    block_codes = _block_codes(classes, patch, nodata)
    present = _codes_in(classes, nodata)
    if classes_wanted is None:
        wanted = present
    else:
        wanted = sorted({int(c) for c in classes_wanted})
        missing = [c for c in wanted if c not in present]
        if missing or nodata in wanted:
            counts = (np.count_nonzero(block_codes == c) for c in present)
            listing = ", ".join(f"{c} ({n} candidates)" for c, n in zip(present, counts)) or "none"
            raise InvalidInputError(
                f"Class code(s) {', '.join(map(str, missing or [nodata]))} not found in the raster "
                f"(nodata is {nodata}). Codes present: {listing}. Choose from these."
            )
    rng = np.random.default_rng(seed)
    available: dict[int, int] = {}
    shortfall: dict[int, int] = {}
    parts_r, parts_c, parts_k = [], [], []
    for code in wanted:  # one boolean mask at a time
        mask = block_codes == code
        n = available[code] = int(np.count_nonzero(mask))
        if per_class is not None:
            k = min(int(per_class), n)
            if per_class > n:
                shortfall[code] = int(per_class) - n
        else:
            k = min(n, max(1, int(np.floor(fraction * n + 0.5)))) if n else 0
        if k == 0:
            continue
        rows, cols = _pick(mask, k, rng)
        parts_r.append(rows * patch)
        parts_c.append(cols * patch)
        parts_k.append(np.full(k, code, dtype=np.int64))
    if shortfall:
        log.info("Classes with fewer candidates than %s: %s", per_class, shortfall)
    rows = np.concatenate(parts_r) if parts_r else np.empty(0, np.int64)
    cols = np.concatenate(parts_c) if parts_c else np.empty(0, np.int64)
    codes = np.concatenate(parts_k) if parts_k else np.empty(0, np.int64)
    order = np.lexsort((cols, rows, codes))
    arrays = [a[order] for a in (rows, cols, codes)]
    for a in arrays:
        a.flags.writeable = False
    return Samples(rows=arrays[0], cols=arrays[1], size=patch, codes=arrays[2],
                   available=available, shortfall=shortfall)


def sample_polygons(samples: Samples, transform) -> list:
    """The squares of ``samples`` as shapely Polygons in the raster's CRS.

    Parameters
    ----------
    samples : Samples
    transform : affine.Affine
        The raster's pixel-to-CRS transform (``rasterio`` ``dataset.transform``, odc-geo
        ``GeoBox.affine``); rotated transforms give rotated squares.

    Returns
    -------
    list of shapely.Polygon
        One per sample, in the order of ``samples``; corners at pixel edges.
    """
    import shapely

    s = samples.size
    dc = np.array([0, s, s, 0, 0], dtype=float)
    dr = np.array([0, 0, s, s, 0], dtype=float)
    c = samples.cols[:, None] + dc  # (n, 5) pixel columns of the ring
    r = samples.rows[:, None] + dr
    a, b, xoff, d, e, yoff = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    ring = np.stack([a * c + b * r + xoff, d * c + e * r + yoff], axis=-1)
    return list(shapely.polygons(ring)) if len(samples) else []


def spatial_blocks(x, y, block_size) -> np.ndarray:
    """Group ids of points by the square block they fall in, for spatial cross-validation.

    The grid is anchored at (0, 0): a point's block is ``(floor(x / size), floor(y / size))``,
    so a point on a block edge belongs to the block to its right/top.

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
        Coordinates in a projected CRS (metres).
    block_size : float > 0
        Side of a block, in the units of ``x`` and ``y``.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Dense ids 0 .. g-1, numbered in the order of (block column, block row).

    Raises
    ------
    InvalidInputError
        ``block_size`` is not a positive number, or ``x``/``y`` differ in length or are not finite.

    Examples
    --------
    >>> spatial_blocks([5, 15, 7, -1], [5, 5, 9, 5], 10).tolist()
    [1, 2, 1, 0]
    """
    if not isinstance(block_size, Real) or isinstance(block_size, bool) or not 0 < block_size < np.inf:
        raise InvalidInputError(
            f"The 'block_size' parameter of spatial_blocks must be a float > 0. Got {block_size!r}."
        )
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise InvalidInputError(f"spatial_blocks: x and y must have the same length. Got {x.size} and {y.size}.")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidInputError("spatial_blocks: x and y must be finite (got NaN or infinity).")
    keys = np.stack([np.floor(x / block_size), np.floor(y / block_size)], axis=1)
    if keys.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    _, ids = np.unique(keys, axis=0, return_inverse=True)
    return ids.ravel().astype(np.int64)
