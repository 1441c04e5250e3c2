"""``imadmaf``: iteratively re-weighted MAD (Nielsen 2007) followed by maximum autocorrelation factors.

MAD (multivariate alteration detection, Nielsen, Conradsen & Simpson 1998) takes the canonical correlation
analysis of the two dates ``X`` (pre) and ``Y`` (post), ``(n, p)`` pixels by bands: canonical vectors ``a_i``,
``b_i`` with ``a_i' S_xx a_i = b_i' S_yy b_i = 1`` maximise the correlations ``rho_i`` of ``U_i = a_i' X`` and
``V_i = b_i' Y``; the MAD variates ``M_i = U_i - V_i`` are uncorrelated with variances ``2 (1 - rho_i)``.
The iteratively re-weighted MAD (Nielsen 2007, IEEE Trans. Image Process. 16(2): 463-478) repeats the
analysis with weighted statistics, the weight of a pixel being its probability of no change,
``w = P(chi2_p > Z)`` with ``Z = sum_i M_i^2 / (2 (1 - rho_i))``, until the canonical correlations change
by less than ``min_delta``. Ridge regularisation ``lambda`` (Nielsen 2007, section II-D) shrinks each covariance
``S`` to ``(1 - lambda) S + lambda mean(diag S) I``.

The MAD variates are then standardised and rotated into MAFs (maximum autocorrelation factors, Switzer &
Green 1984; Nielsen et al. 1998 section III): the eigenvectors of the covariance of the differences between
neighbouring pixels (horizontal and vertical shifts by one pixel, pairs of valid pixels only: no
wrap-around at the tile edges), from the highest spatial autocorrelation to the lowest. Being an orthogonal
rotation of the standardised MADs, the sum of squares of all MAFs is ``Z`` again, chi-square with ``p``
degrees of freedom under no change; with ``components=k`` the score is that of the first ``k`` MAFs,
chi-square with ``k`` degrees of freedom.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from antares.change.base import COMMON_PARAMS, ChangeMethod, check_pair, threshold_param
from antares.errors import InvalidInputError
from antares.params import bool_param, float_param, int_param

log = logging.getLogger(__name__)

__all__ = ["IMad", "imad", "mad_variates", "spatial_difference_covariance", "maf_transform", "IMadMaf"]


@dataclass
class IMad:
    """A fitted (iteratively re-weighted) MAD transform.

    Attributes
    ----------
    a, b : numpy.ndarray
        Canonical vectors of pre and post, float64 ``(p, p)``, columns ordered by increasing canonical
        correlation (the first MAD variate has the largest no-change variance), normalised to unit variance of
        ``U`` and ``V`` under the final weights; signs make the sum of the correlations of each ``U_i`` with
        the pre bands positive.
    mean_pre, mean_post : numpy.ndarray
        Weighted means ``(p,)``.
    rho : numpy.ndarray
        Canonical correlations ``(p,)``, increasing.
    sigma : numpy.ndarray
        No-change standard deviations of the MAD variates, ``sqrt(2 (1 - rho))``.
    weights : numpy.ndarray
        The no-change probabilities of the pixels after the last iteration ``(n,)``.
    iterations : int
    converged : bool
        Whether ``max |delta rho| < min_delta`` was reached within ``max_iterations``.
    """

    a: np.ndarray
    b: np.ndarray
    mean_pre: np.ndarray
    mean_post: np.ndarray
    rho: np.ndarray
    sigma: np.ndarray
    weights: np.ndarray
    iterations: int
    converged: bool

    def variates(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        """MAD variates ``(n, p)`` of pixels ``pre``, ``post`` ``(n, p)``: ``(X - mx) a - (Y - my) b``."""
        return _times(pre - self.mean_pre, self.a) - _times(post - self.mean_post, self.b)

    def chi2(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        """The chi-square statistic ``Z = sum_i (M_i / sigma_i)^2`` ``(n,)``."""
        return ((self.variates(pre, post) / self.sigma) ** 2).sum(axis=1)


def _times(pixels: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``pixels @ matrix`` for pixels ``(n, p)`` and a small ``(p, k)`` matrix, computed as ``(matrix' pixels')'``:
    BLAS is several times faster on the wide product than on the tall, thin one (and pixels taken as
    ``stack[:, valid].T`` are already laid out that way)."""
    return (matrix.T @ pixels.T).T


def _shrink(cov: np.ndarray, lam: float) -> np.ndarray:
    if lam == 0:
        return cov
    return (1 - lam) * cov + lam * np.mean(np.diag(cov)) * np.eye(len(cov))


def _cca(pre, post, w, lam):
    """One weighted canonical correlation analysis: means, a, b, rho (increasing)."""
    from scipy.linalg import LinAlgError, eigh, solve

    wsum = w.sum()
    mx, my = w @ pre / wsum, w @ post / wsum
    xc, yc = pre - mx, post - my
    sxx = _shrink((xc * w[:, None]).T @ xc / wsum, lam)
    syy = _shrink((yc * w[:, None]).T @ yc / wsum, lam)
    sxy = (xc * w[:, None]).T @ yc / wsum
    try:
        syy_syx = solve(syy, sxy.T, assume_a="pos")
        left = sxy @ syy_syx
        rho2, a = eigh((left + left.T) / 2, sxx)
    except (LinAlgError, ValueError) as exc:
        raise InvalidInputError(
            f"imadmaf: the band covariance of pre or post is singular ({' '.join(str(exc).split())[:120]}): a band "
            "is constant or a linear combination of others over the valid pixels; drop it with -b, or set "
            "-extra regularisation=0.01.") from None
    rho = np.sqrt(np.clip(rho2, 0.0, 1.0))
    if rho[-1] > 1 - 1e-10:
        raise InvalidInputError("imadmaf: pre and post are identical up to a linear transform (a canonical "
                                "correlation is 1): there is no change to detect. Check that -p_pre/-y_pre and "
                                "-p_post/-y_post name different images.")
    if rho[0] < 1e-12:
        raise InvalidInputError("imadmaf: a canonical correlation of pre and post is 0: the dates share no signal "
                                "in some band combination; check the bands (-b) and that both dates cover one area.")
    signs = np.sign((sxx @ a).sum(axis=0))
    signs[signs == 0] = 1
    a = a * signs
    b = syy_syx @ a / rho
    return mx, my, a, b, rho


def imad(pre: np.ndarray, post: np.ndarray, *, max_iterations: int = 50, min_delta: float = 1e-5,
         regularisation: float = 0.0) -> IMad:
    """The iteratively re-weighted MAD transform of two dates (Nielsen 2007).

    Parameters
    ----------
    pre, post : numpy.ndarray
        Pixels ``(n, p)`` of the same ``p`` bands (any unit), valid in both dates.
    max_iterations : int
        At most this many re-weighted analyses (1: the plain MAD of Nielsen et al. 1998).
    min_delta : float
        Stop when no canonical correlation changes by more than this between two iterations.
    regularisation : float
        Ridge ``lambda`` in ``[0, 1)``: covariances shrunk to ``(1 - lambda) S + lambda mean(diag S) I``.
        0 keeps the method invariant to any invertible linear transform of either date.

    Returns
    -------
    IMad

    Raises
    ------
    antares.errors.InvalidInputError
        Another band count in ``pre`` than in ``post``, fewer pixels than bands + 1, a singular covariance,
        or identical dates (a canonical correlation of 1).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(5000, 3)); y = x @ rng.normal(size=(3, 3)) + 0.3 * rng.normal(size=(5000, 3))
    >>> fit = imad(x, y)
    >>> fit.converged, bool(np.all(np.diff(fit.rho) >= 0))
    (True, True)
    """
    from scipy.stats import chi2

    pre, post = np.asarray(pre, np.float64), np.asarray(post, np.float64)
    if pre.ndim != 2 or pre.shape != post.shape:
        raise InvalidInputError(f"imad: pre and post must be pixels (n, bands) of one shape. Got {pre.shape} and "
                                f"{post.shape}.")
    n, p = pre.shape
    if n <= p:
        raise InvalidInputError(f"imad: {n} pixels for {p} bands; at least {p + 1} valid pixels are needed.")
    w = np.ones(n)
    previous = None
    converged = False
    for iteration in range(1, max_iterations + 1):
        mx, my, a, b, rho = _cca(pre, post, w, regularisation)
        sigma = np.sqrt(2 * (1 - rho))
        mad = _times(pre - mx, a) - _times(post - my, b)
        z = ((mad / sigma) ** 2).sum(axis=1)
        w = chi2.sf(z, p)
        if previous is not None and np.max(np.abs(rho - previous)) < min_delta:
            converged = True
            break
        previous = rho
        if w.sum() <= 0:
            raise InvalidInputError("imad: every pixel has a no-change probability of 0; the dates do not match.")
    log.debug("imad: %d iterations, converged %s, rho %s", iteration, converged, np.round(rho, 4))
    return IMad(a, b, mx, my, rho, sigma, w, iteration, converged)


def mad_variates(fit: IMad, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    """Standardised MAD variates ``M_i / sigma_i`` ``(n, p)`` of pixels ``pre``, ``post`` ``(n, p)``."""
    return fit.variates(pre, post) / fit.sigma


def spatial_difference_covariance(image: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Covariance of the differences between horizontal and vertical neighbours, valid pairs only.

    ``Sigma_Delta = (sum_h d d' + sum_v d d') / (n_h + n_v)`` with ``d = z(r, c) - z(r, c + 1)`` (horizontal) and
    ``d = z(r, c) - z(r + 1, c)`` (vertical) over the pairs of which both pixels are valid. No shift wraps
    around an edge (``numpy.roll`` would pair the last column with the first).

    Parameters
    ----------
    image : numpy.ndarray
        ``(bands, y, x)`` float.
    valid : numpy.ndarray, optional
        ``(y, x)`` bool; default: where every band is finite.

    Returns
    -------
    sums, count : numpy.ndarray ``(bands, bands)``, int
        The sum of ``d d'`` over the pairs and their number (add them over tiles, divide once).
    """
    if valid is None:
        valid = np.isfinite(image).all(axis=0)
    k = image.shape[0]
    sums, count = np.zeros((k, k)), 0
    for left, right, ok in ((image[:, :, :-1], image[:, :, 1:], valid[:, :-1] & valid[:, 1:]),
                            (image[:, :-1, :], image[:, 1:, :], valid[:-1, :] & valid[1:, :])):
        d = (left[:, ok] - right[:, ok]).T
        sums += d.T @ d
        count += len(d)
    return sums, count


def maf_transform(sigma_delta: np.ndarray, sigma: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The MAF transform: eigenvectors of ``Sigma_Delta w = lambda Sigma w``, ascending ``lambda``.

    Maximum autocorrelation factors (Switzer & Green 1984): ``w_i' z`` with the smallest ratio of the variance
    of the neighbour differences to the variance, i.e. the largest autocorrelation ``1 - lambda_i / 2`` when
    ``Sigma`` is the covariance of ``z``. Normalised to ``w_i' Sigma w_i = 1``; signs make ``sum(Sigma w_i) > 0``.

    Parameters
    ----------
    sigma_delta : numpy.ndarray
        ``(k, k)`` covariance of the neighbour differences (:func:`spatial_difference_covariance`).
    sigma : numpy.ndarray, optional
        ``(k, k)`` covariance of the variates; default identity (variates already standardised and uncorrelated,
        as the standardised MAD variates are under no change).

    Returns
    -------
    w, ratio : numpy.ndarray
        ``(k, k)`` columns ``w_i`` and ``(k,)`` ascending ``lambda_i``.
    """
    from scipy.linalg import eigh

    sigma = np.eye(len(sigma_delta)) if sigma is None else sigma
    ratio, w = eigh((sigma_delta + sigma_delta.T) / 2, sigma)
    signs = np.sign((sigma @ w).sum(axis=0))
    signs[signs == 0] = 1
    return w * signs, ratio


class IMadMaf(ChangeMethod):
    """Iteratively re-weighted MAD, then MAF; score = chi-square statistic of the (first k) MAF variates."""

    name = "imadmaf"
    description = "iteratively re-weighted MAD (canonical correlation of the dates) then MAF; chi-square score"
    reference = ("Nielsen (2007) IEEE TIP 16(2):463-478; Nielsen, Conradsen & Simpson (1998) RSE 64:1-19; "
                 "Switzer & Green (1984)")
    chi2_score = True
    params = (threshold_param("chi2"),) + COMMON_PARAMS + (
        int_param("max_iterations", 50, 1, description="Re-weighting iterations at most (1: plain MAD)."),
        float_param("min_delta", 1e-3, 0, description="Stop when no canonical correlation changes by more than this."),
        float_param("regularisation", 0.0, 0, 1, high_open=True,
                    description="Ridge lambda: covariances shrunk to (1-lambda) S + lambda mean(diag S) I."),
        bool_param("maf", True, description="Rotate the MAD variates into maximum autocorrelation factors."),
        int_param("components", None, 1, allow_none=True,
                  description="MAF (or MAD) variates in the score, from the most autocorrelated; None: all."),
    )

    @property
    def dof(self) -> int:
        """Degrees of freedom of the chi-square score."""
        return self.components or self.n_bands

    def _fit_sample(self, pre, post):
        if self.components is not None and self.components > pre.shape[1]:
            raise InvalidInputError(f"The 'components' parameter of imadmaf is {self.components}, more than the "
                                    f"{pre.shape[1]} bands.")
        self.fit_ = imad(pre, post, max_iterations=self.max_iterations, min_delta=self.min_delta,
                         regularisation=self.regularisation)
        if not self.fit_.converged:
            log.warning("imadmaf: the canonical correlations did not converge within %d iterations (last change "
                        "above %g); raise -extra max_iterations.", self.max_iterations, self.min_delta)
        self.rotation = np.eye(pre.shape[1])
        self.maf_ratio = None

    def _fit_tiles(self, tiles):
        if not self.maf:
            return
        sums, count = 0.0, 0
        for pre, post in tiles():
            pre, post, valid = check_pair(pre, post)
            image = np.full(pre.shape, np.nan)
            image[:, valid] = mad_variates(self.fit_, pre[:, valid].T, post[:, valid].T).T
            s, c = spatial_difference_covariance(image, valid)
            sums, count = sums + s, count + c
        if count == 0:
            raise InvalidInputError("imadmaf: no two neighbouring pixels are valid in both dates; MAF needs them "
                                    "(set -extra maf=false).")
        self.rotation, self.maf_ratio = maf_transform(sums / count)

    def transform(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        """The standardised MAF (or, with ``maf=False``, MAD) variates ``(n, p)`` of pixels ``(n, p)``."""
        return _times(mad_variates(self.fit_, pre, post), self.rotation)

    def _score(self, pre, post):
        variates = self.transform(pre, post)
        if self.components is not None:
            variates = variates[:, :self.components]
        return (variates ** 2).sum(axis=1)

    def statistics(self):
        out = super().statistics()
        out.update(rho=self.fit_.rho.tolist(), iterations=self.fit_.iterations, converged=self.fit_.converged,
                   dof=self.dof)
        if self.maf_ratio is not None:  # variance of neighbour differences per unit of no-change variance
            out["maf_difference_ratio"] = self.maf_ratio.tolist()
        return out
