"""The segmenters antares knows, by name.

``SEGMENTERS`` maps a name to a :class:`~antares.segmentation.base.Segmenter` subclass;
:func:`get_segmenter` builds one with validated parameters, :func:`list_segmenters` lists them for
``antares segment_params``.

Example
-------
>>> from antares.segmentation import get_segmenter, list_segmenters
>>> [name for name, _ in list_segmenters()]
['bis', 'felzenszwalb', 'slic']
>>> get_segmenter("bis", t=20).t
20.0
"""

from __future__ import annotations

import logging

from antares.errors import UsageError
from antares.segmentation.base import Segmenter
from antares.segmentation.bis import BIS
from antares.segmentation.felzenszwalb import Felzenszwalb
from antares.segmentation.slic import SLIC

log = logging.getLogger(__name__)

#: name -> Segmenter subclass, in alphabetical order.
SEGMENTERS: dict[str, type[Segmenter]] = {cls.name: cls for cls in sorted((BIS, Felzenszwalb, SLIC),
                                                                          key=lambda cls: cls.name)}


def get_segmenter(name: str, **params) -> Segmenter:
    """A segmenter by name, with its parameters validated.

    Parameters
    ----------
    name : str
        One of :data:`SEGMENTERS` (``"bis"``, ``"felzenszwalb"``, ``"slic"``).
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
    cls = SEGMENTERS.get(name)
    if cls is None:
        raise UsageError(f"unknown segmenter {name!r}; valid segmenters: {', '.join(SEGMENTERS)}")
    return cls(**params)


def list_segmenters() -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every segmenter, sorted by name."""
    return [(name, cls.description) for name, cls in SEGMENTERS.items()]
