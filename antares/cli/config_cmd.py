"""``antares config show``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import json_option
from antares.cli.output import echo_json, echo_table


@click.group(epilog="""\b
Examples:
  antares config show
  ANTARES_WORKERS=4 antares config show""")
def config():
    """Inspect the configuration."""


@config.command(epilog="Example:\n\n  ANTARES_WORKERS=4 antares config show")
@json_option
@click.pass_obj
def show(state: CliState, as_json):
    """Show every setting with its value and source (flag, env, file, default).

    Passwords in database URLs are masked.
    """
    from antares.config import KEY_NAMES, mask_password

    settings = state.settings()
    rows = []
    for key in KEY_NAMES:
        value = getattr(settings, key)
        if key == "db_url":
            value = mask_password(value) if value else f"(embedded database in {settings.home / 'pgdata'})"
        rows.append({"key": key, "value": None if value is None else str(value), "source": settings.sources[key]})
    rows.append({"key": "config_file", "value": str(settings.config_file) if settings.config_file else None, "source": "-"})
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, ["key", "value", "source"])
