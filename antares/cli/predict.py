"""``model_predict_object``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.model import optional_area
from antares.cli.options import (DATE, NAME, PREDICT_FLAGS, aggregation_option, area_options, flag_names,
                                 overwrite_option, period,
                                 scheduler_option, trust_pickle_option, workers_option)
from antares.cli.output import tile_progress


@click.command(epilog="""\b
Examples:
  antares model_predict_object -p s2_2018_features -m rf_2018 -s bis_2018 --name map_2018
  antares model_predict_object -p s2_2018_features -m rf_2018 -s bis_2018 --name map_2018 -region jalisco --overwrite""")
@click.option("-p", "--product", required=True, help="Features product (the model's features, by name).")
@click.option("-m", "--model", required=True, help="Stored model (antares list models).")
@click.option("-s", "--segmentation", required=True, help="Segmentation on the product's grid (antares segment).")
@area_options
@click.option("--name", "-n", type=NAME, required=True, help="Name of the classification (the map).")
@aggregation_option(None, "Per-object aggregation (default: the model's); pNN: the NN-th percentile (p10, p90); a "
                          "model fitted on several statistics or shape takes as many, and shape (from the segments' "
                          "polygons).")
@click.option("-b", "--begin", type=DATE, default=None, help="First date of the product's period (when it has several).")
@click.option("-e", "--end", type=DATE, default=None, help="Last date of the product's period.")
@scheduler_option
@workers_option
@overwrite_option
@trust_pickle_option
@click.pass_obj
def model_predict_object(state: CliState, product, model, segmentation, region, bbox, bbox_crs, lat, long, name,
                         aggregation, begin, end, scheduler, workers, overwrite, trust_pickle):
    """Classify every object of a segmentation: class (legend code), confidence and entropy, stored in PostGIS.

    Object features are the NaN-aware aggregate of all the object's pixels, computed per tile
    from the label raster in one pass; an object crossing tile edges is predicted once, from
    all its pixels. Objects without a valid pixel in every feature are counted and get no
    prediction.
    """
    from antares.pipeline.predict import model_predict_object as predict
    from antares.pipeline.requests import PredictRequest

    time = period(begin, end)
    settings = state.settings()
    area = optional_area(settings, region, bbox, bbox_crs, lat, long)
    with flag_names(PREDICT_FLAGS):
        request = PredictRequest(product, model, segmentation, name, area=area, aggregation=aggregation,
                                 scheduler=scheduler, workers=workers, time=time, overwrite=overwrite,
                                 trust_pickle=trust_pickle)
        with tile_progress(state.quiet, "tiles") as progress:
            report = predict(settings, request, progress=progress)
    for line in report.lines():
        click.echo(line)


@click.command(epilog="""\b
Examples:
  antares model_predict -p s2_2018_features -m rf_2018 --name lc_2018_pixels
  antares model_predict -p s2_2018_features -m rf_2018 --name lc_2018_pixels -region jalisco""")
@click.option("-p", "--product", required=True, help="Features product (the model's features, by name).")
@click.option("-m", "--model", required=True, help="Stored model (antares list models).")
@area_options
@click.option("--name", "-n", type=NAME, required=True, help="Classified product to write.")
@click.option("-b", "--begin", type=DATE, default=None, help="First date of the product's period (when it has several).")
@click.option("-e", "--end", type=DATE, default=None, help="Last date of the product's period.")
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Where the COGs go (default $ANTARES_HOME/products/NAME).")
@scheduler_option
@workers_option
@overwrite_option
@trust_pickle_option
@click.pass_obj
def model_predict(state: CliState, product, model, region, bbox, bbox_crs, lat, long, name, begin, end, outdir,
                  scheduler, workers, overwrite, trust_pickle):
    """Classify every pixel of a product: an indexed product of class codes (0 = nodata) and confidence.

    One task per dataset (tile) of the product; tiles already written are skipped, so an
    interrupted run resumes. Pixels without a valid value in every feature stay nodata.
    """
    from antares.pipeline.predict_pixels import model_predict as run
    from antares.pipeline.requests import PixelRequest
    from antares.cli.output import echo_report

    time = period(begin, end)
    settings = state.settings()
    area = optional_area(settings, region, bbox, bbox_crs, lat, long)
    with flag_names(PREDICT_FLAGS):
        request = PixelRequest(product, model, name, area=area, time=time, scheduler=scheduler, workers=workers,
                               overwrite=overwrite, outdir=outdir, trust_pickle=trust_pickle)
        with tile_progress(state.quiet, "tiles") as progress:
            report = run(settings, request, progress=progress)
    echo_report(report.lines(), bool(report.failed))
