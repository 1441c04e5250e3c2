"""Thresholds that split a change score into change and no change.

* :func:`kapur`: maximum entropy of the two classes of the histogram (Kapur, Sahoo & Wong 1985);
* :func:`otsu`: maximum between-class variance (Otsu 1979), scikit-image's ``threshold_otsu``;
* :func:`chi2_threshold`: the quantile of a chi-square distribution (the no-change distribution of the
  sum of squared standardised MAD variates, Nielsen 2007) for a p-value.

A threshold is computed once from the valid scores of the whole area (or a sample) and then applied
to every tile: ``change = score > threshold``.
"""

from __future__ import annotations

import numpy as np

from antares.errors import InvalidInputError

__all__ = ["kapur", "otsu", "chi2_threshold", "THRESHOLDS", "is_threshold"]

THRESHOLDS = ("kapur", "otsu", "chi2")


def is_threshold(value) -> bool:
    """A valid ``threshold`` parameter: one of :data:`THRESHOLDS` or a finite number."""
    if isinstance(value, str):
        return value in THRESHOLDS
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and bool(np.isfinite(value))


def _finite(values, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InvalidInputError(f"{what}: no valid score to threshold (every pixel is nodata in one of the dates).")
    return values


def kapur(values, nbins: int = 256) -> float:
    """Kapur's maximum-entropy threshold of ``values`` (NaN ignored).

    The histogram of ``nbins`` bins (probabilities ``p_i``) is split at ``t``; with ``P0 = sum_{i<=t} p_i`` and
    ``P1 = 1 - P0``, the threshold maximises ``H0 + H1``, ``H0 = -sum_{i<=t} (p_i/P0) ln(p_i/P0)`` and
    ``H1 = -sum_{i>t} (p_i/P1) ln(p_i/P1)`` (Kapur, Sahoo & Wong 1985, CVGIP 29, eq. 18).

    Parameters
    ----------
    values : array_like
        Scores, any shape; NaN and ±inf are ignored.
    nbins : int

    Returns
    -------
    float
        The upper edge of the last bin of the lower class: ``change = values > threshold``.

    Raises
    ------
    antares.errors.InvalidInputError
        No finite value.
    """
    values = _finite(values, "kapur")
    if values.min() == values.max():
        return float(values.min())
    counts, edges = np.histogram(values, bins=nbins)
    p = counts / counts.sum()
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    c0 = np.cumsum(p)[:-1]                      # P0 for t = 0..nbins-2
    s0 = np.cumsum(plogp)[:-1]                  # sum p ln p below t
    c1 = 1.0 - c0
    s1 = plogp.sum() - s0
    # H = -sum (p/P) ln(p/P) = ln P - (sum p ln p) / P
    with np.errstate(divide="ignore", invalid="ignore"):
        h0 = np.where(c0 > 0, np.log(np.where(c0 > 0, c0, 1.0)) - s0 / np.where(c0 > 0, c0, 1.0), -np.inf)
        h1 = np.where(c1 > 1e-15, np.log(np.where(c1 > 1e-15, c1, 1.0)) - s1 / np.where(c1 > 1e-15, c1, 1.0), -np.inf)
    t = int(np.argmax(h0 + h1))
    return float(edges[t + 1])


def otsu(values, nbins: int = 256) -> float:
    """Otsu's threshold of ``values`` (NaN ignored): ``skimage.filters.threshold_otsu`` on the finite values.

    Raises
    ------
    antares.errors.InvalidInputError
        No finite value.
    """
    from skimage.filters import threshold_otsu

    values = _finite(values, "otsu")
    if values.min() == values.max():
        return float(values.min())
    return float(threshold_otsu(values, nbins=nbins))


def chi2_threshold(p_value: float, dof: int) -> float:
    """The chi-square statistic above which a pixel is change at significance ``p_value``.

    Under no change the sum of ``dof`` squared standardised MAD (or MAF) variates follows a chi-square
    distribution with ``dof`` degrees of freedom (Nielsen 2007, IEEE TIP 16(2), section II-C); a pixel is
    change where ``P(chi2_dof > Z) < p_value``, i.e. ``Z > chi2.ppf(1 - p_value, dof)``, computed as
    ``scipy.special.chdtri(dof, p_value)`` (the inverse survival function, without importing scipy.stats).
    """
    from scipy.special import chdtri

    return float(chdtri(dof, p_value))
