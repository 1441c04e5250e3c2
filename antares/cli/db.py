"""``antares db start | stop | status | url``: the embedded PostgreSQL + PostGIS database."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.config import mask_password


def _external(settings) -> str | None:
    if settings.embedded:
        return None
    return f"antares uses the database at {mask_password(settings.db_url)} (from {settings.sources['db_url']})"


def _cluster(settings):
    from antares.db.local import LocalCluster

    return LocalCluster(settings.home, settings.pg_bin)


@click.group(epilog="Example:\n\n  antares db start && antares db status")
def db():
    """Start, stop and locate the embedded PostgreSQL + PostGIS database.

    The embedded database lives in $ANTARES_HOME/pgdata (default ~/.antares). When
    ANTARES_DB_URL (or db.url in the config file) is set, antares uses that server
    instead and these commands only say so.
    """


@db.command(epilog="Example:\n\n  antares db start")
@click.pass_obj
def start(state: CliState):
    """Start the embedded database (creating it on first use); harmless when running."""
    settings = state.settings()
    external = _external(settings)
    if external:
        click.echo(f"{external}; nothing to start.")
        return
    info, started = _cluster(settings).start()
    click.echo(("started " if started else "already running: ") + info.describe())


@db.command(epilog="Example:\n\n  antares db stop")
@click.pass_obj
def stop(state: CliState):
    """Stop the embedded database."""
    settings = state.settings()
    external = _external(settings)
    if external:
        click.echo(f"{external}; nothing to stop.")
        return
    cluster = _cluster(settings)
    click.echo(f"stopped the embedded database ({cluster.pgdata})" if cluster.stop() else "the embedded database is not running")


@db.command(epilog="Example:\n\n  antares db status")
@click.pass_obj
def status(state: CliState):
    """Say where the database runs (exit code 1 if the embedded one is not running)."""
    settings = state.settings()
    external = _external(settings)
    if external:
        click.echo(external)
        return
    info = _cluster(settings).info()
    click.echo(info.describe())
    if not info.running:
        raise click.exceptions.Exit(1)


@db.command(epilog="Example:\n\n  psql \"$(antares db url | sed s/+psycopg2//)\"")
@click.pass_obj
def url(state: CliState):
    """Print the SQLAlchemy URL of the database (for psql or ANTARES_DB_URL)."""
    from antares.db.engine import database_url

    click.echo(database_url(state.settings()))
