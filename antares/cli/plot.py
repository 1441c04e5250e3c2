"""``antares plot``: figures of products (matplotlib; the format follows the file's extension)."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import DATE, overwrite_option


@click.group(epilog="""\b
Examples:
  antares plot timeseries -p ro_s2 --point 22.152 45.205 --measurement B08 -f pixel.png
  antares plot samples -t brandenburg_train -p s2_l1c -f samples.png""")
def plot():
    """Figures of products: a pixel's time series, a training set's per-class distributions."""


@plot.command(epilog="""\b
Examples:
  antares plot timeseries -p ro_s2 --point 22.152 45.205 --measurement B04 --measurement B08 -f pixel.png
  antares plot timeseries -p ro_s2 --point 385420 5006830 --crs EPSG:32634 -f pixel.svg
  antares plot timeseries -p ro_s2 -s ro_slic --object 12 --measurement B08 -f object.png""")
@click.option("-p", "--product", required=True, help="Indexed product.")
@click.option("--point", nargs=2, type=float, default=None, metavar="X Y", help="The point (lon lat by default).")
@click.option("-s", "--segmentation", default=None, help="With --object: the segmentation of the object.")
@click.option("--object", "object_id", type=int, default=None, help="With -s: the object's id (its pixels' mean).")
@click.option("--crs", default="EPSG:4326", show_default=True, help="CRS of --point.")
@click.option("--measurement", "measurements", multiple=True, help="Measurement (repeat); all but SCL by default.")
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False),
              help="Output figure (.png, .svg, .pdf ...).")
@overwrite_option
@click.pass_obj
def timeseries(state: CliState, product, point, segmentation, object_id, crs, measurements, path, overwrite):
    """Plot a pixel's values on every date: clear observations as a line, masked ones grey with their reason.

    The pixel is the product's own (no resampling); values are as stored. A product with an SCL
    measurement has dates of scene classes other than 4-7 (clouds, shadows, snow ...) masked; dates
    without a value are masked as nodata.
    """
    from antares.pipeline.plot import plot_timeseries

    from antares.errors import UsageError

    if (segmentation is None) != (object_id is None):
        raise UsageError("-s SEGMENTATION and --object ID go together.")
    segment = (segmentation, object_id) if segmentation is not None else None
    report = plot_timeseries(state.settings(), product, path, point, crs, list(measurements) or None, overwrite,
                             segment)
    for line in report.lines():
        click.echo(line)


@click.command(epilog="""\b
Examples:
  antares quicklook map_2017 -f map_2017.png
  antares quicklook b10 -f b10.pdf
  antares quicklook change:forest_loss -f loss.svg
  antares quicklook product:ro_s2 --measurement B08 --cmap magma --time 2018-07-01 -f nir.png""")
@click.argument("name")
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False),
              help="Output figure (.png, .svg, .pdf ...).")
@click.option("--measurement", default=None, help="Products: this measurement with a colour ramp (default RGB).")
@click.option("--time", type=DATE, default=None, help="Products: the date (default: the latest).")
@click.option("--cmap", default="viridis", show_default=True, help="Colour ramp of -m (a matplotlib colour map).")
@click.option("--size", type=click.IntRange(64, 8192), default=1024, show_default=True, help="Larger side of the image (px).")
@overwrite_option
@click.pass_obj
def quicklook(state: CliState, name, path, measurement, time, cmap, size, overwrite):
    """Draw a classification, a change detection or a product as a map figure with legend, scale bar and credits.

    NAME is a classification, a change detection or a product (classification:NAME, change:NAME or
    product:NAME to choose), drawn in its own CRS. Change objects are coloured by transition (class
    before -> after) when detect_change was given -lc_pre/-lc_post. The credits come from the product's
    metadata (description, licence, platform, instrument, producer) or, for a classification, name its
    model, segmentation and product, and for a change detection its method and inputs.
    """
    from antares.pipeline.plot import quicklook as run

    report = run(state.settings(), name, path, measurement, time, cmap, overwrite, size)
    for line in report.lines():
        click.echo(line)


@plot.command(epilog="""\b
Example:
  antares plot samples -t osm_train -p b10 -f samples.png""")
@click.option("-t", "--training", "--training-set", "training_set", required=True, help="Training set.")
@click.option("-p", "--product", required=True, help="Indexed product.")
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False),
              help="Output figure (.png, .svg, .pdf ...).")
@overwrite_option
@click.pass_obj
def samples(state: CliState, training_set, product, path, overwrite):
    """Plot per-class distributions of a product's values over a training set's samples.

    One box plot per measurement, one box per class in the legend's colour; each sample is the mean
    of the pixels whose centre falls inside it, as model_fit aggregates them.
    """
    from antares.pipeline.plot import plot_samples

    report = plot_samples(state.settings(), training_set, product, path, overwrite)
    for line in report.lines():
        click.echo(line)
