"""``object_timeseries``: per-object mean series of a time-series product, as a Parquet table."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import DATE, overwrite_option, period, scheduler_option, workers_option
from antares.cli.output import tile_progress


@click.command(epilog="""\b
Examples:
  antares object_timeseries -s bis_2018 -p ndvi_monthly_2018 -f objects_ndvi.parquet
  antares object_timeseries -s bis_2018 -p s1_s2_monthly --measurement VV --measurement VH --shape -f objects.parquet --overwrite""")
@click.option("-s", "--segmentation", required=True, help="Segmentation on the product's grid (antares segment).")
@click.option("-p", "--product", required=True, help="Time-series product (one dataset per step).")
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False),
              help="Parquet table to write (one row per object and step).")
@click.option("--measurement", "measurements", multiple=True,
              help="Measurement to average (repeatable; default: all of the product's).")
@click.option("--shape", is_flag=True, help="Add the polygons' area, perimeter, compactness, elongation, rectangularity.")
@click.option("-b", "--begin", type=DATE, default=None, help="First date of the steps to read.")
@click.option("-e", "--end", type=DATE, default=None, help="Last date of the steps to read.")
@scheduler_option
@workers_option
@overwrite_option
@click.pass_obj
def object_timeseries(state: CliState, segmentation, product, path, measurements, shape, begin, end, scheduler,
                      workers, overwrite):
    """Write the mean of every object's valid pixels at every step of a product to a Parquet table.

    Long format: segment_id, time, step, one column per measurement (the mean, NaN without a
    valid pixel) and its valid-pixel count MEASUREMENT_count. Objects crossing tile edges get
    the mean of all their pixels. The file appears only once complete (mode 0600).
    """
    from antares.pipeline.object_timeseries import ObjectSeriesRequest
    from antares.pipeline.object_timeseries import object_timeseries as run

    request = ObjectSeriesRequest(segmentation, product, path, tuple(measurements), period(begin, end), shape,
                                  overwrite, scheduler, workers)
    with tile_progress(state.quiet, "tiles") as progress:
        report = run(state.settings(), request, progress=progress)
    for line in report.lines():
        click.echo(line)
