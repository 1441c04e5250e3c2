"""``antares pca_fit``."""

from __future__ import annotations

import click

from antares.cli.main import CliState
from antares.cli.options import NAME, overwrite_option


@click.command(epilog="""\b
Examples:
  antares pca_fit -p s2_2018_features -n pca_2018 --sample 100000 --components 3
  antares pca_fit -p s2_l2a -n pca_bands --sample 50000 --measurement B02 --measurement B03 --measurement B04 --measurement B08""")
@click.option("-p", "--product", required=True, help="Indexed product whose measurements are analysed.")
@click.option("-n", "--name", type=NAME, required=True, help="Name of the PCA.")
@click.option("--sample", type=click.IntRange(min=2), required=True, help="Pixels to sample (stratified by dataset).")
@click.option("--components", type=click.IntRange(min=1), default=None, help="Components to keep (default: all).")
@click.option("--measurement", "measurements", multiple=True,
              help="A measurement to use (repeatable; default: every measurement of the product).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the sample.")
@overwrite_option
@click.pass_obj
def pca_fit(state: CliState, product, name, sample, components, measurements, seed, overwrite):
    """Fit a principal component analysis of a product's measurements on a random pixel sample.

    Every dataset (tile and date) gives an equal share of the sample; pixels with a missing
    measurement are dropped; values are the measurements' (scale_factor applied). The
    components, mean and explained variance are stored in the database as arrays (no
    pickle) and printed.
    """
    from antares.pipeline.pca import pca_fit as fit

    fitted = fit(state.settings(), product, name, sample, components=components,
                 measurements=list(measurements) or None, seed=seed, overwrite=overwrite)
    for line in fitted.lines():
        click.echo(line)
