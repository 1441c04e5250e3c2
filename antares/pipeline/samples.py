"""``ingest_training`` / ``ingest_validation`` / ``ingest_training_from_raster``: labelled samples with a legend.

Samples are stored in ``antares.sample`` in the CRS of their source with its SRID
(a source CRS without an EPSG code is transformed once to EPSG:4326, and the report
says so). Class labels are always legend codes of a class scheme; a file's class field
may hold codes or names.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from antares.config import Settings
from antares.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from antares.legend import LegendEntry, assign_codes, is_integer_like
from antares.pipeline.input_requests import RasterSampleRequest, SampleFileRequest
from antares.pipeline.requests import takes

log = logging.getLogger(__name__)


@dataclass
class SampleReport:
    """Outcome of an ingest of samples."""

    name: str
    kind: str
    scheme: str
    samples: int = 0
    per_class: dict = field(default_factory=dict)  # class name -> count
    repaired: int = 0
    dropped_empty: int = 0
    dropped_unlabelled: int = 0
    features: int = 0  # features read from the file (after --where)
    dropped_no_geometry: int = 0
    transformed: str | None = None
    scheme_created: bool = False
    notes: list = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.kind} set {self.name}: {self.samples} sample(s) in {len(self.per_class)} class(es) "
               f"of scheme {self.scheme}" + (" (new)" if self.scheme_created else "")]
        out += [f"  {name}: {n}" for name, n in self.per_class.items()]
        if self.repaired:
            out.append(f"{self.repaired} invalid geometr{'y' if self.repaired == 1 else 'ies'} repaired (make_valid)")
        if self.features:  # a vector file: every feature read is a sample or counted as dropped
            dropped = self.dropped_no_geometry + self.dropped_unlabelled + self.dropped_empty
            out.append(f"{self.features} feature(s) read, {dropped} dropped: {self.dropped_no_geometry} without a "
                       f"geometry, {self.dropped_unlabelled} without a class value, {self.dropped_empty} empty after repair")
        if self.transformed:
            out.append(self.transformed)
        return out + list(self.notes)


def _json_safe(record: dict) -> dict:
    out = {}
    for key, value in record.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out[key] = None
        elif isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, (np.integer,)):
            out[key] = int(value)
        elif isinstance(value, (np.floating,)):
            out[key] = float(value)
        else:
            out[key] = str(value)
    return out


def _resolve_scheme(session, scheme_name: str, legend: list[LegendEntry] | None, values, source: str, field_name: str):
    """(scheme id or None, legend, codes): an existing scheme's legend is used and checked."""
    from antares.db.training import scheme_id, scheme_legend

    existing = scheme_id(session, scheme_name)
    if existing is not None:
        stored = scheme_legend(session, existing)
        if legend is not None and [(e.code, e.name) for e in legend] != [(e.code, e.name) for e in stored]:
            raise InvalidInputError(
                f"scheme '{scheme_name}' exists with a different legend "
                f"({', '.join(f'{e.code}={e.name}' for e in stored)}); drop --legend to use it, or give another --scheme."
            )
        codes, _ = assign_codes(values, stored, source, field_name)
        return existing, stored, codes
    codes, legend = assign_codes(values, legend, source, field_name)
    return None, legend, codes


def _store(settings: Settings, kind: str, name: str, scheme_name: str, legend, existing_scheme, source: str,
           year, rows: list[dict], overwrite: bool, params: dict, report: SampleReport, extra_sets=(),
           progress=None) -> None:
    """Store the sample set (and ``extra_sets`` of (kind, name, rows)) and a new scheme, in one transaction.

    ``progress(done, total)``: samples inserted so far, of all the sets' samples."""
    from antares.db.engine import session_scope
    from antares.db.series_sets import series_set
    from antares.db.training import create_scheme, replace_sample_set, sample_set
    from antares.pipeline.run import recorded_run

    sets = [(kind, name, rows), *extra_sets]
    with recorded_run(settings, f"ingest_{kind}", name) as run, \
            session_scope(settings) as session:  # one transaction: all or nothing
        for k, n, _ in sets:
            if k == "training" and series_set(session, n) is not None:
                raise AlreadyExistsError(f"training set '{n}' holds time series (ingest_training --timeseries); choose "
                                         "another --dataset name for the polygons.")
            if sample_set(session, k, n) is not None and not overwrite:
                raise AlreadyExistsError(f"{k} set '{n}' exists; use --overwrite to replace it or choose another --dataset name.")
        scheme = existing_scheme
        if scheme is None:
            scheme = create_scheme(session, scheme_name, legend, description=f"from {source}")
            report.scheme_created = True
        run.start(params, {"source": source}, session=session)
        total, done = sum(len(r) for _, _, r in sets), 0

        def inserted(n):
            nonlocal done
            done += n
            progress(done, total)

        for k, n, r in sets:
            replace_sample_set(session, k, n, scheme, source, year, run.id, r, inserted if progress else None)
        run.finish(session=session)


SAMPLE_GEOMETRIES = ("Polygon", "MultiPolygon", "Point", "MultiPoint")


def _refuse_lines(frame, path, layer: str) -> None:
    """Raise InvalidInputError naming the layer and the geometry types when features are not polygons or points."""
    types = frame.geometry.geom_type
    other = types[~types.isin(SAMPLE_GEOMETRIES)]
    if len(other):
        kinds = ", ".join(f"{t} ({n})" for t, n in sorted(other.value_counts().items()))
        raise InvalidInputError(
            f"{path} (layer {layer}) holds {kinds} geometries; samples must be polygons or points. Buffer lines "
            f"into polygons first (e.g. ogr2ogr -dialect SQLite -sql \"SELECT ST_Buffer(geom, 5) AS geom, * FROM "
            f"{layer}\" buffered.gpkg {Path(path).name}) or remove them from the layer."
        )


def _ordinal(n: int) -> str:
    """``3`` -> ``"3rd"``, ``11`` -> ``"11th"``, ``22`` -> ``"22nd"``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@takes(SampleFileRequest)
def ingest_samples(settings: Settings, request: SampleFileRequest, progress=None) -> SampleReport:
    """Ingest labelled polygons (or points) from a vector file as a training or validation set.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.input_requests.SampleFileRequest
        ``kind``: training or validation; ``path``: any vector file GDAL/OGR reads;
        ``field_name``: the field holding each feature's class, as a legend code or a class
        name; ``name``: the sample set (antares3's ``--dataset``); ``scheme``: class scheme to
        use or create (default: ``name``; an existing scheme's legend is used, every class
        value must be in it); ``legend_file``: CSV/YAML legend for a new scheme; ``layer``;
        ``where``: OGR SQL expression selecting features; ``year``; ``overwrite``; ``every``:
        keep every ``every``-th feature (positions 0, every, 2·every, ... in file order, after
        ``where``), antares3's ``--filter N``. The old form ``ingest_samples(settings, kind,
        path, field_name, name, scheme, ...)`` builds it.
    progress : callable, optional
        ``progress(done, total)`` after each batch of samples stored (``total``: the samples kept).

    Returns
    -------
    SampleReport

    Raises
    ------
    InvalidInputError
        Missing/unreadable file, unknown layer or field (listed), values not in the
        legend, no CRS, no features.
    AlreadyExistsError
        The set exists and ``overwrite`` is False (nothing is written).
    """
    import shapely

    from antares.db.engine import open_database, session_scope
    from antares.legend import read_legend
    from antares.pipeline.regions import flattened_note, read_vector

    kind, path, field_name, name, scheme = request.kind, request.path, request.field_name, request.name, request.scheme
    legend_file, layer, where, year, every = (request.legend_file, request.layer, request.where, request.year,
                                              request.every)
    legend = read_legend(legend_file) if legend_file else None
    frame = read_vector(path, layer, where)
    layer = frame.attrs["layer"]
    thinned = None
    if every and every > 1:
        attrs, read = dict(frame.attrs), len(frame)
        frame = frame.iloc[::every]
        frame.attrs.update(attrs)
        thinned = f"every {_ordinal(every)} feature kept: {len(frame)} of {read}"
    _refuse_lines(frame, path, layer)
    source = (f"{Path(path).resolve()}:{layer}" + (f" where {where}" if where else "")
              + (f" every {_ordinal(every)} feature" if every and every > 1 else ""))
    fields = [c for c in frame.columns if c != frame.geometry.name]
    if field_name not in frame.columns:
        shp = Path(path)
        hint = (f" Its attribute table {shp.with_suffix('.dbf').name} is missing: copy it beside {shp.name}."
                if shp.suffix.lower() == ".shp" and not any(shp.with_suffix(s).exists() for s in (".dbf", ".DBF")) else "")
        raise InvalidInputError(f"{path} (layer {layer}) has no field '{field_name}'; its fields are: "
                                f"{', '.join(fields) or '(none)'}.{hint}")
    scheme_name = scheme or name
    report = SampleReport(name, kind, scheme_name, features=frame.attrs["features"],
                          dropped_no_geometry=frame.attrs["no_geometry"])
    report.notes += [n for n in (thinned, flattened_note(frame, path)) if n]
    labelled = frame[field_name].notna() & (frame[field_name].astype(str).str.strip() != "")
    report.dropped_unlabelled = int((~labelled).sum())
    frame = frame[labelled]
    if frame.empty:
        raise InvalidInputError(f"{path} (layer {layer}): no feature has a value in field '{field_name}'.")
    if not is_integer_like(frame[field_name].tolist()):
        text = frame[field_name].astype(str)
        padded = int((text != text.str.strip()).sum())
        if padded:
            report.notes.append(f"{padded} class value(s) with surrounding spaces stripped")

    geoms = np.asarray(frame.geometry.values, dtype=object)
    invalid = ~shapely.is_valid(geoms)
    report.repaired = int(invalid.sum())
    if report.repaired:
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    empty = shapely.is_empty(geoms) | shapely.is_missing(geoms)
    report.dropped_empty = int(empty.sum())
    frame, geoms = frame[~empty], geoms[~empty]
    if frame.empty:
        raise InvalidInputError(f"{path} (layer {layer}): every geometry is empty after repair.")
    epsg = frame.crs.to_epsg()
    if epsg is None:
        geoms = np.asarray(frame.set_geometry(list(geoms), crs=frame.crs).to_crs("EPSG:4326").geometry.values, dtype=object)
        epsg = 4326
        report.transformed = f"source CRS has no EPSG code; geometries transformed once to EPSG:4326 ({frame.crs.name})"

    open_database(settings)
    with session_scope(settings) as session:
        existing_scheme, legend, codes = _resolve_scheme(session, scheme_name, legend, frame[field_name].tolist(),
                                                         f"{path} (layer {layer})", field_name)
    names = {e.code: e.name for e in legend}
    records = frame.drop(columns=[frame.geometry.name]).to_dict("records")
    wkbs = shapely.to_wkb(geoms)
    rows = []
    for i, (record, code) in enumerate(zip(records, codes)):
        attributes = _json_safe(record)
        attributes["_feature"] = i
        rows.append({"class_code": int(code), "wkb": wkbs[i], "srid": epsg, "attributes": attributes})
    report.samples = len(rows)
    unique, counts = np.unique(codes, return_counts=True)
    report.per_class = {names[int(c)]: int(n) for c, n in zip(unique, counts)}
    params = {"field": field_name, "layer": layer, "where": where, "every": every, "scheme": scheme_name,
              "legend_file": str(legend_file) if legend_file else None, "year": year}
    _store(settings, kind, name, scheme_name, legend, existing_scheme, source, year, rows, request.overwrite, params,
           report, progress=progress)
    return report


@takes(RasterSampleRequest)
def ingest_from_raster(settings: Settings, request: RasterSampleRequest, progress=None) -> SampleReport:
    """Stratified random training samples (pixels or pure square patches) from a reference raster.

    With ``request.holdout`` (0 < F < 1) that share of each class's samples, drawn at random, is
    stored instead as the validation set ``request.holdout_name``: training and validation samples
    never coincide.

    Parameters
    ----------
    settings : antares.config.Settings
    request : antares.pipeline.input_requests.RasterSampleRequest
        ``raster``: a single-band raster of class codes (a land-cover map) or, with ``bins``, of
        continuous values (e.g. tree-cover density in %); ``per_class`` or ``fraction`` (exactly
        one): samples per class (all candidates when fewer, reported), or a fraction of each
        class's candidates; ``classes``: only these class codes (after binning); ``patch``: side
        in pixels of the square, single-class window each sample covers (1 = a pixel); ``bins``:
        increasing edges, class 1 below the first edge, 2 from the first to the second, ...
        The old form ``ingest_from_raster(settings, raster, name, scheme, ...)`` builds it.
    progress : callable, optional
        ``progress(done, total)`` after each batch of samples stored (``total``: training and holdout samples).

    Returns
    -------
    SampleReport

    Raises
    ------
    InvalidInputError
        Unreadable raster, no CRS, bad bins, codes not in the legend, unknown classes.
    AlreadyExistsError
        The set exists and ``overwrite`` is False.
    """
    import rasterio
    import shapely

    from antares.db.engine import open_database, session_scope
    from antares.legend import LegendEntry, palette_colour, read_legend
    from antares.sampling import bin_values, sample_polygons, stratified_sample

    raster, name, scheme, legend_file, kind = request.raster, request.name, request.scheme, request.legend_file, request.kind
    per_class, fraction, seed, patch, band = request.per_class, request.fraction, request.seed, request.patch, request.band
    classes, bins = list(request.classes) if request.classes else None, request.bins
    holdout, holdout_name = request.holdout, request.holdout_name
    path = Path(raster)
    if not path.is_file():
        raise InvalidInputError(f"raster {path} does not exist.")
    try:
        with rasterio.open(path) as src:
            if band < 1 or band > src.count:
                raise InvalidInputError(f"raster {path} has {src.count} band(s); --band {band} is out of range.")
            values = src.read(band)
            nodata, transform, crs = src.nodata, src.transform, src.crs
    except rasterio.errors.RasterioError as exc:
        raise InvalidInputError(f"{path} is not a raster GDAL can read: {str(exc).splitlines()[0]}") from exc
    if crs is None:
        raise InvalidInputError(f"raster {path} has no CRS; assign one with 'gdal_edit.py -a_srs EPSG:XXXX {path.name}'.")
    if bins:
        codes_raster = bin_values(values, list(bins), nodata)
        nodata_code = 0
    else:
        if not np.issubdtype(values.dtype, np.integer):
            raise InvalidInputError(f"raster {path} holds {values.dtype} values; give --bins to turn them into classes.")
        codes_raster = values.astype(np.int64)
        nodata_code = int(nodata) if nodata is not None else 0
        if nodata_code != 0:
            codes_raster = np.where(codes_raster == nodata_code, 0, codes_raster)
            nodata_code = 0
    samples = stratified_sample(codes_raster, per_class=per_class, fraction=fraction, classes_wanted=classes,
                                seed=seed, patch=patch, nodata=nodata_code)
    if len(samples.codes) == 0:
        raise InvalidInputError(f"raster {path}: no {'pure ' + str(patch) + 'x' + str(patch) + ' patch' if patch > 1 else 'labelled pixel'} to sample.")
    if legend_file:
        legend = read_legend(legend_file)
    elif bins:
        edges = list(bins)
        labels = [f"< {edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(edges, edges[1:])] + [f">= {edges[-1]:g}"]
        legend = [LegendEntry(i + 1, label, palette_colour(i)) for i, label in enumerate(labels)]
    else:
        legend = None
    polygons = sample_polygons(samples, transform)
    epsg = crs.to_epsg()
    report = SampleReport(name, kind, scheme)
    if epsg is None:
        from pyproj import Transformer
        transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        polygons = [shapely.ops.transform(transformer.transform, p) for p in polygons]
        epsg = 4326
        report.transformed = "raster CRS has no EPSG code; sample polygons transformed once to EPSG:4326"
    open_database(settings)
    with session_scope(settings) as session:
        # an existing scheme is used as it is, unless a legend file was given to check it against
        from antares.db.training import scheme_id as _scheme_id

        given = legend if (legend_file or _scheme_id(session, scheme) is None) else None
        existing_scheme, legend, codes = _resolve_scheme(session, scheme, given, samples.codes.tolist(), str(path),
                                                         "raster values")
    names = {e.code: e.name for e in legend}
    wkbs = shapely.to_wkb(np.asarray(polygons, dtype=object))
    rows = [{"class_code": int(c), "wkb": wkbs[i], "srid": epsg,
             "attributes": {"row": int(samples.rows[i]), "col": int(samples.cols[i]), "size": int(samples.size)}}
            for i, c in enumerate(codes)]
    extra_sets = []
    if holdout is not None:  # its share and name were checked by the request
        rng = np.random.default_rng(seed + 1)
        held = np.zeros(len(rows), dtype=bool)
        for code in np.unique(codes):
            members = np.flatnonzero(codes == code)
            held[rng.choice(members, size=int(round(holdout * len(members))), replace=False)] = True
        extra_sets = [("validation", holdout_name, [r for r, h in zip(rows, held) if h])]
        rows, codes = [r for r, h in zip(rows, held) if not h], codes[~held]
        report.notes.append(f"validation set {holdout_name}: {int(held.sum())} sample(s) held apart")
    report.samples = len(rows)
    unique, counts = np.unique(codes, return_counts=True)
    report.per_class = {names[int(c)]: int(n) for c, n in zip(unique, counts)}
    for code, missing in sorted(samples.shortfall.items()):
        if missing:
            report.notes.append(f"class {names.get(int(code), code)}: {missing} fewer than asked "
                                f"({samples.available[code]} candidate(s))")
    params = {"raster": str(path.resolve()), "band": band, "per_class": per_class, "fraction": fraction,
              "classes": list(classes) if classes else None, "seed": seed, "patch": patch,
              "bins": list(bins) if bins else None, "scheme": scheme, "holdout": holdout, "holdout_name": holdout_name}
    _store(settings, kind, name, scheme, legend, existing_scheme, str(path.resolve()), None, rows, request.overwrite,
           params, report, extra_sets, progress)
    return report


def scheme_details(settings: Settings, name: str) -> dict:
    """A scheme's legend and sample sets. Raises NotFoundError listing the schemes."""
    from antares.db.engine import session_scope
    from antares.db.series_sets import list_series_sets
    from antares.db.training import list_sample_sets, list_schemes, scheme_id, scheme_legend

    with session_scope(settings) as session:
        sid = scheme_id(session, name)
        if sid is None:
            known = [s["name"] for s in list_schemes(session)]
            raise NotFoundError(f"class scheme '{name}' does not exist; schemes: {', '.join(known) or '(none)'}.")
        legend = scheme_legend(session, sid)
        sets = [s for s in list_sample_sets(session) if s["scheme"] == name]
        sets += [{"name": s["name"], "kind": "training (time series)", "scheme": name, "samples": s["samples"],
                  "classes": s["classes"], "year": None, "source": s["source"], "created_at": s["created_at"]}
                 for s in list_series_sets(session) if s["scheme"] == name]
    return {"name": name, "classes": [asdict(e) for e in legend], "sample_sets": sets}
