"""``antares ingest``: reproject a product onto a tile grid (COG + eo3, indexed)."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.output import echo_report, tile_progress
from antares.cli.options import (DATE, INGEST_FLAGS, NAME, area_options, flag_names, grid_options, period, scheduler_option,
                                 workers_option)


@click.command(epilog="""\b
Examples:
  antares ingest --product romania_s2l2a --name romania_utm20 --grid utm_20m \\
      --bbox 22.14 45.20 22.16 45.21 -b 2018-01-01 -e 2018-12-31 --resampling average
  antares ingest --product s2_l1c --name bb_lcc --crs EPSG:3035 --resolution 20 --tile-size 512 -region bb""")
@click.option("--product", "-p", "source", required=True, help="Source product.")
@click.option("--name", "-n", type=NAME, required=True, help="Product to create (or resume).")
@grid_options
@area_options
@click.option("-b", "--begin", type=DATE, default=None, help="First date (YYYY-MM-DD).")
@click.option("-e", "--end", type=DATE, default=None, help="Last date (YYYY-MM-DD), inclusive.")
@click.option("--resampling", default="nearest", show_default=True,
              help="nearest, bilinear, cubic, average, mode, ... (use nearest or mode for class layers).")
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Where to write the COGs (default $ANTARES_HOME/products/NAME).")
@scheduler_option
@workers_option
@click.pass_obj
def ingest(state: CliState, source, name, grid, crs, resolution, tile_size, origin, region, bbox, bbox_crs, lat, long,
           begin, end, resampling, outdir, scheduler, workers):
    """Reproject a product onto a tile grid as tiled COGs with eo3 metadata and lineage, indexed.

    The replacement for 'datacube ingest' (removed in ODC 1.9). One dask task per
    tile; a failed tile is reported and the others finish (exit code 1). Running the
    same command again skips what is done.
    """
    from antares.cube.grid import make_gridspec
    from antares.pipeline.area import resolve_area
    from antares.pipeline.ingest import ingest as run_ingest
    from antares.pipeline.input_requests import IngestRequest

    period(begin, end, both=False)
    settings = state.settings(scheduler=scheduler, workers=workers)
    area = resolve_area(settings, region, bbox, bbox_crs, lat, long)
    gridspec = make_gridspec(area, grid, crs, resolution, tile_size, origin)
    time = (begin or "1900-01-01", end or "2100-12-31") if (begin or end) else None
    with flag_names(INGEST_FLAGS):
        request = IngestRequest(source, name, area, gridspec, time=time, resampling=resampling,
                                scheduler=settings.scheduler, workers=settings.workers, outdir=outdir)
        with tile_progress(state.quiet, f"ingest {name}") as progress:
            report = run_ingest(settings, request, progress=progress)
    echo_report(report.lines(), bool(report.failed))
