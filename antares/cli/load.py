"""``antares load``: load a product with dc.load and summarise what came back."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import DATE, area_options, json_option, period
from antares.cli.output import echo_json, echo_table


@click.command(epilog="""\b
Example:
  antares load -p romania_s2l2a -b 2018-01-01 -e 2018-12-31 --measurement B04 --measurement B08 --measurement SCL
  antares load -p romania_s2l2a -lat 45.5 45.7 -long 25.4 25.8""")
@click.option("-p", "--product", required=True, help="Indexed product.")
@click.option("-b", "--begin", type=DATE, default=None, help="First date (YYYY-MM-DD).")
@click.option("-e", "--end", type=DATE, default=None, help="Last date (YYYY-MM-DD), inclusive.")
@click.option("--measurement", "measurements", multiple=True, help="Measurement (repeat); all by default.")
@area_options
@json_option
@click.pass_obj
def load(state: CliState, product, begin, end, measurements, region, bbox, bbox_crs, lat, long, as_json):
    """Load a product on its native grid and print what dc.load returns.

    A quick check that indexing worked: dates, grid, and per measurement the share
    of valid pixels and the range of values.
    """
    from antares.cube.grid import crs_name, is_metric
    from antares.pipeline.inspect import load_product

    period(begin, end, both=False)
    settings = state.settings()
    if bbox or lat or long:
        from antares.pipeline.area import resolve_area

        region = resolve_area(settings, region, bbox, bbox_crs, lat, long)
    data, rows = load_product(settings, product, begin, end, list(measurements) or None, region)
    info = {
        "product": product,
        "times": [str(t)[:19] for t in data.time.values],
        "crs": crs_name(data.odc.crs),
        "resolution": abs(float(data.odc.geobox.resolution.x)),
        "shape": [int(data.sizes["time"]), *map(int, data.odc.geobox.shape)],  # (y, x) or (latitude, longitude)
        "measurements": rows,
    }
    if as_json:
        echo_json(info)
        return
    unit = "°" if data.odc.crs.geographic else " m" if is_metric(data.odc.crs) else f" {data.odc.crs.units[0]}"
    click.echo(f"{product}: {info['shape'][0]} time steps from {info['times'][0][:10]} to {info['times'][-1][:10]}, "
               f"{info['shape'][1]} x {info['shape'][2]} pixels of {info['resolution']:g}{unit} in {info['crs']}")
    echo_table(rows, ["measurement", "dtype", "nodata", "valid_%", "min", "mean", "max"])
