"""``antares demo``: the whole object-based chain on real Sentinel-2 data, command by command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from antares.cli.main import CliState

if TYPE_CHECKING:
    from antares.demo import DemoData

LEGEND = """code,name,colour
1,open land (< 10 % tree cover),#e6c86e
2,sparse trees (10-50 %),#9ccb5e
3,forest (>= 50 %),#1b7837
"""


def _steps(data: DemoData, out: Path, year: int, site: Path, legend: Path) -> list[list[str]]:
    labels, product = data.labels.resolve(), data.product
    return [
        ["index", "--path", str(data.path.resolve()), "--dataset_name", data.preparer, "--product", product],
        ["register_region", "demo_site", str(site), "--overwrite"],
        ["apply_recipe", "-recipe", "s2_10m_001", "-b", f"{year}-01-01", "-e", f"{year}-12-31", "-region", "demo_site",
         "-p", product, "--name", f"demo_features_{year}", "--outdir", str(out / "products" / f"demo_features_{year}")],
        ["segment", "--algorithm", "bis", "-p", f"demo_features_{year}", "-n", "demo_bis", "-region", "demo_site",
         "-b", "red_mean", "-b", "nir_mean", "-b", "ndvi_mean", "-extra", "t=15", "--overwrite",
         "--outdir", str(out / "products" / "demo_bis")],
        ["ingest_training_from_raster", str(labels), "--scheme", "demo_tcd", "--dataset", "demo_tcd_train",
         "--legend", str(legend), "--bins", "10", "--bins", "50", "--per-class", "60", "--seed", "1",
         "--holdout", "0.3", "--holdout-dataset", "demo_tcd_val", "--overwrite"],
        ["model_fit", "-model", "rf", "-p", f"demo_features_{year}", "-t", "demo_tcd_train", "--name", "demo_rf",
         "--cv", "5", "-extra", "n_estimators=200", "--overwrite"],
        ["model_predict_object", "-p", f"demo_features_{year}", "-m", "demo_rf", "-s", "demo_bis", "--name", "demo_map",
         "--overwrite"],
        ["db_to_vector", "-n", "demo_map", "-f", str(out / "demo_map.gpkg"), "--overwrite"],
        ["db_to_raster", "-n", "demo_map", "-f", str(out / "demo_map.tif"), "--resolution", "10", "--overwrite"],
        ["validate", "-c", "demo_map", "-val", "demo_tcd_val", "--report", str(out / "validation.json"),
         "--plot", str(out / "confusion_matrix.png"), "--log", "--overwrite"],
    ]


@click.command(epilog="""\b
Examples:
  antares demo                      # fetch the nrt==0.2.1 sample data (cached) and run the chain
  antares demo --data ../shared/data/nrt-romania-s2l2a --out demo_out
  antares demo --dry-run            # print the commands only""")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The demo data: the nrt wheel's NetCDF cubes (DIR/*.nc or DIR/original/*.nc), indexed in place, "
                   "or staged GeoTIFFs DIR/geotiff/10m/<date>/<band>.tif; reference raster in DIR/labels/. "
                   "Default: fetch the nrt wheel's data into $ANTARES_HOME/cache.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default $ANTARES_HOME/demo).")
@click.option("--year", type=int, default=2018, show_default=True, help="Year of the temporal features.")
@click.option("--dry-run", is_flag=True, help="Print the commands without running them.")
@click.pass_obj
def demo(state: CliState, data, out, year, dry_run):
    """Run the whole chain on real Sentinel-2 L2A data of a 1 km² Romanian forest site.

    index -> register_region -> apply_recipe (a year) -> segment (bis) ->
    ingest_training_from_raster (Copernicus tree-cover density in 3 classes, 30 % held apart
    for validation) -> model_fit (random forest, 5-fold CV) -> model_predict_object ->
    db_to_vector + db_to_raster -> validate, then a PNG quicklook of the map. Needs a
    running, initialised database (antares db start; antares init). Safe to re-run.
    """
    from antares.cli.main import cli
    from antares.demo import (CUBE_PRODUCT, NRT_VERSION, STAGED_LABELS, DemoData, fetch_nrt, find_demo_data,
                              footprint_file, nrt_folder, quicklook)

    settings = state.settings()
    out = (out or settings.home / "demo").resolve()
    started = time.monotonic()
    staging = settings.home / "demo_data"
    if data is None:
        click.echo(f"sample data: nrt=={NRT_VERSION} wheel "
                   f"(cache {settings.home / 'cache'})")
        cached = nrt_folder(settings.home / "cache")
        if dry_run and not cached.is_dir():  # not fetched yet: the paths the fetch will give
            data = DemoData(cached, "netcdf", CUBE_PRODUCT, staging / STAGED_LABELS)
        else:
            data = find_demo_data(cached if dry_run else fetch_nrt(settings.home / "cache"), staging, stage=not dry_run)
    else:
        data = find_demo_data(data, staging, stage=not dry_run)
    labels = data.labels
    out.mkdir(parents=True, exist_ok=True)
    legend = out / "legend_tcd.csv"
    site = out / "demo_site.gpkg"
    if Path(labels).exists():  # also for --dry-run, so that the printed commands run as they are
        legend.write_text(LEGEND, encoding="utf-8")
        footprint_file(labels, site)
    prefix = []
    if state.config_file:
        prefix += ["--config", state.config_file]
    if state.verbose:
        prefix += ["-" + "v" * state.verbose]
    for args in _steps(data, out, year, site, legend):
        click.secho("$ antares " + " ".join(_quote(a) for a in args), bold=True)
        if not dry_run:
            code = cli.main(args=prefix + args, prog_name="antares", standalone_mode=False, obj=None)
            if isinstance(code, int) and code != 0:  # a step that exits 1 (e.g. failed tiles) stops the demo
                raise click.exceptions.Exit(code)
    if dry_run:
        return
    from antares.pipeline.train import load_model

    _, meta = load_model(settings, "demo_rf", estimator=False)
    png = quicklook(out / "demo_map.tif", meta["legend"], out / "demo_map.png",
                    f"antares demo: tree-cover classes of objects, {year} (model demo_rf)")
    click.echo("")
    click.echo(f"outputs in {out}:")
    for name in ("demo_map.gpkg", "demo_map.tif", "demo_map.png", "validation.json", "confusion_matrix.png"):
        click.echo(f"  {out / name}")
    click.echo(f"demo finished in {time.monotonic() - started:.0f} s; quicklook: {png}")


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
