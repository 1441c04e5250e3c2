"""Segmenters: per-pixel features in, a label raster out (0 = nodata, segments 1..n).

The pure, database-free part of ``antares segment``: the pipeline loads a tile of an
intermediary product, calls :meth:`Segmenter.segment`, and stores the labels and polygons.

Segmenters (see :func:`list_segmenters`):

* ``bis``: Baatz & Schäpe (2000) multiresolution region merging, compiled with numba;
* ``slic``: SLIC superpixels (Achanta et al. 2012) through scikit-image;
* ``felzenszwalb``: graph-based segmentation (Felzenszwalb & Huttenlocher 2004) through scikit-image.

Nothing heavy is imported until used (numba and scikit-image load on the first ``segment``)::

    from antares.segmentation import get_segmenter
    labels = get_segmenter("bis", t=40, s=0.5, c=0.7).segment(features)  # int64 (y, x)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SEGMENTERS": "antares.segmentation.registry",
    "get_segmenter": "antares.segmentation.registry",
    "list_segmenters": "antares.segmentation.registry",
    "Segmenter": "antares.segmentation.base",
    "Param": "antares.params",
    "standardise": "antares.segmentation.base",
    "relabel_by_first_pixel": "antares.segmentation.base",
    "BIS": "antares.segmentation.bis",
    "SLIC": "antares.segmentation.slic",
    "Felzenszwalb": "antares.segmentation.felzenszwalb",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'antares.segmentation' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return __all__
