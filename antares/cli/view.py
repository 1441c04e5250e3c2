"""``antares view``: layers of results and products on one self-contained HTML map."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import DATE, overwrite_option


@click.command(epilog="""\b
Examples:
  antares view map_2017 map_val b10 -f map.html
  antares view segmentation:bis_2017 product:b10 --measurement B08 --cmap magma -f segments.html
  antares view map_2017 -f map.html --basemap osm --overwrite
  antares view change:forest_loss map_2020 -f change.html""")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False), help="Output HTML file.")
@click.option("--basemap", type=click.Choice(["osm"]), default=None,
              help="OpenStreetMap tiles under the layers (loaded when the page is opened online); none by default.")
@click.option("--measurement", default=None, help="Product layers: this measurement with a colour ramp (default RGB).")
@click.option("--time", type=DATE, default=None, help="Product layers: the date (default: the latest).")
@click.option("--cmap", default="viridis", show_default=True, help="Colour ramp of -m (a matplotlib colour map).")
@overwrite_option
@click.pass_obj
def view(state: CliState, names, path, basemap, measurement, time, cmap, overwrite):
    """Draw classifications, segmentations, training/validation sets, change detections and product quicklooks on one HTML map.

    Each NAME is one toggleable layer with its legend; an object's popup shows its class, confidence,
    entropy, area and id (a change object: its transition, area and score). NAME is looked up among
    classifications, segmentations, training sets, validation sets, change detections and products,
    in this order; KIND:NAME picks one kind. The page is self-contained
    (Leaflet is inlined) and works offline. A layer of more than 50,000 objects is drawn as an image.
    """
    from antares.cli.options import VIEW_FLAGS, flag_names
    from antares.cli.output import tile_progress
    from antares.pipeline.requests import ViewRequest
    from antares.pipeline.view import view as run

    with flag_names(VIEW_FLAGS):
        request = ViewRequest(names, path, basemap, overwrite, measurement, time, cmap)
    with tile_progress(state.quiet, "view", unit="layer") as progress:
        report = run(state.settings(), request, progress=progress)
    for line in report.lines():
        click.echo(line)
