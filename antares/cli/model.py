"""``model_fit``, ``model_params``, ``model show``."""

from __future__ import annotations

import click

from antares.cli.main import CliState

#: antares3's model names -> antares' (antares3 ``model_fit -model lgb``)
ANTARES3_MODELS = {"lgb": "lightgbm"}
from antares.cli.options import (
    DATE, FIT_FLAGS, NAME, aggregation_option, area_options, flag_names, json_option, overwrite_option, period, scheduler_option,
    workers_option,
)
from antares.cli.output import echo_json, echo_table, tile_progress


def optional_area(settings, region, bbox, bbox_crs, lat, long):
    """The area of the area options, or None when none is given."""
    if not (region or bbox or lat or long):
        return None
    from antares.pipeline.area import resolve_area

    return resolve_area(settings, region, bbox, bbox_crs, lat, long)


@click.command(epilog="""\b
Examples:
  antares model_fit -model rf -p s2_2018_features -t brandenburg_train --name rf_2018 --cv 5 --cv-spatial 2000
  antares model_fit -model lightgbm -p s2_2018_features -t brandenburg_train --name lgb_2018 \\
      --grid num_leaves=15,31 --grid learning_rate=0.05,0.1 -extra n_estimators=300
  antares model_fit -model rf -p s2_2018_features -t tcd_train --name rf_px --unit pixels --per-class 500
  antares model_fit -model xgb -p s2_2018_features -t brandenburg_train --name xgb_2018 \
      -categorical_variables soil_class --remove-outliers
  antares model_fit -p s2_2018_features -t brandenburg_train -filename brandenburg_train.parquet""")
@click.option("-model", "--model", "kind", default=None, callback=lambda ctx, param, value: ANTARES3_MODELS.get(value, value),
              help="Classifier: rf, lightgbm or xgb (antares3's lgb is lightgbm; antares model_params).")
@click.option("-p", "--product", required=True, help="Product whose measurements are the features.")
@click.option("-t", "--training", "training_set", required=True, help="Training set (antares list training_sets).")
@area_options
@click.option("--name", "-n", type=NAME, default=None, help="Name of the model (needed unless -filename).")
@aggregation_option("mean", "Per-polygon aggregation of pixels (default mean); pNN: the NN-th percentile (p10, p90); "
                            "several give one column per statistic and measurement (-sp mean std p90); shape adds "
                            "area, perimeter, compactness, elongation, rectangularity of each polygon (-sp mean shape); "
                            "glcm adds the GLCM texture of each object's own pixels per measurement (glcmN: N grey "
                            "levels; glcm_contrast, glcm_entropy, ...: those features only; glcm:M, repeatable: of "
                            "measurement M only, e.g. -sp mean glcm_entropy glcm:B08 glcm:NDVI; default all).")
@click.option("--unit", type=click.Choice(["polygons", "pixels", "segments"]), default="polygons", show_default=True,
              help="One sample per polygon, the pixels inside polygons, or the segments of -s lying mostly (more "
                   "than half their pixels) inside one polygon; CV accuracy counts the same unit. None is best "
                   "everywhere (docs/training-units.md).")
@click.option("-s", "--segmentation", default=None, help="Segmentation on the product's grid (--unit segments).")
@click.option("-sample", "--sample", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="Fraction of each class's samples to use.")
@click.option("--per-class", type=click.IntRange(min=1), default=None, help="At most N samples per class.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (sampling, CV splits, estimator).")
@click.option("--cv", type=click.IntRange(min=2), default=None, help="K-fold cross-validation.")
@click.option("--cv-spatial", type=float, default=None, metavar="BLOCK_M",
              help="Group samples in square blocks of this size (m) so that neighbours never straddle a split.")
@click.option("--grid", "grid_specs", multiple=True, metavar="K=V1,V2", help="Grid search values (repeatable).")
@click.option("-extra", "--extra", multiple=True, metavar="K=V", help="Estimator parameter (repeatable).")
@click.option("-categorical_variables", "--categorical-variables", "categorical", multiple=True, metavar="MEASUREMENT",
              help="Measurement of category codes (0, 1, 2, ...; repeatable, or several after one flag): native "
                   "categorical for lightgbm and xgb, one-hot encoded for rf.")
@click.option("--remove-outliers", is_flag=True, default=False,
              help="Before fitting, drop per class the --contamination share of samples an IsolationForest finds "
                   "most anomalous (antares3's outlier removal).")
@click.option("--contamination", type=click.FloatRange(0, 0.5, min_open=True), default=0.25, show_default=True,
              help="Share of each class's samples --remove-outliers drops (antares3's 0.25).")
@click.option("-filename", "--filename", "table_file", type=click.Path(dir_okay=False), default=None,
              help="Write the training table (features, class, group) to this Parquet file instead of fitting "
                   "(-model and --name are then not needed).")
@click.option("-b", "--begin", type=DATE, default=None, help="First date of the product's period (when it has several).")
@click.option("-e", "--end", type=DATE, default=None, help="Last date of the product's period.")
@click.option("--tile-size", type=click.IntRange(min=16), default=1024, show_default=True, help="Tile side in pixels.")
@scheduler_option
@workers_option
@overwrite_option
@click.pass_obj
def model_fit(state: CliState, kind, product, training_set, region, bbox, bbox_crs, lat, long, name, aggregation, unit,
              segmentation, sample, per_class, seed, cv, cv_spatial, grid_specs, extra, categorical, remove_outliers, contamination,
              table_file, begin, end, tile_size, scheduler, workers, overwrite):
    """Fit a classifier on the features of training samples taken from a product.

    Each training polygon gets the NaN-aware aggregate (-sp) of the pixels whose centres
    fall inside it (a polygon crossing tile edges contributes once, from all its pixels);
    labels are the legend codes. With --cv the report gives overall accuracy, kappa,
    macro-F1 and user's/producer's accuracy per fold. The model, its legend, feature
    names, CV report and provenance are stored in the database. With -filename the
    training table is written to Parquet instead, and no model is fitted.
    """
    from antares.pipeline.requests import FitRequest
    from antares.pipeline.train import model_fit as fit

    time = period(begin, end)
    settings = state.settings()
    area = optional_area(settings, region, bbox, bbox_crs, lat, long)
    with flag_names(FIT_FLAGS):
        request = FitRequest(kind, product, training_set, name, area=area, aggregation=aggregation, unit=unit,
                             sample=sample, per_class=per_class, seed=seed, cv=cv, cv_spatial=cv_spatial,
                             grid_specs=grid_specs, extra=extra, scheduler=scheduler, workers=workers,
                             tile_size=tile_size, time=time, overwrite=overwrite, categorical=categorical,
                             remove_outliers=remove_outliers, contamination=contamination, table_file=table_file,
                             segmentation=segmentation)
        # one count: the tiles of features, then each cross-validation fold and the final fit
        with tile_progress(state.quiet, f"model_fit {name or table_file} (tiles, folds)", unit="step") as progress:
            report = fit(settings, request, progress=progress)
    for line in report.lines():
        click.echo(line)


@click.command(epilog="""\b
Examples:
  antares model_params
  antares model_params rf""")
@click.argument("model", required=False)
@json_option
def model_params(model, as_json):
    """List the classifiers, or the parameters of MODEL with antares' defaults (for -extra and --grid)."""
    from antares.models.registry import MODELS

    if model is None:
        rows = [{"model": name, "description": MODELS.describe(name)["description"]} for name in MODELS]
        echo_json(rows) if as_json else echo_table(rows, ["model", "description"])
        return
    plugin = MODELS.describe(model)
    defaults = MODELS[model].defaults
    rows = [{"parameter": p.name, "default": repr(defaults.get(p.name, p.default)),
             "set_by_antares": p.name in defaults}
            for p in sorted(plugin["params"], key=lambda p: p.name)]
    if as_json:
        echo_json({"model": model, "description": plugin["description"], "parameters": rows})
        return
    click.echo(f"{model}: {plugin['description']}")
    echo_table(rows, ["parameter", "default", "set_by_antares"])


@click.group(epilog="""\b
Examples:
  antares list models
  antares model show rf_2018""")
def model():
    """Stored models."""


@model.command(epilog="Examples:\n\n  antares model show rf_2018\n\n  antares model show crops_ltae --plot curve.png")
@click.argument("name")
@json_option
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, metavar="FILE.png",
              help="Write the training curve of a temporal deep model (loss, validation loss and OA per epoch).")
@overwrite_option
@click.pass_obj
def show(state: CliState, name, as_json, plot_path, overwrite):
    """Show model NAME: legend, features, parameters, samples per class, provenance and CV report."""
    from antares.legend import LegendEntry
    from antares.pipeline.train import cv_lines, load_model

    if plot_path is not None:
        from antares.pipeline.fit_timeseries import plot_training_curve

        report = plot_training_curve(state.settings(), name, plot_path, overwrite=overwrite)
        if not as_json:
            for line in report.lines():
                click.echo(line)

    _, meta = load_model(state.settings(), name, estimator=False)
    if as_json:
        echo_json(meta)
        return
    legend = [LegendEntry(**e) for e in meta["legend"]]
    names = {e.code: e.name for e in legend}
    click.echo(f"model {name}: {meta['kind']} on product {meta['product']}, training set {meta['training_set']}, "
               f"unit {meta['unit']}" + (f", -sp {meta['aggregation']}" if meta.get("aggregation") else ""))
    click.echo(f"features ({len(meta['features'])}): {', '.join(meta['features'])}")
    if meta.get("columns") and len(meta["columns"]) != len(meta["features"]):  # several statistics or shape
        click.echo(f"columns ({len(meta['columns'])}): {', '.join(meta['columns'])}")
    if meta.get("segmentation"):
        click.echo(f"samples: segments of {meta['segmentation']} lying mostly in one training polygon")
    click.echo(f"parameters: {meta['params'] or '(defaults)'}")
    click.echo("samples per class: " + ", ".join(f"{names.get(int(c), c)} {n}" for c, n in meta["samples_per_class"].items()))
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    click.echo(f"versions: {versions}")
    click.echo("stored as: " + {"skops": "skops", "safetensors": "safetensors weights + JSON configuration"}.get(
        meta["format"], "pickle (loads only with --trust-pickle, then re-saved with skops)"))
    if meta.get("architecture"):  # a temporal deep model (antares.deep)
        for sensor, spec in meta["sensors"].items():
            click.echo(f"{sensor}: {len(spec['channels'])} channels ({', '.join(spec['channels'])}), days {spec['days']}")
        if meta.get("set_size"):  # fitted on a product's pixel sets (model_fit_timeseries -p -t)
            where = ("; ".join(f"{g['sensor']} {len(g['days'])} time(s) of {g['product']}" for g in meta["layout"])
                     + " (the same pixels in each)") if meta.get("layout") else \
                f"{len(meta.get('times') or [])} time(s) of {meta['product']}"
            click.echo(f"pixel sets: {meta['set_size']} pixels drawn per polygon or object (seed {meta.get('seed')}) at "
                       + where)
        click.echo(f"architecture {meta['architecture']}, fusion {meta.get('fusion') or 'none'} ({meta['mode']}); "
                   f"best epoch {meta.get('best_epoch')}")
        for h in meta.get("history") or []:
            click.echo(f"  epoch {h['epoch']}: loss {h['loss']}, validation loss {h['val_loss']}, "
                       f"validation OA {h['val_oa']}")
    if meta.get("cv"):
        for line in cv_lines(meta["cv"], legend, meta.get("unit", "polygons")):
            click.echo(line)
