"""``antares prepare_metadata``, ``antares index`` and ``antares product add``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.output import echo_report, echo_table, tile_progress

MAPPING_COLUMNS = ["file band", "file dtype", "file nodata", "measurement", "units", "dtype", "nodata", "scale", "datasets"]


def echo_mapping(product: str, rows: list) -> None:
    """Print the mapping report: file band -> measurement of ``product`` (see ``antares.pipeline.index.mapping_rows``)."""
    if rows:
        click.echo(f"mapping of the files to product {product} (first dataset's files):")
        echo_table(rows, MAPPING_COLUMNS)

preparer_options = [
    click.option("--path", "path", required=True, type=click.Path(path_type=str), help="Directory (or file) to scan."),
    click.option("--dataset_name", "--preparer", "preparer", required=True,
                 help="Preparer: s2_bands, s2_l2a_safe, s2_l1c_safe, stac, dem, s1_grd, netcdf."),
    click.option("--product", default=None, help="Product to prepare for (default: the preparer's, e.g. s2_l2a)."),
    click.option("--pattern", default=None, help="s2_bands: regex with groups date, band, optional tile; s1_grd: group date, optional pol."),
    click.option("--no-verify", is_flag=True, help="Do not decode every pixel to detect corrupt files (faster)."),
    click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=str),
                 help="dem: where to write the slope and aspect COGs (default: beside the DEM)."),
    click.option("--units", type=click.Choice(["db", "linear"]), default=None,
                 help="s1_grd: whether the backscatter files hold dB or linear power (default: from the file)."),
    click.option("--band-pattern", default=None,
                 help="s2_bands: regex on band descriptions with groups band and date or step (several dates in one file)."),
    click.option("--dates", default=None, help="s2_bands: the dates of the steps of --band-pattern (comma-separated)."),
    click.option("--start", default=None, help="s2_bands: the date of step 0 of --band-pattern (with --step)."),
    click.option("--step", default=None, help="s2_bands: the time between steps, a pandas frequency (MS: monthly, 10D ...)."),
    click.option("--bands", default=None, help="Index only these measurements (comma-separated names or aliases)."),
    click.option("--band", default=None, help="dem: the elevation band of a multi-band file, by description or number."),
]


def with_preparer_options(fn):
    """Decorate the click command ``fn`` with every option of ``preparer_options``, in their listed order."""
    for option in reversed(preparer_options):
        fn = option(fn)
    return fn


def _options(pattern, no_verify, outdir=None, units=None, band=None, bands=None, dated=(None, None, None, None)):
    """Preparer options given on the command line (``None``: not given), and the ``bands`` selected.

    ``dated``: ``(band_pattern, dates, start, step)`` of files holding several dates.
    """
    return {"pattern": pattern, "verify": False if no_verify else None, "outdir": outdir, "units": units, "band": band,
            "bands": [b.strip() for b in bands.split(",") if b.strip()] if bands else None,
            **dict(zip(("band_pattern", "dates", "start", "step"), dated))}


@click.command(epilog="""\b
Example:
  antares prepare_metadata --path shared/data/nrt-romania-s2l2a/geotiff/10m \\
      --dataset_name s2_bands --outfile romania.yaml""")
@with_preparer_options
@click.option("--outfile", required=True, type=click.Path(dir_okay=False, path_type=str), help="Multi-document YAML to write.")
@click.pass_obj
def prepare_metadata(state: CliState, path, preparer, product, pattern, no_verify, outdir, units, band_pattern, dates,
                     start, step, bands, band, outfile):
    """Write eo3 dataset documents for every dataset found under --path.

    Exit code 1 if any dataset failed (each is named); the others are written.
    """
    from antares.pipeline.index import prepare, write_documents

    options = _options(pattern, no_verify, outdir, units, band, bands, (band_pattern, dates, start, step))
    with tile_progress(state.quiet, "prepare_metadata", unit="dataset") as progress:
        prepared = prepare(state.settings(), path, preparer, product, progress=progress, **options)
    echo_mapping(prepared.product, prepared.mapping)
    write_documents(prepared.documents, outfile)
    if prepared.derived is not None:
        product_file = outfile.rsplit(".", 1)[0] + ".product.yaml"
        write_documents([prepared.derived], product_file)
        click.echo(f"product {prepared.product} is not indexed: its definition (measurements the files have) "
                   f"is written to {product_file}; add it with 'antares product add {product_file}'")
    for _, message in prepared.failures:
        click.echo(f"failed: {message}", err=True)
    click.echo(f"{len(prepared.documents)} dataset document(s) for product {prepared.product} written to {outfile}, "
               f"{len(prepared.failures)} failed")
    if prepared.failures:
        raise click.exceptions.Exit(1)


@click.command(epilog="""\b
Example:
  antares index --path shared/data/nrt-romania-s2l2a/geotiff --dataset_name s2_bands --product romania_s2l2a""")
@with_preparer_options
@click.pass_obj
def index(state: CliState, path, preparer, product, pattern, no_verify, outdir, units, band_pattern, dates, start, step,
          bands, band):
    """Prepare and index every dataset found under --path (re-indexing is a no-op).

    Exit code 1 if any dataset failed (each is named); the others are indexed. When every
    dataset failed, the report goes to stdout and one error line to stderr.
    """
    from antares.errors import InvalidInputError
    from antares.pipeline.index import index_path

    options = _options(pattern, no_verify, outdir, units, band, bands, (band_pattern, dates, start, step))
    with tile_progress(state.quiet, "index", unit="dataset") as progress:
        report = index_path(state.settings(), path, preparer, product, progress=progress, **options)
    echo_mapping(report.product, report.mapping)
    lines = report.lines(max_failures=None if state.verbose else 20)
    if report.failures and not report.added and not report.existing:
        for line in lines:
            click.echo(line)
        more = len(report.failures) - 1
        raise InvalidInputError(f"no dataset indexed into {report.product}: {report.failures[0][1]}"
                                + (f" (and {more} more failure(s), listed above)" if more else ""))
    echo_report(lines, bool(report.failures))


@click.group(epilog="""\b
Examples:
  antares product add my_product.yaml
  antares product delete my_wrong_product --dry-run""")
def product():
    """Manage ODC product definitions."""


@product.command("delete", epilog="Example:\n\n  antares product delete my_wrong_product --dry-run")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="List what would change; change nothing.")
@click.option("--cascade", is_flag=True, help="Also remove the results made from it (listed); without it they refuse.")
@click.pass_obj
def product_delete(state: CliState, name, dry_run, cascade):
    """Delete product NAME with its datasets (index records; files stay)."""
    from antares.pipeline.remove import delete_product

    echo_report(delete_product(state.settings(), name, dry_run, cascade).out(), False)


@product.command("add", epilog="Example:\n\n  antares product add my_product.yaml")
@click.argument("file", type=click.Path(path_type=str))
@click.pass_obj
def product_add(state: CliState, file):
    """Add (or safely update) an eo3 product definition from FILE."""
    from antares.pipeline.index import add_product_file

    change = add_product_file(state.settings(), file)
    click.echo(f"product {change.name}: {change.action}" + (f" ({change.detail})" if change.detail else ""))
