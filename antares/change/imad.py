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

import functools
import logging
from dataclasses import dataclass

import numpy as np

from antares.change.base import COMMON_PARAMS, ChangeMethod, threshold_param
from antares.errors import InvalidInputError
from antares.params import bool_param, float_param, int_param

log = logging.getLogger(__name__)

__all__ = ["IMad", "imad", "mad_variates", "spatial_difference_covariance", "maf_transform", "IMadMaf", "one_blas_thread"]


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


@functools.lru_cache(maxsize=1)
def _blas():
    """threadpoolctl's controller of the loaded BLAS libraries (made once: it scans the loaded libraries)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread():
    """A context manager limiting BLAS to one thread.

    The products of this module have a small inner or outer dimension (``2p`` bands by ``n`` pixels):
    memory-bound, they gain nothing from BLAS's threads, whose synchronisation costs more than the product
    (measured on a 1024² tile of 6 bands, 2 cores shared with other jobs: scoring 33 ms of CPU with one thread
    against 97 ms with two, and a third of the wall time). Parallelism comes from the tiles (dask workers).
    """
    return _blas().limit(limits=1, user_api="blas")


def _shrink(cov: np.ndarray, lam: float) -> np.ndarray:
    if lam == 0:
        return cov
    return (1 - lam) * cov + lam * np.mean(np.diag(cov)) * np.eye(len(cov))


def _cca(stack, w, lam):
    """One weighted canonical correlation analysis of ``stack = [pre; post]`` ``(2p, n)``: the centred stack, the
    means, a, b, rho (increasing). One weighted covariance ``(2p, 2p)`` of the stack gives ``S_xx``, ``S_yy`` and
    ``S_xy`` together (products on the wide ``(2p, n)`` layout, which BLAS does fastest)."""
    from scipy.linalg import LinAlgError, eigh, solve

    p = len(stack) // 2
    wsum = w.sum()
    mean = stack @ w / wsum
    centred = stack - mean[:, None]
    cov = (centred * w) @ centred.T / wsum
    mx, my = mean[:p], mean[p:]
    sxx, syy, sxy = _shrink(cov[:p, :p], lam), _shrink(cov[p:, p:], lam), cov[:p, p:]
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
    return centred, mx, my, a, b, rho


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
    pre, post = np.asarray(pre, np.float64), np.asarray(post, np.float64)
    if pre.ndim != 2 or pre.shape != post.shape:
        raise InvalidInputError(f"imad: pre and post must be pixels (n, bands) of one shape. Got {pre.shape} and "
                                f"{post.shape}.")
    n, p = pre.shape
    if n <= p:
        raise InvalidInputError(f"imad: {n} pixels for {p} bands; at least {p + 1} valid pixels are needed.")
    stack = np.concatenate([pre.T, post.T])  # (2p, n): the layout of the products below
    with one_blas_thread():
        return _imad(stack, max_iterations, min_delta, regularisation)


def _imad(stack, max_iterations, min_delta, regularisation) -> IMad:
    from scipy.special import chdtrc  # the chi-square survival function in closed form (no scipy.stats import)

    p, n = len(stack) // 2, stack.shape[1]
    w = np.ones(n)
    previous = None
    converged = False
    for iteration in range(1, max_iterations + 1):
        centred, mx, my, a, b, rho = _cca(stack, w, regularisation)
        sigma = np.sqrt(2 * (1 - rho))
        mad = (np.concatenate([a, -b]) / sigma).T @ centred  # standardised MAD variates (p, n)
        z = np.einsum("pn,pn->n", mad, mad)
        w = chdtrc(p, z)
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


#: pixels per block of rows in the tile loops: the neighbour differences of a block (2p float64 values per pair,
#: 3 MB for 6 bands) and a block's scores stay in the CPU's cache between the subtraction and the product
#: (measured on a 1024² x 6 tile, process CPU: neighbour sums 64-72 ms at 2**14 against 79-92 ms at 2**18,
#: scoring 20-25 ms at 2**15 against 30-37 ms at 2**18)
_PAIR_BLOCK, _SCORE_BLOCK = 1 << 14, 1 << 15


def _add_pairs(pairs: list, pre: np.ndarray, post: np.ndarray, valid: np.ndarray) -> None:
    """Add to ``pairs = [sums, count]`` the horizontal and vertical neighbour pairs of the stacked dates
    ``[pre; post]`` ``(2p, y, x)`` inside a tile, pairs of two ``valid`` pixels only, by blocks of rows.

    The differences are taken straight into a float64 buffer (``numpy.subtract(..., dtype=float64)``: exact
    for float32 input, without a float64 copy of the tile or a stacked copy of the dates), pairs with an
    invalid pixel set to 0, and ``d d'`` summed by one product per block.
    """
    p, height, width = pre.shape
    step = max(1, _PAIR_BLOCK // max(width, 1))
    buffer = np.empty((2 * p, step * width))
    for r0 in range(0, height, step):
        r1 = min(r0 + step, height)
        last = min(r1, height - 1)  # vertical pairs (r, r + 1) for r0 <= r < last
        for left, right, ok in (((slice(r0, r1), slice(0, -1)), (slice(r0, r1), slice(1, None)),
                                 valid[r0:r1, :-1] & valid[r0:r1, 1:]),
                                ((slice(r0, last), slice(None)), (slice(r0 + 1, last + 1), slice(None)),
                                 valid[r0:last] & valid[r0 + 1:last + 1])):
            if ok.size:
                d = buffer[:, :ok.size]
                np.subtract(pre[(slice(None),) + left], pre[(slice(None),) + right], dtype=np.float64,
                            out=d[:p].reshape((p,) + ok.shape))
                np.subtract(post[(slice(None),) + left], post[(slice(None),) + right], dtype=np.float64,
                            out=d[p:].reshape((p,) + ok.shape))
                _sum_valid(pairs, d, ok.ravel())


def _sum_valid(pairs: list, d: np.ndarray, ok: np.ndarray) -> None:
    """Add ``sum d d'`` over the columns ``ok`` of ``d`` ``(k, n)`` float64 (overwritten) and their count."""
    count = int(np.count_nonzero(ok))
    if count < len(ok):
        d[:, ~ok] = 0.0
    pairs[0] += d @ d.T
    pairs[1] += count


def _pair_sums(pairs: list, left: np.ndarray, right: np.ndarray) -> None:
    """Add ``sum d d'`` and the count of the pairs ``d = left - right`` of which both pixels are valid; an invalid
    pixel is NaN in every band (as :meth:`IMadMaf._tile_statistics` keeps the edges), so band 0 tells validity."""
    d = np.subtract(left, right, dtype=np.float64).reshape(len(left), -1)
    _sum_valid(pairs, d, ~np.isnan(d[0]))


def _add_edge_pairs(pairs: list, edges: list) -> None:
    """Add the neighbour pairs across the edges of tiles ``(offset, shape, top, bottom, left, right)``."""
    by_top, by_left = {}, {}
    for (r0, c0), (h, w), top, _, left, _ in edges:
        by_top.setdefault(r0, []).append((c0, top))
        by_left.setdefault(c0, []).append((r0, left))
    for (r0, c0), (h, w), _, bottom, _, right in edges:
        for other, top in by_top.get(r0 + h, ()):  # the row below this tile's last row
            a, b = max(c0, other), min(c0 + w, other + top.shape[1])
            if a < b:
                _pair_sums(pairs, bottom[:, a - c0:b - c0], top[:, a - other:b - other])
        for other, first in by_left.get(c0 + w, ()):  # the column right of this tile's last column
            a, b = max(r0, other), min(r0 + h, other + first.shape[1])
            if a < b:
                _pair_sums(pairs, right[:, a - r0:b - r0], first[:, a - other:b - other])


def _edge(pre, post, valid, index) -> np.ndarray:
    """An edge row or column ``index`` of the stacked dates ``(2p, n)``, NaN in every band where a pixel is not
    valid in both dates (a pixel valid in one date only pairs with nothing)."""
    edge = np.concatenate([pre[index], post[index]])
    edge[:, ~valid[index[1:]]] = np.nan
    return edge


def _score_blocks(pre, post, valid, out, weights, mean_t, shift) -> None:
    """Write into ``out`` the scores ``|W (z - mean_t) - shift|^2`` of a tile, by blocks of rows, in the dtype of
    ``weights`` ``(k, 2p)``; NaN where not ``valid``."""
    dtype, (p, height, width) = weights.dtype, pre.shape
    step = max(1, _SCORE_BLOCK // max(width, 1))
    for r0 in range(0, height, step):
        rows = slice(r0, min(r0 + step, height))
        x = np.subtract(pre[:, rows].reshape(p, -1), mean_t[:p, None], dtype=dtype)
        y = np.subtract(post[:, rows].reshape(p, -1), mean_t[p:, None], dtype=dtype)
        variates = weights[:, :p] @ x
        variates += weights[:, p:] @ y
        variates -= shift
        score = np.einsum("kn,kn->n", variates, variates).reshape(-1, width)
        out[rows] = np.where(valid[rows], score, np.nan)


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

    def _tile_statistics(self, pre, post, valid, offset):
        """Neighbour differences of the stacked dates ``[pre; post]`` ``(2p, y, x)`` of one tile, in the fitting pass.

        The MAD variates are linear in the pixels, so the differences of standardised MADs between neighbours are
        ``C' d`` with ``C = [a / sigma; -b / sigma]`` and ``d`` the differences of the stacked dates (the means
        cancel): ``Sigma_Delta(MAD) = C' Sigma_Delta([pre; post]) C``. Summing the ``(2p, 2p)`` products here
        spares the second pass over the tiles that a MAD image would need. With a position, the tile's edge rows
        and columns come along, to pair them with the neighbouring tiles' in :meth:`_fit_accumulated`.

        Returns
        -------
        (sums, count, edges) or None
            ``sum d d'`` float64 ``(2p, 2p)`` over the tile's valid pairs, their number, and ``(offset, shape, top,
            bottom, left, right)`` or None; None with ``maf=False``.
        """
        if not self.maf:
            return None
        pairs = [np.zeros((2 * len(pre),) * 2), 0]
        with one_blas_thread():
            _add_pairs(pairs, pre, post, valid)
        edges = None
        if offset is not None:
            edges = (offset, valid.shape, _edge(pre, post, valid, np.s_[:, 0]), _edge(pre, post, valid, np.s_[:, -1]),
                     _edge(pre, post, valid, np.s_[:, :, 0]), _edge(pre, post, valid, np.s_[:, :, -1]))
        return pairs[0], pairs[1], edges

    def _fit_accumulated(self, statistics):
        """The MAF rotation from the tiles' neighbour sums, added in the order of the tiles' positions (tiles
        without one in their order of arrival), so that the fit does not depend on the order tiles finish in."""
        if not self.maf:
            return
        ordered = sorted(statistics, key=lambda item: (item[0] is None, item[0] or (0, 0)))
        pairs = [np.zeros((2 * self.n_bands,) * 2), 0]
        for _, (sums, count, _edges) in ordered:
            pairs[0] += sums
            pairs[1] += count
        _add_edge_pairs(pairs, [item[1][2] for item in ordered if item[1][2] is not None])
        if pairs[1] == 0:
            raise InvalidInputError("imadmaf: no two neighbouring pixels are valid in both dates; MAF needs them "
                                    "(set -extra maf=false).")
        mix = np.concatenate([self.fit_.a, -self.fit_.b]) / self.fit_.sigma
        self.rotation, self.maf_ratio = maf_transform(mix.T @ (pairs[0] / pairs[1]) @ mix)

    def transform(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        """The standardised MAF (or, with ``maf=False``, MAD) variates ``(n, p)`` of pixels ``(n, p)``."""
        return _times(mad_variates(self.fit_, pre, post), self.rotation)

    def _score_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """``(M, c)``: the score's variates are ``M' [x; y] - c`` for a pixel's stacked bands ``[x; y]`` ``(2p,)``.

        ``M = [a; -b] diag(1 / sigma) R_k`` ``(2p, k)`` with ``R_k`` the first ``k`` columns of the MAF rotation,
        ``c = M' [mean_pre; mean_post]``: one small product per pixel instead of centring, two products, a
        division and a rotation.
        """
        fit = self.fit_
        rotation = self.rotation if self.components is None else self.rotation[:, :self.components]
        matrix = (np.concatenate([fit.a, -fit.b]) / fit.sigma) @ rotation
        return matrix, matrix.T @ np.concatenate([fit.mean_pre, fit.mean_post])

    def _score(self, pre, post):
        matrix, centre = self._score_matrix()
        p = pre.shape[1]
        variates = _times(np.asarray(pre, np.float64), matrix[:p]) + _times(np.asarray(post, np.float64), matrix[p:])
        return ((variates - centre) ** 2).sum(axis=1)

    def _score_tile(self, pre, post, valid):
        """Scores of a tile by blocks of rows, a block at a time in memory.

        float64 input: float64 arithmetic. float32 input: float32 arithmetic on the pixels centred on float32
        means (a subtraction whose rounding is relative to the small centred value), the difference between the
        float32 and the float64 means corrected once per tile in float64; the score then differs from the
        float64 one by about 1e-6 relative (1e-4 at most in the tests, ``test_change_methods``), far below the
        sampling error of the fitted transform, at a fraction of the cost of float64 products.
        """
        matrix, centre = self._score_matrix()
        fit = self.fit_
        mean = np.concatenate([fit.mean_pre, fit.mean_post])
        single = pre.dtype == np.float32 and post.dtype == np.float32
        dtype = np.float32 if single else np.float64
        mean_t = mean.astype(dtype)
        # M' (z - mean) = M' (z - mean_t) - M' (mean - mean_t)
        shift = (matrix.T @ (mean - mean_t.astype(np.float64))).astype(dtype)[:, None]
        weights = matrix.T.astype(dtype)
        out = np.full(valid.shape, np.nan, dtype=np.float32)
        with one_blas_thread():
            _score_blocks(pre, post, valid, out, weights, mean_t, shift)
        return out

    def statistics(self):
        out = super().statistics()
        out.update(rho=self.fit_.rho.tolist(), iterations=self.fit_.iterations, converged=self.fit_.converged,
                   dof=self.dof)
        if self.maf_ratio is not None:  # variance of neighbour differences per unit of no-change variance
            out["maf_difference_ratio"] = self.maf_ratio.tolist()
        return out
