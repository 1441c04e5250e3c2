"""Printing results: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import sys

import datetime as dt
import json
from typing import Iterable, Sequence

import click


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def echo_table(rows: Sequence[dict], columns: Sequence[str], empty: str = "(none)") -> None:
    """Print ``rows`` (dicts) as a left-aligned table of ``columns``."""
    if not rows:
        click.echo(empty)
        return
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    click.echo("  ".join(col.ljust(w) for col, w in zip(columns, widths)).rstrip())
    for r in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())


def echo_rows(rows: Sequence[dict], as_json: bool, columns: Sequence[str], empty: str = "(none)") -> None:
    """``rows`` as JSON (``--json``: every field, typed) or as a table of ``columns``."""
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, columns, empty=empty)


def _default(value):
    """JSON for what ``json`` cannot write: dates as ISO 8601, numbers as numbers (never strings)."""
    import decimal

    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):  # PostgreSQL numeric (e.g. extract(epoch ...))
        return float(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays
        return value.tolist()
    return str(value)


def echo_json(data: Iterable | dict) -> None:
    """Print ``data`` as indented JSON (datetimes as ISO 8601)."""
    click.echo(json.dumps(data if isinstance(data, dict) else list(data), indent=2, default=_default, ensure_ascii=False))


def is_terminal(stream) -> bool:
    """True when ``stream`` is a terminal (progress bars are drawn only there)."""
    return hasattr(stream, "isatty") and stream.isatty()


class tile_progress:
    """``with tile_progress(quiet, "ingest NAME") as progress:`` — a tqdm bar on stderr fed by ``progress(done, total)``.

    Drawn only when stderr is a terminal, so that logs and pipes get the report lines alone.
    ``unit`` is what the stage counts: grid tiles, windows (``segment``, ``db_to_raster``), datasets (``index``),
    objects (``db_to_vector``), samples (``validate``, ``ingest_training``) or folds and epochs (model fitting).
    """

    def __init__(self, quiet: bool, desc: str, unit: str = "tile"):
        from tqdm import tqdm

        stream = sys.stderr
        self.bar = tqdm(total=None, unit=unit, desc=desc, file=stream, disable=quiet or not is_terminal(stream))

    def __enter__(self):
        def progress(done, total):
            self.bar.total = total
            self.bar.update(done - self.bar.n)

        return progress

    def __exit__(self, *exc):
        self.bar.close()
        return False


def echo_report(lines: Sequence[str], failed: bool) -> None:
    """Print a stage's report: detail lines on stderr, the summary (last line) on stdout; exit 1 if ``failed``."""
    for line in lines[:-1]:
        click.echo(line, err=True)
    click.echo(lines[-1])
    if failed:
        raise click.exceptions.Exit(1)
