"""The segmenter contract: declared parameters, input normalisation, standardisation, relabelling.

A segmenter turns a stack of per-pixel features into a label raster. Every segmenter in
:data:`antares.segmentation.SEGMENTERS` (built in or added by a plugin package) derives from :class:`Segmenter` and

* declares its parameters as a tuple of :class:`antares.params.Param` (name, type, default,
  constraint text, validator), so that ``antares segment_params NAME`` can print them and a wrong value fails at
  construction with one message of the scikit-learn form
  ``The 's' parameter of bis must be a float in [0, 1]. Got 1.5.``;
* implements :meth:`Segmenter._segment` on standardised bands (see :func:`standardise`) and a
  valid-pixel mask; the base class normalises the input and the output:

  - input: an :class:`xarray.Dataset` of ``(y, x)`` float variables (NaN = nodata), or an array of
    shape ``(bands, y, x)`` (or ``(y, x)`` for one band);
  - output: ``int64`` labels of shape ``(y, x)``; 0 = nodata (a pixel where any band is NaN or
    infinite); segments are numbered ``1..n`` consecutively in the raster (row-major) order of their
    first pixel, so the same input always gives the same labels.

Example
-------
>>> import numpy as np
>>> from antares.segmentation import get_segmenter
>>> seg = get_segmenter("bis", t=10)
>>> labels = seg.segment(np.random.default_rng(0).random((3, 64, 64), dtype=np.float32))
>>> labels.dtype, labels.shape, int(labels.min())
(dtype('int64'), (64, 64), 1)
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from antares.errors import InvalidInputError
from antares.params import Param, check_params

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the contract

class Segmenter:
    """Base class of all segmenters: parameter validation and input/output normalisation.

    Subclasses set :attr:`name`, :attr:`description`, :attr:`reference` and :attr:`params` and
    implement :meth:`_segment`. Parameter values are stored as attributes of the same name
    (``seg.t``); :meth:`get_params` returns them all.

    Parameters
    ----------
    **params
        Values for the declared parameters; the others take their defaults.

    Raises
    ------
    antares.errors.UsageError
        A keyword that is not a declared parameter, or a value outside its constraint.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, **params):
        for key, value in check_params(self.params, params, self.name).items():
            setattr(self, key, value)

    def get_params(self) -> dict[str, Any]:
        """The parameter values, by name (after validation; what a run records)."""
        return {p.name: getattr(self, p.name) for p in self.params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def check_bands(self, n_bands: int) -> None:
        """Raise InvalidInputError if the parameters do not fit ``n_bands`` bands (by default they always do).

        Called once before a segmentation run starts, so that a misfit fails once, not in every tile.
        """

    def segment(self, features, *, mean=None, std=None) -> np.ndarray:
        """Segment a stack of features into a label raster.

        Parameters
        ----------
        features : xarray.Dataset or numpy.ndarray
            A Dataset of ``(y, x)`` float variables (NaN = nodata; the band order is the order of
            ``data_vars``), or an array of shape ``(bands, y, x)`` or ``(y, x)``. Any unit: bands
            are standardised first (:func:`standardise`).
        mean, std : sequence of float, optional
            Per-band statistics to standardise with instead of those of ``features`` itself, e.g.
            product-wide statistics so that every tile of a product is segmented on one scale.

        Returns
        -------
        numpy.ndarray
            ``int64`` labels, shape ``(y, x)``: 0 where any band is NaN or infinite, else
            ``1..n``, consecutive, numbered in the row-major order of each segment's first pixel.

        Raises
        ------
        antares.errors.InvalidInputError
            ``features`` is not one of the accepted forms, or does not fit the parameters
            (e.g. a ``weights`` list of another length than the number of bands).
        """
        bands = standardise(features, mean=mean, std=std)
        valid = np.isfinite(bands).all(axis=0) if bands.shape[0] else np.zeros(bands.shape[1:], bool)
        labels = np.zeros(bands.shape[1:], dtype=np.int64)
        if valid.any():
            labels = self._segment(bands, valid)
            if not valid.all():
                labels = np.where(valid, labels, 0)
            labels = relabel_by_first_pixel(labels)
        log.debug("%s: %d segments on %d valid of %d pixels", self.name, int(labels.max(initial=0)),
                  int(valid.sum()), valid.size)
        return labels

    def _segment(self, bands: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Labels for standardised ``bands`` (bands, y, x) float32 with NaN outside ``valid`` (y, x) bool.

        Returns any integer labels (y, x) with each valid pixel in a segment > 0; the base class
        sets invalid pixels to 0 and renumbers.
        """
        raise NotImplementedError


# --------------------------------------------------------------------------- helpers

def as_band_stack(features) -> np.ndarray:
    """``features`` as a float array ``(bands, y, x)`` (no copy when possible).

    Raises
    ------
    antares.errors.InvalidInputError
        Not a Dataset of 2-D variables of one shape, nor a 2-D or 3-D numeric array.
    """
    try:
        import xarray as xr
    except ImportError:  # pragma: no cover - xarray is a dependency
        xr = None
    if xr is not None and isinstance(features, xr.Dataset):
        names = list(features.data_vars)
        if not names:
            raise InvalidInputError("The 'features' parameter of segment is a Dataset without variables.")
        dims = {features[n].dims for n in names}
        if len(dims) != 1 or len(next(iter(dims))) != 2:
            got = ", ".join(f"{n}{features[n].dims}" for n in names)
            raise InvalidInputError(
                "The 'features' parameter of segment must be a Dataset of (y, x) variables of one shape. "
                f"Got {got}. Select one time step or reduce over time first."
            )
        return np.stack([np.asarray(features[n].values, dtype=np.float32) for n in names])
    if xr is not None and isinstance(features, xr.DataArray):
        features = features.values
    array = np.asarray(features)
    if array.dtype.kind not in "iuf" or array.ndim not in (2, 3):
        raise InvalidInputError(
            "The 'features' parameter of segment must be an xarray.Dataset of (y, x) variables or a numeric "
            f"array of shape (bands, y, x). Got {type(features).__name__} of shape {array.shape}, dtype {array.dtype}."
        )
    return array[np.newaxis] if array.ndim == 2 else array


def standardise(features, mean=None, std=None) -> np.ndarray:
    """Standardise each band to zero mean and unit standard deviation over the valid pixels.

    A pixel is valid where every band is finite (not NaN, not ±inf). For each band ``b``:
    ``z_b = (x_b - mean_b) / std_b`` with the mean and the population standard deviation
    (``ddof=0``) taken over the valid pixels, in float64. A band with ``std_b == 0`` (constant)
    becomes 0 on every valid pixel. Invalid pixels are NaN in every band of the result.

    Parameters
    ----------
    features : xarray.Dataset or numpy.ndarray
        A Dataset of ``(y, x)`` variables, or an array ``(bands, y, x)`` or ``(y, x)``; any unit.
    mean, std : sequence of float, optional
        One value per band, in the unit of ``features``, to use instead of the statistics of
        ``features`` (e.g. statistics of a whole product, shared by all its tiles).

    Returns
    -------
    numpy.ndarray
        float32, shape ``(bands, y, x)``, dimensionless (standard scores); NaN = invalid pixel.

    Raises
    ------
    antares.errors.InvalidInputError
        ``features`` is not an accepted form, or ``mean``/``std`` has another length than the bands.

    Example
    -------
    >>> import numpy as np
    >>> standardise(np.array([[[1.0, 3.0, np.nan]]], dtype=np.float32))
    array([[[-1.,  1., nan]]], dtype=float32)
    """
    bands = as_band_stack(features)
    n_bands = bands.shape[0]
    given = {}
    for key, stat in (("mean", mean), ("std", std)):
        if stat is not None:
            stat = np.atleast_1d(np.asarray(stat, dtype=np.float64))
            if stat.shape != (n_bands,) or not np.isfinite(stat).all() or (key == "std" and (stat < 0).any()):
                kind = "value >= 0" if key == "std" else "value"
                raise InvalidInputError(
                    f"The {key!r} parameter of standardise must hold one finite {kind} per band ({n_bands}). "
                    f"Got {stat.tolist()}."
                )
            given[key] = stat
    out = np.full(bands.shape, np.nan, dtype=np.float32)
    if n_bands == 0:
        return out
    valid = np.isfinite(bands).all(axis=0)
    if not valid.any():
        return out
    for b in range(n_bands):
        values = bands[b][valid].astype(np.float64)
        m = given["mean"][b] if "mean" in given else values.mean()
        s = given["std"][b] if "std" in given else values.std()
        z = (values - m) / s if s > 0 else np.zeros_like(values)
        out[b][valid] = z.astype(np.float32)
    return out


def standardise_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and population standard deviation (float64) over the pixels valid in every band.

    The statistics :func:`standardise` uses by default; compute them once for a whole image
    and pass them to every tile so that all tiles share one scale.
    """
    bands = as_band_stack(features)
    valid = np.isfinite(bands).all(axis=0)
    if not valid.any():
        return np.zeros(bands.shape[0]), np.ones(bands.shape[0])
    values = bands[:, valid].astype(np.float64)
    return values.mean(axis=1), values.std(axis=1)


def channels_last(bands: np.ndarray, valid: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """``bands`` (bands, y, x) as a C-contiguous (y, x, bands) array with ``fill`` outside ``valid``.

    The form scikit-image wants (``channel_axis=-1``); NaN must not reach it.
    """
    out = np.ascontiguousarray(np.moveaxis(bands, 0, -1), dtype=np.float32)
    if not valid.all():
        out[~valid] = fill
    return out


def relabel_by_first_pixel(labels: np.ndarray) -> np.ndarray:
    """Renumber labels ``1..n`` in the row-major order of each label's first pixel; 0 stays 0.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer labels ``(y, x)``, 0 = nodata; any other values (not necessarily consecutive).

    Returns
    -------
    numpy.ndarray
        int64, same shape.

    Example
    -------
    >>> relabel_by_first_pixel(np.array([[7, 7, 0], [3, 9, 9]]))
    array([[1, 1, 0],
           [2, 3, 3]])
    """
    flat = np.asarray(labels).ravel()
    values, first = np.unique(flat, return_index=True)
    keep = values != 0
    values, first = values[keep], first[keep]
    order = np.argsort(first, kind="stable")
    new = np.empty(values.size, dtype=np.int64)
    new[order] = np.arange(1, values.size + 1, dtype=np.int64)
    out = np.zeros(flat.size, dtype=np.int64)
    nz = flat != 0
    out[nz] = new[np.searchsorted(values, flat[nz])]
    return out.reshape(np.shape(labels))
