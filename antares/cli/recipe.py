"""``antares apply_recipe`` and ``antares recipe show``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.output import echo_report, tile_progress
from antares.cli.options import (DATE, NAME, RECIPE_FLAGS, area_options, flag_names, grid_options, overwrite_option,
                                 scheduler_option, workers_option)


@click.command(epilog="""\b
Examples:
  antares apply_recipe -recipe s2_10m_001 -b 2018-01-01 -e 2018-12-31 -p romania_s2l2a \\
      --bbox 22.14 45.195 22.166 45.215 --name romania_2018_features
  antares apply_recipe -recipe s2_20m_001 -b 2021-01-01 -e 2021-12-31 -region jalisco \\
      --name s2_001_jalisco_2021 --grid mexico_lcc_20m -sc tcp://scheduler:8786""")
@click.option("-recipe", "--recipe", "recipe", required=True, help="Recipe name (antares list recipes) or a YAML file.")
@click.option("-b", "--begin", type=DATE, required=True, help="First date of the period (YYYY-MM-DD).")
@click.option("-e", "--end", type=DATE, required=True, help="Last date of the period (YYYY-MM-DD), inclusive.")
@area_options
@click.option("--name", "-n", type=NAME, required=True, help="Output product.")
@click.option("-p", "--product", default=None, help="Input product (default: the recipe's, e.g. s2_l2a).")
@click.option("--terrain-product", default=None, help="DEM product for terrain layers (default: the recipe's, srtm).")
@grid_options
@scheduler_option
@workers_option
@overwrite_option
@click.option("--outdir", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Where to write the COGs (default $ANTARES_HOME/products/NAME).")
@click.pass_obj
def apply_recipe(state: CliState, recipe, begin, end, region, bbox, bbox_crs, lat, long, name, product, terrain_product,
                 grid, crs, resolution, tile_size, origin, scheduler, workers, overwrite, outdir):
    """Compute a recipe's temporal features over a region and period, tile by tile, as an indexed COG product.

    Without --grid or --crs, tiles follow the input product's CRS and pixel grid.
    A failed tile is reported and the others finish (exit code 1); running the same
    command again computes only the missing tiles (--overwrite starts over).
    """
    from antares.cube.grid import make_gridspec
    from antares.pipeline.area import resolve_area
    from antares.pipeline.recipe import apply_recipe as run
    from antares.pipeline.requests import RecipeRequest

    settings = state.settings(scheduler=scheduler, workers=workers)
    area = resolve_area(settings, region, bbox, bbox_crs, lat, long)
    gridspec = make_gridspec(area, grid, crs, resolution, tile_size, origin) if (grid or crs) else None
    with flag_names(RECIPE_FLAGS):
        request = RecipeRequest(recipe, begin, end, name, area=area, gridspec=gridspec, product=product,
                                terrain_product=terrain_product, scheduler=settings.scheduler,
                                workers=settings.workers, overwrite=overwrite, outdir=outdir,
                                tile_size=tile_size or 2048)
        with tile_progress(state.quiet, f"apply_recipe {name}") as progress:
            report = run(settings, request, progress=progress)
    echo_report(report.lines(), bool(report.failed))


@click.group(epilog="""\b
Examples:
  antares list recipes
  antares recipe show s2_20m_001""")
def recipe():
    """Inspect recipes."""


@recipe.command("show", epilog="Example:\n\n  antares recipe show s2_20m_001")
@click.argument("name")
def recipe_show(name):
    """Show a recipe's inputs, mask, indices, reducers, terrain and outputs."""
    from antares.recipes import load_recipe

    for line in load_recipe(name).describe():
        click.echo(line)
