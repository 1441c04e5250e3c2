"""Seamless segmentation of an image larger than one tile: two staggered passes with stability margins.

A segmentation computed tile by tile leaves straight cuts along the tile edges. antares
avoids them with the stability-margin idea of Lassalle et al. (2015), "A scalable
tile-based framework for region-merging segmentation", IEEE TGRS 53(10):5473-5485,
in a form that works for any segmenter:

1. **First pass** on the tile grid: each tile is segmented with a margin of ``margin``
   pixels on every side that is not the image border. A segment is *stable* when it
   lies entirely inside the tile's core and does not touch the cut border of the
   extended window: its shape did not depend on where the tile was cut, so it is kept.
   The other pixels — a band along every tile edge — stay unassigned.
2. **Second pass** on the same grid shifted by half a tile in x and y, so that every
   first-pass tile edge (and corner) lies in the middle of a second-pass tile: the
   unassigned pixels are segmented again (assigned ones are masked out as nodata),
   with the same margins and stability rule. The strips are segmented whole, so no
   boundary follows a first-pass tile edge; their outlines follow the first-pass
   segments' outlines.
3. **Last resort**: pixels still unassigned (segments unstable in both passes) are
   segmented within the second-pass tile cores, without the stability rule, so every
   valid pixel gets exactly one segment; the cuts this may leave lie across the strips
   (on second-pass edges), never along a first-pass tile edge. Valid pixels that a
   segmenter leaves unlabelled (scikit-image's masked SLIC can) become one segment per
   4-connected piece.

Segment ids are unique across the image: ``(stage * n_tiles + tile number) * 2**32 + local id``
with the tile numbered in row-major order of its grid (stable whatever order tiles run in).
Each tile's work only needs the pixels of its extended window, so the pipeline can
run the tiles of a pass as independent tasks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

STRIDE = 2**32  # local ids per (stage, tile)


@dataclass(frozen=True)
class Window:
    """One window of a pass: a tile's core rows/columns and its extended window (core + margin, clipped to the image)."""

    number: int
    core: tuple[slice, slice]
    extended: tuple[slice, slice]


def tile_windows(shape: tuple[int, int], tile: int, margin: int, offset: int = 0) -> list[Window]:
    """Windows of the tiles of ``tile`` pixels over an image of ``shape`` (y, x), the grid shifted by ``offset``."""
    ny, nx = shape
    starts_y = sorted({0, *range(offset % tile or tile, ny, tile)} - {ny}) if offset else list(range(0, ny, tile))
    starts_x = sorted({0, *range(offset % tile or tile, nx, tile)} - {nx}) if offset else list(range(0, nx, tile))
    windows = []
    for iy, y0 in enumerate(starts_y):
        y1 = starts_y[iy + 1] if iy + 1 < len(starts_y) else ny
        for ix, x0 in enumerate(starts_x):
            x1 = starts_x[ix + 1] if ix + 1 < len(starts_x) else nx
            core = (slice(y0, y1), slice(x0, x1))
            ext = (slice(max(0, y0 - margin), min(ny, y1 + margin)), slice(max(0, x0 - margin), min(nx, x1 + margin)))
            windows.append(Window(iy * len(starts_x) + ix, core, ext))
    return windows


def cut_borders(window: Window, shape: tuple[int, int]) -> tuple[bool, bool, bool, bool]:
    """Which borders of the extended window (top, bottom, left, right) are cuts, not the image's border."""
    ys, xs = window.extended
    return ys.start > 0, ys.stop < shape[0], xs.start > 0, xs.stop < shape[1]


def local_core(window: Window) -> tuple[slice, slice]:
    """The core's rows and columns inside the extended window."""
    (cy, cx), (ys, xs) = window.core, window.extended
    return slice(cy.start - ys.start, cy.stop - ys.start), slice(cx.start - xs.start, cx.stop - xs.start)


def stable_segments(labels: np.ndarray, core: tuple[slice, slice], cut: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """Mask of the pixels of stable segments of a window's ``labels``.

    Stable: every pixel inside ``core`` (window coordinates), and no pixel on a border of
    the window that is a cut (``cut`` = top, bottom, left, right).
    """
    inside = np.zeros(labels.shape, bool)
    inside[core] = True
    bad = np.zeros(int(labels.max()) + 1, bool)
    bad[np.unique(labels[~inside])] = True  # segments reaching outside the core
    for is_cut, edge in zip(cut, (labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1])):
        if is_cut:
            bad[np.unique(edge)] = True
    bad[0] = True
    return ~bad[labels]


def segment_block(segmenter, block: np.ndarray, assigned: np.ndarray, core: tuple[slice, slice],
                  cut: tuple[bool, bool, bool, bool], mean, std, require_stable: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Segment the unassigned valid pixels of one window's features ``block`` (bands, y, x).

    Returns the window's local labels of the segments kept — the stable ones, or every
    segment inside ``core`` when ``require_stable`` is False — with 0 elsewhere, and their mask.
    """
    block = np.where(assigned[None], np.nan, block)
    if not np.isfinite(block).all(axis=0).any():
        empty = np.zeros(block.shape[1:], np.int64)
        return empty, empty.astype(bool)
    labels = segmenter.segment(block, mean=mean, std=std)
    if require_stable:
        keep = stable_segments(labels, core, cut)
    else:
        keep = np.zeros(labels.shape, bool)
        keep[core] = True
        keep &= labels > 0
    return np.where(keep, labels, 0), keep


def segment_tiled(segmenter, features: np.ndarray, tile: int, margin: int, mean=None, std=None) -> np.ndarray:
    """Segment ``features`` tile by tile without seams along the tile edges (see the module docstring).

    Parameters
    ----------
    segmenter : antares.segmentation.base.Segmenter
    features : numpy.ndarray
        float32 (bands, y, x), NaN = nodata.
    tile : int
        Tile size in pixels (> 2 * margin recommended).
    margin : int
        Stability margin in pixels around each tile.
    mean, std : sequence of float, optional
        Standardisation statistics for the whole image; computed here when not given,
        so that every tile uses the same scale.

    Returns
    -------
    numpy.ndarray
        int64 (y, x) labels, 0 = nodata, ids unique over the image (not consecutive).
    """
    from antares.segmentation.base import standardise_stats

    if mean is None or std is None:
        mean, std = standardise_stats(features)
    shape = features.shape[1:]
    valid = np.isfinite(features).all(axis=0)
    labels = np.zeros(shape, np.int64)
    assigned = ~valid  # nodata counts as assigned: never segmented
    stages = [(0, True), (tile // 2, True), (tile // 2, False)]
    n_tiles = len(tile_windows(shape, tile, margin)) + len(tile_windows(shape, tile, margin, tile // 2))
    for stage, (offset, require_stable) in enumerate(stages):
        if assigned.all():
            break
        windows = tile_windows(shape, tile, 0 if not require_stable else margin, offset)
        kept = []
        for window in windows:  # every window of a stage sees the same `assigned`: order does not matter
            ys, xs = window.extended
            local, keep = segment_block(segmenter, features[:, ys, xs], assigned[ys, xs], local_core(window),
                                        cut_borders(window, shape), mean, std, require_stable)
            kept.append((window, local, keep))
        for window, local, keep in kept:
            ys, xs = window.extended
            ids = (stage * n_tiles + window.number) * STRIDE + local
            target = labels[ys, xs]
            target[keep] = ids[keep]
            assigned[ys, xs] |= keep
        log.debug("stage %d: %d of %d valid pixels assigned", stage, int((labels > 0).sum()), int(valid.sum()))
    left = ~assigned
    if left.any():  # a segmenter may leave masked-in pixels unlabelled (scikit-image's masked slic does)
        from skimage.measure import label as connected

        pieces = connected(left, connectivity=1)
        labels[left] = len(stages) * n_tiles * STRIDE + pieces[left].astype(np.int64)
    return labels
