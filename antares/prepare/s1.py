"""``s1_grd``: Sentinel-1 GRD backscatter GeoTIFFs (VV and VH), in dB or linear power.

Layouts
    * one file holding both polarisations as bands, each band saying which it is by
      its description or a ``POLARISATION``/``POLARIZATION`` tag, e.g. WorldCereal's
      ``s1_monthly/2020-11_S1_sigma0_dB.tif`` (bands ``VV_dB`` and ``VH_dB``);
    * one file per polarisation: the polarisation is the band's description or tag,
      else the ``pol`` group of ``--pattern``, else a ``VV``/``VH``/``HH``/``HV`` word in the
      file name (``2020-01-05_VV.tif``, ``2020-01-05/VH.tif``,
      ``S1A_IW_GRDH_1SDV_20200105T055800_..._VV.tif``). Files whose paths differ only by
      that word form one dataset.

Dates
    The ``date`` group of ``--pattern`` (default :data:`DEFAULT_PATTERN`, matched on the
    path relative to ``--path``: the first ``YYYYMMDDTHHMMSS``, ``YYYY-MM-DD``,
    ``YYYYMMDD`` or ``YYYY-MM`` in it), else the tags ``ACQUISITION_DATE``,
    ``ACQUISITION_DATETIME``, ``DATETIME``, ``DATE`` or ``PERIOD``. A month
    (``YYYY-MM``) is a monthly composite: its ``datetime`` is the first day of the month,
    00:00 UTC (the label openEO, which made WorldCereal's composites, gives a monthly
    period; it reads as the month in ``dc.load``'s time axis), and the eo3 properties
    ``dtr:start_datetime``/``dtr:end_datetime`` span the whole month, so a time query
    on any day of the month finds it.

Units
    ``--units db|linear`` when given, else the file says it: band units, band
    descriptions, the ``UNITS``/``UNIT`` tags or the file name containing ``dB``
    (``dB``, ``decibel``) or ``linear``/``power``. Files that say neither fail, asking for
    ``--units``. Product ``s1_grd`` holds dB; linear power goes to ``s1_grd_linear``
    (the default product when ``--units linear`` is given). Indexing linear values into
    a dB product, or dB into a linear one, is refused: the measurement units of the
    product decide. The properties record ``antares:backscatter_units`` (``dB`` or
    ``linear``) and ``sar:polarizations``.

Orbit
    ``sat:orbit_state`` (``ascending``/``descending``) from the tags ``ORBIT_DIRECTION``,
    ``ORBIT_STATE``, ``ORBITPROPERTIES_PASS`` (Google Earth Engine's exports) or ``PASS``;
    ``sat:relative_orbit`` from the tags ``RELATIVE_ORBIT``, ``RELATIVEORBITNUMBER_START``,
    ``TRACK``, else from an ESA product name in the path
    (``S1A_IW_GRDH_1SDV_<start>_<stop>_<absolute orbit>_...``: S1A (abs − 73) mod 175 + 1,
    S1B (abs − 27) mod 175 + 1, Sentinel-1 Product Definition, S1-RS-MDA-52-7440), with
    ``sat:absolute_orbit`` and ``platform``. Monthly composites that mix orbits (WorldCereal's)
    record none, and a recipe's ``s1.orbit`` filter then finds no dataset (it says so).

Dataset ids are uuid5 of the product name and the resolved paths of the files.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Iterator

from antares.errors import InvalidInputError, UsageError
from antares.prepare.base import Candidate, Preparer, check_pixels, dataset_id, parse_datetime, read_band

log = logging.getLogger(__name__)

DEFAULT_PATTERN = r"(?<!\d)(?P<date>\d{8}T\d{6}|\d{4}-\d{2}-\d{2}|\d{8}|\d{4}-\d{2})(?!\d)"
SUFFIXES = {".tif", ".tiff"}
POLARISATIONS = ("VV", "VH", "HH", "HV")
ORBIT_STATE_TAGS = ("ORBIT_DIRECTION", "ORBIT_STATE", "ORBITPROPERTIES_PASS", "PASS", "SAT:ORBIT_STATE")
RELATIVE_ORBIT_TAGS = ("RELATIVE_ORBIT", "RELATIVEORBITNUMBER_START", "TRACK", "SAT:RELATIVE_ORBIT")
_ESA_NAME = re.compile(r"(?<![A-Za-z0-9])S1(?P<unit>[AB])_[A-Z0-9]{2}_[A-Z0-9]{4}_[A-Z0-9]{4}_\d{8}T\d{6}_\d{8}T\d{6}_"
                       r"(?P<orbit>\d{6})_")
_ORBIT_OFFSET = {"A": 73, "B": 27}  # relative = (absolute - offset) mod 175 + 1
_POL_WORD = re.compile(r"(?<![A-Za-z0-9])(VV|VH|HH|HV)(?![A-Za-z0-9])", re.IGNORECASE)
_DB_WORD = re.compile(r"(?<![a-z])(db|decibels?)(?![a-z])")
_LINEAR_WORD = re.compile(r"(?<![a-z])(linear|power)(?![a-z])")
DATE_TAGS = ("ACQUISITION_DATE", "ACQUISITION_DATETIME", "DATETIME", "DATE", "PERIOD")
POL_TAGS = ("POLARISATION", "POLARIZATION")
UNIT_NAMES = {"db": "dB", "linear": "linear"}


def _month_span(start: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """First and last instant of the month starting at ``start``."""
    following = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start, following - dt.timedelta(microseconds=1)


class S1GrdPreparer(Preparer):
    """Sentinel-1 backscatter GeoTIFFs with VV/VH as bands of one file or one file per polarisation, dated by --pattern (group date) or tags"""

    name = "s1_grd"
    default_product = "s1_grd"

    def __init__(self, units: str | None = None, pattern: str | None = None, verify: bool = True):
        """
        Parameters
        ----------
        units : {"db", "linear"}, optional
            What the files hold, overriding what they say; ``"linear"`` makes
            ``s1_grd_linear`` the default product.
        pattern : str, optional
            Regular expression searched in each file's path relative to ``--path``, with a
            named group ``date`` and optionally ``pol``.
        verify : bool
            Decode every pixel once so that corrupt files fail at indexing.

        Raises
        ------
        UsageError
            ``units`` is not db or linear; ``pattern`` is not a regular expression or lacks ``(?P<date>...)``.
        """
        if units is not None and units.lower() not in UNIT_NAMES:
            raise UsageError(f"--units must be db or linear. Got {units!r}.")
        self.units = UNIT_NAMES[units.lower()] if units is not None else None
        if self.units == "linear":
            self.default_product = "s1_grd_linear"
        try:
            self.pattern = re.compile(pattern or DEFAULT_PATTERN)
        except re.error as exc:
            raise UsageError(f"--pattern {pattern!r} is not a valid regular expression: {exc}.") from None
        if "date" not in self.pattern.groupindex:
            raise UsageError(f"--pattern must have the named group (?P<date>...); got {pattern!r}.")
        self.verify = verify
        self._overridden = False

    def describe(self) -> str:
        return "Sentinel-1 backscatter GeoTIFFs (*.tif) holding VV and/or VH, dated by their name or tags"

    def find(self, root: Path, failures: list) -> Iterator[Candidate]:
        """Yield one candidate per multi-polarisation file and per group of single-polarisation files."""
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        groups: dict[str, Candidate] = {}
        for path in files:
            rel = path.name if path == root else path.relative_to(root).as_posix()
            try:
                info = self._inspect(root, path, rel)
            except InvalidInputError as exc:
                failures.append((str(path), str(exc)))
                continue
            key = info["group"]
            if key not in groups:
                groups[key] = Candidate(key=key, label=info["group_label"],
                                        files={"bands": {}, "units": {}, "orbit": info["orbit"]},
                                        properties=info["time"])
            cand = groups[key]
            if cand.properties != info["time"]:
                failures.append((str(path), f"{path}: its date differs from that of its sibling files in {cand.label}."))
                continue
            for pol, band in info["bands"].items():
                if pol in cand.files["bands"]:
                    other = cand.files["bands"][pol][0]
                    failures.append((str(path), f"{path}: {pol} is also in {other}; each polarisation must be in one file "
                                                "per date (rename one, or pass --pattern with a (?P<pol>...) group)."))
                    continue
                cand.files["bands"][pol] = (path, band)
            cand.files["units"][path] = info["units"]
        yield from (c for c in groups.values() if c.files["bands"])

    def _inspect(self, root: Path, path: Path, rel: str) -> dict:
        """Polarisation of each band, date, declared units and grouping key of one file."""
        import rasterio

        try:
            with rasterio.open(path) as src:
                tags = {k.upper(): v for k, v in src.tags().items()}
                band_texts = [
                    (src.descriptions[i] or "", {k.upper(): v for k, v in src.tags(i + 1).items()}, src.units[i] or "")
                    for i in range(src.count)
                ]
        except rasterio.errors.RasterioIOError as exc:
            raise InvalidInputError(f"{path} cannot be read as a raster (corrupt, truncated or not a raster): "
                                    f"{str(exc).splitlines()[0]}") from None
        match = self.pattern.search(rel)
        # polarisation of each band from its description or tags
        bands: dict[str, int] = {}
        for index, (description, btags, _) in enumerate(band_texts, start=1):
            pol = next((btags[t].upper() for t in POL_TAGS if btags.get(t, "").upper() in POLARISATIONS), None)
            found = _POL_WORD.search(description)
            pol = pol or (found.group(1).upper() if found else None)
            if pol is None:
                continue
            if pol in bands:
                raise InvalidInputError(f"{path}: bands {bands[pol]} and {index} both say they hold {pol}; "
                                        "fix the band descriptions (gdal_edit.py or rasterio).")
            bands[pol] = index
        multi = len(band_texts) > 1
        group, group_label = str(path.resolve()), str(path)
        if not multi:
            name_pol, span = _name_polarisation(match, rel)
            bands = bands or ({name_pol: 1} if name_pol else {})
            if span is not None:  # files whose paths differ only by the polarisation word form one dataset
                pattern_path = f"{rel[: span[0]]}{{pol}}{rel[span[1]:]}"
                base = path.parent if path == root else root
                group, group_label = str(base.resolve() / pattern_path), str(base / pattern_path)
        if not bands:
            raise InvalidInputError(
                f"{path}: cannot tell which polarisation its band(s) hold; name them VV/VH in the band descriptions "
                "or POLARISATION tags, or put VV/VH in the file name (e.g. 2020-01-05_VV.tif)."
            )
        return {"bands": bands, "multi": multi, "group": group, "group_label": group_label,
                "time": _time(path, match, tags, self.pattern.pattern), "units": _declared_units(path, tags, band_texts),
                "orbit": orbit_properties(path, rel, tags)}

    def prepare(self, candidate: Candidate, product: dict, product_name: str) -> dict:
        """Build the eo3 document of one S1 dataset.

        Returns
        -------
        dict
            eo3 document with one measurement per polarisation (the product's name for it,
            e.g. ``VV``), float values as stored (dB or linear power, in the files' CRS),
            properties ``datetime`` (``dtr:*`` for composites), ``antares:backscatter_units``
            and ``sar:polarizations``.

        Raises
        ------
        InvalidInputError
            The units are unknown, disagree between files, or differ from the product's;
            a polarisation is not a measurement of the product; a file is unreadable,
            has no CRS or (``verify``) is corrupt.
        """
        names = {m["name"].upper(): m["name"] for m in product["measurements"]}
        names.update({a.upper(): m["name"] for m in product["measurements"] for a in m.get("aliases", [])})
        units = self._units(candidate)
        wanted = _product_units(product)
        if wanted is not None and wanted != units:
            if units == "linear":
                raise InvalidInputError(
                    f"{candidate.label} holds linear power but product {product_name} holds dB; index it with "
                    "--product s1_grd_linear (or --units db if the file is in dB)."
                )
            raise InvalidInputError(
                f"{candidate.label} holds dB but product {product_name} holds linear power; index it with "
                "--product s1_grd (or --units linear if the file holds linear power)."
            )
        bands = []
        for pol in [p for p in POLARISATIONS if p in candidate.files["bands"]]:
            path, index = candidate.files["bands"][pol]
            if pol not in names:
                raise InvalidInputError(f"{path}: polarisation {pol} is not a measurement of product {product['name']} "
                                        f"(measurements: {', '.join(m['name'] for m in product['measurements'])}).")
            bands.append(read_band(names[pol], path, index))
            if self.verify:
                check_pixels(path, index)
        pols = [p for p in POLARISATIONS if p in candidate.files["bands"]]
        properties = {**candidate.properties, **candidate.files.get("orbit", {}), "antares:backscatter_units": units,
                      "sar:polarizations": pols}
        paths = sorted({str(p.resolve()) for p, _ in candidate.files["bands"].values()})
        key = f"s1_grd:{product_name}:{'|'.join(paths)}"
        return self.build_document(dataset_id(key), product_name, bands, properties, label=candidate.label)

    def _units(self, candidate: Candidate) -> str:
        """The units of the candidate's files: ``--units``, else what the files declare."""
        declared = {u for u in candidate.files["units"].values() if u is not None}
        if self.units is not None:
            if declared and declared != {self.units} and not self._overridden:
                self._overridden = True  # warn once per run, not once per file
                log.warning("%s (and maybe others) says %s but --units %s was given; treating the files as %s",
                            candidate.label, ", ".join(sorted(declared)), self.units, self.units)
            return self.units
        if len(declared) > 1:
            raise InvalidInputError(f"{candidate.label}: its files disagree on units ({', '.join(sorted(declared))}); "
                                    "index them separately with --units.")
        unknown = [str(p) for p, u in candidate.files["units"].items() if u is None]
        if unknown:
            raise InvalidInputError(f"{unknown[0]} does not say whether it holds dB or linear power (band units, "
                                    "descriptions, UNITS tag or file name); pass --units db or --units linear.")
        return declared.pop()


def orbit_properties(path: Path, rel: str, tags: dict) -> dict:
    """``sat:orbit_state``, ``sat:relative_orbit`` (and from an ESA product name ``sat:absolute_orbit``,
    ``platform``) of one S1 file, from its tags or its name; ``{}`` when it records neither.

    Raises
    ------
    InvalidInputError
        A tag holds an orbit direction other than ascending/descending, or a relative orbit outside 1..175.
    """
    out = {}
    state = next((tags[t].strip() for t in ORBIT_STATE_TAGS if tags.get(t, "").strip()), None)
    if state is not None:
        if state.lower() not in ("ascending", "descending"):
            raise InvalidInputError(f"{path}: its orbit direction tag says {state!r}; expected ASCENDING or DESCENDING.")
        out["sat:orbit_state"] = state.lower()
    relative = next((tags[t].strip() for t in RELATIVE_ORBIT_TAGS if tags.get(t, "").strip()), None)
    if relative is not None:
        if not relative.isdigit() or not 1 <= int(relative) <= 175:
            raise InvalidInputError(f"{path}: its relative orbit tag says {relative!r}; expected an integer 1..175.")
        out["sat:relative_orbit"] = int(relative)
    name = _ESA_NAME.search(rel)
    if name is not None:
        absolute = int(name.group("orbit"))
        out["platform"] = f"sentinel-1{name.group('unit').lower()}"
        out["sat:absolute_orbit"] = absolute
        out.setdefault("sat:relative_orbit", (absolute - _ORBIT_OFFSET[name.group("unit")]) % 175 + 1)
    return out


def _name_polarisation(match, rel: str) -> tuple[str | None, tuple[int, int] | None]:
    """Polarisation from the ``pol`` group, else the last VV/VH/HH/HV word of the file name; its span in ``rel``."""
    if match is not None and "pol" in match.re.groupindex and match.group("pol"):
        pol = match.group("pol").upper()
        return (pol if pol in POLARISATIONS else None), match.span("pol")
    name_start = rel.rfind("/") + 1
    found = list(_POL_WORD.finditer(rel, name_start))
    if not found:
        return None, None
    return found[-1].group(1).upper(), found[-1].span(1)


def _time(path: Path, match, tags: dict, pattern: str) -> dict:
    """``datetime`` (and ``dtr:*`` for a month) from the pattern's date, else the tags."""
    candidates = []
    if match is not None and match.group("date"):
        candidates.append(("--pattern", match.group("date")))
    candidates += [(f"tag {t}", tags[t].strip()) for t in DATE_TAGS if tags.get(t)]
    if not candidates:
        raise InvalidInputError(f"{path}: no date in its path (--pattern {pattern}) nor in its tags "
                                f"({', '.join(DATE_TAGS)}); rename it or pass --pattern with a (?P<date>...) group.")
    source, text = candidates[0]
    try:
        when = parse_datetime(text)
    except ValueError:
        raise InvalidInputError(f"{path}: cannot parse the date {text!r} from its {source}; "
                                "use YYYY-MM-DD, YYYYMMDD, YYYYMMDDTHHMMSS or YYYY-MM (a monthly composite).") from None
    if re.fullmatch(r"\d{4}-\d{2}", text):
        start, end = _month_span(when)
        return {"datetime": start, "dtr:start_datetime": start.isoformat(), "dtr:end_datetime": end.isoformat()}
    return {"datetime": when}


def _declared_units(path: Path, tags: dict, band_texts: list) -> str | None:
    """``"dB"`` or ``"linear"`` when the file says so unambiguously, else None."""
    texts = [unit for _, _, unit in band_texts] + [d for d, _, _ in band_texts]
    texts += [tags.get("UNITS", ""), tags.get("UNIT", ""), path.stem]
    texts += [btags.get(k, "") for _, btags, _ in band_texts for k in ("UNITS", "UNIT")]
    lowered = [t.lower() for t in texts if t]
    db = any(_DB_WORD.search(t) for t in lowered)
    linear = any(_LINEAR_WORD.search(t) for t in lowered)
    if db == linear:
        if db:
            log.debug("%s mentions both dB and linear power; units unknown", path)
        return None
    return "dB" if db else "linear"


def _product_units(product: dict) -> str | None:
    """``"dB"`` or ``"linear"`` from the units of the product's measurements, None when absent."""
    units = {str(m.get("units", "")).lower() for m in product["measurements"] if m.get("units") is not None}
    if not units:
        return None
    return "dB" if any(u in ("db", "decibel", "decibels") for u in units) else "linear"
