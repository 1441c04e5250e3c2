"""``antares register_region``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import overwrite_option


@click.command(
    epilog="""\b
Examples:
  antares register_region brandenburg area.gpkg
  antares register_region mx_states gadm36_MEX_1.shp --name-field NAME_1
  antares register_region jalisco gadm.gpkg --layer ADM_1 --where "NAME_1 = 'Jalisco'"
"""
)
@click.argument("name")
@click.argument("file", type=click.Path(dir_okay=True, path_type=str))
@click.option("--layer", "-l", default=None, help="Layer to read (required when the file has several).")
@click.option("--where", default=None, help="OGR SQL expression selecting features.")
@click.option("--name-field", default=None, help="Register one region per value of this field (NAME becomes their collection).")
@overwrite_option
@click.pass_obj
def register_region(state: CliState, name, file, layer, where, name_field, overwrite):
    """Register the polygons of FILE as region NAME (any vector file GDAL/OGR reads).

    The selected features are repaired, transformed to EPSG:4326 and dissolved into
    one region; with --name-field each value of the field becomes its own region.
    Every -region option of later commands looks regions up by name.
    """
    from antares.pipeline.regions import check_region_name, register_region as register

    for summary in register(state.settings(), check_region_name(name), file, layer, where, name_field, overwrite):
        click.echo(f"registered region {summary.name}: {summary.area_km2:.3f} km² from {summary.features} feature(s)")
