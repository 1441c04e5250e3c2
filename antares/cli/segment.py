"""``antares segment`` and ``antares segment_params``."""

from __future__ import annotations

import click

from antares.cli.options import (DATE, NAME, SEGMENT_FLAGS, area_options, flag_names, json_option,
                                 overwrite_option, scheduler_option, workers_option)
from antares.cli.output import echo_json, echo_report, echo_table, tile_progress


@click.command(epilog="""\b
Examples:
  antares segment_params
  antares segment_params bis""")
@click.argument("algorithm", required=False)
@json_option
def segment_params(algorithm, as_json):
    """List the segmentation algorithms, or every parameter of ALGORITHM with its default and valid range.

    The list comes from each algorithm's own declaration, the same one that checks
    the -extra k=v values of 'antares segment'.
    """
    from antares.segmentation import SEGMENTERS

    if algorithm is None:
        rows = [{"algorithm": name, "description": SEGMENTERS.describe(name)["description"]} for name in SEGMENTERS]
        if as_json:
            echo_json(rows)
        else:
            echo_table(rows, ["algorithm", "description"])
        return
    plugin = SEGMENTERS.describe(algorithm, noun="algorithm")
    rows = [{"parameter": p.name, "type": p.type.__name__, "default": p.default, "valid": p.constraint,
             "description": p.description} for p in plugin["params"]]
    if as_json:
        echo_json({"algorithm": algorithm, "description": plugin["description"],
                   "reference": plugin["reference"], "parameters": rows})
        return
    click.echo(f"{algorithm}: {plugin['description']}")
    if plugin["reference"]:
        click.echo(f"reference: {plugin['reference']}")
    echo_table(rows, ["parameter", "type", "default", "valid", "description"])


def parse_extra(algorithm: str, pairs: tuple[str, ...]) -> dict:
    """``-extra k=v`` values converted by the type each parameter declares (validation comes after)."""
    from antares.segmentation import SEGMENTERS

    return parse_pairs(algorithm, SEGMENTERS.get(algorithm, noun="algorithm").params, pairs)


def parse_pairs(owner: str, params, pairs: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` pairs converted by the type each of ``params`` declares (:func:`antares.cli.options.parse_extra_params`)."""
    from antares.cli.options import parse_extra_params

    return parse_extra_params(params, owner, pairs)


@click.command(epilog="""\b
Examples:
  antares segment --algorithm bis -p s2_001_jalisco_2021 -n seg_jalisco_2021 -region jalisco \\
      -b ndvi_mean -b nir_mean -extra t=40 -extra s=0.5 -extra c=0.7
  antares segment --algorithm slic -p s2_l1c -n bb_slic --bbox 12.48 52.45 12.69 52.53 -b B04 -b B08""")
@click.option("--algorithm", "-a", required=True, help="bis, slic, felzenszwalb or a plugin's (antares segment_params).")
@click.option("-p", "--product", required=True, help="Product to segment (an intermediary product of features).")
@click.option("-n", "--name", type=NAME, required=True, help="Name of the segmentation (also its label-raster product).")
@click.option("-b", "--band", "bands", multiple=True, help="Measurement to segment on (repeat); default all.")
@area_options
@click.option("--time", "time", type=DATE, default=None,
              help="Date to segment (YYYY-MM-DD), required when the product has several dates in the area.")
@click.option("-y", "--year", type=int, default=None, help="Label recorded with the run (antares3's -y).")
@click.option("-d", "--datasource", default=None, help="Label recorded with the run (antares3's -d).")
@click.option("-extra", "--extra", multiple=True, help="Algorithm parameter KEY=VALUE (repeat); see segment_params.")
@click.option("--tile-size", type=int, default=1024, show_default=True, help="Tile side in pixels.")
@click.option("--margin", type=int, default=64, show_default=True, help="Stability margin around tiles, pixels.")
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Where the label COGs go (default $ANTARES_HOME/products/NAME).")
@scheduler_option
@workers_option
@overwrite_option
@click.pass_obj
def segment(state, algorithm, product, name, bands, region, bbox, bbox_crs, lat, long, time, year, datasource, extra,
            tile_size, margin, outdir, scheduler, workers, overwrite):
    """Segment a product into objects: a label-raster product (COG, indexed) and polygons in PostGIS.

    Tiles are processed with stability margins and a second, staggered pass, so no
    segment boundary follows a tile edge. An existing NAME is refused unless --overwrite.
    """
    from antares.pipeline.area import resolve_area
    from antares.pipeline.requests import SegmentRequest
    from antares.pipeline.segment import segment as run

    params = parse_extra(algorithm, extra)
    settings = state.settings(scheduler=scheduler, workers=workers)
    area = resolve_area(settings, region, bbox, bbox_crs, lat, long)
    with flag_names(SEGMENT_FLAGS):
        request = SegmentRequest(product, name, area, algorithm, params=params, bands=list(bands) or None,
                                 tile_size=tile_size, margin=margin, scheduler=settings.scheduler,
                                 workers=settings.workers, overwrite=overwrite, outdir=outdir,
                                 labels={"year": year, "datasource": datasource}, time=time)
        with tile_progress(state.quiet, f"segment {name}", unit="window") as progress:
            report = run(settings, request, progress=progress)
    echo_report(report.lines(), bool(report.failed))
