"""``db_to_vector``, ``db_to_raster`` and ``generate_style``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import area_options, flag_names, overwrite_option

_DRIVERS = "GPKG, 'ESRI Shapefile', FlatGeobuf or GeoJSON"
#: request fields -> flags, for messages (antares.cli.options.flag_names)
EXPORT_FLAGS = {"name": "--name", "path": "--file", "region": "-region", "area": "--bbox/-lat -long", "clip": "--clip",
                "resolution": "--resolution", "crs": "--crs", "layer": "--layer", "driver": "--driver"}
crs_option = click.option("--crs", default=None, help="Output CRS: EPSG code (4326, EPSG:32633) or a PROJ string with an EPSG equivalent (default: the segmentation's).")
file_option = click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False), help="Output file.")
name_option = click.option("-n", "--name", required=True, help="Classification (the map) to export.")


@click.command(epilog="""\b
Examples:
  antares db_to_vector -n map_2018 -f map_2018.gpkg
  antares db_to_vector -n map_2018 -f jalisco.shp -region jalisco --clip
  antares db_to_vector -n map_2018 -f classes.fgb --dissolve --crs 4326 --overwrite
  antares db_to_vector -n map_2018 -f box.gpkg -lat 19 23 -long -106 -101 --clip""")
@name_option
@file_option
@area_options
@click.option("-l", "--layer", default=None, help="Layer name (GeoPackage, GeoJSON; default: the classification's name).")
@click.option("-d", "--driver", default=None, help=f"{_DRIVERS} (default: from the extension .gpkg .shp .fgb .geojson).")
@crs_option
@click.option("--clip", is_flag=True, help="Cut the objects to the area (-region, --bbox, -lat/-long; area_m2 of the part inside).")
@click.option("--dissolve", is_flag=True, help="One multipolygon per class: code, class, objects, area_m2, confidence.")
@overwrite_option
@click.pass_obj
def db_to_vector(state: CliState, name, path, region, bbox, bbox_crs, lat, long, layer, driver, crs, clip, dissolve,
                 overwrite):
    """Write a classification's objects to a vector file, coloured by the legend in QGIS.

    Attributes: segment_id, code, class, confidence, entropy, area_m2 (true area in m²,
    whatever the segmentation's CRS). Objects without a prediction are left out. A GeoPackage carries
    its QGIS style; other formats get FILE.qml beside them. Read and written in batches
    of at most 50,000 objects and 16 MiB of geometry: memory does not grow with the map.
    """
    from antares.cli.output import tile_progress
    from antares.pipeline.area import region_or_area
    from antares.pipeline.export import db_to_vector as export
    from antares.pipeline.export_requests import VectorRequest

    settings = state.settings()
    region, area = region_or_area(settings, region, bbox, bbox_crs, lat, long)
    with flag_names(EXPORT_FLAGS):
        request = VectorRequest(name, path, region, layer, driver, crs, clip, dissolve, overwrite, area=area)
        with tile_progress(state.quiet, f"db_to_vector {name}", unit="object") as progress:
            report = export(settings, request, progress=progress)
    for line in report.lines():
        click.echo(line)


@click.command(epilog="""\b
Examples:
  antares db_to_raster -n map_2018 -f map_2018.tif --resolution 10
  antares db_to_raster -n map_2018 -f jalisco.tif --resolution 0.0002 --crs 4326 -region jalisco --confidence
  antares db_to_raster -n map_2018 -f box.tif --resolution 10 --bbox 380000 5800000 400000 5820000 --bbox-crs 32633""")
@name_option
@file_option
@click.option("--resolution", required=True, type=float, help="Pixel size in units of the output CRS.")
@crs_option
@area_options
@click.option("--confidence", is_flag=True, help="Also write FILE_confidence.tif (float32, NaN = nodata).")
@overwrite_option
@click.pass_obj
def db_to_raster(state: CliState, name, path, resolution, crs, region, bbox, bbox_crs, lat, long, confidence, overwrite):
    """Rasterise a classification's class codes into a Cloud-Optimised GeoTIFF with a colour table.

    uint8 (uint16 when a code exceeds 255), 0 = nodata, pixel-centre rule; tiled 512,
    DEFLATE, overviews by mode; FILE.qml beside it. With -region (or --bbox, -lat/-long) the
    raster covers that area and pixels outside it are nodata. Rasterised window by window.
    """
    from antares.cli.output import tile_progress
    from antares.pipeline.area import region_or_area
    from antares.pipeline.export import db_to_raster as export
    from antares.pipeline.export_requests import RasterRequest

    settings = state.settings()
    region, area = region_or_area(settings, region, bbox, bbox_crs, lat, long)
    with flag_names(EXPORT_FLAGS):
        request = RasterRequest(name, path, resolution, crs, region, overwrite, confidence, area=area)
        with tile_progress(state.quiet, "windows", unit="window") as progress:
            report = export(settings, request, progress=progress)
    for line in report.lines():
        click.echo(line)


@click.command(epilog="""\b
Examples:
  antares generate_style brandenburg_osm --type vector -f map_2018.qml
  antares generate_style brandenburg_osm --type raster -f - > map_2018_raster.qml""")
@click.argument("scheme")
@click.option("--type", "kind", type=click.Choice(["vector", "raster"]), default="vector", show_default=True,
              help="vector: categorized on attribute 'code'; raster: paletted band 1.")
@click.option("-f", "--file", "path", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="Output .qml file ('-' prints it).")
@overwrite_option
@click.pass_obj
def generate_style(state: CliState, scheme, kind, path, overwrite):
    """Write the QGIS style (QML) of class scheme SCHEME: one colour per class code."""
    from antares.pipeline.export import generate_style as generate

    qml = generate(state.settings(), scheme, kind, path, overwrite)
    if path == "-":
        click.echo(qml, nl=False)
    else:
        click.echo(f"wrote {click.format_filename(path)} ({kind} style of scheme {scheme})")
