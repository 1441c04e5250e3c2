"""``antares change_matrix``: the transition matrix (hectares) of a change detection or of two classifications.

* ``-n CHANGE``: the change objects of a detection made with ``-lc_pre/-lc_post``, by (pre class, post class),
  each object counted with its whole area;
* ``--pre C1 --post C2``: the overlay of two classifications' objects in PostGIS (``ST_Intersection``), the
  area of every (pre class, post class) pair, the diagonal being the area without change.

Areas are in hectares, measured in the CRS of the objects, which must be in metres.

With a validation set of change / no-change samples (``-val``), :func:`change_area_estimate` gives the
area-adjusted change area and the accuracies with 95 % confidence intervals, the change map as strata
(Olofsson et al. 2014, :func:`antares.accuracy.area_adjusted`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from antares.config import Settings
from antares.errors import InvalidInputError, NotFoundError, UsageError


@dataclass
class TransitionMatrix:
    """Areas (ha) by pre class (rows) and post class (columns)."""

    codes: list
    names: list
    hectares: np.ndarray
    source: str

    def as_dict(self) -> dict:
        return {"source": self.source, "codes": self.codes, "classes": self.names,
                "hectares": self.hectares.round(6).tolist(), "total_ha": float(self.hectares.sum())}

    def lines(self) -> list[str]:
        labels = [f"{c} {n}" for c, n in zip(self.codes, self.names)]
        width = max([len(label) for label in labels] + [12])
        out = [f"transition matrix of {self.source}, hectares (rows: pre class, columns: post class)",
               " " * width + "".join(f"{label:>{max(14, len(label) + 2)}}" for label in labels)]
        for label, row in zip(labels, self.hectares):
            out.append(f"{label:<{width}}" + "".join(f"{value:>{max(14, len(c) + 2)}.4f}" for value, c in zip(row, labels)))
        out.append(f"total {self.hectares.sum():.4f} ha; changed (off the diagonal) "
                   f"{self.hectares.sum() - np.trace(self.hectares):.4f} ha")
        return out


def _metric_srid(crs: str, what: str) -> int:
    from pyproj import CRS

    parsed = CRS.from_user_input(crs)
    if parsed.is_geographic or any(a.unit_name not in ("metre", "meter") for a in parsed.axis_info):
        raise InvalidInputError(f"{what} is in {crs}, not in metres; transition areas need a projected CRS.")
    epsg = parsed.to_epsg()
    if epsg is None:
        raise InvalidInputError(f"{what} is in a CRS without an EPSG code ({crs}).")
    return epsg


def _names(session, scheme_id, codes) -> list:
    from antares.db.training import scheme_legend

    legend = {e.code: e.name for e in scheme_legend(session, scheme_id)} if scheme_id is not None else {}
    return [legend.get(c, "no class" if c is None else f"class {c}") for c in codes]


def _matrix(rows) -> tuple[list, np.ndarray]:
    codes = sorted({r[0] for r in rows} | {r[1] for r in rows}, key=lambda c: (c is None, c if c is not None else 0))
    index = {c: i for i, c in enumerate(codes)}
    matrix = np.zeros((len(codes), len(codes)))
    for pre, post, area in rows:
        matrix[index[pre], index[post]] += float(area) / 1e4
    return codes, matrix


def change_matrix(settings: Settings, name: str | None = None, pre: str | None = None,
                  post: str | None = None) -> TransitionMatrix:
    """The transition matrix of change detection ``name``, or of classifications ``pre`` and ``post``.

    Returns
    -------
    TransitionMatrix
        ``hectares[i, j]``: area (ha) of class ``codes[i]`` before and ``codes[j]`` after; ``None`` as a code
        is "no class" (a change object that no classified object covers).

    Raises
    ------
    UsageError
        Neither or both of ``name`` and ``pre``/``post``, or only one of ``pre``/``post``.
    NotFoundError
        Unknown change detection or classification.
    InvalidInputError
        The change detection was made without classifications; the classifications use different schemes or
        a CRS not in metres.
    """
    from antares.db.changes import change_detection, change_names, classification_overlay, transitions
    from antares.db.classifications import classification, classification_names
    from antares.db.engine import session_scope

    if (name is None) == (pre is None and post is None) or (pre is None) != (post is None):
        raise UsageError("give either -n CHANGE (a change detection) or --pre C1 --post C2 (two classifications).")
    with session_scope(settings) as session:
        if name is not None:
            row = change_detection(session, name)
            if row is None:
                raise NotFoundError(f"change detection '{name}' does not exist; change detections: "
                                    f"{', '.join(change_names(session)) or '(none)'}. Make one with 'antares detect_change'.")
            if not row.inputs.get("lc_pre"):
                raise InvalidInputError(f"change detection '{name}' was made without -lc_pre/-lc_post: its objects "
                                        "have no classes. Re-run detect_change with them, or give --pre and --post.")
            lc = classification(session, row.inputs["lc_pre"])
            codes, matrix = _matrix(transitions_rows(transitions(session, row.id)))
            return TransitionMatrix(codes, _names(session, lc.scheme_id if lc else None, codes), matrix,
                                    f"change detection {name}")
        rows = []
        for flag, value in (("--pre", pre), ("--post", post)):
            found = classification(session, value)
            if found is None:
                raise NotFoundError(f"{flag} {value}: no such classification; classifications: "
                                    f"{', '.join(classification_names(session)) or '(none)'}.")
            rows.append(found)
        if rows[0].scheme_id != rows[1].scheme_id:
            raise InvalidInputError(f"--pre {pre} and --post {post} use different class schemes; a transition "
                                    "matrix needs one.")
        srid = _metric_srid(rows[0].crs, f"--pre {pre}")
        _metric_srid(rows[1].crs, f"--post {post}")
        codes, matrix = _matrix(classification_overlay(session, rows[0].id, rows[1].id, srid))
        return TransitionMatrix(codes, _names(session, rows[0].scheme_id, codes), matrix,
                                f"classifications {pre} -> {post}")


def transitions_rows(rows) -> list:
    """``(pre, post, area_m2)`` from :func:`antares.db.changes.transitions` rows ``(pre, post, objects, area)``."""
    return [(r[0], r[1], r[3]) for r in rows]


def change_area_estimate(settings: Settings, name: str, validation_set: str, z: float = 1.96) -> dict:
    """Area-adjusted change area and accuracies of change detection ``name`` from a validation set.

    The strata are the change map: "change" (the area of the change objects) and "no change" (the rest of the
    pixels valid in both dates). Each validation sample falls in the stratum of a point on its surface; its
    reference is its class, which must be named ``change`` or ``no change`` in the set's class scheme.
    Estimates follow Olofsson et al. (2014, eqs. 4-12) through :func:`antares.accuracy.area_adjusted`.

    Returns
    -------
    dict
        ``mapped_change_ha``, ``mapped_no_change_ha``, ``counts`` (rows map no change/change, columns reference),
        ``change_ha``, ``change_ha_ci`` (95 % half-width), ``users_accuracy``/``producers_accuracy`` of change and
        ``overall_accuracy`` with their CI half-widths, ``n``.

    Raises
    ------
    NotFoundError
        Unknown change detection or validation set.
    InvalidInputError
        The set's scheme has no classes named ``change`` and ``no change``, or a sample of another class.
    """
    from antares.accuracy import area_adjusted
    from antares.db.changes import change_detection, samples_in_change, transitions
    from antares.db.engine import session_scope
    from antares.db.training import sample_set, scheme_legend

    with session_scope(settings) as session:
        row = change_detection(session, name)
        if row is None:
            raise NotFoundError(f"change detection '{name}' does not exist; make one with 'antares detect_change'.")
        found = sample_set(session, "validation", validation_set)
        if found is None:
            raise NotFoundError(f"validation set '{validation_set}' does not exist; ingest it with "
                                "'antares ingest_validation'.")
        legend = {e.name.strip().lower(): e.code for e in scheme_legend(session, found.scheme_id)}
        if "change" not in legend or "no change" not in legend:
            raise InvalidInputError(f"validation set '{validation_set}' must have the classes 'no change' and "
                                    f"'change'; its classes: {', '.join(sorted(legend)) or '(none)'}.")
        codes = (legend["no change"], legend["change"])
        srid = _metric_srid(row.crs, f"change detection {name}")
        samples = samples_in_change(session, row.id, found.id, srid)
        change_m2 = sum(float(r[3]) for r in transitions(session, row.id))
        valid_pixels = int((row.statistics or {}).get("valid_pixels", 0))
    others = sorted({int(r[1]) for r in samples} - set(codes))
    if others:
        raise InvalidInputError(f"validation set '{validation_set}' has samples of class(es) {others}; only 'no change' "
                                f"({codes[0]}) and 'change' ({codes[1]}) can validate a change map.")
    counts = np.zeros((2, 2), np.int64)
    for _, code, inside in samples:
        counts[int(bool(inside)), codes.index(int(code))] += 1
    total_ha = valid_pixels * row.pixel_area_m2 / 1e4
    mapped = np.array([total_ha - change_m2 / 1e4, change_m2 / 1e4])
    estimate = area_adjusted(counts, mapped, codes, z=z, unit="ha")
    return {"validation_set": validation_set, "n": int(estimate.n), "counts": counts.tolist(),
            "mapped_no_change_ha": float(mapped[0]), "mapped_change_ha": float(mapped[1]),
            "change_ha": float(estimate.area[1]), "change_ha_ci": float(estimate.area_ci[1]),
            "users_accuracy": float(estimate.users_accuracy[1]), "users_accuracy_ci": float(estimate.users_accuracy_ci[1]),
            "producers_accuracy": float(estimate.producers_accuracy[1]),
            "producers_accuracy_ci": float(estimate.producers_accuracy_ci[1]),
            "overall_accuracy": float(estimate.overall_accuracy),
            "overall_accuracy_ci": float(estimate.overall_accuracy_ci)}


def estimate_lines(estimate: dict) -> list[str]:
    """The area estimate of :func:`change_area_estimate` as text."""
    e = estimate
    return [f"validation set {e['validation_set']}: {e['n']} sample(s); counts (map no change/change x reference): "
            f"{e['counts']}",
            f"mapped change {e['mapped_change_ha']:.4f} ha of {e['mapped_change_ha'] + e['mapped_no_change_ha']:.4f} ha",
            f"area-adjusted change {e['change_ha']:.4f} ± {e['change_ha_ci']:.4f} ha (95 % CI)",
            f"change: user's accuracy {e['users_accuracy']:.3f} ± {e['users_accuracy_ci']:.3f}, producer's accuracy "
            f"{e['producers_accuracy']:.3f} ± {e['producers_accuracy_ci']:.3f}; overall accuracy "
            f"{e['overall_accuracy']:.3f} ± {e['overall_accuracy_ci']:.3f}"]


def is_labelled(settings: Settings, name: str) -> bool:
    """Whether change detection ``name`` exists and was made with classifications (its objects have classes)."""
    from antares.db.changes import change_detection
    from antares.db.engine import session_scope

    with session_scope(settings) as session:
        row = change_detection(session, name)
    return row is not None and bool(row.inputs.get("lc_pre"))
