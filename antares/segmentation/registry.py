"""The segmenters antares knows, by name: the built-in ones and those of ``antares.segmenters`` entry points.

``SEGMENTERS`` is the :class:`~antares.registry.Registry` of
:class:`~antares.segmentation.base.Segmenter` subclasses; :func:`get_segmenter` builds one with
validated parameters, :func:`list_segmenters` lists them for ``antares segment_params``.

Example
-------
>>> from antares.segmentation import get_segmenter, list_segmenters
>>> [name for name, _ in list_segmenters()][:3]
['bis', 'felzenszwalb', 'slic']
>>> get_segmenter("bis", t=20).t
20.0
"""

from __future__ import annotations

import logging

from antares.registry import Registry

log = logging.getLogger(__name__)


def _is_segmenter(name: str, plugin) -> bool:
    from antares.segmentation.base import Segmenter

    return isinstance(plugin, type) and issubclass(plugin, Segmenter) and bool(plugin.name)


#: name -> Segmenter subclass: the built-in ones in alphabetical order, then plugins.
SEGMENTERS = Registry("antares.segmenters", "segmenter", {
    "bis": "antares.segmentation.bis:BIS",
    "felzenszwalb": "antares.segmentation.felzenszwalb:Felzenszwalb",
    "slic": "antares.segmentation.slic:SLIC",
}, accepts=_is_segmenter)


def get_segmenter(name: str, **params):
    """A segmenter by name, with its parameters validated.

    Parameters
    ----------
    name : str
        One of :data:`SEGMENTERS` (``"bis"``, ``"felzenszwalb"``, ``"slic"``, or a plugin's).
    **params
        Parameter values; the others take their declared defaults.

    Returns
    -------
    Segmenter

    Raises
    ------
    antares.errors.UsageError
        Unknown name, unknown parameter, or a value outside its constraint, e.g.
        ``The 's' parameter of bis must be a float in [0, 1]. Got 1.5.``
    """
    return SEGMENTERS.get(name)(**params)


def list_segmenters() -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every segmenter, built-in first."""
    return [(name, SEGMENTERS.describe(name)["description"]) for name in SEGMENTERS]
