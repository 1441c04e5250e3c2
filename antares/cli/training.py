"""``ingest_training``, ``ingest_validation``, ``ingest_training_from_raster`` and ``scheme show``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import (NAME, RASTER_SAMPLE_FLAGS, SAMPLE_FILE_FLAGS, SERIES_SET_FLAGS, flag_names, json_option,
                                 overwrite_option)
from antares.cli.output import echo_json, echo_table, tile_progress


def _every_nth(ctx, param, value):
    """antares3's ``--filter N``: a positive integer; anything else is refused with a pointer to ``--where``.

    antares3 read ``--filter 5`` as "keep every 5th feature"; an earlier antares read it as an
    OGR WHERE clause, so ``--filter 5`` silently ingested everything. A bare integer keeps its
    antares3 meaning; an expression is refused (exit 2) rather than guessed.
    """
    if value is None:
        return None
    try:
        every = int(value)
    except ValueError:
        raise click.BadParameter(f"takes a whole number N (keep every N-th feature, as in antares3), got {value!r}; "
                                 f"select features with an OGR SQL expression through --where {value!r}.") from None
    if every < 1:
        raise click.BadParameter(f"N must be 1 or more (1 keeps every feature), got {every}.")
    return every


SERIES_EXAMPLES = """\
  antares ingest_training --timeseries extractions.parquet --field sampling_label -n crops_be
  antares ingest_training --timeseries long.csv --mapping map.yaml -n crops_long    # label: from map.yaml
"""


def _series_options(command):
    """``--timeseries`` and ``--mapping`` (ingest_training only): labelled time series instead of polygons."""
    command = click.option("--mapping", default=None, type=click.Path(dir_okay=False, path_type=str),
                           help="YAML mapping of a long --timeseries table: sample_id, label, date, dates or "
                                "start/steps, channels (docs/deep.md).")(command)
    return click.option("--timeseries", "series_path", default=None, type=click.Path(path_type=str),
                        help="Store the labelled time series of this table instead of polygons: parquet with "
                             "WorldCereal wide columns (OPTICAL-B02-ts0-10m, SAR-VV-ts0-20m) and --field, or a long "
                             "table (parquet/CSV) with --mapping. Fit on it: model_fit_timeseries -t NAME.")(command)


def _vector_command(kind: str):
    series = kind == "training"

    @click.command(name=f"ingest_{kind}", epilog=f"""\b
Examples:
  antares ingest_{kind} osm_landuse.gpkg --field fclass --dataset brandenburg_{kind}
  antares ingest_{kind} parcels.shp --field CODE --dataset parcels_2018 --legend legend.csv --year 2018
  antares ingest_{kind} lulc.gpkg --field LULC_ID --dataset slo --scheme eolearn --where "AREA > 1000"
  antares ingest_{kind} big_sample.shp --field CLASS --dataset thinned --filter 5    # every 5th feature (antares3)
""" + (SERIES_EXAMPLES if series else ""))
    @click.argument("file", type=click.Path(path_type=str), required=not series)
    @click.option("--field", "--label", "field_name", required=not series,
                  help="Field holding the class (a legend code or a class name)"
                       + ("; with --timeseries, the column of class names (default: the --mapping's)." if series else "."))
    @click.option("--name", "-n", "--dataset", "name", type=NAME, required=True,
                  help=f"Name of the {kind} set (--dataset: antares3's name of it).")
    @click.option("--scheme", type=NAME, default=None, help="Class scheme to use or create (default: the --dataset name).")
    @click.option("--legend", "legend_file", type=click.Path(path_type=str), default=None,
                  help="CSV or YAML legend: code, name, colour (#rrggbb). Default: codes by sorted name, palette colours.")
    @click.option("--layer", "-l", default=None, help="Layer to read (required when the file has several).")
    @click.option("--year", type=int, default=None, help="Reference year of the labels (recorded).")
    @click.option("--where", "where", default=None, metavar="SQL", help="OGR SQL expression selecting features.")
    @click.option("--filter", "every", default=None, metavar="N", callback=_every_nth,
                  help="Keep every N-th feature (1st, N+1-th, ...) of the file, after --where (antares3's --filter).")
    @overwrite_option
    @click.pass_obj
    def command(state: CliState, file, field_name, name, scheme, legend_file, layer, year, where, every, overwrite,
                series_path=None, mapping=None):
        from antares.errors import UsageError
        from antares.pipeline.input_requests import SampleFileRequest
        from antares.pipeline.samples import ingest_samples

        if series_path is not None or mapping is not None:
            if series_path is None:
                raise UsageError("--mapping goes with --timeseries TABLE (a long table of labelled series).")
            if file is not None:
                raise UsageError("give either FILE (polygons or points) or --timeseries TABLE [--mapping MAP.yaml], "
                                 "not both.")
            if layer or year is not None or where or every:
                raise UsageError("--layer, --year, --where and --filter are for a vector FILE, not --timeseries.")
            return _ingest_series(state, series_path, field_name, mapping, name, scheme, legend_file, overwrite)
        if file is None:
            raise UsageError("give FILE (polygons or points) or --timeseries TABLE.")
        if field_name is None:
            raise UsageError("--field is needed with FILE (the field holding the class).")
        with flag_names(SAMPLE_FILE_FLAGS):
            request = SampleFileRequest(kind, file, field_name, name, scheme, legend_file, layer, where, year, overwrite,
                                        every=every)
            with tile_progress(state.quiet, f"ingest_{kind} {name}", unit="sample") as progress:
                report = ingest_samples(state.settings(), request, progress=progress)
        for line in report.lines():
            click.echo(line)

    command.help = (f"Ingest labelled polygons (or points) of FILE as {kind} set --dataset.\n\n"
                    "Geometries keep their CRS (stored with its SRID); invalid ones are repaired and counted, empty "
                    "ones dropped. Class values become legend codes of the class scheme."
                    + ("\n\nWith --timeseries TABLE instead of FILE: the table's labelled series (read as "
                       "model_fit_timeseries --timeseries reads them: gaps filled, S1 in dB) are stored in the "
                       "database, one row per sample (float32 values); model_fit_timeseries -t NAME fits on them."
                       if series else ""))
    return _series_options(command) if series else command


def _ingest_series(state: CliState, path, label, mapping, name, scheme, legend_file, overwrite):
    """``ingest_training --timeseries``: a sample time-series table stored as a training set."""
    from antares.pipeline.series_requests import SeriesSetRequest
    from antares.pipeline.series_sets import ingest_series

    with flag_names(SERIES_SET_FLAGS):
        request = SeriesSetRequest(name, path, label, mapping, scheme, legend_file, overwrite)
        with tile_progress(state.quiet, f"ingest_training {name}", unit="sample") as progress:
            report = ingest_series(state.settings(), request, progress=progress)
    for line in report.lines():
        click.echo(line)


ingest_training = _vector_command("training")
ingest_validation = _vector_command("validation")


@click.command(epilog="""\b
Examples:
  antares ingest_training_from_raster tcd_2018.tif --scheme tcd3 --dataset tcd_train \\
      --bins 10 --bins 50 --per-class 100 --seed 1 --holdout 0.3 --holdout-dataset tcd_val
  antares ingest_training_from_raster landcover.tif --scheme nalcms --dataset lc --legend nalcms.csv \\
      --fraction 0.001 --classes 1 --classes 2 --classes 5 --min-patch 3
""")
@click.argument("raster", type=click.Path(path_type=str))
@click.option("--scheme", type=NAME, required=True, help="Class scheme to use or create.")
@click.option("--name", "-n", "--dataset", "name", type=NAME, required=True,
              help="Name of the training (or validation) set (--dataset: antares3's name of it).")
@click.option("--legend", "legend_file", type=click.Path(path_type=str), default=None, help="CSV or YAML legend.")
@click.option("--per-class", type=click.IntRange(min=1), default=None, help="Samples per class.")
@click.option("--fraction", type=click.FloatRange(0, 1, min_open=True), default=None, help="Fraction of each class's candidates.")
@click.option("--classes", type=int, multiple=True, help="Only this class code (repeat: --classes 1 --classes 3).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--min-patch", "patch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Each sample is a square of PX x PX pixels of one class.")
@click.option("--bins", type=float, multiple=True, help="Class edges for continuous values (e.g. --bins 10 --bins 50).")
@click.option("--band", type=int, default=1, show_default=True, help="Raster band.")
@click.option("--validation", is_flag=True, help="Store as a validation set instead.")
@click.option("--holdout", type=float, default=None, metavar="F",
              help="Hold this share of each class's samples apart as a validation set (with --holdout-dataset).")
@click.option("--holdout-dataset", type=NAME, default=None, help="Name of the held-apart validation set.")
@overwrite_option
@click.pass_obj
def ingest_training_from_raster(state: CliState, raster, scheme, name, legend_file, per_class, fraction, classes,
                                seed, patch, bins, band, validation, holdout, holdout_dataset, overwrite):
    """Stratified random training samples from a reference RASTER (a land-cover map, or binned values).

    Each class (after --bins) is sampled uniformly without replacement; samples are
    stored as pixel (or patch) squares in the raster's CRS.
    """
    from antares.pipeline.input_requests import RasterSampleRequest
    from antares.pipeline.samples import ingest_from_raster

    with flag_names(RASTER_SAMPLE_FLAGS):
        request = RasterSampleRequest(raster, name, scheme, legend_file=legend_file, per_class=per_class,
                                      fraction=fraction, classes=classes, seed=seed, patch=patch, bins=bins, band=band,
                                      kind="validation" if validation else "training", overwrite=overwrite,
                                      holdout=holdout, holdout_name=holdout_dataset)
        with tile_progress(state.quiet, f"ingest_training_from_raster {name}", unit="sample") as progress:
            report = ingest_from_raster(state.settings(), request, progress=progress)
    for line in report.lines():
        click.echo(line)


@click.group(epilog="""\b
Examples:
  antares list schemes
  antares scheme show brandenburg_osm""")
def scheme():
    """Class schemes (legends)."""


@scheme.command(epilog="Example:\n\n  antares scheme show brandenburg_osm")
@click.argument("name")
@json_option
@click.pass_obj
def show(state: CliState, name, as_json):
    """Show the legend (code, name, colour) of scheme NAME and the sample sets that use it."""
    from antares.pipeline.samples import scheme_details

    details = scheme_details(state.settings(), name)
    if as_json:
        echo_json(details)
        return
    click.echo(f"scheme {name}: {len(details['classes'])} class(es)")
    echo_table(details["classes"], ["code", "name", "colour"])
    if details["sample_sets"]:
        click.echo("")
        echo_table(details["sample_sets"], ["kind", "name", "samples", "classes", "source"])
