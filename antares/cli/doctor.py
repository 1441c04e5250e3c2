"""``antares doctor``: check the system packages, versions, disk, numba cache and database (antares.pipeline.doctor)."""

from __future__ import annotations

import click

from antares.cli.main import CliState


@click.command(epilog="Example:\n\n  antares doctor")
@click.pass_obj
def doctor(state: CliState):
    """Check what antares needs on this machine; one OK/FAIL line per check with the fix. Exit 1 if any fails."""
    from antares.pipeline.doctor import run_checks

    checks = run_checks(state.settings())
    for check in checks:
        click.echo(check.line())
    failed = [c.name for c in checks if not c.ok]
    if failed:
        click.echo(f"antares: error: {len(failed)} check(s) failed: {', '.join(failed)}", err=True)
        raise click.exceptions.Exit(1)
