"""``distance``: histogram matching of pre to post, then the absolute or Euclidean difference.

For each band the values of ``pre`` are mapped onto the distribution of ``post`` (histogram matching,
scikit-image's ``exposure.match_histograms`` on the valid pixels), so that a global change of gain,
offset or illumination between the dates is not taken for change; the score is ``|post - matched pre|``
for one band, the Euclidean norm of the per-band differences for several.
"""

from __future__ import annotations

import numpy as np

from antares.change.base import COMMON_PARAMS, ChangeMethod, threshold_param

__all__ = ["Distance", "fit_matching", "apply_matching"]


def fit_matching(source: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The histogram-matching curve of ``source`` onto ``template`` (1-D float arrays of valid values).

    The curve of ``skimage.exposure.match_histograms``: each distinct source value ``v`` goes to the template
    value at the same quantile, ``interp(F_src(v), F_tmpl(t_k), t_k)`` with ``F`` the empirical cumulative
    distributions. Fitting it once (on the whole area, or a sample) and applying it per tile with
    :func:`apply_matching` gives every tile the same curve.

    Returns
    -------
    knots, values : numpy.ndarray
        float64, increasing ``knots`` (the distinct source values) and what they map to.
    """
    src_values, src_counts = np.unique(source, return_counts=True)
    tmpl_values, tmpl_counts = np.unique(template, return_counts=True)
    src_quantiles = np.cumsum(src_counts) / source.size
    tmpl_quantiles = np.cumsum(tmpl_counts) / template.size
    return src_values.astype(np.float64), np.interp(src_quantiles, tmpl_quantiles, tmpl_values).astype(np.float64)


def apply_matching(values: np.ndarray, knots: np.ndarray, mapped: np.ndarray) -> np.ndarray:
    """``values`` through a curve of :func:`fit_matching` (linear between knots, constant beyond them)."""
    return np.interp(values, knots, mapped)


class Distance(ChangeMethod):
    """Histogram matching of pre to post per band, then |difference| or the Euclidean norm across bands."""

    name = "distance"
    description = "histogram matching of pre to post, then |difference| (one band) or Euclidean norm (bands)"
    reference = "Singh (1989) Int. J. Remote Sens. 10(6): image differencing; scikit-image match_histograms"
    params = (threshold_param("otsu"),) + COMMON_PARAMS

    def _fit_sample(self, pre, post):
        self.curves = [fit_matching(pre[:, b], post[:, b]) for b in range(pre.shape[1])]

    def _score(self, pre, post):
        diff = np.stack([post[:, b] - apply_matching(pre[:, b], *self.curves[b]) for b in range(pre.shape[1])], axis=1)
        return np.abs(diff[:, 0]) if diff.shape[1] == 1 else np.sqrt((diff ** 2).sum(axis=1))
