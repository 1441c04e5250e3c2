"""``antares search`` and ``antares fetch``: STAC API search, download and indexing (antares.pipeline.fetch)."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import json_option
from antares.cli.output import echo_json, echo_report, echo_table

search_options = [
    click.option("--catalog", required=True,
                 help="STAC API URL, or earth-search or planetary-computer (needs the planetary-computer package)."),
    click.option("--collection", required=True, help="Collection id, e.g. sentinel-2-l2a."),
    click.option("--bbox", nargs=4, type=float, default=None, metavar="W S E N",
                 help="Area in degrees (EPSG:4326): west south east north."),
    click.option("--datetime", "datetime_", default=None, metavar="A/B",
                 help="RFC 3339 interval, e.g. 2018-01-01/2018-12-31 ('..' for an open end)."),
    click.option("--cloud-cover-lt", type=float, default=None, metavar="PERCENT",
                 help="Only items with eo:cloud_cover below this percentage."),
    click.option("--limit", type=int, default=None, help="At most this many items."),
    click.option("--sign", type=click.Choice(["planetary-computer", "none"]), default=None,
                 help="Sign asset hrefs with Planetary Computer SAS tokens (default: for --catalog planetary-computer "
                      "only; the endpoint is PC_SDK_SAS_URL, the key PC_SDK_SUBSCRIPTION_KEY)."),
]


def with_search_options(fn):
    """Decorate the click command ``fn`` with every option of ``search_options``, in their listed order."""
    for option in reversed(search_options):
        fn = option(fn)
    return fn


def _search(catalog, collection, bbox, datetime_, cloud_cover_lt, limit, sign):
    from antares.pipeline.fetch import search_items

    return search_items(catalog, collection, bbox or None, datetime_, cloud_cover_lt, limit, sign)


@click.command(epilog="""\b
Example:
  antares search --catalog earth-search --collection sentinel-2-l2a \\
      --bbox 22.14 45.20 22.16 45.21 --datetime 2018-01-01/2018-12-31 --cloud-cover-lt 40""")
@with_search_options
@json_option
@click.pass_obj
def search(state: CliState, catalog, collection, bbox, datetime_, cloud_cover_lt, limit, sign, as_json):
    """Search a STAC API for items: a table of id, date, cloud cover and tile (or the items as JSON)."""
    from antares.pipeline.fetch import item_rows

    items = _search(catalog, collection, bbox, datetime_, cloud_cover_lt, limit, sign)
    if as_json:
        echo_json(items)
    else:
        echo_table(item_rows(items), ["id", "date", "cloud cover", "tile"], empty="No item matches.")


@click.command(epilog="""\b
Example:
  antares fetch --catalog earth-search --collection sentinel-2-l2a \\
      --bbox 22.14 45.20 22.16 45.21 --datetime 2018-06-01/2018-06-30 \\
      --assets blue,green,red,nir,scl -p ro_s2""")
@with_search_options
@click.option("--assets", default=None, help="Asset keys to fetch, comma-separated (default: the GeoTIFF data assets).")
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Where the files go (default: $ANTARES_HOME/downloads/COLLECTION).")
@click.option("--no-download", is_flag=True, help="Download nothing: index the remote hrefs (read through GDAL /vsicurl/).")
@click.option("-p", "--product", default=None, help="Product to index into (default: s2_l2a, derived when not indexed).")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True, help="Parallel downloads.")
@click.pass_obj
def fetch(state: CliState, catalog, collection, bbox, datetime_, cloud_cover_lt, limit, sign, assets, outdir,
          no_download, product, workers):
    """Search a STAC API, download the chosen assets (resumable, verified) and index the items.

    An item is indexed only when all its assets downloaded and verified; exit code 1 if any item
    failed (each is named), the others are indexed.
    """
    import sys

    from antares.errors import InvalidInputError
    from antares.names import check_name
    from antares.pipeline.fetch import fetch_items, file_component

    if product is not None:
        check_name(product, "--product")
    wanted = [a.strip() for a in assets.split(",") if a.strip()] if assets else None
    settings = state.settings()
    target = outdir or settings.home / "downloads" / file_component(collection, "--collection", "give --outdir")
    items = _search(catalog, collection, bbox, datetime_, cloud_cover_lt, limit, sign)
    if not items:
        raise InvalidInputError(f"no item of {collection} matches the search in {catalog}; widen --bbox, --datetime "
                                "or --cloud-cover-lt.")
    report = fetch_items(settings, items, target, product, wanted, download_files=not no_download, workers=workers,
                         progress=not state.quiet and sys.stderr.isatty())
    lines = report.lines()
    if report.failures and not report.added and not report.existing:
        for line in lines:
            click.echo(line)
        raise InvalidInputError(f"nothing indexed into {report.product}: {report.failures[0][1]}")
    echo_report(lines, bool(report.failures))
