"""``antares dataset archive|restore|purge``: undo what was indexed wrongly."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.output import echo_report

dry_run_option = click.option("--dry-run", is_flag=True, help="List what would change; change nothing.")
cascade_option = click.option("--cascade", is_flag=True,
                              help="Also remove the results that depend on it (listed); without it they refuse.")


def _selection(fn):
    options = [
        click.option("-p", "--product", default=None, help="The datasets of this product."),
        click.option("--id", "ids", multiple=True, help="A dataset id (repeat)."),
        click.option("--path", default=None, help="A glob on the path of the datasets' documents, e.g. '/data/2018-0*'."),
        dry_run_option,
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group(epilog="""\b
Examples:
  antares dataset archive -p romania_s2l2a --path '*/2018-03-*' --dry-run
  antares dataset restore -p romania_s2l2a --path '*/2018-03-*'
  antares dataset purge --id 3f1c... --cascade""")
def dataset():
    """Archive, restore or purge indexed datasets (by product, id or path glob)."""


def _run(state: CliState, action, product, ids, path, dry_run, cascade=False):
    from antares.pipeline.remove import datasets

    report = datasets(state.settings(), action, product, ids, path, dry_run, cascade)
    echo_report(report.out(), False)


@dataset.command("archive", epilog="Example:\n\n  antares dataset archive -p romania_s2l2a --path '*/2018-03-*' --dry-run")
@_selection
@cascade_option
@click.pass_obj
def archive(state: CliState, product, ids, path, dry_run, cascade):
    """Archive datasets: loads and searches skip them; 'restore' brings them back."""
    _run(state, "archive", product, ids, path, dry_run, cascade)


@dataset.command("restore", epilog="Example:\n\n  antares dataset restore -p romania_s2l2a")
@_selection
@click.pass_obj
def restore(state: CliState, product, ids, path, dry_run):
    """Restore archived datasets."""
    _run(state, "restore", product, ids, path, dry_run)


@dataset.command("purge", epilog="Example:\n\n  antares dataset purge --id 2b0a6b5c-0c1d-5b6e-9f00-1a2b3c4d5e6f")
@_selection
@cascade_option
@click.pass_obj
def purge(state: CliState, product, ids, path, dry_run, cascade):
    """Remove datasets from the index for good (active or archived; the files stay)."""
    _run(state, "purge", product, ids, path, dry_run, cascade)
