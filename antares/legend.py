"""Class legends (class schemes): integer code, name and colour of every class.

A legend is read from a CSV or YAML file, or built from the class values found in a
training file: names are given codes 1, 2, ... in sorted order and colours from a fixed
qualitative palette (ColorBrewer *Set3* + *Paired*, as QGIS and most GIS offer them).
:func:`assign_codes` maps the class values of a field (codes or names) to a legend's codes.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from antares.errors import InvalidInputError

#: 24 distinguishable colours (ColorBrewer Set3 then Paired), used in order for legends
#: built without a legend file.
PALETTE = (
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
    "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f",
    "#a6cee3", "#1f78b4", "#b2df8a", "#33a02c", "#fb9a99", "#e31a1c", "#fdbf6f", "#ff7f00",
    "#cab2d6", "#6a3d9a", "#ffff99", "#b15928",
)

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class LegendEntry:
    """One class of a legend.

    Attributes
    ----------
    code : int
        The class code stored in samples, predictions and rasters (1 .. 65534; 0 and
        65535 are kept for nodata in classified rasters).
    name : str
        The class name shown in reports and maps.
    colour : str
        ``#rrggbb`` (lower case).
    """

    code: int
    name: str
    colour: str


def palette_colour(i: int) -> str:
    """The ``i``-th colour (0-based) of :data:`PALETTE`, cycling."""
    return PALETTE[i % len(PALETTE)]


def normalise_colour(value: str, source: str) -> str:
    """``value`` as ``#rrggbb`` lower case; raises InvalidInputError naming ``source``."""
    text = str(value).strip()
    if not text.startswith("#"):
        text = "#" + text
    if not _HEX.match(text):
        raise InvalidInputError(f"{source}: colour {value!r} is not #rrggbb (e.g. #33a02c).")
    return text.lower()


def check_legend(entries: list[LegendEntry], source: str) -> list[LegendEntry]:
    """Entries sorted by code, checked for unique codes and names and valid codes."""
    if not entries:
        raise InvalidInputError(f"{source}: the legend has no classes.")
    codes: dict[int, str] = {}
    names: dict[str, int] = {}
    for e in entries:
        if not 1 <= e.code <= 65534:
            raise InvalidInputError(f"{source}: class code {e.code} ({e.name!r}) must be in 1..65534 (0 is nodata).")
        if e.code in codes:
            raise InvalidInputError(f"{source}: class code {e.code} is given twice ({codes[e.code]!r}, {e.name!r}).")
        if e.name in names:
            raise InvalidInputError(f"{source}: class name {e.name!r} is given twice (codes {names[e.name]}, {e.code}).")
        if not e.name.strip():
            raise InvalidInputError(f"{source}: class code {e.code} has an empty name.")
        codes[e.code] = e.name
        names[e.name] = e.code
    return sorted(entries, key=lambda e: e.code)


def _entry(row: dict, i: int, source: str) -> LegendEntry:
    lower = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    if "code" not in lower or "name" not in lower:
        raise InvalidInputError(
            f"{source}: legend entry {i + 1} needs 'code' and 'name' (and optionally 'colour'); got {sorted(lower)}."
        )
    try:
        code = int(str(lower["code"]).strip())
    except ValueError:
        raise InvalidInputError(f"{source}: legend entry {i + 1} has code {lower['code']!r}, expected an integer.") from None
    name = str(lower["name"]).strip()
    colour = lower.get("colour", lower.get("color"))
    colour = normalise_colour(colour, source) if colour not in (None, "") else palette_colour(i)
    return LegendEntry(code, name, colour)


def read_legend(path: str | Path) -> list[LegendEntry]:
    """Read a legend file.

    Parameters
    ----------
    path : str or Path
        A CSV file with a header ``code,name[,colour]`` or a YAML file holding either a
        list of ``{code, name, colour}`` mappings or a mapping ``{classes: [...]}``.
        A missing colour takes the palette colour of the entry's position.

    Returns
    -------
    list of LegendEntry
        Sorted by code.

    Raises
    ------
    InvalidInputError
        The file is missing, unreadable, or an entry lacks a code or name, has a
        non-integer code, a bad colour, or repeats a code or name.
    """
    path = Path(path)
    source = f"legend file {path}"
    if not path.is_file():
        raise InvalidInputError(f"{source} does not exist. Give a CSV (code,name,colour) or YAML legend.")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{source} cannot be read as UTF-8 text: {exc}.") from None
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{source} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if isinstance(data, dict):
            data = data.get("classes")
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InvalidInputError(f"{source}: expected a list of {{code, name, colour}} entries (or classes: [...]).")
        rows = data
    elif suffix in (".csv", ".txt"):
        rows = list(csv.DictReader(text.splitlines()))
    else:
        raise InvalidInputError(f"{source}: expected a .csv or .yaml file, got {suffix or 'no extension'!r}.")
    return check_legend([_entry(r, i, source) for i, r in enumerate(rows)], source)


def legend_from_names(names) -> list[LegendEntry]:
    """A legend for class names: codes 1, 2, ... in sorted order, palette colours.

    Parameters
    ----------
    names : iterable of str
        The distinct class names found in the data (duplicates are ignored).
    """
    unique = sorted({str(n) for n in names})
    return [LegendEntry(i + 1, n, palette_colour(i)) for i, n in enumerate(unique)]


def legend_from_codes(codes) -> list[LegendEntry]:
    """A legend for integer class codes found in data: names ``class <code>``, palette colours."""
    unique = sorted({int(c) for c in codes})
    return check_legend(
        [LegendEntry(c, f"class {c}", palette_colour(i)) for i, c in enumerate(unique)], "class codes in the data"
    )


def is_integer_like(values) -> bool:
    """Whether every one of ``values`` is a finite number with no fractional part (``3``, ``3.0``, ``"3"``)."""
    import numpy as np

    try:
        as_float = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return False
    return bool(np.all(np.isfinite(as_float)) and np.all(as_float == np.round(as_float)))


def assign_codes(values, legend: list[LegendEntry] | None, source: str, field_name: str):
    """Class codes for the class ``values`` of a field (codes or names), and the legend to use.

    Parameters
    ----------
    values : sequence
        The field's values (no missing values).
    legend : list of LegendEntry or None
        The legend to map into; without one, a legend is built from the values (names
        in sorted order get codes 1, 2, ...; integer values keep their code).

    Returns
    -------
    codes : ndarray of int64
    legend : list of LegendEntry

    Class names are stripped of surrounding spaces. Without a legend, names that differ
    only in case are refused; with one, names match it regardless of case.

    Raises
    ------
    InvalidInputError
        A value that is neither a code nor a name of the legend (all such values listed);
        without a legend, names that differ only in case (listed).
    """
    import numpy as np

    values = list(values)
    numeric = is_integer_like(values)
    if not numeric:
        values = [str(v).strip() for v in values]
    if legend is None:
        if not numeric:
            _refuse_case_collisions(values, source, field_name)
        legend = legend_from_codes(values) if numeric else legend_from_names(values)
    by_code = {e.code: e for e in legend}
    by_name = {e.name: e for e in legend}
    by_name_folded = {e.name.casefold(): e for e in legend}
    codes, missing = [], set()
    for value in values:
        entry = None
        if numeric:
            entry = by_code.get(int(float(value)))
        else:
            text = value
            entry = by_name.get(text) or by_name_folded.get(text.casefold())
            if entry is None and text.lstrip("-").isdigit():
                entry = by_code.get(int(text))
        if entry is None:
            missing.add(str(int(float(value))) if numeric else str(value))
            continue
        codes.append(entry.code)
    if missing:
        known = ", ".join(f"{e.code}={e.name}" for e in legend)
        raise InvalidInputError(
            f"{source}: field '{field_name}' has value(s) {', '.join(sorted(missing))} not in the legend ({known}); "
            "add them to the legend file or fix the data."
        )
    return np.asarray(codes, dtype=np.int64), legend


def _refuse_case_collisions(names: list[str], source: str, field_name: str) -> None:
    """Raise InvalidInputError listing class names that differ only in case ("Forest", "forest")."""
    spellings: dict[str, set] = {}
    for name in names:
        spellings.setdefault(name.casefold(), set()).add(name)
    clashes = [" / ".join(sorted(s)) for _, s in sorted(spellings.items()) if len(s) > 1]
    if clashes:
        raise InvalidInputError(
            f"{source}: field '{field_name}' has class names that differ only in case: {'; '.join(clashes)}. "
            "Spell each class one way in the data, or give a --legend (names match it regardless of case)."
        )
