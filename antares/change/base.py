"""The change-method contract: declared parameters, one fit over the area, per-tile detection.

A change method compares two co-registered images of the same bands, ``pre`` and ``post``, each a stack
``(bands, y, x)`` of floats with NaN = nodata, and returns a change score per pixel and a change mask.
A pixel that is nodata in either date is neither change nor no change: its score is NaN and its mask
value :data:`NODATA` (255).

:meth:`ChangeMethod.fit` estimates the method's statistics once over the whole area, in one pass over the
tiles: it draws a uniform sample of at most ``max_samples`` valid pixels (each pixel's random key is a hash of
its row and column in the area and of ``seed``, so the same area gives the same sample however it is tiled),
lets the method gather statistics that need every pixel or pixel neighbourhoods (``_tile_statistics``, e.g.
the neighbour differences of MAF), fits the method on the sample (``_fit_sample``, then
``_fit_accumulated``), and fits the threshold on the sample's scores. :meth:`ChangeMethod.detect` then
applies that one transform and one threshold to any tile.

The pass is two halves that can run apart: :meth:`ChangeMethod.fit_part` where a tile is read (a dask worker:
the tile's sample candidates and per-tile statistics, a :class:`FitPart` of the sample's size) and
:meth:`ChangeMethod.fit_parts` where the parts arrive, in any order; :meth:`ChangeMethod.fit` runs them one
after the other and gives the same fit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable

import numpy as np

from antares.errors import InvalidInputError, UsageError
from antares.params import Param, any_of, check_params, float_param, int_param

log = logging.getLogger(__name__)

NODATA = 255  #: value of the change mask where either date is nodata
NO_CHANGE, CHANGE = 0, 1


def threshold_param(default) -> Param:
    """The ``threshold`` parameter: ``kapur``, ``otsu``, ``chi2`` or a number (the score above which a pixel changed)."""
    from antares.change.threshold import is_threshold

    return any_of("threshold", default, "threshold among 'kapur', 'otsu', 'chi2' or a finite number", is_threshold,
                  description="Threshold of the change score: kapur (maximum entropy), otsu, chi2 (p_value on the "
                              "chi-square statistic; imadmaf only) or a number.")


COMMON_PARAMS = (
    float_param("p_value", 0.01, 0, 1, low_open=True, high_open=True,
                description="Significance of the chi2 threshold: change where P(chi2 > Z) < p_value."),
    int_param("max_samples", 100_000, 1000, description="Pixels sampled (uniformly, fixed seed) over the whole "
              "area to fit the transform and the threshold once."),
    int_param("seed", 0, 0, description="Seed of the sample."),
)


def as_stack(image, what: str) -> np.ndarray:
    """``image`` as a float ``(bands, y, x)`` stack: an xarray Dataset of (y, x) variables or a 2-D/3-D array.

    float32 (and float16) stay float32, without a copy where possible; every other dtype becomes float64. The
    methods compute in float64 from there, so keeping float32 inputs costs no accuracy (float32 -> float64 is
    exact) and saves a full-size copy per tile.

    Raises
    ------
    antares.errors.InvalidInputError
        Not of that form.
    """
    import xarray as xr

    if isinstance(image, xr.Dataset):
        names = list(image.data_vars)
        if not names or any(image[n].ndim != 2 for n in names):
            raise InvalidInputError(f"{what} must be a Dataset of (y, x) variables. Got "
                                    f"{', '.join(f'{n}{image[n].dims}' for n in names) or 'no variable'}.")
        arrays = [np.asarray(image[n].values) for n in names]
        return np.stack([a.astype(_float(a.dtype), copy=False) for a in arrays])
    array = np.asarray(image)
    if array.dtype.kind not in "iuf" or array.ndim not in (2, 3):
        raise InvalidInputError(f"{what} must be a numeric array (bands, y, x). Got shape {array.shape}, "
                                f"dtype {array.dtype}.")
    array = array.astype(_float(array.dtype), copy=False)
    return array[np.newaxis] if array.ndim == 2 else array


def _float(dtype) -> type:
    return np.float32 if np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize <= 4 else np.float64


def check_pair(pre, post) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pre, post, valid)``: both stacks as float ``(bands, y, x)`` (see :func:`as_stack`) and the mask of
    pixels valid in both.

    Raises
    ------
    antares.errors.InvalidInputError
        Different shapes or band counts.
    """
    pre, post = as_stack(pre, "pre"), as_stack(post, "post")
    if pre.shape != post.shape:
        raise InvalidInputError(f"pre and post must have the same bands and pixels (bands, y, x). Got {pre.shape} "
                                f"and {post.shape}; load both on one GeoBox with the same measurements.")
    valid = np.isfinite(pre).all(axis=0)
    valid &= np.isfinite(post).all(axis=0)
    return pre, post, valid


def pixel_keys(rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """Uniform pseudo-random keys in ``[0, 1)`` of pixels at ``(rows, cols)``: a hash of the position and the seed.

    SplitMix64's finaliser (Steele, Lea & Flood 2014) of ``row * 2**32 + col`` offset by the seed: the key of a
    pixel does not depend on the tiles it was read in, so a sample of the pixels with the smallest keys is the
    same for any tiling of the area.

    Parameters
    ----------
    rows, cols : numpy.ndarray
        Integer positions (>= 0, < 2**32) of the pixels in the area, one shape.
    seed : int

    Returns
    -------
    numpy.ndarray
        float64 keys, the shape of ``rows``.
    """
    return _key_bits(rows, cols, seed).astype(np.float64) * 2.0 ** -53


def _key_bits(rows: np.ndarray, cols: np.ndarray, seed: int) -> np.ndarray:
    """The keys of :func:`pixel_keys` as the integers ``key * 2**53`` (uint64, exact; the same order); ``rows`` and
    ``cols`` broadcast (a column of rows and a row of columns give a tile's keys without a position per pixel).

    Hashed by blocks of about 2**16 values along the first axis, in place with one scratch block: the seven passes
    then stay in the CPU's cache (half the time of whole-tile passes on a 1024² tile)."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    out = np.empty(np.broadcast_shapes(rows.shape, cols.shape), np.uint64)
    if out.size == 0:
        return out
    flat = out.reshape(1, -1) if out.ndim < 2 else out
    rows, cols = np.broadcast_to(rows, out.shape).reshape(flat.shape), np.broadcast_to(cols, out.shape).reshape(flat.shape)
    step = max(1, (1 << 16) // max(1, flat[0].size))
    scratch = np.empty((min(step, len(flat)),) + flat.shape[1:], np.uint64)
    with np.errstate(over="ignore"):
        for i in range(0, len(flat), step):
            z, t = flat[i:i + step], scratch[:len(flat[i:i + step])]
            np.left_shift(rows[i:i + step], np.uint64(32), out=z, dtype=np.uint64, casting="unsafe")
            z |= cols[i:i + step].astype(np.uint64)
            z += np.uint64((0x9E3779B97F4A7C15 * (seed + 1)) % 2 ** 64)
            for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
                np.right_shift(z, np.uint64(shift), out=t)
                z ^= t
                z *= np.uint64(multiplier)
            np.right_shift(z, np.uint64(31), out=t)
            z ^= t
            z >>= np.uint64(11)
    return out


@dataclass
class FitPart:
    """What one tile contributes to a fit: made where the tile is read (a dask worker), merged where the fit ends.

    Picklable and of the size of the sample, not of the tile: a worker reads a tile, returns its part and
    keeps nothing (:meth:`ChangeMethod.fit_part`); :meth:`ChangeMethod.fit_parts` merges the parts in any order.

    Attributes
    ----------
    offset : (int, int) or None
        Position ``(row, col)`` of the tile's first pixel in the area.
    shape : (int, int)
        The tile's ``(y, x)``.
    n_bands : int
    valid : int
        Pixels of the tile valid in both dates.
    bits : numpy.ndarray
        uint64 ``(n,)``: the sample keys (:func:`pixel_keys` times ``2**53``, exact) of the tile's candidates, its
        valid pixels of smallest keys (at most ``max_samples``; below ``cut`` when one was given).
    pre, post : numpy.ndarray
        ``(n, bands)`` the candidates' values (the tile's dtype).
    statistics : object
        The method's per-tile statistics (:meth:`ChangeMethod._tile_statistics`; None for most methods).
    """

    offset: tuple | None
    shape: tuple
    n_bands: int
    valid: int
    bits: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    statistics: Any = None


def _candidates(pre, post, valid, offset, size, seed, cut_bits=None):
    """``(bits, pre, post)`` of the at most ``size`` valid pixels of a tile with the smallest keys (below
    ``cut_bits`` if given): the area's ``size`` smallest keys are among each tile's ``size`` smallest.

    Without a cut, the pixels below the key level that 1.25 ``size`` of the tile's pixels are expected under
    (keys are uniform) are taken first: if ``size`` of them are valid they hold the ``size`` smallest, and only
    they are partitioned; otherwise (a tile mostly nodata) every valid pixel is. The candidates' values are
    gathered in raster order (``numpy.take`` on the flat bands: several times faster than fancy indexing of
    ``(bands, y, x)``)."""
    height, width = valid.shape
    bits = _key_bits(np.arange(offset[0], offset[0] + height)[:, None],
                     np.arange(offset[1], offset[1] + width)[None, :], seed)  # (y, x), in integers
    if cut_bits is None and valid.size > size:
        level = np.uint64(min(2 ** 53, int(1.25 * size / valid.size * 2 ** 53) + 1))
        flat = np.flatnonzero(valid & (bits < level))
        if len(flat) < size:
            flat = np.flatnonzero(valid)
    else:
        flat = np.flatnonzero(valid if cut_bits is None else valid & (bits < cut_bits))
    bits = bits.ravel()[flat]
    if len(flat) > size:
        chosen = np.sort(np.argpartition(bits, size - 1)[:size])
        flat, bits = flat[chosen], bits[chosen]
    p = len(pre)
    return (bits, np.take(pre.reshape(p, -1), flat, axis=1).T, np.take(post.reshape(p, -1), flat, axis=1).T)


class _Sampler:
    """A uniform sample without replacement of at most ``size`` pixels over a stream of tiles (fixed seed).

    Every valid pixel gets the key :func:`pixel_keys` of its position in the area; the ``size`` smallest keys
    are kept, in the order of their keys (bounded memory: at most ``2 * size`` pixels are held). Tiles' candidates
    (:func:`_candidates`) are merged in any order: the result is the same set in the same order.
    """

    def __init__(self, size: int, seed: int):
        self.size, self.seed = size, seed
        self.bits = np.empty(0, np.uint64)
        self.pre = self.post = None
        self.total = 0
        self.cut = None  #: the largest key kept (uint64 bits) once ``size`` are held: later candidates above it are out

    def add(self, bits: np.ndarray, pre: np.ndarray, post: np.ndarray, valid: int) -> None:
        self.total += valid
        if self.cut is not None:  # candidates made without the cut (on a worker)
            below = bits < self.cut
            if not below.all():
                bits, pre, post = bits[below], pre[below], post[below]
        if self.pre is None:
            self.pre, self.post = pre[:0], post[:0]
        self.bits = np.concatenate([self.bits, bits])
        self.pre, self.post = np.concatenate([self.pre, pre]), np.concatenate([self.post, post])
        if len(self.bits) > 2 * self.size:
            self._prune()

    def _prune(self) -> None:
        if len(self.bits) > self.size:
            keep = np.argpartition(self.bits, self.size - 1)[:self.size]
            self.bits, self.pre, self.post = self.bits[keep], self.pre[keep], self.post[keep]
            self.cut = self.bits.max()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        self._prune()
        if self.pre is None:
            return None, None
        order = np.argsort(self.bits, kind="stable")
        return self.pre[order], self.post[order]


class ChangeMethod:
    """Base class of all change methods: parameters, the fit over the area and per-tile detection.

    Subclasses set :attr:`name`, :attr:`description`, :attr:`reference`, :attr:`params` (usually
    ``(threshold_param(...), ...) + COMMON_PARAMS``) and implement ``_fit_sample(pre, post)`` on pixel arrays
    ``(n, bands)`` and ``_score(pre, post)`` on pixel arrays, returning ``(n,)`` float64 scores; optionally
    ``_tile_statistics``/``_fit_accumulated`` for statistics that need every pixel or neighbourhoods,
    ``_score_tile`` for a faster (or neighbourhood) score of a whole tile,
    and ``dof`` (degrees of freedom of a chi-square score) if ``threshold='chi2'`` applies.

    Parameters
    ----------
    **params
        Values of the declared parameters; the others take their defaults.

    Raises
    ------
    antares.errors.UsageError
        Unknown parameter or a value outside its constraint.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    chi2_score: ClassVar[bool] = False  #: whether the score is a chi-square statistic (threshold='chi2' applies)

    def __init__(self, **params):
        for key, value in check_params(self.params, params, self.name).items():
            setattr(self, key, value)
        if getattr(self, "threshold", None) == "chi2" and not self.chi2_score:
            raise UsageError(f"The 'threshold' parameter of {self.name} cannot be 'chi2': its score is not a "
                             "chi-square statistic. Use kapur, otsu or a number.")
        self.threshold_value: float | None = None
        self.n_bands: int | None = None
        self.n_valid = 0

    def get_params(self) -> dict[str, Any]:
        """The parameter values by name (what a run records)."""
        return {p.name: getattr(self, p.name) for p in self.params}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    # ------------------------------------------------------------------ fitting

    def fit(self, tiles: Callable[[], Iterable[tuple]]) -> "ChangeMethod":
        """Fit the method's statistics and the threshold once over the whole area, in one pass over the tiles.

        Parameters
        ----------
        tiles : callable
            ``tiles()`` returns an iterable of ``(pre, post)`` or ``(pre, post, (row, col))`` tuples, one per
            tile of the area (each image a Dataset of (y, x) variables or an array ``(bands, y, x)``, NaN =
            nodata; ``(row, col)`` the position of the tile's first pixel in the area). Tiles must not overlap.
            With positions, the sample and the statistics (MAF's neighbour differences across tile edges
            included) are those of the untiled area; without them, tiles are taken as stacked one below the
            other and neighbours across their edges are not paired. It is called once.

        Returns
        -------
        self

        Raises
        ------
        antares.errors.InvalidInputError
            Tiles of different band counts, fewer valid pixels than bands + 1, or data on which the method
            is undefined (e.g. a constant band).
        """
        sampler = _Sampler(self.max_samples, self.seed)

        def parts():
            next_row = 0
            for item in tiles():
                offset = tuple(int(v) for v in item[2]) if len(item) > 2 and item[2] is not None else None
                part = self.fit_part(item[0], item[1], offset, cut=sampler.cut, first_row=next_row)
                next_row += part.shape[0]
                yield part

        return self._fit_parts(parts(), sampler)

    def fit_part(self, pre, post, offset: tuple[int, int] | None = None, *, cut=None, first_row: int = 0) -> FitPart:
        """What one tile contributes to the fit (the per-tile half of :meth:`fit`, run where the tile is read).

        Parameters
        ----------
        pre, post : xarray.Dataset or numpy.ndarray
            The tile of both dates (see :meth:`fit`).
        offset : (int, int), optional
            Position ``(row, col)`` of the tile's first pixel in the area; None: the tile is taken as starting
            at row ``first_row``, column 0, and its edges are not paired with other tiles'.
        cut : numpy.uint64, optional
            Only candidates below this key (the sample's cut so far, when the fit runs tile after tile).
        first_row : int

        Returns
        -------
        FitPart
            The tile's sample candidates (at most ``max_samples`` pixels) and the method's per-tile statistics:
            no more than the sample and a few edge rows, whatever the tile's size.

        Raises
        ------
        antares.errors.InvalidInputError
            pre and post of different shapes.
        """
        pre, post, valid = check_pair(pre, post)
        at = offset if offset is not None else (first_row, 0)
        bits, x, y = _candidates(pre, post, valid, at, self.max_samples, self.seed, cut)
        return FitPart(offset, valid.shape, pre.shape[0], int(np.count_nonzero(valid)), bits, x, y,
                       self._tile_statistics(pre, post, valid, offset))

    def fit_parts(self, parts: Iterable[FitPart]) -> "ChangeMethod":
        """Fit from the tiles' :class:`FitPart` (made by :meth:`fit_part` on workers), merged in any order.

        Gives the fit of :meth:`fit` over the same tiles: the same sample in the same order, the per-tile
        statistics summed in the order of the tiles' positions. Holds at most twice the sample plus what
        the method keeps per tile (MAF: the tiles' edge rows and columns).

        Returns
        -------
        self

        Raises
        ------
        antares.errors.InvalidInputError
            As :meth:`fit`.
        """
        return self._fit_parts(parts, _Sampler(self.max_samples, self.seed))

    def _fit_parts(self, parts: Iterable[FitPart], sampler: "_Sampler") -> "ChangeMethod":
        self.n_bands, self.threshold_value = None, None
        statistics = []
        for part in parts:
            if self.n_bands is None:
                self.n_bands = part.n_bands
            elif part.n_bands != self.n_bands:
                raise InvalidInputError(f"every tile must have {self.n_bands} bands. Got {part.n_bands}.")
            sampler.add(part.bits, part.pre, part.post, part.valid)
            if part.statistics is not None:
                statistics.append((part.offset, part.statistics))
        x, y = sampler.result()
        self.n_valid = sampler.total
        if x is None or len(x) <= (self.n_bands or 0):
            raise InvalidInputError(f"{self.name}: {0 if x is None else len(x)} pixels are valid in both dates; "
                                    f"at least {(self.n_bands or 0) + 1} are needed. Check that pre and post overlap.")
        self._fit_sample(x, y)
        self._fit_accumulated(statistics)
        self.threshold_value = self._fit_threshold(self._score(x, y))
        log.info("%s: fitted on %d of %d valid pixels, threshold %.6g", self.name, len(x), self.n_valid,
                 self.threshold_value)
        return self

    def _fit_threshold(self, scores: np.ndarray) -> float:
        from antares.change import threshold as th

        if self.threshold == "kapur":
            return th.kapur(scores)
        if self.threshold == "otsu":
            return th.otsu(scores)
        if self.threshold == "chi2":
            return th.chi2_threshold(self.p_value, self.dof)
        return float(self.threshold)

    def _fit_sample(self, pre: np.ndarray, post: np.ndarray) -> None:
        raise NotImplementedError

    def _tile_statistics(self, pre: np.ndarray, post: np.ndarray, valid: np.ndarray, offset):
        """Statistics of one tile ``(bands, y, x)`` at ``offset`` (``(row, col)`` or None) that need every pixel
        or pixel neighbourhoods, gathered where the tile is read, before the sample is known (None by default)."""
        return None

    def _fit_accumulated(self, statistics: list) -> None:
        """Finish the fit from the tiles' ``(offset, statistics)`` (:meth:`_tile_statistics`, in the order the tiles
        arrived), after ``_fit_sample`` (nothing by default)."""

    def _score(self, pre: np.ndarray, post: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------ applying

    def score(self, pre, post) -> np.ndarray:
        """The change score of each pixel: float32 ``(y, x)``, NaN where either date is nodata.

        Raises
        ------
        antares.errors.InvalidInputError
            Not fitted, or another band count than the fit.
        """
        if self.threshold_value is None:
            raise InvalidInputError(f"{self.name}: call fit() over the area before scoring a tile.")
        pre, post, valid = check_pair(pre, post)
        if pre.shape[0] != self.n_bands:
            raise InvalidInputError(f"{self.name} was fitted on {self.n_bands} bands; this tile has {pre.shape[0]}.")
        return self._score_tile(pre, post, valid)

    def _score_tile(self, pre: np.ndarray, post: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """float32 ``(y, x)`` scores of a tile, NaN where not ``valid`` (by default ``_score`` of the valid pixels)."""
        out = np.full(valid.shape, np.nan, dtype=np.float32)
        if valid.any():
            out[valid] = self._score(pre[:, valid].T, post[:, valid].T)
        return out

    def detect(self, pre, post) -> tuple[np.ndarray, np.ndarray]:
        """``(score, change)`` of one tile with the fitted transform and threshold.

        Returns
        -------
        score : numpy.ndarray
            float32 ``(y, x)``, NaN where either date is nodata.
        change : numpy.ndarray
            uint8 ``(y, x)``: 1 change (``score > threshold``), 0 no change, 255 nodata in either date.
        """
        score = self.score(pre, post)
        change = np.greater(score, self.threshold_value).view(np.uint8)  # NaN > t is False; CHANGE is 1
        change[np.isnan(score)] = NODATA
        return score, change

    def statistics(self) -> dict[str, Any]:
        """The fitted statistics, JSON-serialisable (recorded with the run)."""
        return {"threshold": self.threshold_value, "valid_pixels": self.n_valid}


__all__ = ["ChangeMethod", "FitPart", "COMMON_PARAMS", "NODATA", "CHANGE", "NO_CHANGE", "threshold_param", "check_pair",
           "as_stack", "pixel_keys"]
