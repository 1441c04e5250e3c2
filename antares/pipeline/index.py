"""``prepare_metadata`` and ``index``: files -> eo3 documents -> ODC index."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from antares.config import Settings

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    """Outcome of one ``index`` call. ``failures`` are ``(file or dataset, message)``."""

    prepared: int = 0
    added: int = 0
    existing: int = 0
    failures: list = field(default_factory=list)
    product: str = ""
    product_change: object = None
    mapping: list = field(default_factory=list)  # see mapping_rows

    def lines(self, max_failures: int | None = 20) -> list[str]:
        """Failure lines (at most ``max_failures``), the product line if one was added, and a summary."""
        shown = self.failures if max_failures is None else self.failures[:max_failures]
        out = [f"failed: {message}" for _, message in shown]
        if len(self.failures) > len(shown):
            out.append(f"... and {len(self.failures) - len(shown)} more failures (run with -v to see all)")
        if self.product_change is not None:
            out.append(f"product {self.product}: {self.product_change.action} ({self.product_change.detail})")
        refused = sum(1 for key, _ in self.failures if key in self._refused_ids)
        found = self.prepared + len(self.failures) - refused
        out.append(
            f"{self.added} dataset(s) indexed into {self.product}, {self.existing} already indexed, "
            f"{len(self.failures)} failed (of {found} found)"
        )
        return out

    @property
    def _refused_ids(self) -> set:
        return {key for key, message in self.failures if message.startswith("dataset ") and "refused by the index" in message}


def _open(settings: Settings):
    from antares.cube.index import connect
    from antares.db.engine import database_url, open_database

    open_database(settings)  # clear errors for an unreachable or uninitialised database
    return connect(database_url(settings))


def _nodata_equal(a, b) -> bool:
    import math

    if a is None or b is None:
        return a is None and b is None
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or a == b


def file_types(bands: dict, name: str) -> tuple:
    """``(dtype, nodata, Band)`` the files give measurement ``name`` (the first dataset's), ``(None, None, None)`` if none."""
    for per_doc in bands.values():
        band = per_doc.get(name)
        if band is not None:
            return band.dtype, band.nodata, band
    return None, None, None


def file_packing(band) -> tuple[float, float]:
    """``(scale_factor, add_offset)`` the file of ``band`` (a MeasurementFile) declares; 1 and 0 where it declares none."""
    return (1.0 if band.scale_factor is None else band.scale_factor, 0.0 if band.add_offset is None else band.add_offset)


def scale_text(scale: float = 1.0, offset: float = 0.0) -> str:
    """How the mapping report and messages write ``value = stored * scale + offset``: ``x 0.0001`` or ``x 5e-05 + 0.8``."""
    return f"x {scale:g}" + (f" + {offset:g}" if offset else "")


def _same_packing(band, m: dict) -> bool:
    """Whether the packing the file of ``band`` declares is the one measurement ``m`` declares (to float32 precision)."""
    import numpy as np

    declared = (float(m.get("scale_factor", 1.0)), float(m.get("add_offset", 0.0)))
    return bool(np.allclose(file_packing(band), declared, rtol=1e-6, atol=1e-12))


def derive_product(base: dict, name: str, documents: list[dict], bands: dict | None = None) -> dict:
    """A product named ``name`` with the measurements of ``base`` present in every document.

    Loose band files seldom carry every band of a full Sentinel-2 product, and ODC
    requires each dataset to have all measurements of its product, so ``index`` and
    ``prepare_metadata`` derive a product from the base definition when the product
    named by ``--product`` is not indexed yet. ``base`` gives the names, aliases and units;
    the dtype and nodata of each measurement come from the files (``bands``: dataset id ->
    {measurement: :class:`~antares.prepare.base.MeasurementFile`}; a file without nodata keeps the base's), except
    where the base's dtype is floating and the file's casts to it safely (an int16 DEM read as
    float32 with NaN voids).
    The base's ``scale_factor``/``add_offset`` (digital numbers to reflectance) are kept for
    integer files and dropped for floating-point files, which hold values as they are. A file
    that declares its own packing (a NetCDF variable's CF ``scale_factor``/``add_offset``) gives
    the measurement that packing instead, and a file that declares units gives its units.

    Raises
    ------
    InvalidInputError
        No measurement is common to all documents.
    """
    import copy

    import numpy as np

    from antares.errors import InvalidInputError

    bands = bands or {}
    common = set.intersection(*(set(d["measurements"]) for d in documents)) if documents else set()
    measurements = [copy.deepcopy(m) for m in base["measurements"] if m["name"] in common]
    if not measurements:
        raise InvalidInputError(f"the datasets found share no measurement of product {base['name']}; cannot derive product {name}.")
    for m in measurements:
        dtype, nodata, band = file_types(bands, m["name"])
        if band is not None and band.units:
            m["units"] = band.units
        if dtype is None or (np.dtype(m["dtype"]).kind == "f" and np.can_cast(np.dtype(dtype), np.dtype(m["dtype"]), "safe")):
            pass  # a floating base (e.g. elevation, NaN = nodata) holds the file's values exactly
        else:
            m["dtype"] = str(np.dtype(dtype))
            if nodata is not None:
                m["nodata"] = "NaN" if np.isnan(nodata) else (int(nodata) if np.dtype(dtype).kind in "iub" else float(nodata))
            elif np.dtype(dtype).kind == "f":
                m["nodata"] = "NaN"
            if np.dtype(dtype).kind == "f":
                m.pop("scale_factor", None)
                m.pop("add_offset", None)
        if band is not None and band.packed:
            m["scale_factor"], offset = file_packing(band)
            m.pop("add_offset", None)
            if offset:
                m["add_offset"] = offset
    doc = copy.deepcopy(base)
    doc["name"] = name
    doc["description"] = (f"Measurements {', '.join(m['name'] for m in measurements)} as the indexed files hold them "
                          f"(dtype and nodata from the files, and their packing (scale_factor, add_offset) and units where "
                          f"they declare them; names, aliases and other units after product {base['name']})")
    doc["metadata"] = {"product": {"name": name}}
    doc["measurements"] = measurements
    return doc


def check_file_types(definition: dict, documents: list[dict], bands: dict) -> tuple[list, list]:
    """Split ``documents`` into those whose files match ``definition``'s dtypes and nodata, and failures.

    A file's dtype must cast safely to the product's (``numpy.can_cast(..., "safe")``), a
    file that declares a nodata must declare the product's when the product's dtype is an integer,
    and a file that declares a packing (CF ``scale_factor``/``add_offset``) must declare the
    product's ``scale_factor``/``add_offset`` (1 and 0 where the product declares none) and
    be for a measurement that is scaled when read (not classes such as SCL).

    Returns
    -------
    (accepted documents, failures as ``(dataset id, one-line message)``)
    """
    import numpy as np

    from antares.cube.reflectance import never_scaled

    declared = {m["name"]: m for m in definition["measurements"]}
    accepted, failures = [], []
    for doc in documents:
        problem = None
        for name, band in sorted(bands.get(doc["id"], {}).items()):
            m = declared.get(name)
            if m is None or band.dtype is None:
                continue
            wrong_dtype = not np.can_cast(np.dtype(band.dtype), np.dtype(m["dtype"]), "safe")
            # a floating product reads any file nodata as its own (NaN); an integer one cannot tell them apart
            wrong_nodata = (band.nodata is not None and np.dtype(m["dtype"]).kind != "f"
                            and not _nodata_equal(band.nodata, m.get("nodata")))
            if wrong_dtype or wrong_nodata:
                problem = (f"{band.where} ({name}): the file holds {band.dtype} with nodata "
                           f"{'none' if band.nodata is None else format(band.nodata, 'g')}, "
                           f"product {definition['name']} declares {m['dtype']} with nodata {m.get('nodata')}; index into "
                           "a new product (--product NEW_NAME derives one from the files) or convert the files "
                           f"(gdal_translate -ot ... -a_nodata ...).")
                break
            if band.packed and never_scaled(name, m) and file_packing(band) != (1.0, 0.0):
                problem = (f"{band.where} ({name}): the file packs it as {scale_text(*file_packing(band))} (scale_factor, "
                           f"add_offset), but {name} of product {definition['name']} holds classes, read as stored; "
                           "write the variable unpacked or leave it out with --bands.")
                break
            if band.packed and not _same_packing(band, m):
                problem = (f"{band.where} ({name}): the file packs it as {scale_text(*file_packing(band))} (scale_factor, "
                           f"add_offset), product {definition['name']} declares "
                           f"{scale_text(float(m.get('scale_factor', 1.0)), float(m.get('add_offset', 0.0)))}; index into "
                           "a new product (--product NEW_NAME derives one from the files) or write the files with "
                           "one packing.")
                break
        if problem:
            failures.append((doc["id"], problem))
        else:
            accepted.append(doc)
    return accepted, failures


def mapping_rows(definition: dict, bands: dict) -> list[dict]:
    """The mapping report: per measurement, the file band it is read from and how it is read.

    Parameters
    ----------
    definition : dict
        The product definition the documents are for.
    bands : dict
        Dataset id -> {measurement: :class:`~antares.prepare.base.MeasurementFile`}.

    Returns
    -------
    list of dict
        ``file band`` (first dataset's file name and band index), ``file dtype``, ``file nodata``,
        ``measurement``, ``units``, ``dtype`` and ``nodata`` (the product's), ``scale`` (``scale_factor``/``add_offset``
        declared by the product, ``as is`` when none), ``datasets`` (how many have it).
    """
    rows = []
    for m in definition["measurements"]:
        count = sum(1 for per_doc in bands.values() if m["name"] in per_doc)
        if not count:
            continue
        _, _, band = file_types(bands, m["name"])
        scale = "as is"
        if "scale_factor" in m or "add_offset" in m:
            scale = scale_text(float(m.get("scale_factor", 1.0)), float(m.get("add_offset", 0.0)))
        rows.append({"file band": f"{band.path.name if band.path else '(remote)'}:{band.band}",
                     "file dtype": band.dtype, "file nodata": None if band.nodata is None else f"{band.nodata:g}",
                     "measurement": m["name"], "units": m.get("units"), "dtype": m["dtype"],
                     "nodata": m.get("nodata"), "scale": scale, "datasets": count})
    return rows


@dataclass
class Prepared:
    """Documents and failures of a preparer run, the product used, and a derived product definition."""

    documents: list
    failures: list
    product: str
    derived: dict | None = None
    mapping: list = field(default_factory=list)  # see mapping_rows


def select_measurements(definition: dict, bands) -> set | None:
    """The measurement names of ``definition`` that ``bands`` (names or aliases; None: all) selects.

    Raises
    ------
    UsageError
        A name is neither a measurement nor an alias of ``definition`` (its measurements are listed).
    """
    from antares.errors import UsageError

    if not bands:
        return None
    names = {m["name"].upper(): m["name"] for m in definition["measurements"]}
    names.update({a.upper(): m["name"] for m in definition["measurements"] for a in m.get("aliases", [])})
    unknown = [b for b in bands if b.upper() not in names]
    if unknown:
        raise UsageError(f"--bands {', '.join(unknown)}: not a measurement of product {definition['name']} "
                         f"(measurements: {', '.join(m['name'] for m in definition['measurements'])}).")
    return {names[b.upper()] for b in bands}


def prepare(settings: Settings, path, preparer: str, product: str | None = None, bands=None, progress=None,
            **options) -> Prepared:
    """Run ``preparer`` over ``path`` for ``product``, keeping the measurements ``bands`` (names or aliases; all by default).

    ``progress(done, total)`` is called after each dataset found (its pixels are decoded to verify it).

    When ``product`` is not indexed, its definition is derived from the preparer's
    default product (e.g. ``s2_l2a``) restricted to the measurements the files have
    (see :func:`derive_product`); it is returned in ``derived`` and not yet added.

    Raises
    ------
    InvalidInputError
        ``path`` is missing or nothing under it is recognised.
    NotFoundError
        Neither ``product`` nor the preparer's default product is indexed.
    UsageError
        ``bands`` names something that is not a measurement of the product.
    """
    from urllib.parse import unquote, urlparse

    from antares.cube.catalog import get_product
    from antares.cube.index import product_definition
    from antares.prepare import get_preparer

    prep = get_preparer(preparer, **options)
    name = product or prep.default_product
    dc = _open(settings)
    try:
        existing = get_product(dc, name)
        definition = existing.definition if existing is not None else product_definition(dc, prep.default_product)
    finally:
        dc.close()
    prep.only = select_measurements(definition, bands)
    result = prep.run(Path(path), definition, name, progress)
    if prep.only is not None:
        for doc in result.documents:
            doc["measurements"] = {k: v for k, v in doc["measurements"].items() if k in prep.only}
            result.bands[doc["id"]] = {k: v for k, v in result.bands.get(doc["id"], {}).items() if k in prep.only}
    if existing is not None:
        needed = [m["name"] for m in definition["measurements"]]
        complete, failures = [], list(result.failures)
        for doc in result.documents:
            missing = [m for m in needed if m not in doc["measurements"]]
            if missing:
                folder = unquote(urlparse(next(iter(doc["measurements"].values()))["path"]).path).rsplit("/", 1)[0]
                failures.append((doc["id"], f"{folder}: "
                                            f"product {name} needs measurement(s) {', '.join(missing)}, which the files lack; "
                                            "index into a new product with --product NEW_NAME to derive one from the bands present."))
            else:
                complete.append(doc)
        complete, refused = check_file_types(definition, complete, result.bands)
        failures.extend(refused)
        return Prepared(complete, failures, name, mapping=mapping_rows(definition, result.bands))
    if not result.documents:  # every dataset failed: report the failures, derive nothing
        return Prepared([], result.failures, name)
    derived = derive_product(definition, name, result.documents, result.bands)
    keep = {m["name"] for m in derived["measurements"]}
    for doc in result.documents:
        doc["measurements"] = {k: v for k, v in doc["measurements"].items() if k in keep}
    documents, refused = check_file_types(derived, result.documents, result.bands)  # datasets unlike the first
    return Prepared(documents, result.failures + refused, name, derived, mapping_rows(derived, result.bands))


def write_documents(documents: list[dict], outfile: str | Path) -> None:
    """Write eo3 documents as one multi-document YAML, atomically (temp file + rename).

    Raises
    ------
    WriteError
        The file could not be written (a full disk ...); the free space is named.
    """
    import yaml

    from antares.cube.write import write_text

    write_text(outfile, yaml.safe_dump_all(documents, sort_keys=False))


def index_path(settings: Settings, path, preparer: str, product: str | None = None, bands=None, progress=None,
               **options) -> IndexReport:
    """Prepare every dataset under ``path`` and add it to the ODC index.

    ``progress(done, total)`` is called after each dataset is prepared (its pixels decoded and checked).

    Dataset ids are stable (uuid5 of what identifies a dataset for the preparer:
    product, tile, time and grid for loose bands; the resolved path for SAFE folders
    and DEMs), so indexing the same files again adds nothing. A dataset that fails is reported; the others are indexed.

    The call is recorded as a run (kind ``index``, named by the product; ``antares run show``): its
    parameters, the command line, and as outputs the ids of the datasets of ``path`` now in the index;
    a call that adds nothing (every dataset already indexed, or every one refused) records no run.

    Raises
    ------
    InvalidInputError
        ``path`` is missing or nothing under it is recognised.
    NotFoundError
        ``product`` is not indexed.
    RunningError
        Another ``index`` into the same product is running.
    """
    from antares.cube.index import add_dataset_documents, connect
    from antares.db.engine import database_url
    from antares.pipeline.run import recorded_step

    prepared = prepare(settings, path, preparer, product, bands, progress, **options)
    report = IndexReport(prepared=len(prepared.documents), failures=list(prepared.failures), product=prepared.product,
                         mapping=prepared.mapping)
    source = str(Path(path).resolve())
    params = {"path": source, "preparer": preparer, "product": prepared.product, "bands": bands,
              **{k: v for k, v in options.items() if v is not None}}

    def work():
        dc = connect(database_url(settings))
        try:
            if prepared.derived is not None:
                from antares.cube.index import add_product

                report.product_change = add_product(dc, prepared.derived)
            report.added, report.existing, refused = add_dataset_documents(dc, prepared.documents)
        finally:
            dc.close()
        report.failures.extend(refused)
        failed = {str(key) for key, _ in report.failures}
        indexed = sorted(str(doc["id"]) for doc in prepared.documents if str(doc["id"]) not in failed)
        outputs = {"product": prepared.product, "datasets": indexed, "added": report.added,
                   "already_indexed": report.existing, "failed": len(report.failures),
                   "failures": [message for _, message in report.failures[:20]]}
        change = report.product_change
        if change is not None and change.action in ("added", "updated"):
            outputs["product_definition"] = change.action
        elif report.added == 0:
            outputs = None  # indexing the same files again is a no-op: no run (antares list runs)
        return report, {"path": source}, outputs

    # the run (kind index, named by the product) records the ids of the datasets now in the index
    recorded_step(settings, "index", prepared.product, _json_safe(params), work)
    log.debug("indexed %d datasets into %s", report.added, prepared.product)
    return report


def _json_safe(params: dict) -> dict:
    """``params`` with values JSON cannot hold (paths, tuples of them) as strings."""
    return {k: v if isinstance(v, (str, int, float, bool, type(None))) else
            [str(x) for x in v] if isinstance(v, (list, tuple)) else str(v) for k, v in params.items()}


def add_product_file(settings: Settings, path):
    """Add the product definition in ``path`` (see :func:`antares.cube.index.add_product`)."""
    from antares.cube.index import add_product, read_product_definition

    doc = read_product_definition(path)
    dc = _open(settings)
    try:
        return add_product(dc, doc)
    finally:
        dc.close()
