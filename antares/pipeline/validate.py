"""``antares validate``: accuracy of a classification against a validation set, with area-adjusted estimates.

Two views of the same comparison, both computed in an equal-area CRS (a Lambert
azimuthal equal-area projection centred on the validation samples):

* **by area of overlap** — every intersection of a validation polygon with a classified
  object adds its area (m²) to the cell (map class, reference class) of the confusion
  matrix; overall accuracy, kappa, user's/producer's accuracy and F1 wrap
  ``sklearn.metrics`` with these areas as sample weights (antares3 weighted by areas in
  degrees², which distorts with latitude);
* **area-adjusted** (Olofsson et al. 2014, stratified estimator with the map classes as
  strata) — each validation polygon is one sample unit, mapped as the class that covers
  most of it, and the mapped area of each class is the area of the objects predicted as
  it. Gives estimated class areas and accuracies with 95 % confidence intervals. The
  estimator assumes the validation units were sampled at random within map strata;
  polygons collected otherwise (e.g. OpenStreetMap) make the intervals indicative only.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import InvalidInputError, NotFoundError
from antares.pipeline.export_requests import ValidateRequest, area_zone
from antares.pipeline.requests import takes

log = logging.getLogger(__name__)


@dataclass
class ValidationReport:
    """Outcome of validate: both assessments and the text tables."""

    classification: str
    validation_set: str
    equal_area_crs: str
    names: list
    overlap: object  # antares.accuracy.AccuracyReport (weights in m²)
    area: object | None  # antares.accuracy.AreaEstimate (areas in ha)
    polygons: int = 0
    polygons_without_overlap: int = 0
    notes: list = field(default_factory=list)
    comment: str | None = None

    def to_dict(self) -> dict:
        return {"classification": self.classification, "validation_set": self.validation_set, "comment": self.comment,
                "equal_area_crs": self.equal_area_crs, "class_names": self.names,
                "validation_polygons": self.polygons, "polygons_without_overlap": self.polygons_without_overlap,
                "by_area_of_overlap_m2": self.overlap.to_dict(),
                "area_adjusted_ha": self.area.to_dict() if self.area is not None else None, "notes": self.notes}

    def text(self) -> str:
        from antares.accuracy import format_tables

        head = [f"classification {self.classification} vs validation set {self.validation_set}: "
                f"{self.polygons} polygon(s), {self.polygons_without_overlap} without a classified object under them",
                f"areas in {self.equal_area_crs}; confusion matrix by area of overlap (m²), rows = map, columns = reference"]
        same = self.area is not None and tuple(self.area.codes) == tuple(self.overlap.codes)
        text = "\n".join(head) + "\n" + format_tables(self.overlap, self.names, self.area if same else None)
        if self.area is not None and not same:
            text += "\n" + self._area_table()
        return text + ("\n" + "\n".join(self.notes) if self.notes else "")

    def _area_table(self) -> str:
        a = self.area
        name_of = dict(zip(self.overlap.codes, self.names))
        lines = ["area-adjusted estimates (Olofsson et al. 2014), 95 % confidence intervals:",
                 f"{'class':<24} {'area (ha)':>22} {'user':>14} {'producer':>14}"]
        for i, code in enumerate(a.codes):
            lines.append(f"{str(name_of.get(code, code))[:24]:<24} {a.area[i]:>12.1f} ± {a.area_ci[i]:<8.1f}"
                         f" {a.users_accuracy[i]:>6.3f} ± {a.users_accuracy_ci[i]:<5.3f}"
                         f" {a.producers_accuracy[i]:>6.3f} ± {a.producers_accuracy_ci[i]:<5.3f}")
        lines.append(f"overall accuracy {a.overall_accuracy:.3f} ± {a.overall_accuracy_ci:.3f}")
        return "\n".join(lines)


def _equal_area_crs(lon: float, lat: float) -> str:
    return f"+proj=laea +lat_0={lat:.4f} +lon_0={lon:.4f} +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"


def _lookup(session, classification: str, validation_set: str):
    from antares.db.classifications import classification as classification_row
    from antares.db.classifications import classification_names
    from antares.db.training import list_sample_sets, sample_set

    row = classification_row(session, classification)
    if row is None:
        known = classification_names(session)
        raise NotFoundError(f"classification '{classification}' does not exist; classifications: "
                            f"{', '.join(known) or '(none)'}. Create one with 'antares model_predict_object'.")
    vset = sample_set(session, "validation", validation_set)
    if vset is None:
        known = [s["name"] for s in list_sample_sets(session, "validation")]
        raise NotFoundError(f"validation set '{validation_set}' does not exist; validation sets: {', '.join(known) or '(none)'}. "
                            "Add one with 'antares ingest_validation'.")
    return row, vset


def _code_translation(session, model_scheme: int, validation_scheme: int, validation_set: str) -> dict:
    """{validation code: map code}, matching classes by name when the schemes differ."""
    from antares.db.training import scheme_legend

    map_legend = scheme_legend(session, model_scheme)
    if validation_scheme == model_scheme:
        return {e.code: e.code for e in map_legend}
    by_name = {e.name.casefold(): e.code for e in map_legend}
    val_legend = scheme_legend(session, validation_scheme)
    missing = [e.name for e in val_legend if e.name.casefold() not in by_name]
    if missing:
        raise InvalidInputError(
            f"validation set {validation_set} has class(es) {', '.join(missing)} that the map's legend lacks "
            f"({', '.join(e.name for e in map_legend)}); ingest it with --scheme of the model's training set.")
    return {e.code: by_name[e.name.casefold()] for e in val_legend}


#: The steps :func:`validate` reports to its ``progress`` callback.
VALIDATE_STEPS = 4


@takes(ValidateRequest)
def validate(settings: Settings, request: ValidateRequest, progress=None) -> ValidationReport:
    """Assess ``request.classification`` against ``request.validation_set``.

    The old form ``validate(settings, classification, validation_set, region=None, json_file=None,
    plot_file=None, log_name=None, overwrite=False, comment=None, area=None)`` builds the request.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.export_requests.ValidateRequest
        Its fields:
    classification, validation_set : str
    region : str, optional
        Only validation polygons and objects inside this region (overlaps clipped to it).
    area : odc.geo.geom.Geometry, optional
        Instead of ``region``: a geometry (``--bbox``, ``-lat``/``-long``), used the same way.
    json_file, plot_file : path, optional
        Write the full report as JSON / the confusion matrix as PNG (atomically).
    log_name : str, optional
        Store the report in ``antares.validation_result`` under this name (replacing one
        of the same name).
    comment : str, optional
        A note kept in the report (antares3's ``--comment``).
    progress : callable, optional
        ``progress(done, 4)`` after each of its steps: the overlaps of the validation polygons with
        the objects, the mapped area per class, the accuracy estimates, the outputs written.

    The assessment is recorded as a run (kind ``validate``, named by ``log_name`` or
    ``CLASSIFICATION:VALIDATION_SET``; ``antares run show``): the classification, validation set and
    region read, the overall accuracy, the files written (size, SHA-256), the stored report's name, the
    command line.

    Raises
    ------
    RunningError
        A validation of the same name is running, or the classification is being made.
    NotFoundError
        Unknown classification, validation set or region.
    InvalidInputError
        Validation classes absent from the map's legend; no validation polygon overlaps
        the map; an output file exists (without ``overwrite``) or cannot be written.
    """
    from antares.pipeline.run import recorded_step
    from antares.provenance import written_files

    classification, validation_set, region = request.classification, request.validation_set, request.region
    json_file, plot_file, log_name = request.json_file, request.plot_file, request.log_name
    params = {"classification": classification, "validation_set": validation_set, "region": region,
              "area": None if request.area is None else {"crs": str(request.area.crs), "wkt": request.area.wkt},
              "report": None if json_file is None else str(Path(json_file).absolute()),
              "plot": None if plot_file is None else str(Path(plot_file).absolute()), "log_name": log_name,
              "overwrite": request.overwrite, "comment": request.comment}

    def work():
        report = _validate(settings, request, progress)
        inputs = {"results": [classification, f"validation set {validation_set}"]
                  + ([f"region {region}"] if region else [])}
        overlap = report.overlap
        outputs = {"overall_accuracy": _number(overlap.overall_accuracy), "kappa": _number(overlap.kappa),
                   "files": written_files(*(p for p in (json_file, plot_file) if p is not None)), "stored_as": log_name}
        return report, inputs, outputs

    return recorded_step(settings, "validate", log_name or f"{classification}:{validation_set}", params, work,
                         reads=(("model_predict_object", classification),))


def _validate(settings: Settings, request: ValidateRequest, progress=None) -> ValidationReport:
    """:func:`validate`, without its run."""
    from antares.accuracy import area_adjusted, assess, plot_confusion_matrix
    from antares.db.engine import open_database, session_scope
    from antares.db.regions import region_names
    from antares.db.segmentations import segment_srid
    from antares.db.training import scheme_legend
    from antares.db.validation import count_samples, mapped_areas, overlap_pairs, samples_centre
    from antares.names import check_name

    classification, validation_set, region, area = (request.classification, request.validation_set, request.region,
                                                    request.area)
    json_file, plot_file, log_name, overwrite = request.json_file, request.plot_file, request.log_name, request.overwrite
    comment = request.comment
    if log_name is not None and log_name != f"{classification}:{validation_set}":  # the default joins two names
        check_name(log_name)
    for path in (json_file, plot_file):
        if path is not None:
            _check_output(Path(path), overwrite)

    def step(done):
        if progress:
            progress(done, VALIDATE_STEPS)
    open_database(settings)
    with session_scope(settings) as session:
        row, vset = _lookup(session, classification, validation_set)
        vset_id = vset.id
        translate = _code_translation(session, row.scheme_id, vset.scheme_id, validation_set)
        legend = scheme_legend(session, row.scheme_id)
        srid = segment_srid(session, row.segmentation_id)
        if region is not None and not region_names(session, [region]):
            raise NotFoundError(f"region '{region}' is not registered; see 'antares list regions'.")
        centre = samples_centre(session, vset.id)
        if centre is None:
            raise InvalidInputError(f"validation set {validation_set} has no samples.")
        proj = _equal_area_crs(*centre)
        region = area_zone(region, area, srid)  # the name, or a Zone of the area in the segments' CRS
        pairs = overlap_pairs(session, vset.id, row.id, row.segmentation_id, srid, proj, region)
        n_polygons = count_samples(session, vset.id, srid, region)
        step(1)
        mapped_area = mapped_areas(session, row.id, row.segmentation_id, srid, proj, region)
        step(2)
    pairs = [p for p in pairs if p.area > 0]
    where = f" in region {request.region}" if request.region else (" in the area" if area is not None else "")
    if not pairs:
        raise InvalidInputError(f"no polygon of validation set {validation_set} overlaps a classified object of "
                                f"{classification}{where}.")
    unknown = sorted({p.reference for p in pairs} - set(translate))
    if unknown:
        raise InvalidInputError(f"validation set {validation_set} has class code(s) {unknown} absent from the legend.")
    codes = [e.code for e in legend]
    names = [e.name for e in legend]
    reference = np.array([translate[p.reference] for p in pairs])
    mapped = np.array([p.mapped for p in pairs])
    areas = np.array([p.area for p in pairs], dtype=float)
    overlap = assess(reference, mapped, codes, weights=areas)

    # area-adjusted: one unit per polygon, mapped as its majority class by area
    units: dict[int, dict] = {}
    for p, ref, m, a in zip(pairs, reference, mapped, areas):
        unit = units.setdefault(p.id, {"reference": ref, "areas": {}})
        unit["areas"][m] = unit["areas"].get(m, 0.0) + a
    counts = np.zeros((len(codes), len(codes)), dtype=np.int64)
    index = {c: i for i, c in enumerate(codes)}
    for unit in units.values():
        majority = max(unit["areas"].items(), key=lambda kv: (kv[1], -kv[0]))[0]
        counts[index[majority], index[unit["reference"]]] += 1
    mapped_ha = np.array([mapped_area.get(c, 0.0) / 1e4 for c in codes])
    report = ValidationReport(classification, validation_set, proj, names, overlap, None, int(n_polygons),
                              int(n_polygons) - len(units), comment=comment)
    empty_strata = [i for i in range(len(codes)) if mapped_ha[i] > 0 and counts[i].sum() == 0]
    if empty_strata:
        # a map class without validation units cannot be assessed: its mapped area is left out of the
        # total (every unit is kept, whatever its reference class)
        left = ", ".join(f"{names[i]} ({mapped_ha[i]:.1f} ha)" for i in empty_strata)
        report.notes.append(f"area-adjusted estimates leave out the mapped area of class(es) with no validation unit: {left}")
        mapped_ha = mapped_ha.copy()
        mapped_ha[empty_strata] = 0.0
    single = [names[i] for i in range(len(codes)) if counts[i].sum() == 1]
    if single:
        report.notes.append(f"map class(es) with a single validation unit have no variance estimate (± nan): "
                            f"{', '.join(single)}; add validation units to them")
    est_codes = codes
    try:
        report.area = area_adjusted(counts, mapped_ha, est_codes, unit="ha")
    except InvalidInputError as exc:
        report.notes.append(f"no area-adjusted estimates: {exc}")
    step(3)
    if plot_file is not None:
        from antares.cube.write import write_failure

        try:
            plot_confusion_matrix(overlap, names, plot_file,
                                  title=f"{classification} vs {validation_set} (area of overlap, m²)")
        except OSError as exc:  # a full disk: one line naming the file and the free space
            raise write_failure(plot_file, exc, "free some space or choose another --plot") from exc
    document = report.to_dict()
    if json_file is not None:
        _write_json(Path(json_file), document)
    if log_name is not None:
        from antares.db.validation import replace_validation_result

        with session_scope(settings) as session:
            replace_validation_result(session, log_name, row.id, vset_id, document)
    step(4)
    return report


def _number(value) -> float | None:
    """``value`` as a float JSON can hold (None for NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _check_output(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise InvalidInputError(f"{path} exists; use --overwrite to replace it or choose another file.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInputError(f"cannot write {path}: directory {parent} does not exist.")
    from antares.cube.write import unwritable

    reason = unwritable(parent)
    if reason:
        raise InvalidInputError(f"cannot write {path}: directory {parent} is not writable ({reason}).")


def _write_json(path: Path, document: dict) -> None:
    from antares.cube.write import write_text

    write_text(path, json.dumps(document, indent=2, ensure_ascii=False, default=str))
