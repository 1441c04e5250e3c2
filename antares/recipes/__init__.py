"""Recipes: YAML files in ``recipes/`` that turn a time series into per-pixel features.

A recipe names the measurements to read (by alias), a cloud mask (Sen2Cor SCL classes to keep,
or a thresholded probability), spectral indices, temporal reducers per variable, terrain layers
and the output measurements (dtype, nodata). :class:`Recipe.compute` is pure: xarray in,
xarray out, numpy- or dask-backed; the pipeline (``antares apply_recipe``) does the loading,
tiling and writing.

Nothing is imported until used::

    from antares.recipes import list_recipes, load_recipe
    recipe = load_recipe("s2_20m_002")
    features = recipe.compute(data, terrain)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "list_recipes": "antares.recipes.catalog",
    "load_recipe": "antares.recipes.catalog",
    "read_recipe": "antares.recipes.catalog",
    "recipes_dir": "antares.recipes.catalog",
    "Recipe": "antares.recipes.recipe",
    "parse_recipe": "antares.recipes.parse",
    "INDICES": "antares.recipes.indices",
    "Index": "antares.recipes.indices",
    "REDUCERS": "antares.recipes.reducers",
    "DEFAULT_ALIASES": "antares.recipes.specs",
    "SCL_CLASSES": "antares.recipes.specs",
    "MaskSpec": "antares.recipes.specs",
    "OutputSpec": "antares.recipes.specs",
    "TerrainSpec": "antares.recipes.specs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'antares.recipes' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return __all__
