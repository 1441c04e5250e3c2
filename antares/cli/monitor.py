"""``antares monitor`` and ``antares monitor_params``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import (DATE, MONITOR_FLAGS, NAME, area_options, flag_names, json_option, overwrite_option,
                                 scheduler_option, workers_option)
from antares.cli.output import echo_json, echo_report, echo_table, tile_progress


@click.command(epilog="""\b
Examples:
  antares monitor -p romania_s2l2a --index ndvi --history 2016-01-01 2018-12-31 \\
      --monitor 2019-01-01 2020-12-31 --method ewma -n romania_breaks --bbox 22.14 45.195 22.166 45.215
  antares monitor -p s2_l2a --index ndvi --history 2017-01-01 2019-12-31 --monitor 2020-01-01 2021-12-31 \\
      --method cusum -extra sensitivity=0.01 -n jalisco_breaks -region jalisco""")
@click.option("-p", "--product", required=True, help="Input product (bands of the index and SCL).")
@click.option("--index", "index", default="ndvi", show_default=True, help="Spectral index (a recipe index: ndvi, ndmi, evi ...).")
@click.option("--history", nargs=2, type=DATE, required=True, metavar="BEGIN END",
              help="Stable history period the model is fitted on (inclusive dates).")
@click.option("--monitor", "monitoring", nargs=2, type=DATE, required=True, metavar="BEGIN END",
              help="Monitoring period (inclusive dates), after the history.")
@click.option("--method", default="ewma", show_default=True, help="Monitoring method (antares monitor_params).")
@click.option("-extra", "--extra", multiple=True, help="Method parameter KEY=VALUE (repeat); see monitor_params.")
@click.option("--scl-keep", default="4,5,6,7", show_default=True, help="SCL classes of clear observations.")
@click.option("--dilate", type=click.IntRange(0, 100), default=0, show_default=True,
              help="Grow the masked region (clouds, shadows) by this many pixels per date.")
@area_options
@click.option("--name", "-n", type=NAME, required=True, help="Output product.")
@click.option("-s", "--segmentation", default=None,
              help="Summarise per object of this segmentation (pixels with a break, first break) into a CSV table.")
@click.option("--table", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="Where -s writes its table (default OUTDIR/NAME_objects.csv).")
@click.option("--tile-size", type=click.IntRange(16), default=2048, show_default=True, help="Tile side in pixels.")
@scheduler_option
@workers_option
@overwrite_option
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Where to write the COGs (default $ANTARES_HOME/products/NAME).")
@click.pass_obj
def monitor(state: CliState, product, index, history, monitoring, method, extra, scl_keep, dilate, region, bbox, bbox_crs,
            lat, long, name, segmentation, table, tile_size, scheduler, workers, overwrite, outdir):
    """Detect breaks in a product's index time series with nrt (EWMA, CuSum, MoSum, CCDC, IQR), per tile.

    The model is fitted on each pixel's clear observations of the history and each date of
    the monitoring period is checked against it. The output product holds the break date
    (days since 1970-01-01, and year + day of year), its magnitude (observed - predicted
    index), the monitoring state and the history's observation count.
    """
    from antares.cli.segment import parse_pairs
    from antares.errors import UsageError
    from antares.monitor import METHODS
    from antares.pipeline.area import resolve_area
    from antares.pipeline.monitor import monitor as run
    from antares.pipeline.series_requests import MonitorRequest

    plugin = METHODS.get(method, "method")
    params = parse_pairs(method, plugin.all_params, extra)
    try:
        keep = tuple(int(c) for c in scl_keep.split(","))
    except ValueError:
        raise UsageError(f"--scl-keep takes SCL class numbers separated by commas, e.g. 4,5,6,7. Got {scl_keep!r}.") from None
    settings = state.settings(scheduler=scheduler, workers=workers)
    area = resolve_area(settings, region, bbox, bbox_crs, lat, long)
    with flag_names(MONITOR_FLAGS):
        request = MonitorRequest(product, name, area, index, history, monitoring, method=method, params=params,
                                 scl_keep=keep, dilate=dilate, scheduler=settings.scheduler, workers=settings.workers,
                                 overwrite=overwrite, outdir=outdir, tile_size=tile_size, segmentation=segmentation,
                                 table=table)
        with tile_progress(state.quiet, f"monitor {name}") as progress:
            report = run(settings, request, progress=progress)
    echo_report(report.lines(), bool(report.failed))


@click.command(epilog="""\b
Examples:
  antares monitor_params
  antares monitor_params ewma""")
@click.argument("method", required=False)
@json_option
def monitor_params(method, as_json):
    """List the monitoring methods, or every parameter of METHOD with its default and valid range."""
    from antares.monitor import METHODS

    if method is None:
        rows = [{"method": name, "description": METHODS.describe(name)["description"]} for name in METHODS]
        echo_json(rows) if as_json else echo_table(rows, ["method", "description"])
        return
    plugin = METHODS.get(method, "method")
    rows = [{"parameter": p.name, "type": p.type.__name__, "default": p.default, "valid": p.constraint,
             "description": p.description} for p in plugin.all_params]
    if as_json:
        echo_json({"method": method, "description": plugin.description, "reference": plugin.reference,
                   "parameters": rows})
        return
    click.echo(f"{method}: {plugin.description}")
    click.echo(f"reference: {plugin.reference}")
    echo_table(rows, ["parameter", "type", "default", "valid", "description"])
