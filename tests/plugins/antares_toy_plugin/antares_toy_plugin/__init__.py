"""A regular-grid segmenter: square cells of ``size`` pixels, the smallest possible antares segmenter plugin."""

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
