"""``antares delete KIND NAME`` and ``antares rename KIND OLD NEW``."""

from __future__ import annotations

import click

from antares.cli.dataset import cascade_option, dry_run_option
from antares.cli.main import CliState
from antares.cli.output import echo_report
from antares.pipeline.results import KINDS, RENAMABLE


@click.command(epilog="""\b
Examples:
  antares delete classification map_2018 --dry-run
  antares delete segmentation seg_2018 --cascade
  antares delete product my_recipe_2018""")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("name")
@dry_run_option
@cascade_option
@click.pass_obj
def delete(state: CliState, kind, name, dry_run, cascade):
    """Delete result NAME of KIND, refusing while other results depend on it (listed) unless --cascade.

    Rows are deleted in one transaction; the files of a product (or of a segmentation's label
    product) under $ANTARES_HOME/products are removed after it commits. Files left by an
    interrupted deletion are reported by the next one.
    """
    from antares.pipeline.results import delete_result

    echo_report(delete_result(state.settings(), kind, name, dry_run, cascade).out(), False)


@click.command(epilog="Example:\n\n  antares rename classification map_2018 map_2018_v1")
@click.argument("kind", type=click.Choice(RENAMABLE))
@click.argument("old")
@click.argument("new")
@click.pass_obj
def rename(state: CliState, kind, old, new):
    """Rename result OLD of KIND to NEW (products and segmentations name files: re-run them instead)."""
    from antares.pipeline.results import rename_result

    click.echo(rename_result(state.settings(), kind, old, new))
