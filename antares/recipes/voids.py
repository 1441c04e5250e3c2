"""The terrain void policy: where the DEM has no height, terrain is interpolated and flagged.

A DEM void (no height: a hole in the DEM, or the part of a tile the DEM does not cover) would
otherwise leave ``elevation``, ``slope`` and ``aspect`` NaN, and every later stage (``segment``,
object features, ``model_fit``, prediction) treats a pixel or an object with a NaN feature as
no-data: the spectral measurements of the pixel would be lost with its terrain.

The policy, applied by the recipe to the terrain layers of a whole tile (or of the array that
:meth:`~antares.recipes.recipe.Recipe.compute` receives) before they become outputs:

- a pixel is a *void* where any of the loaded DEM layers is NaN;
- ``elevation`` and ``slope`` are filled by GDAL's inverse-distance interpolation from the
  void's edge (``rasterio.fill.fillnodata``, no smoothing, search distance the whole array),
- ``aspect``, an angle, is filled by interpolating its unit vector (sine and cosine) the same
  way and taking its direction (0 where the vector cancels out),
- the optional output layer ``terrain_filled`` is 1 on a void and 0 elsewhere, so a map reader
  and a model can tell measured from interpolated terrain.

Where the DEM has no void nothing changes. Where an array has no DEM height at all there is nothing
to interpolate from: the layers stay NaN (logged), and those pixels stay no-data downstream.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from antares.recipes.specs import TERRAIN_FLAG

log = logging.getLogger(__name__)


def terrain_voids(layers: dict) -> np.ndarray:
    """Where the DEM has no height.

    Parameters
    ----------
    layers : dict of str to numpy.ndarray
        DEM layers (``elevation``, ``slope``, ``aspect``), float, ``(y, x)``, NaN = no height.

    Returns
    -------
    numpy.ndarray of bool, (y, x)
        True where any layer is NaN.
    """
    arrays = [np.asarray(v) for v in layers.values()]
    void = np.zeros(arrays[0].shape, bool)
    for values in arrays:
        void |= np.isnan(values)
    return void


def _interpolate(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    from rasterio.fill import fillnodata

    image = np.where(known, values, 0).astype(np.float32)
    distance = math.hypot(*image.shape) + 1
    return fillnodata(image, mask=known.astype(np.uint8), max_search_distance=distance, smoothing_iterations=0)


def fill_terrain(layers: dict) -> tuple[dict, np.ndarray]:
    """Fill the DEM voids of terrain layers, as the module docstring states.

    Parameters
    ----------
    layers : dict of str to numpy.ndarray
        DEM layers, float, ``(y, x)``, NaN = no height; ``aspect`` in degrees clockwise from north.

    Returns
    -------
    filled : dict of str to numpy.ndarray
        The same layers as float32, voids interpolated (the arrays themselves where there is no void).
    void : numpy.ndarray of bool, (y, x)
        Where the DEM had no height (before filling).

    Examples
    --------
    >>> filled, void = fill_terrain({"elevation": dem, "slope": slope, "aspect": aspect})
    """
    layers = {name: np.asarray(v, dtype=np.float32) for name, v in layers.items()}
    void = terrain_voids(layers)
    if not void.any():
        return layers, void
    known = ~void
    if not known.any():
        log.warning("terrain: the DEM has no height anywhere in this %d x %d area; its terrain stays NaN",
                    *void.shape)
        return layers, void
    filled = {}
    for name, values in layers.items():
        if name == "aspect":
            angle = np.radians(values)
            sin, cos = _interpolate(np.sin(angle), known), _interpolate(np.cos(angle), known)
            interpolated = np.where((sin == 0) & (cos == 0), 0, np.degrees(np.arctan2(sin, cos)) % 360)
        else:
            interpolated = _interpolate(values, known)
        filled[name] = np.where(void, interpolated, values).astype(np.float32)
    log.info("terrain: %d of %d pixels have no DEM height; their terrain is interpolated (%s = 1)",
             int(void.sum()), void.size, TERRAIN_FLAG)
    return filled, void
