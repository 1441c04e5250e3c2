"""Map accuracy: confusion matrix, overall / user's / producer's accuracy, kappa, F1, and the
area-adjusted (stratified) estimator of Olofsson et al. (2014). Pure functions, no database.

Conventions, as Olofsson et al. and Congalton & Green print them: the confusion (error)
matrix has ROWS = MAP class and COLUMNS = REFERENCE class, in the order of the ``codes``
given; user's accuracy = diagonal / row total, producer's accuracy = diagonal / column total.
A ratio with a zero denominator (a class without samples) is NaN; ``to_dict()`` gives None.

Sources: Olofsson, P., Foody, G. M., Herold, M., Stehman, S. V., Woodcock, C. E., Wulder, M. A.
(2014), Good practices for estimating area and assessing accuracy of land change, Remote
Sensing of Environment 148, 42-57, doi:10.1016/j.rse.2014.02.015. Congalton, R. G., Green, K.
(2019), Assessing the Accuracy of Remotely Sensed Data, 3rd ed., CRC Press.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from numbers import Real
from pathlib import Path

import numpy as np

from antares.errors import InvalidInputError

def _jsonable(value):
    """``value`` with numpy types as Python ones and NaN / inf as None."""
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _readonly(a) -> np.ndarray:
    """A read-only float64 copy."""
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


class _Result:
    def to_dict(self) -> dict:
        """The fields as a JSON-serialisable dict (arrays as lists, NaN as None)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, eq=False)
class AccuracyReport(_Result):
    """The result of :func:`assess`. Arrays are read-only float64.

    Attributes
    ----------
    codes : tuple of int, length k
        Class codes, in matrix order.
    matrix : numpy.ndarray, shape (k, k)
        Confusion matrix, ``matrix[i, j]`` = number (or total weight) of samples mapped as
        ``codes[i]`` whose reference class is ``codes[j]`` (rows = map, columns = reference).
    overall_accuracy, kappa : float
        Share of (weighted) samples on the diagonal; Cohen's kappa (NaN where undefined, e.g.
        one class only).
    users_accuracy, producers_accuracy, f1 : numpy.ndarray, shape (k,)
        Per class: diagonal / row total, diagonal / column total, and
        F1 = 2 n_ii / (n_i+ + n_+i) (0 for a class mapped but never in the reference).
        NaN where the class has no samples.
    macro_f1 : float
        Mean F1 over the classes with samples.
    n, total_weight, weighted : int, float, bool
        Number of (reference, map) pairs; sum of the weights (``n`` when unweighted);
        whether ``weights`` were given (the matrix then holds weights, e.g. m²).
    """

    codes: tuple[int, ...]
    matrix: np.ndarray
    overall_accuracy: float
    kappa: float
    users_accuracy: np.ndarray
    producers_accuracy: np.ndarray
    f1: np.ndarray
    macro_f1: float
    n: int
    total_weight: float
    weighted: bool


@dataclass(frozen=True, eq=False)
class AreaEstimate(_Result):
    """The result of :func:`area_adjusted`. Arrays are read-only float64, shape (k,) unless noted.

    Attributes
    ----------
    codes : tuple of int
        Class codes (strata = map classes), in matrix order.
    counts, proportions : numpy.ndarray, shape (k, k)
        The sample counts given and the estimated area proportions p_ij = W_i n_ij / n_i+
        (eq. 4; they sum to 1), rows = map, columns = reference.
    mapped_area, total_area, map_proportion : numpy.ndarray, float, numpy.ndarray
        Mapped area per class (in ``unit``), its sum A, and W_i = mapped_area / A.
    area_proportion : numpy.ndarray
        p_+j, the estimated share of the area whose reference class is j (eq. 9).
    area, area_se, area_ci : numpy.ndarray
        Estimated area per reference class A p_+j (unit of ``mapped_area``), its standard
        error (eqs. 10-11) and the confidence-interval half-width z x SE (eq. 12).
    overall_accuracy, overall_accuracy_se, overall_accuracy_ci : float
        Area-weighted overall accuracy (eq. 1), its SE (eq. 5) and CI half-width.
    users_accuracy, users_accuracy_se, users_accuracy_ci : numpy.ndarray
        User's accuracy n_ii / n_i+ (eq. 2), SE (eq. 6), CI half-width.
    producers_accuracy, producers_accuracy_se, producers_accuracy_ci : numpy.ndarray
        Area-weighted producer's accuracy p_jj / p_+j (eq. 3), SE (eq. 7), CI half-width.
    n, z, unit : int, float, str or None
        Number of samples; normal quantile of the intervals (1.96: 95 %); area unit name.
    """

    codes: tuple[int, ...]
    counts: np.ndarray
    mapped_area: np.ndarray
    total_area: float
    map_proportion: np.ndarray
    proportions: np.ndarray
    area_proportion: np.ndarray
    area: np.ndarray
    area_se: np.ndarray
    area_ci: np.ndarray
    overall_accuracy: float
    overall_accuracy_se: float
    overall_accuracy_ci: float
    users_accuracy: np.ndarray
    users_accuracy_se: np.ndarray
    users_accuracy_ci: np.ndarray
    producers_accuracy: np.ndarray
    producers_accuracy_se: np.ndarray
    producers_accuracy_ci: np.ndarray
    n: int
    z: float
    unit: str | None = None


def _list(values, limit: int = 10) -> str:
    values = [str(v) for v in values]
    return ", ".join(values[:limit]) + (f" ... ({len(values)} in all)" if len(values) > limit else "")


def _check_codes(codes, func: str) -> tuple[int, ...]:
    arr = np.asarray(codes)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise InvalidInputError(f"The 'codes' parameter of {func} must be a non-empty list of ints. Got {codes!r}.")
    unique, counts = np.unique(arr, return_counts=True)
    if np.any(counts > 1):
        twice = _list(unique[counts > 1])
        raise InvalidInputError(f"The 'codes' parameter of {func} must not repeat a code. Got {twice} twice.")
    return tuple(int(c) for c in arr)


def _check_labels(values, name: str, codes: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(f"The '{name}' parameter of assess must be a 1-D array. Got shape {arr.shape}.")
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise InvalidInputError(f"The '{name}' parameter of assess must hold integer codes. Got dtype {arr.dtype}.")
    unknown = np.setdiff1d(np.unique(arr), np.asarray(codes))
    if unknown.size:
        raise InvalidInputError(
            f"The '{name}' parameter of assess holds class codes not in 'codes': {_list(unknown)}. "
            f"Valid codes: {_list(codes, 30)}. Add them to the legend or drop those samples."
        )
    return arr.astype(np.int64, copy=False)


def assess(reference, mapped, codes, weights=None) -> AccuracyReport:
    """Confusion matrix and accuracy measures of a map against reference samples.

    Wraps :mod:`sklearn.metrics` (``confusion_matrix``, ``accuracy_score``, ``cohen_kappa_score``,
    ``f1_score``, with ``sample_weight``); the matrix is turned to rows = map, columns = reference.
    For a simple random (or unweighted) sample; for a stratified one see :func:`area_adjusted`.

    Parameters
    ----------
    reference, mapped : array_like of int, shape (n,)
        Reference class and map class of each sample (float arrays holding whole numbers
        are accepted).
    codes : sequence of int, length k
        All class codes, in the order of the matrix; every code in ``reference`` and
        ``mapped`` must be one of them. Codes without samples give NaN ratios.
    weights : array_like of float, shape (n,), optional
        Non-negative weight of each pair, e.g. the area of overlap in m² of a reference
        polygon with a map segment; the matrix then holds summed weights.

    Returns
    -------
    AccuracyReport

    Raises
    ------
    InvalidInputError
        Empty input, arrays not 1-D or of different lengths, non-integer codes, codes not in
        ``codes``, duplicate ``codes``, negative / non-finite weights or weights summing to 0.

    Examples
    --------
    >>> r = assess([1, 1, 2, 2], [1, 2, 2, 2], codes=[1, 2])
    >>> r.matrix.tolist()   # rows = map: one sample of reference class 1 is mapped as 2
    [[1.0, 0.0], [1.0, 2.0]]
    >>> float(r.overall_accuracy), r.users_accuracy.tolist(), r.producers_accuracy.tolist()
    (0.75, [1.0, 0.6666666666666666], [0.5, 1.0])
    """
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

    codes = _check_codes(codes, "assess")
    ref = _check_labels(reference, "reference", codes)
    mp = _check_labels(mapped, "mapped", codes)
    if ref.size != mp.size:
        raise InvalidInputError(f"'reference' and 'mapped' of assess must be as long. Got {ref.size} and {mp.size}.")
    if ref.size == 0:
        raise InvalidInputError("assess needs at least one (reference, mapped) pair. Got empty arrays.")
    w = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != ref.shape:
            raise InvalidInputError(
                f"The 'weights' parameter of assess must have shape ({ref.size},) like 'reference'. Got {w.shape}."
            )
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            i = bad[0]
            raise InvalidInputError(f"The 'weights' parameter of assess must be finite and >= 0. Got {w[i]} at {i}.")
        if w.sum() <= 0:
            raise InvalidInputError("The 'weights' parameter of assess must not sum to 0. Got all zeros.")
    labels = list(codes)
    # sklearn's matrix has rows = y_true (reference); transpose to rows = map.
    matrix = confusion_matrix(ref, mp, labels=labels, sample_weight=w).T.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        kappa = float(cohen_kappa_score(ref, mp, labels=labels, sample_weight=w))
    f1_kw = dict(labels=labels, sample_weight=w, zero_division=np.nan)
    diag = np.diag(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        users, producers = diag / matrix.sum(axis=1), diag / matrix.sum(axis=0)
    return AccuracyReport(
        codes=codes, matrix=_readonly(matrix), overall_accuracy=float(accuracy_score(ref, mp, sample_weight=w)),
        kappa=kappa, users_accuracy=_readonly(users), producers_accuracy=_readonly(producers),
        f1=_readonly(f1_score(ref, mp, average=None, **f1_kw)),
        macro_f1=float(f1_score(ref, mp, average="macro", **f1_kw)),
        n=int(ref.size), total_weight=float(ref.size if w is None else w.sum()), weighted=w is not None,
    )


def area_adjusted(matrix_counts, mapped_area, codes, z: float = 1.96, *, unit: str | None = None) -> AreaEstimate:
    """Area and accuracy estimates with confidence intervals from a stratified random sample.

    The stratified estimator of Olofsson et al. (2014, sections 4.2-5 and the numerical
    example of Tables 8-9; equation numbers refer to that paper), with the map classes as
    strata: p_ij = W_i n_ij / n_i+ (eq. 4); area of reference class j = A p_+j; standard error
    of p_+j = sqrt(sum_i (W_i p_ij - p_ij²) / (n_i+ - 1)) (eq. 10); variances of overall,
    user's and producer's accuracy from eqs. 5-7.

    Parameters
    ----------
    matrix_counts : array_like of int, shape (k, k)
        SAMPLE COUNTS, rows = map class (stratum), columns = reference class, e.g. the
        ``matrix`` of an unweighted :func:`assess`.
    mapped_area : array_like of float, shape (k,)
        Mapped area of each class in any unit (pixels, ha, m²), which the estimated areas
        keep. A class with area needs samples (two or more for a standard error).
    codes : sequence of int, length k
        Class codes, in matrix order.
    z : float, default 1.96
        Normal quantile of the confidence intervals (1.96: 95 %, 1.645: 90 %).
    unit : str, optional
        Name of the area unit (e.g. ``"ha"``), kept for reports.

    Returns
    -------
    AreaEstimate
        Strata with exactly one sample make the standard errors that involve them NaN.

    Raises
    ------
    InvalidInputError
        Matrix not k x k or not made of non-negative whole numbers, ``mapped_area`` of the
        wrong length, negative or summing to 0, a map class with area but no samples, z <= 0.

    Examples
    --------
    >>> e = area_adjusted([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]],
    ...                   [18000, 13500, 288000, 580500], codes=[1, 2, 3, 4], unit="ha")
    >>> round(float(e.area[0])), round(float(e.area_ci[0]))
    (21158, 6158)
    """
    codes = _check_codes(codes, "area_adjusted")
    k = len(codes)
    n = np.asarray(matrix_counts, dtype=np.float64)
    if n.shape != (k, k):
        raise InvalidInputError(f"The 'matrix_counts' parameter of area_adjusted must be {k} x {k}. Got {n.shape}.")
    bad = np.argwhere(~np.isfinite(n) | (n < 0) | (n != np.round(n)))
    if bad.size:
        i, j = bad[0]
        raise InvalidInputError(
            f"The 'matrix_counts' parameter of area_adjusted must hold sample counts (whole numbers >= 0). "
            f"Got {n[i, j]} at row {i}, column {j}. Pass the matrix of an unweighted assess()."
        )
    area_in = np.asarray(mapped_area, dtype=np.float64)
    if area_in.shape != (k,) or not np.all(np.isfinite(area_in)) or np.any(area_in < 0) or area_in.sum() <= 0:
        raise InvalidInputError(
            f"The 'mapped_area' parameter of area_adjusted must be {k} finite areas >= 0 (one per code, "
            f"not all 0). Got {_list(np.ravel(mapped_area).tolist())}."
        )
    ni = n.sum(axis=1)
    empty = [c for c, a, m in zip(codes, area_in, ni, strict=True) if a > 0 and m == 0]
    if empty:
        raise InvalidInputError(
            f"area_adjusted: map class(es) {_list(empty)} have a mapped area but no samples, so the area "
            f"they hold cannot be attributed to reference classes. Sample them (at least 2 each) or "
            f"merge them into another class."
        )
    if isinstance(z, bool) or not isinstance(z, Real) or not (math.isfinite(z) and z > 0):
        raise InvalidInputError(f"The 'z' parameter of area_adjusted must be a float > 0 (1.96 for 95 %). Got {z}.")

    total = float(area_in.sum())
    W = area_in / total
    sampled = ni > 0
    strat = W > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(sampled[:, None], n / ni[:, None], 0.0)  # n_ij / n_i+
        p = W[:, None] * frac  # eq. 4
        p_col = p.sum(axis=0)  # eq. 9
        # per-stratum terms W_i² f_ij (1 - f_ij) / (n_i+ - 1) of eq. 10; a stratum of area 0 adds nothing
        terms = np.where(strat[:, None], W[:, None] ** 2 * frac * (1 - frac) / (ni[:, None] - 1), 0.0)
        se_prop = np.sqrt(terms.sum(axis=0))
        users = np.where(sampled, np.diag(n) / ni, np.nan)  # eq. 2 (= p_ii / p_i+)
        users_var = users * (1 - users) / (ni - 1)  # eq. 6
        oa_terms = np.where(strat, W**2 * users_var, 0.0)
        oa_var = oa_terms.sum()  # eq. 5
        producers = np.diag(p) / p_col  # eq. 3
        # eq. 7 written with proportions (the N's of the paper cancel)
        others = terms.sum(axis=0) - np.diag(terms)
        producers_var = (oa_terms * (1 - producers) ** 2 + producers**2 * others) / p_col**2
    area_se = total * se_prop
    ua_se, pa_se, oa_se = np.sqrt(users_var), np.sqrt(producers_var), math.sqrt(oa_var)
    r = _readonly
    return AreaEstimate(
        codes=codes, counts=r(n), mapped_area=r(area_in), total_area=total, map_proportion=r(W),
        proportions=r(p), area_proportion=r(p_col), area=r(total * p_col), area_se=r(area_se),
        area_ci=r(z * area_se), overall_accuracy=float(np.trace(p)), overall_accuracy_se=oa_se,
        overall_accuracy_ci=z * oa_se, users_accuracy=r(users), users_accuracy_se=r(ua_se),
        users_accuracy_ci=r(z * ua_se), producers_accuracy=r(producers), producers_accuracy_se=r(pa_se),
        producers_accuracy_ci=r(z * pa_se), n=int(n.sum()), z=float(z), unit=unit,
    )


def _class_names(codes: tuple[int, ...], names) -> list[str]:
    """Display names: a sequence aligned with ``codes``, a mapping code -> name, or None (the codes)."""
    if names is None:
        return [str(c) for c in codes]
    if isinstance(names, Mapping):
        return [str(names.get(c, c)) for c in codes]
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) != len(codes):
        raise InvalidInputError(f"'names' must be {len(codes)} class names or a mapping code -> name. Got {names!r}.")
    return [str(n) for n in names]


def _num(v: float, digits: int = 3) -> str:
    """A ratio with ``digits`` decimals, an area/count without; 'n/a' for NaN."""
    if not math.isfinite(v):
        return "n/a"
    if digits:
        return f"{v:.{digits}f}"
    return f"{v:,.0f}" if abs(v) >= 100 or v == round(v) else f"{v:,.2f}"


def plot_confusion_matrix(report: AccuracyReport, names, path, title: str | None = None) -> Path:
    """Write the confusion matrix of ``report`` as an annotated PNG heat map.

    Rows are labelled "Map", columns "Reference". Uses matplotlib's Agg canvas on a
    ``Figure`` of its own (no pyplot, no global state). The file is written to a temporary
    file in the same directory and moved into place, so a reader never sees half a PNG.

    Parameters
    ----------
    report : AccuracyReport
    names : sequence of str, mapping int -> str, or None
        Class names aligned with ``report.codes`` (or by code); None shows the codes.
    path : str or os.PathLike
        The PNG to write (parent directories are created); returned as a ``Path``.
    title : str, optional
        Defaults to the overall accuracy and kappa.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = _class_names(report.codes, names)
    m, k = report.matrix, len(labels)
    side = 3.0 + 0.6 * k
    fig = Figure(figsize=(side + 1.2, side), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    peak = float(m.max()) or 1.0
    image = ax.imshow(m, cmap="Blues", vmin=0, vmax=peak)
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight" if report.weighted else "samples")
    size = max(6, 11 - k // 3)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, _num(m[i, j], 0), ha="center", va="center", fontsize=size,
                    color="white" if m[i, j] > 0.6 * peak else "black")
    ax.set_xticks(range(k), labels, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("Reference")
    ax.set_ylabel("Map")
    ax.set_title(title if title is not None else
                 f"Overall accuracy {report.overall_accuracy:.3f}, kappa {_num(report.kappa)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)])

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def format_tables(report: AccuracyReport, names, area: AreaEstimate | None = None) -> str:
    """Plain-text tables of an assessment for a terminal.

    The confusion matrix (rows = map, columns = reference) with totals; user's and
    producer's accuracy and F1 per class; overall accuracy, kappa and macro F1; and, when
    ``area`` is given, the area-adjusted estimates (area, user's and producer's accuracy,
    each ± its confidence-interval half-width). NaN prints as ``n/a``.

    ``names`` are as for :func:`plot_confusion_matrix`; ``area`` comes from
    :func:`area_adjusted` with the same codes (else InvalidInputError).
    """
    labels = _class_names(report.codes, names)
    m = report.matrix
    what = "summed weights" if report.weighted else "sample counts"
    out = [f"Confusion matrix ({what}; rows = map, columns = reference)"]
    rows = [[lab, *(_num(v, 0) for v in row), _num(row.sum(), 0)] for lab, row in zip(labels, m, strict=True)]
    rows.append(["total", *(_num(v, 0) for v in m.sum(axis=0)), _num(m.sum(), 0)])
    out += _table(["map \\ reference", *labels, "total"], rows)
    out += ["", *_table(["class", "user's accuracy", "producer's accuracy", "F1"], [
        [lab, _num(u), _num(p), _num(f)] for lab, u, p, f in
        zip(labels, report.users_accuracy, report.producers_accuracy, report.f1, strict=True)])]
    out += ["", f"Overall accuracy: {_num(report.overall_accuracy)}   Kappa: {_num(report.kappa)}   "
                f"Macro F1: {_num(report.macro_f1)}   " + (f"Pairs: {report.n} (weighted)" if report.weighted else f"Samples: {report.n}")]
    if area is not None:
        if tuple(area.codes) != tuple(report.codes):
            raise InvalidInputError(
                f"format_tables: 'area' is for codes {_list(area.codes)} but 'report' for {_list(report.codes)}. "
                "Estimate both from the same class list."
            )
        level = math.erf(area.z / math.sqrt(2)) * 100
        unit = f" ({area.unit})" if area.unit else ""
        rows = [[lab, _num(a0, 0), _num(a, 0), _num(ac, 0), _num(u), _num(uc), _num(p), _num(pc)]
                for lab, a0, a, ac, u, uc, p, pc in zip(
                    labels, area.mapped_area, area.area, area.area_ci, area.users_accuracy,
                    area.users_accuracy_ci, area.producers_accuracy, area.producers_accuracy_ci, strict=True)]
        out += ["", f"Area-adjusted estimates (stratified estimator, Olofsson et al. 2014; "
                    f"± = {level:.0f} % confidence interval, z = {area.z:g})"]
        out += _table(["class", f"mapped area{unit}", f"estimated area{unit}", "±", "user's acc.", "±",
                       "producer's acc.", "±"], rows)
        out += ["", f"Overall accuracy (area-weighted): {_num(area.overall_accuracy)} "
                    f"± {_num(area.overall_accuracy_ci)}   Samples: {area.n}"]
    return "\n".join(out) + "\n"
