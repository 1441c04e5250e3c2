r"""``s2_bands``: loose Sentinel-2 band files, one file per band and date.

File paths (relative to the directory given) are matched with a regular expression
whose named groups are ``date``, ``band`` and optionally ``tile``. The default
pattern reads both of these layouts::

    2018-01-07/B02.tif                      (one folder per date)
    T33UUU_20170216T102101_B04.jp2          (tile, sensing time and band in the name)

Files with the same (tile, date) form one dataset. When a band appears at several
resolutions (e.g. B03 at 10 m and 20 m), the finest is kept.

A pattern without a ``band`` group reads multi-band stacks instead: every matching
file is one dataset whose band descriptions name the measurements (e.g. the
WorldCereal monthly composites ``2021-03_S2L2A.tif`` with bands B02 ... B12, read with
``--pattern '(?P<date>\d{4}-\d{2})_S2L2A\.tif$'``).

Several dates in one file (band descriptions such as ``B02``, ``B02_1`` ... ``B02_11``, as
Earth Engine exports a time series, or ``20190206_B02``) are read with ``--band-pattern``: a
regular expression matched against each band description, with the groups ``band`` and
either ``date`` (a date in the description) or ``step`` (the time step: 0 when the group is
empty, as for ``B02``), the steps dated by ``--dates D1,D2,...`` or ``--start DATE --step FREQ``
(a pandas frequency: ``MS`` monthly, ``10D`` ...). Each date becomes one dataset whose
measurements are bands of that file. Without ``--band-pattern`` such a file is refused, naming
how many dates it holds.

Dataset ids are uuid5 of (product, tile, sensing time, CRS, origin of the finest grid):
the same acquisition gets the same id whichever directory the scan starts from, so
re-indexing never duplicates it, while two areas imaged on the same day stay apart.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterator

from antares.errors import InvalidInputError, UsageError
from antares.prepare.base import (Candidate, Preparer, check_pixels, dataset_id, measurement_names, parse_datetime,
                                  read_band)

log = logging.getLogger(__name__)

DEFAULT_PATTERN = (
    r"(?:(?P<tile>T\d{2}[A-Z]{3})_)?(?P<date>\d{8}T\d{6}|\d{4}-\d{2}-\d{2})[/_]"
    r"(?P<band>B\d[0-9A]?|SCL)\.(?:tif|tiff|TIF|jp2|JP2)$"
)
SUFFIXES = {".tif", ".tiff", ".jp2"}


def normalise_band(name: str) -> str:
    """``B2`` -> ``B02``, ``b8a`` -> ``B8A``, ``scl`` -> ``SCL``."""
    name = name.upper()
    match = re.fullmatch(r"B(\d)", name)
    return f"B0{match.group(1)}" if match else name


#: Band descriptions that carry a date or time step beside the band name (suffix _N or prefix YYYYMMDD_).
DATED_DESCRIPTION = re.compile(r"^(?:(?P<date>\d{8})_(?P<band1>\w+)|(?P<band2>[A-Za-z]\w*?)_(?P<step>\d+))$")


def several_dates(descriptions) -> int:
    """How many dates band ``descriptions`` hold when they look like ``B02 B02_1 ...`` or ``20190206_B02``; 0 otherwise."""
    keys = set()
    for d in descriptions:
        match = DATED_DESCRIPTION.match(d or "")
        if match:
            keys.add(match.group("date") or match.group("step"))
    if not keys:
        return 0
    plain = any(d and not DATED_DESCRIPTION.match(d) and any((x or "").startswith(f"{d}_") for x in descriptions)
                for d in descriptions)
    return len(keys) + (1 if plain else 0)


def dated_bands(path: Path, descriptions, band_pattern, dates=None, start=None, step=None) -> dict:
    """``{datetime: {band: band index}}`` of a file holding several dates, from its band ``descriptions``.

    Raises
    ------
    InvalidInputError
        A description does not match ``band_pattern``; steps are not dated (neither ``dates``
        nor ``start`` and ``step``) or ``dates`` does not list one date per step.
    """
    import pandas as pd

    parsed = []
    for index, description in enumerate(descriptions, start=1):
        match = band_pattern.fullmatch(description or "")
        if not match:
            raise InvalidInputError(f"{path}: band {index} description {description!r} does not match --band-pattern "
                                    f"{band_pattern.pattern!r}.")
        key = match.groupdict().get("date")
        if key is None:
            key = int(match.groupdict().get("step") or 0)
        parsed.append((key, normalise_band(match.group("band")), index))
    out: dict = {}
    if "date" in band_pattern.groupindex:
        for key, band, index in parsed:
            try:
                when = parse_datetime(key)
            except ValueError:
                raise InvalidInputError(f"{path}: cannot parse the date {key!r} of band {index}; use YYYYMMDD or YYYY-MM-DD.") from None
            out.setdefault(when, {})[band] = index
        return out
    steps = sorted({key for key, _, _ in parsed})
    if dates:
        if len(dates) != len(steps):
            raise InvalidInputError(f"{path} holds {len(steps)} dates in one file (steps {steps[0]}..{steps[-1]}) but "
                                    f"--dates lists {len(dates)}; give one date per step.")
        when = [parse_datetime(d) for d in dates]
    elif start and step:
        when = [t.to_pydatetime() for t in pd.date_range(parse_datetime(start), periods=len(steps), freq=step)]
    else:
        raise InvalidInputError(f"{path} holds {len(steps)} dates in one file; date them with --dates D1,D2,... or "
                                "--start DATE --step FREQ (e.g. --step MS for monthly).")
    by_step = dict(zip(steps, when))
    for key, band, index in parsed:
        out.setdefault(by_step[key], {})[band] = index
    return out


class S2BandsPreparer(Preparer):
    """loose band files, one per band and date, named by --pattern with groups date, band and optional tile"""

    name = "s2_bands"
    default_product = "s2_l2a"

    def __init__(self, pattern: str | None = None, verify: bool = True, band_pattern: str | None = None,
                 dates: str | None = None, start: str | None = None, step: str | None = None):
        self.band_pattern = None
        if band_pattern is not None:
            try:
                self.band_pattern = re.compile(band_pattern)
            except re.error as exc:
                raise UsageError(f"--band-pattern {band_pattern!r} is not a valid regular expression: {exc}.") from None
            groups = set(self.band_pattern.groupindex)
            if "band" not in groups or not groups & {"date", "step"}:
                raise UsageError("--band-pattern must have the named groups (?P<band>...) and (?P<date>...) or (?P<step>...).")
            pattern = pattern or r"\.(?:tif|tiff|TIF)$"
        self.dates = [d.strip() for d in dates.split(",") if d.strip()] if dates else None
        self.start, self.step = start, step
        try:
            self.pattern = re.compile(pattern or DEFAULT_PATTERN)
        except re.error as exc:
            raise UsageError(f"--pattern {pattern!r} is not a valid regular expression: {exc}.") from None
        if self.band_pattern is not None:
            self.stacks = True
            self.verify = verify
            return
        if "date" not in self.pattern.groupindex:
            raise UsageError("--pattern must have the named group (?P<date>...) (and (?P<band>...) unless the files are "
                             "multi-band stacks whose band descriptions name the bands).")
        self.stacks = "band" not in self.pattern.groupindex
        self.verify = verify

    def describe(self) -> str:
        return f"raster files whose path matches {self.pattern.pattern}"

    def find(self, root: Path, failures: list) -> Iterator[Candidate]:
        groups: dict[tuple, Candidate] = {}
        bad_dates: dict[tuple, list[Path]] = {}
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES)
        for path in files:
            rel = path.name if path == root else path.relative_to(root).as_posix()
            match = self.pattern.search(rel)
            if not match:
                log.debug("skipping %s: does not match the pattern", path)
                continue
            if self.band_pattern is not None:
                self._dated(path, match, groups, failures)
                continue
            date_text = match.group("date")
            try:
                when = parse_datetime(date_text)
            except ValueError:
                bad_dates.setdefault((path.parent, date_text), []).append(path)
                continue
            tile = match.groupdict().get("tile")
            key = (tile, when)
            if key not in groups:
                label = f"{tile + ' ' if tile else ''}{when:%Y-%m-%d %H:%M:%S} under {root}"
                groups[key] = Candidate(key=f"{tile}:{when.isoformat()}", label=label,
                                        properties={"datetime": when, **({"odc:region_code": tile.removeprefix("T")} if tile else {})})
            if self.stacks:
                groups[key].files.setdefault("", []).append(path)
            else:
                groups[key].files.setdefault(normalise_band(match.group("band")), []).append(path)
        if self.band_pattern is not None:
            yield from groups.values()
            return
        for (folder, date_text), paths in sorted(bad_dates.items()):
            failures.append((str(paths[0]), f"{folder}: cannot parse the date {date_text!r} that --pattern matched in "
                                            f"{len(paths)} file(s) (e.g. {paths[0].name}); use YYYY-MM-DD, YYYYMMDD or YYYYMMDDTHHMMSS."))
        yield from groups.values()

    def _dated(self, path: Path, match, groups: dict, failures: list) -> None:
        """Add the dates of one multi-date file to ``groups`` (keyed (tile, datetime)); failures are recorded."""
        import rasterio

        try:
            with rasterio.open(path) as src:
                descriptions = src.descriptions
            found = dated_bands(path, descriptions, self.band_pattern, self.dates, self.start, self.step)
        except rasterio.errors.RasterioIOError as exc:
            failures.append((str(path), f"{path} cannot be read as a raster: {str(exc).splitlines()[0]}"))
            return
        except InvalidInputError as exc:
            failures.append((str(path), str(exc)))
            return
        tile = match.groupdict().get("tile")
        for when, bands in found.items():
            key = (tile, when)
            if key not in groups:
                groups[key] = Candidate(key=f"{tile}:{when.isoformat()}", label=f"{path} {when:%Y-%m-%d %H:%M:%S}",
                                        properties={"datetime": when, **({"odc:region_code": tile.removeprefix("T")} if tile else {})})
            for band, index in bands.items():
                groups[key].files.setdefault(None, {}).setdefault(band, []).append((path, index))

    def _stack_bands(self, candidate: Candidate) -> dict:
        """band name -> [(path, band index)] from the descriptions of multi-band files."""
        import rasterio

        out: dict = {}
        for path in candidate.files[""]:
            try:
                with rasterio.open(path) as src:
                    descriptions = src.descriptions
            except rasterio.errors.RasterioIOError as exc:
                raise InvalidInputError(f"{path} cannot be read as a raster (corrupt, truncated or not a raster): "
                                        f"{str(exc).splitlines()[0]}") from exc
            dates = several_dates(descriptions)
            if dates:
                shown = [d for d in descriptions if d]
                raise InvalidInputError(
                    f"{path}: {dates} dates in one file (band descriptions {', '.join(shown[:3])}, ..., {shown[-1]}); "
                    "index it with --band-pattern (groups band and date or step) and --dates or --start/--step "
                    "(see docs/guide/your-data.md).")
            if not all(descriptions):
                raise InvalidInputError(f"{path}: band descriptions are missing, so the bands cannot be named; "
                                        "give each band a description (B02, B03, ...) or use one file per band with a (?P<band>...) group.")
            for index, description in enumerate(descriptions, start=1):
                out.setdefault(normalise_band(description), []).append((path, index))
        return out

    def prepare(self, candidate: Candidate, product: dict, product_name: str) -> dict:
        names = measurement_names(product)
        if None in candidate.files:  # bands of multi-date files, found by find()
            files = candidate.files[None]
        else:
            files = (self._stack_bands(candidate) if self.stacks
                     else {band: [(p, 1) for p in paths] for band, paths in candidate.files.items()})
        bands = []
        for band, paths in sorted(files.items()):
            if self.only is not None and names.get(band) not in self.only:
                continue  # not selected with --bands
            if band not in names:
                raise InvalidInputError(
                    f"{paths[0][0]}: band {band} is not a measurement of product {product['name']} "
                    f"(measurements: {', '.join(m['name'] for m in product['measurements'])})."
                )
            found = [read_band(names[band], p, index) for p, index in paths]
            best = min(found, key=lambda b: abs(b.transform[0]))
            if len(found) > 1:
                log.debug("%s: band %s found at several resolutions; keeping %s", candidate.label, band, best.path)
            if self.verify:
                check_pixels(best.path, best.band)
            bands.append(best)
        finest = min(bands, key=lambda b: abs(b.transform[0]))
        key = f"s2_bands:{product_name}:{candidate.key}:{finest.crs}:{finest.transform[2]:.3f}:{finest.transform[5]:.3f}"
        return self.build_document(dataset_id(key), product_name, bands, candidate.properties, label=candidate.label)
