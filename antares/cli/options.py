"""Options shared by several commands, defined once."""

from __future__ import annotations

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace an existing result of the same name.")
