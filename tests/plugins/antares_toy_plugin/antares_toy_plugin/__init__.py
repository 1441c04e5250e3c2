"""A regular-grid segmenter: square cells of ``size`` pixels, the smallest possible antares segmenter plugin."""

import click
import numpy as np

from antares.params import int_param
from antares.segmentation.base import Segmenter


class GridSegmenter(Segmenter):
    """Square cells of ``size`` x ``size`` pixels (the last row and column of cells may be smaller)."""

    name = "toy"
    description = "regular grid of square cells (a plugin from the antares-toy-plugin package)"
    reference = "none: a test plugin"
    params = (int_param("size", 8, 1, description="Side of a cell, pixels."),)

    def _segment(self, bands, valid):
        rows, cols = np.indices(valid.shape)
        per_row = -(-valid.shape[1] // self.size)
        return (rows // self.size) * per_row + cols // self.size + 1


@click.command(epilog="Example:\n\n  antares toy_cells 384 768 --size 64")
@click.argument("height", type=click.IntRange(min=1))
@click.argument("width", type=click.IntRange(min=1))
@click.option("--size", type=click.IntRange(min=1), default=8, show_default=True, help="Side of a cell, pixels.")
def toy_cells(height, width, size):
    """Print how many cells the toy segmenter makes on a HEIGHT x WIDTH raster."""
    click.echo(-(-height // size) * -(-width // size))
