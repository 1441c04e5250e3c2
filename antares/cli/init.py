"""``antares init``."""

from __future__ import annotations

import click

from antares.cli.main import CliState


@click.command(epilog="Example:\n\n  antares db start && antares init")
@click.pass_obj
def init(state: CliState):
    """Create the ODC index, the antares schema and the built-in products.

    Uses the embedded database (start it with 'antares db start') or the server of
    ANTARES_DB_URL. Safe to run again: a second run changes nothing and says so.
    """
    from antares.pipeline.database import init_database

    report = init_database(state.settings())
    for line in report.lines():
        click.echo(line)
