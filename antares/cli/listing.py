"""``antares list regions | products | datasets | runs | segmentations | classifications | models | changes | ...``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import json_option
from antares.cli.output import echo_rows


@click.group("list", epilog="""\b
Examples:
  antares list products
  antares list segmentations --json
  antares list runs --kind apply_recipe""")
def list_():
    """List regions, products, datasets, runs, grid presets or recipes (a table, or JSON with --json)."""


@list_.command(epilog="Example:\n\n  antares list regions --json")
@json_option
@click.pass_obj
def regions(state: CliState, as_json):
    """Registered regions with their area (km², geodesic) and bounds (EPSG:4326)."""
    from antares.db.engine import session_scope
    from antares.db.regions import list_regions

    with session_scope(state.settings()) as session:
        rows = list_regions(session)
    echo_rows(rows, as_json, ["name", "collection", "area_km2", "west", "south", "east", "north", "source"],
              empty="No regions. Add one with 'antares register_region NAME FILE'.")


def _with_datacube(settings, fn):
    from antares.cube.index import connect
    from antares.db.engine import open_database

    open_database(settings)  # clear errors for an unreachable or uninitialised database
    from antares.db.engine import database_url

    dc = connect(database_url(settings))
    try:
        return fn(dc)
    finally:
        dc.close()


@list_.command(epilog="Example:\n\n  antares list products")
@json_option
@click.pass_obj
def products(state: CliState, as_json):
    """Indexed ODC products with their measurements and number of datasets."""
    from antares.cube.index import list_products

    rows = _with_datacube(state.settings(), list_products)
    echo_rows(rows, as_json, ["name", "datasets", "measurements"], empty="No products. Run 'antares init'.")


@list_.command(epilog="Example:\n\n  antares list datasets --product s2_l2a")
@click.option("--product", "-p", default=None, help="Only datasets of this product.")
@json_option
@click.pass_obj
def datasets(state: CliState, product, as_json):
    """Indexed datasets: id, product, time, tile/granule and path."""
    from antares.cube.index import list_datasets

    rows = _with_datacube(state.settings(), lambda dc: list_datasets(dc, product))
    echo_rows(rows, as_json, ["time", "product", "tile", "id", "path"],
              empty="No datasets. Index some with 'antares index'.")


@list_.command(epilog="Example:\n\n  antares list runs --kind register_region")
@click.option("--kind", default=None, help="Only runs of this stage (apply_recipe, segment, model_fit, ...).")
@json_option
@click.pass_obj
def runs(state: CliState, kind, as_json):
    """Recorded runs, newest first: stage, name, status, timing and error."""
    from antares.db.engine import session_scope
    from antares.db.runs import list_runs

    with session_scope(state.settings()) as session:
        rows = list_runs(session, kind)
    echo_rows(rows, as_json, ["id", "kind", "name", "status", "started_at", "seconds", "error"], empty="No runs yet.")


@list_.command(epilog="Example:\n\n  antares list grids")
@json_option
def grids(as_json):
    """Tile grid presets for --grid (config/grids.yaml)."""
    from dataclasses import asdict

    from antares.cube.grid import load_presets

    rows = []
    for preset in load_presets().values():
        row = asdict(preset)
        row["tile_km"] = preset.tile_size * preset.resolution / 1000
        rows.append(row)
    echo_rows(rows, as_json, ["name", "crs", "resolution", "tile_size", "tile_km", "origin"])


@list_.command(epilog="Example:\n\n  antares list recipes")
@json_option
def recipes(as_json):
    """Built-in recipes (recipes/*.yaml) with their input product and number of outputs."""
    from antares.recipes import list_recipes

    rows = [{"name": r.name, "product": r.product, "outputs": len(r.outputs), "description": r.description}
            for r in list_recipes()]
    echo_rows(rows, as_json, ["name", "product", "outputs", "description"])


@list_.command("training_sets", epilog="Example:\n\n  antares list training_sets --kind validation")
@click.option("--kind", type=click.Choice(["training", "validation"]), default=None, help="Only one kind.")
@json_option
@click.pass_obj
def training_sets(state: CliState, kind, as_json):
    """Training and validation sets: scheme, number of samples and classes, source.

    Training sets of time series (ingest_training --timeseries) show their series: per sensor,
    dates x channels."""
    from antares.db.engine import session_scope
    from antares.db.series_sets import list_series_sets
    from antares.db.training import list_sample_sets
    from antares.pipeline.series_sets import series_set_row

    with session_scope(state.settings()) as session:
        rows = [dict(r, series="") for r in list_sample_sets(session, kind)]
        if kind in (None, "training"):
            rows += [series_set_row(r) for r in list_series_sets(session)]
    rows.sort(key=lambda r: (r["kind"], r["name"]))
    echo_rows(rows, as_json, ["name", "kind", "scheme", "samples", "classes", "series", "year", "source"],
              empty="No sample sets. Add one with 'antares ingest_training FILE --field F --dataset NAME'.")


@list_.command(epilog="Example:\n\n  antares list schemes")
@json_option
@click.pass_obj
def schemes(state: CliState, as_json):
    """Class schemes (legends) with their number of classes and sample sets."""
    from antares.db.engine import session_scope
    from antares.db.training import list_schemes

    with session_scope(state.settings()) as session:
        rows = list_schemes(session)
    echo_rows(rows, as_json, ["name", "classes", "sample_sets", "description"], empty="No class schemes yet.")


@list_.command(epilog="Example:\n\n  antares list models")
@json_option
@click.pass_obj
def models(state: CliState, as_json):
    """Stored models: kind, product, training set, classes, features, samples, training unit and CV overall accuracy."""
    from antares.pipeline.train import list_models

    rows = list_models(state.settings())
    echo_rows(rows, as_json, ["name", "kind", "product", "training_set", "classes", "features", "samples", "unit", "cv_oa"],
              empty="No models. Fit one with 'antares model_fit'.")


@list_.command("validation_sets", epilog="Example:\n\n  antares list validation_sets --json")
@json_option
@click.pass_context
def validation_sets(ctx, as_json):
    """Validation sets: scheme, number of samples and classes, source (as training_sets --kind validation)."""
    ctx.invoke(training_sets, kind="validation", as_json=as_json)


@list_.command(epilog="Example:\n\n  antares list segmentations --json")
@json_option
@click.pass_obj
def segmentations(state: CliState, as_json):
    """Segmentations: product, algorithm, objects, area (km²), classifications of them, CRS, creation time."""
    from antares.pipeline.results import list_results

    rows = list_results(state.settings(), "segmentations")
    echo_rows(rows, as_json, ["name", "product", "algorithm", "objects", "area_km2", "classifications", "created_at"],
              empty="No segmentations. Make one with 'antares segment'.")


@list_.command(epilog="Example:\n\n  antares list classifications")
@json_option
@click.pass_obj
def classifications(state: CliState, as_json):
    """Classifications (maps): segmentation, model, classified objects, area (km²), validations, creation time."""
    from antares.pipeline.results import list_results

    rows = list_results(state.settings(), "classifications")
    echo_rows(rows, as_json, ["name", "segmentation", "model", "objects", "area_km2", "validations", "created_at"],
              empty="No classifications. Make one with 'antares model_predict_object'.")


@list_.command(epilog="Example:\n\n  antares list changes")
@json_option
@click.pass_obj
def changes(state: CliState, as_json):
    """Change detections (antares detect_change): method, inputs, objects and their area (ha)."""
    from antares.db.changes import change_rows
    from antares.db.engine import session_scope

    with session_scope(state.settings()) as session:
        rows = [{"name": r.name, "method": r.method, "pre": f"{r.inputs.get('pre')}" + (
                    f" {r.inputs['pre_year']}" if r.inputs.get("pre_year") else ""),
                 "post": f"{r.inputs.get('post')}" + (f" {r.inputs['post_year']}" if r.inputs.get("post_year") else ""),
                 "objects": r.n_objects, "area_ha": round(float(r.area_ha), 4), "created": str(r.created_at)[:19]}
                for r in change_rows(session)]
    echo_rows(rows, as_json, ["name", "method", "pre", "post", "objects", "area_ha", "created"],
              empty="No change detections. Make one with 'antares detect_change'.")
