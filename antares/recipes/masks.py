"""Clear-observation masks: SCL classes or a thresholded measurement, with optional dilation.

A mask splits each (date, pixel) into three: *kept* (clear: used), *masked* (valid data the
recipe does not want: clouds, shadows, ...) and *nodata* (SCL 0, or NaN in a measurement
mask). Only the masked region is dilated, so the edge of a swath (nodata) does not eat clear
pixels beside it, while a cloud's fringe is removed.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Binary dilation of the last two axes by a (2N+1) x (2N+1) square, each leading index apart.

    The same as ``scipy.ndimage.binary_dilation(m, structure=generate_binary_structure(2, 2),
    iterations=N)`` on every 2-D slice ``m`` (a 3x3 square applied N times, 8-connected;
    outside the array counts as False), computed as two separable 1-D running maxima (shifted ORs).

    Parameters
    ----------
    mask : numpy.ndarray of bool, (..., y, x)
    pixels : int >= 0
        N, the number of pixels to grow by (Chebyshev distance).

    Returns
    -------
    numpy.ndarray of bool, same shape
    """
    out = np.asarray(mask, dtype=bool)
    if pixels <= 0:
        return out
    for axis in (out.ndim - 2, out.ndim - 1):
        grown = out.copy()
        for shift in range(1, pixels + 1):  # grown[i] |= out[i - shift] | out[i + shift], in place
            before = [slice(None)] * out.ndim
            after = [slice(None)] * out.ndim
            before[axis], after[axis] = slice(shift, None), slice(None, -shift)
            grown[tuple(before)] |= out[tuple(after)]
            grown[tuple(after)] |= out[tuple(before)]
        out = grown
    return out


def clear_numpy(values: np.ndarray, spec) -> np.ndarray:
    """The kept (clear) observations of a mask variable, as a numpy array.

    Parameters
    ----------
    values : numpy.ndarray, (time, y, x)
        SCL classes (any integer dtype, 0 = nodata; a floating SCL may use NaN for nodata) for an
        ``"scl"`` mask, or the mask measurement (NaN = nodata) for a ``"measurement"`` mask.
        For an ``"s2cloudless"`` mask: the cloud probability (:func:`antares.recipes.cloudless.cloud_probability`).
    spec : MaskSpec

    Returns
    -------
    numpy.ndarray of bool, (time, y, x)
        True where the observation is kept and lies outside the dilated masked region.
    """
    if spec.kind == "s2cloudless":
        from antares.recipes.cloudless import cloud_mask

        cloudy = cloud_mask(values, spec.threshold, spec.average_over, spec.dilate)
        return ~np.isnan(values) & ~cloudy
    if spec.kind == "scl":
        nodata = values == 0
        if np.issubdtype(values.dtype, np.floating):
            nodata |= np.isnan(values)
        if values.dtype == np.uint8:  # a lookup table: one gather instead of a search per value
            table = np.zeros(256, bool)
            table[list(spec.keep)] = True
            kept = table[values]
        else:
            kept = np.isin(values, spec.keep)
    else:
        nodata = np.isnan(values)
        with np.errstate(invalid="ignore"):
            kept = values < spec.threshold if spec.keep == "below" else values > spec.threshold
    masked = ~kept
    masked &= ~nodata
    grown = dilate(masked, spec.dilate)
    np.logical_not(grown, out=grown)
    grown &= kept
    return grown


def clear(values, spec):
    """:func:`clear_numpy` on a DataArray, numpy- or dask-backed.

    A dask-backed ``values`` is processed block by block with ``dask.array.map_overlap``
    (an overlap of ``spec.dilate`` pixels on y and x, none on time), so the dilation is exact
    across chunk borders.

    Parameters
    ----------
    values : xarray.DataArray, (time, y, x)
    spec : MaskSpec

    Returns
    -------
    xarray.DataArray of bool, (time, y, x), with the coordinates of ``values``
    """
    data = values.data
    if values.chunks is None:
        result = clear_numpy(np.asarray(data), spec)
    else:
        import dask.array as da

        depth = {0: 0, 1: spec.margin, 2: spec.margin}
        result = da.map_overlap(clear_numpy, data, depth=depth, boundary="none", dtype=bool, spec=spec)
    return values.copy(data=result).rename("clear")
