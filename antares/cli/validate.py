"""``antares validate``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import NAME, area_options, flag_names, overwrite_option


@click.command(epilog="""\b
Examples:
  antares validate -c map_2018 -val brandenburg_val
  antares validate -c map_2018 -val brandenburg_val -region east --report report.json --plot matrix.png --log
  antares validate -c map_2018 -val brandenburg_val --json | jq .by_area_of_overlap_m2.overall_accuracy
  antares validate -c map_2018 -val brandenburg_val --log --comment "2018 map, first field campaign"
  antares validate -c map_2018 -val brandenburg_val -lat 52.2 52.5 -long 13.1 13.6
""")
@click.option("-c", "--classification", required=True, help="Classification (antares model_predict_object --name).")
@click.option("-val", "--validation", "validation_set", required=True, help="Validation set (antares ingest_validation).")
@area_options
@click.option("--report", "json_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the full report as a JSON file.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON instead of the tables.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the confusion matrix as a PNG.")
@click.option("--log", "log", is_flag=True, help="Store the report in the database.")
@click.option("--name", type=NAME, default=None, help="Name of the stored report (--log; default CLASSIFICATION:VALIDATION).")
@click.option("--comment", default=None, help="A note kept in the report (JSON, --log): antares3's --comment.")
@overwrite_option
@click.pass_obj
def validate(state: CliState, classification, validation_set, region, bbox, bbox_crs, lat, long, json_file, as_json,
             plot_file, log, name, comment, overwrite):
    """Accuracy of a classification against a validation set.

    Confusion matrix by area of overlap (m², equal-area CRS), overall accuracy, kappa,
    user's/producer's accuracy and F1 (sklearn.metrics), and area-adjusted class areas and
    accuracies with 95 % confidence intervals (Olofsson et al. 2014; one unit per validation
    polygon, mapped as its majority class). With an area (-region, --bbox, -lat/-long) only
    the validation polygons and objects in it count, their overlaps clipped to it.
    """
    from antares.cli.export import EXPORT_FLAGS
    from antares.cli.output import tile_progress
    from antares.pipeline.area import region_or_area
    from antares.pipeline.export_requests import ValidateRequest
    from antares.pipeline.validate import validate as run

    settings = state.settings()
    region, area = region_or_area(settings, region, bbox, bbox_crs, lat, long)
    with flag_names(EXPORT_FLAGS):
        request = ValidateRequest(classification, validation_set, region, json_file, plot_file,
                                  (name or f"{classification}:{validation_set}") if log else None, overwrite, comment,
                                  area=area)
        with tile_progress(state.quiet, f"validate {classification}", unit="step") as progress:
            report = run(settings, request, progress=progress)
    if as_json:
        from antares.cli.output import echo_json

        echo_json(report.to_dict())
    else:
        click.echo(report.text())
    for path, what in ((json_file, "report"), (plot_file, "confusion matrix")):
        if path:
            click.echo(f"{what} written to {path}", err=as_json)
