"""``antares detect_change`` and ``antares bi_change_params``."""

from __future__ import annotations

import click

from antares.cli.options import (NAME, area_options, extra_option, json_option, overwrite_option, scheduler_option,
                                 workers_option)
from antares.cli.output import echo_json, echo_table


@click.command(epilog="""\b
Examples:
  antares bi_change_params
  antares bi_change_params imadmaf""")
@click.argument("method", required=False)
@json_option
def bi_change_params(method, as_json):
    """List the bitemporal change methods, or every parameter of METHOD with its default and valid range."""
    from antares.change import CHANGE_METHODS

    if method is None:
        rows = [{"method": name, "description": CHANGE_METHODS.describe(name)["description"]} for name in CHANGE_METHODS]
        if as_json:
            echo_json(rows)
        else:
            echo_table(rows, ["method", "description"])
        return
    plugin = CHANGE_METHODS.describe(method, noun="algorithm")
    rows = [{"parameter": p.name, "type": p.type.__name__, "default": p.default, "valid": p.constraint,
             "description": p.description} for p in plugin["params"]]
    if as_json:
        echo_json({"method": method, "description": plugin["description"], "reference": plugin["reference"],
                   "parameters": rows})
        return
    click.echo(f"{method}: {plugin['description']}")
    if plugin["reference"]:
        click.echo(f"reference: {plugin['reference']}")
    echo_table(rows, ["parameter", "type", "default", "valid", "description"])


@click.command(epilog="""\b
Examples:
  antares detect_change -a imadmaf -b blue -b red -b nir -b swir1 -n chg_18_20 -p_pre feat_2018 -p_post feat_2020 \\
      -region jalisco -mmu 5000
  antares detect_change -a distance -b ndvi -n ndvi_chg -p_pre s2 -p_post s2 -y_pre 2018 -y_post 2020 \\
      --bbox 22.14 45.19 22.17 45.22 -extra threshold=kapur max_samples=200000
  antares detect_change -a imadmaf -n lc_chg -p_pre f18 -p_post f20 -lc_pre map_2018 -lc_post map_2020 -region r""")
@click.option("-a", "--algorithm", required=True, help="distance, imadmaf or a plugin's (antares bi_change_params).")
@click.option("-b", "--band", "bands", multiple=True, help="Measurement compared (repeat); default all of -p_pre's.")
@click.option("-n", "--name", type=NAME, required=True, help="Name of the change detection.")
@click.option("-p_pre", "--pre-product", "pre_product", required=True, help="Product of the first date.")
@click.option("-p_post", "--post-product", "post_product", required=True, help="Product of the second date.")
@click.option("-lc_pre", "--lc-pre", "lc_pre", default=None, help="Classification of the first date (pre class).")
@click.option("-lc_post", "--lc-post", "lc_post", default=None, help="Classification of the second date (post class).")
@click.option("-y_pre", "--year-pre", "pre_year", type=click.IntRange(1, 9999), default=None,
              help="Only -p_pre's datasets of this year.")
@click.option("-y_post", "--year-post", "post_year", type=click.IntRange(1, 9999), default=None,
              help="Only -p_post's datasets of this year.")
@click.option("-mmu", "--mmu", type=float, default=None, help="Minimum mapping unit, m² (at least one pixel).")
@click.option("--no-label-filter", is_flag=True, help="Keep objects whose pre and post class are the same.")
@extra_option("Method parameter KEY=VALUE (several after one flag, or repeat); see bi_change_params.")
@area_options
@click.option("--tile-size", type=int, default=1024, show_default=True, help="Tile side in pixels.")
@scheduler_option
@workers_option
@overwrite_option
@click.pass_obj
def detect_change(state, algorithm, bands, name, pre_product, post_product, lc_pre, lc_post, pre_year, post_year, mmu,
                  no_label_filter, extra, region, bbox, bbox_crs, lat, long, tile_size, scheduler, workers, overwrite):
    """Change objects between two dates (distance or iMAD/MAF), stored in PostGIS.

    The method's transform and threshold are fitted once over the whole area, then applied to every tile;
    a pixel that is nodata in either date is neither change nor no change. Change pixels become objects
    (4-connected, ids in raster order), -mmu drops the small ones; with -lc_pre/-lc_post each object gets
    its majority class in both classifications and, unless --no-label-filter, unchanged ones are dropped.
    """
    from antares.change import CHANGE_METHODS
    from antares.cli.options import parse_extra_params
    from antares.cli.output import tile_progress
    from antares.pipeline.area import resolve_area
    from antares.cli.options import CHANGE_FLAGS, flag_names
    from antares.pipeline.change import detect_change as run
    from antares.pipeline.change_requests import ChangeRequest

    params = parse_extra_params(CHANGE_METHODS.get(algorithm, noun="algorithm").params, algorithm, extra)
    settings = state.settings(scheduler=scheduler, workers=workers)
    area = resolve_area(settings, region, bbox, bbox_crs, lat, long)
    with flag_names(CHANGE_FLAGS):
        request = ChangeRequest(algorithm, name, pre_product, post_product, area, bands=tuple(bands) or None,
                                params=params, pre_year=pre_year, post_year=post_year, lc_pre=lc_pre, lc_post=lc_post,
                                mmu=mmu, label_filter=not no_label_filter, tile_size=tile_size, overwrite=overwrite,
                                scheduler=settings.scheduler, workers=settings.workers)
        with tile_progress(state.quiet, f"detect_change {name}", unit="tile") as progress:
            report = run(settings, request, progress=progress)
    for line in report.lines():
        click.echo(line)


@click.command(epilog="""\b
Examples:
  antares change_matrix -n chg_2018_2020
  antares change_matrix --pre map_2018 --post map_2020 --json""")
@click.option("-n", "--name", default=None, help="Change detection made with -lc_pre/-lc_post.")
@click.option("--pre", default=None, help="Classification of the first date (with --post).")
@click.option("--post", default=None, help="Classification of the second date (with --pre).")
@click.option("-val", "--validation", "validation_set", default=None,
              help="Validation set of 'no change'/'change' samples (with -n): area-adjusted change area, 95 % CI.")
@json_option
@click.pass_obj
def change_matrix(state, name, pre, post, validation_set, as_json):
    """Transition matrix in hectares: of a change detection's objects, or of two classifications' overlay.

    With -n CHANGE -val SET: the area-adjusted change area and the user's, producer's and overall accuracy
    with 95 % confidence intervals (Olofsson et al. 2014; the change map as strata). A detection made
    without -lc_pre/-lc_post has no transition matrix, only this estimate.
    """
    from antares.errors import UsageError
    from antares.pipeline.change_matrix import change_area_estimate, estimate_lines, is_labelled
    from antares.pipeline.change_matrix import change_matrix as run

    if validation_set is not None and name is None:
        raise UsageError("-val needs -n CHANGE: the change detection to validate.")
    settings = state.settings()
    matrix = run(settings, name, pre, post) if validation_set is None or pre or is_labelled(settings, name) else None
    estimate = change_area_estimate(settings, name, validation_set) if validation_set else None
    if as_json:
        doc = matrix.as_dict() if matrix else {}
        if estimate:
            doc["area_estimate"] = estimate
        echo_json(doc)
        return
    for line in (matrix.lines() if matrix else []) + (estimate_lines(estimate) if estimate else []):
        click.echo(line)

