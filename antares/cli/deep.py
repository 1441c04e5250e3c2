"""``model_fit_timeseries``: temporal deep models (pse_tae, ltae, tempcnn) on sample time-series tables."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import (DATE, NAME, TIMESERIES_FIT_FLAGS, flag_names, overwrite_option, period,
                                 scheduler_option, workers_option)
from antares.cli.output import tile_progress


@click.command(epilog="""\b
Examples:
  antares model_fit_timeseries --timeseries extractions.parquet --label sampling_label \\
      --sensors s2 -model pse_tae --name crops_pse
  antares model_fit_timeseries --timeseries extractions.parquet --label sampling_label \\
      --sensors s1,s2 --fusion decision -model ltae -extra epochs=50 --name crops_ltae --plot curve.png
  antares model_fit_timeseries --timeseries long.csv --mapping map.yaml -model tempcnn --name crops_cnn
  antares model_fit_timeseries -t crops_be --sensors s1,s2 --fusion decision -model ltae --name crops_stored
  antares model_fit_timeseries -p ndvi_monthly -t parcels -model pse_tae --set-size 32 --name parcels_pse
  antares model_fit_timeseries -p s1_s2_monthly -t parcels --sensors s1,s2 --fusion pse -model pse_tae --name fused
  antares model_fit_timeseries -p s2_monthly -p s1_monthly -t parcels --sensors s1,s2 --fusion early \\
      --interpolate linear -model ltae --name fused2""")
@click.option("--timeseries", "path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Table of labelled series: parquet with WorldCereal wide columns (OPTICAL-B02-ts0-10m, "
                   "SAR-VV-ts0-20m), or a long table (parquet/CSV, one row per sample and date) with --mapping.")
@click.option("--mapping", default=None, type=click.Path(exists=True, dir_okay=False),
              help="YAML mapping of a long --timeseries table: sample_id, label, date, dates or start/steps, "
                   "channels (column: s2/B02); docs/deep.md.")
@click.option("--label", default=None, help="Column with the class names (with --timeseries; default: the mapping's).")
@click.option("-p", "--product", "products", multiple=True,
              help="Time-series product whose steps give the series (with -t; instead of --timeseries); twice for S2 "
                   "and S1 products (s1=NAME to say which).")
@click.option("-t", "--training", "training_set", default=None,
              help="Training set: polygons for -p; alone, labelled time series stored by ingest_training --timeseries.")
@click.option("--set-size", type=int, default=32, show_default=True, help="Pixels drawn per polygon (with -p).")
@click.option("--val-spatial", "validation_block", type=float, default=None, metavar="METRES",
              help="Spatially blocked early-stopping validation: polygons in one square block of this side stay "
                   "together (with -p; default 1000, in the product's CRS units; 0: a stratified random split).")
@click.option("--geometry", is_flag=True,
              help="Give pse_tae/ltae each polygon's shape (area, perimeter, compactness, elongation, rectangularity, "
                   "cover ratio; with -p).")
@click.option("-b", "--begin", type=DATE, default=None, help="First date of the product's steps (with -p).")
@click.option("-e", "--end", type=DATE, default=None, help="Last date of the product's steps (with -p).")
@click.option("-model", "--model", "kind", required=True, help="pse_tae, ltae or tempcnn (antares model_params).")
@click.option("--sensors", default=None, help="s2, s1 or s1,s2 (a table: default s2; -p: default every measurement "
              "as one input).")
@click.option("--sensor-measurements", default=None, metavar="'s1=A,B;s2=C,D'",
              help="Each sensor's measurements (with -p; default: S1 recognised by name, s1_*, vv, vh).")
@click.option("--min-temp-seq", type=int, default=None, metavar="N",
              help="Minimum-sequence sampling: N dates at random per training sample (with -p; pse_tae, ltae).")
@click.option("--fusion", type=click.Choice(["early", "pse", "tsa", "decision"]), default=None,
              help="S1 + S2 fusion (two sensors only).")
@click.option("--interpolate", type=click.Choice(["nn", "linear"]), default="nn", show_default=True,
              help="Alignment of S1 to the S2 dates (early and pse fusion).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--min-samples", type=click.IntRange(min=2), default=2, show_default=True,
              help="Leave out classes with fewer samples.")
@click.option("--scheme", type=NAME, default=None, help="Class scheme (default: the model's name).")
@click.option("--name", "-n", type=NAME, required=True, help="Name of the model.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of weights, batches and validation split.")
@click.option("-extra", "--extra", multiple=True, metavar="K=V", help="Model parameter (repeatable).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, metavar="FILE.png",
              help="Also write the training curve (loss, validation loss and OA per epoch, best epoch marked).")
@scheduler_option
@workers_option
@overwrite_option
@click.pass_obj
def model_fit_timeseries(state: CliState, path, mapping, label, products, training_set, set_size, validation_block,
                         geometry, begin, end, kind, sensors, sensor_measurements, min_temp_seq,
                         fusion, interpolate, device, min_samples, scheme, name, seed, extra, plot_path, scheduler,
                         workers, overwrite):
    """Fit a temporal deep model on a sample time-series table and store it (safetensors + JSON).

    Adam with early stopping on a 20 % validation split (stratified at random for a table; spatially
    blocked in 1 km blocks for -p/-t unless --val-spatial), balanced class weights, fixed seed; the
    progress bar shows each epoch. From a table: pixel sets of one pixel per sample
    (points). From a product (-p) and a training set (-t): --set-size pixels drawn from each
    polygon with their series at every step of the product.
    """
    from antares.errors import UsageError
    from antares.pipeline.fit_timeseries import check_plot_path
    from antares.pipeline.fit_timeseries import model_fit_timeseries as fit
    from antares.pipeline.series_requests import TimeSeriesFitRequest

    if plot_path is not None:  # checked before the fit: a refused figure leaves no model behind
        check_plot_path(plot_path, overwrite)
    if (path is None) == (not products and training_set is None):
        raise UsageError("give either --timeseries FILE.parquet --label COLUMN, -t TRAINING_SET (time series stored by "
                         "ingest_training --timeseries) or -p PRODUCT -t TRAINING_SET.")
    stored = path is None and not products  # -t alone: a stored training set of time series
    if path is None and not stored:
        if mapping is not None:
            raise UsageError("--mapping is for a long --timeseries table; -p PRODUCT -t TRAINING_SET reads the cube.")
        cube = (products, training_set, set_size, validation_block, geometry, period(begin, end), sensor_measurements,
                min_temp_seq, interpolate)
        _fit_on_cube(state, cube, kind, sensors, fusion, device, name, seed, extra, scheduler, workers, overwrite)
        return _plot(state, name, plot_path, overwrite)
    if validation_block is not None or set_size != 32 or geometry or sensor_measurements or min_temp_seq is not None:
        raise UsageError("--set-size, --val-spatial, --geometry, --sensor-measurements and --min-temp-seq are for "
                         "-p PRODUCT -t TRAINING_SET (a table has no geometry).")
    sensors = sensors or "s2"
    if stored and (label is not None or mapping is not None or begin or end):
        raise UsageError("--label, --mapping, -b and -e are for a --timeseries table or -p PRODUCT; a stored training "
                         "set of time series (-t alone) has its classes and dates.")
    if label is None and mapping is None and not stored:
        raise UsageError("--timeseries needs --label COLUMN (the column with the class names).")

    chosen = [s.strip() for s in sensors.split(",") if s.strip()]
    if not chosen or len(set(chosen)) != len(chosen) or not set(chosen) <= {"s1", "s2"}:
        raise UsageError(f"--sensors must be s2, s1 or s1,s2. Got {sensors!r}.")
    if len(chosen) == 1 and fusion is not None:  # the request's message names no flag for 'two sensors'
        raise UsageError(f"--fusion {fusion} needs two sensors (--sensors s1,s2); got {chosen[0]}.")
    with flag_names(TIMESERIES_FIT_FLAGS):
        request = TimeSeriesFitRequest(name, path, label, kind, chosen, fusion=fusion, interpolate=interpolate,
                                       device=device, extra=extra, seed=seed, min_samples=min_samples, scheme=scheme,
                                       overwrite=overwrite, mapping=mapping, training=training_set if stored else None)
    bar = tile_progress(state.quiet, f"model_fit_timeseries {name}", unit="epoch")
    with bar as progress:
        def epoch_done(epoch, epochs, loss, oa):  # the bar: epochs, training loss, validation overall accuracy
            progress(epoch, epochs)
            bar.bar.set_postfix(loss=f"{loss:.4f}", val_oa="-" if oa is None else f"{oa:.3f}")

        report = fit(state.settings(), request, progress=epoch_done)
    for line in report.lines():
        click.echo(line)
    _plot(state, name, plot_path, overwrite)


def _plot(state: CliState, name: str, plot_path, overwrite: bool):
    """The training curve of model ``name`` written to ``plot_path`` (nothing when None)."""
    if plot_path is None:
        return
    from antares.pipeline.fit_timeseries import plot_training_curve

    for line in plot_training_curve(state.settings(), name, plot_path, overwrite=overwrite).lines():
        click.echo(line)


def _fit_on_cube(state: CliState, cube, kind, sensors, fusion, device, name, seed, extra, scheduler, workers, overwrite):
    """``model_fit_timeseries -p PRODUCT -t TRAINING_SET``: pixel sets from the cube."""
    from antares.deep.pixelsets import DEFAULT_VALIDATION_BLOCK
    from antares.deep.sensors import parse_sensor_measurements
    from antares.errors import UsageError
    from antares.pipeline.fit_pixelsets import PixelSetFitRequest, model_fit_pixelsets
    from antares.pipeline.train import load_model

    products, training_set, set_size, validation_block, geometry, time, mapping, min_temp_seq, interpolate = cube

    if not products or training_set is None:
        raise UsageError("-p PRODUCT and -t TRAINING_SET go together.")
    chosen = tuple(s.strip() for s in (sensors or "").split(",") if s.strip())
    if validation_block is None:  # spatially blocked by default; --val-spatial 0 opts out
        validation_block = DEFAULT_VALIDATION_BLOCK
    request = PixelSetFitRequest(kind, products[0], training_set, name, set_size, time, tuple(extra), seed, device,
                                 overwrite, scheduler, workers, validation_block or None, geometry, sensors=chosen,
                                 fusion=fusion, interpolate=interpolate, products=tuple(products[1:]),
                                 sensor_measurements=parse_sensor_measurements(mapping), min_temp_seq=min_temp_seq)
    bar = tile_progress(state.quiet, f"model_fit_timeseries {name}", unit="epoch")
    with tile_progress(state.quiet, "tiles") as tiles, bar as progress:
        def epoch_done(epoch, epochs, loss, oa):
            progress(epoch, epochs)
            bar.bar.set_postfix(loss=f"{loss:.4f}", val_oa="-" if oa is None else f"{oa:.3f}")

        report = model_fit_pixelsets(state.settings(), request, progress=tiles, epoch_progress=epoch_done)
    for line in report.lines():
        click.echo(line)
    _, meta = load_model(state.settings(), name, estimator=False)
    click.echo(_validation_line(meta))


def _validation_line(meta: dict) -> str:
    """How the early-stopping validation split was drawn (a blocked split over fewer than 2 blocks is random)."""
    block, groups = meta.get("validation_block"), meta.get("validation_groups")
    if not (meta.get("params") or {}).get("validation", 1):
        return "  early-stopping validation: none (-extra validation=0): every epoch trained on all polygons"
    if not block:
        return "  early-stopping validation: a stratified random split of the polygons (--val-spatial 0)"
    if groups is not None and groups < 2:
        return (f"  early-stopping validation: the polygons fall in {groups} block of {block:g} m, so the split was "
                "a stratified random one; give a smaller --val-spatial for a spatially blocked one")
    return f"  early-stopping validation: spatially blocked, the polygons' centroids in {groups} blocks of {block:g} m"
