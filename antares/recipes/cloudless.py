"""Cloud masks for Sentinel-2 L1C: the s2cloudless pixel classifier (Sentinel Hub), without importing its package.

The model is the LightGBM text model of the ``s2cloudless`` wheel
(``s2cloudless/models/pixel_s2_cloud_detector_lightGBM_v0.1.txt``, s2cloudless 1.7.3, CC BY-SA 4.0).
``make install`` installs that wheel without its dependencies (``pip install --no-deps
s2cloudless==1.7.3``): the package imports ``sentinelhub`` and OpenCV at import time and would pull a
dozen packages for a file of trees, so antares never imports it; it finds the file through the
installed distribution's metadata, checks it against the SHA-256 the wheel's RECORD gives for it,
and reads it with ``lightgbm.Booster(model_str=...)`` (no pickle).

The post-processing follows ``S2PixelCloudDetector.get_mask_from_prob``: the probability is
averaged over a disk of radius ``average_over`` (borders reflected, OpenCV's ``BORDER_REFLECT`` =
scipy's ``"reflect"``), thresholded (cloud where the average is strictly above ``threshold``) and
the cloud mask dilated by a disk of radius ``dilate``. The disks are scikit-image's
``morphology.disk`` (s2cloudless draws the same disk with OpenCV). Reference: Zupanc, A. (2017),
"Improving Cloud Detection with Machine Learning", Sentinel Hub blog; s2cloudless README
(threshold 0.4, average_over 4, dilation_size 2 at 10 m, the defaults here).
"""

from __future__ import annotations

import base64
import hashlib
import logging
from functools import lru_cache

import numpy as np

from antares.errors import InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

#: The recipe aliases of the model's ten input bands, in the model's feature order: Sentinel-2 B01, B02, B04,
#: B05, B08, B8A, B09, B10, B11, B12 (TOA reflectance 0..1), s2cloudless' ``MODEL_BANDS``.
S2CLOUDLESS_ALIASES = ("coastal", "blue", "red", "re1", "nir", "nir08", "nir09", "cirrus", "swir1", "swir2")
S2CLOUDLESS_BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")

#: The model's path inside the s2cloudless distribution.
MODEL_FILE = "s2cloudless/models/pixel_s2_cloud_detector_lightGBM_v0.1.txt"
#: sha256 of the model text, as the s2cloudless 1.7.3 wheel's RECORD states it (urlsafe base64).
MODEL_SHA256 = "D5K2gizArUKYL1W6ubFogynhGUUa2angpWOEufN7xh0"
_INSTALL = "install it with `pip install --no-deps s2cloudless==1.7.3` (make install does)"


def model_path():
    """Where the installed s2cloudless distribution keeps its model (the package is not imported).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    NotFoundError
        The s2cloudless distribution is not installed, or installed without its model file.
    """
    from importlib.metadata import PackageNotFoundError, distribution
    from pathlib import Path

    try:
        path = Path(distribution("s2cloudless").locate_file(MODEL_FILE))
    except PackageNotFoundError:
        raise NotFoundError(f"mask: s2cloudless needs the model of the s2cloudless package, which is not installed; "
                            f"{_INSTALL}.") from None
    if not path.is_file():
        raise NotFoundError(f"s2cloudless model {path}: no such file in the installed s2cloudless package; {_INSTALL}.")
    return path


def model_text(path=None) -> str:
    """The s2cloudless model as LightGBM text, checked against its published SHA-256.

    Parameters
    ----------
    path : path-like, optional
        A model text file (default: :func:`model_path`, the installed s2cloudless wheel's copy).

    Returns
    -------
    str

    Raises
    ------
    NotFoundError
        No model file (see :func:`model_path`).
    InvalidInputError
        The file's content differs from s2cloudless 1.7.3's model (damaged or replaced).
    """
    path = model_path() if path is None else path
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise NotFoundError(f"s2cloudless model {path}: no such file; {_INSTALL}.") from None
    digest = base64.urlsafe_b64encode(hashlib.sha256(text).digest()).rstrip(b"=").decode()
    if digest != MODEL_SHA256:
        raise InvalidInputError(f"s2cloudless model {path}: SHA-256 {digest} is not the one of s2cloudless "
                                f"1.7.3's model ({MODEL_SHA256}); the file is damaged or replaced: {_INSTALL.replace('install it', 'reinstall it')}.")
    return text.decode("ascii")


@lru_cache(maxsize=1)
def load_model():
    """The s2cloudless LightGBM booster (read once per process from :func:`model_text`)."""
    import lightgbm

    booster = lightgbm.Booster(model_str=model_text())
    if booster.num_feature() != len(S2CLOUDLESS_BANDS):
        raise InvalidInputError(f"s2cloudless model: {booster.num_feature()} features, expected 10.")
    return booster


def cloud_probability(bands: np.ndarray) -> np.ndarray:
    """The s2cloudless cloud probability of each pixel.

    Parameters
    ----------
    bands : numpy.ndarray, floating, (10, ...)
        TOA reflectance (0..1) of B01, B02, B04, B05, B08, B8A, B09, B10, B11, B12
        (:data:`S2CLOUDLESS_BANDS`) on any common shape, NaN = nodata.

    Returns
    -------
    numpy.ndarray of float32, (...)
        Probability of cloud, 0..1; NaN where any band is NaN.

    Raises
    ------
    InvalidInputError
        ``bands`` does not have 10 bands on its first axis.
    """
    bands = np.asarray(bands, dtype=np.float32)
    if bands.ndim < 1 or bands.shape[0] != len(S2CLOUDLESS_BANDS):
        raise InvalidInputError(f"s2cloudless needs the 10 bands {', '.join(S2CLOUDLESS_BANDS)} on the first axis. "
                                f"Got shape {bands.shape}.")
    pixels = bands.reshape(len(S2CLOUDLESS_BANDS), -1).T
    valid = ~np.isnan(pixels).any(axis=1)
    out = np.full(pixels.shape[0], np.nan, np.float32)
    if valid.any():
        out[valid] = load_model().predict(np.ascontiguousarray(pixels[valid]))
    return out.reshape(bands.shape[1:])


def cloud_mask(probability: np.ndarray, threshold: float = 0.4, average_over: int = 4, dilate: int = 2) -> np.ndarray:
    """Clouds from s2cloudless probabilities: averaged over a disk, thresholded, dilated by a disk.

    Parameters
    ----------
    probability : numpy.ndarray, floating, (..., y, x)
        :func:`cloud_probability`; NaN = nodata (never cloud; left out of the averages).
    threshold : float
        Cloud where the averaged probability is strictly above it (s2cloudless' default 0.4).
    average_over : int >= 0
        Radius in pixels of the averaging disk; 0: no averaging.
    dilate : int >= 0
        Radius in pixels of the dilation disk; 0: no dilation.

    Returns
    -------
    numpy.ndarray of bool, (..., y, x)
        True where cloudy.
    """
    from scipy import ndimage
    from skimage.morphology import disk

    prob = np.asarray(probability, dtype=np.float64)
    lead = prob.shape[:-2]
    flat = prob.reshape((-1,) + prob.shape[-2:])
    out = np.zeros(flat.shape, bool)
    for k, p in enumerate(flat):
        valid = ~np.isnan(p)
        if average_over > 0:
            kernel = disk(average_over).astype(np.float64)
            total = ndimage.convolve(np.where(valid, p, 0.0), kernel, mode="reflect")
            weight = ndimage.convolve(valid.astype(np.float64), kernel, mode="reflect")
            with np.errstate(invalid="ignore", divide="ignore"):
                p = total / weight
        with np.errstate(invalid="ignore"):
            cloud = (p > threshold) & valid
        if dilate > 0:
            cloud = ndimage.binary_dilation(cloud, structure=disk(dilate).astype(bool))
        out[k] = cloud
    return out.reshape(lead + prob.shape[-2:])


def clear_s2cloudless(bands: np.ndarray, spec) -> np.ndarray:
    """The kept (clear) observations under an s2cloudless mask.

    Parameters
    ----------
    bands : numpy.ndarray, floating, (10, time, y, x)
        The bands of :data:`S2CLOUDLESS_ALIASES`, TOA reflectance 0..1, NaN = nodata.
    spec : MaskSpec
        ``kind == "s2cloudless"``: ``threshold``, ``average_over`` and ``dilate``.

    Returns
    -------
    numpy.ndarray of bool, (time, y, x)
        True where every band is valid and the pixel is not in the (averaged, dilated) cloud mask.
    """
    from antares.recipes.masks import clear_numpy

    return clear_numpy(cloud_probability(bands), spec)
