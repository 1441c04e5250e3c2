"""Bitemporal change detection: two aligned images in, a change score and a change mask out.

The pure, database-free part of ``antares detect_change``. A change method is a
:class:`~antares.change.base.ChangeMethod` in the registry :data:`CHANGE_METHODS` (entry-point group
``antares.change_methods``):

* ``distance``: per-band histogram matching of pre to post, then |difference| (one band) or the
  Euclidean norm of the differences (several bands);
* ``imadmaf``: iteratively re-weighted MAD (Nielsen 2007) followed by maximum autocorrelation factors
  (Switzer & Green 1984), score = chi-square statistic of the standardised variates.

Statistics (matching curves, canonical transform, MAF transform, threshold) are fitted once over the whole
area (or a fixed-seed sample of it) with :meth:`ChangeMethod.fit`, then applied tile by tile with
:meth:`ChangeMethod.detect`, so that every tile shares one transform and one threshold::

    from antares.change import get_change_method
    method = get_change_method("imadmaf", threshold="chi2")
    method.fit(iter_tiles)   # callable returning an iterable of (pre, post, (row, col)) band stacks, one pass
    score, change = method.detect(pre, post)   # float32 (y, x), uint8 (y, x): 0, 1, 255 = nodata
"""

from __future__ import annotations

from antares.registry import Registry

__all__ = ["CHANGE_METHODS", "get_change_method"]


def _is_change_method(name: str, plugin) -> bool:
    from antares.change.base import ChangeMethod

    return isinstance(plugin, type) and issubclass(plugin, ChangeMethod) and bool(plugin.name)


#: name -> ChangeMethod subclass: the built-in ones, then plugins.
CHANGE_METHODS = Registry("antares.change_methods", "change method", {
    "distance": "antares.change.distance:Distance",
    "imadmaf": "antares.change.imad:IMadMaf",
}, accepts=_is_change_method)


def get_change_method(name: str, **params):
    """A change method by name, with its parameters validated.

    Raises
    ------
    antares.errors.UsageError
        Unknown name, unknown parameter or a value outside its constraint.
    """
    return CHANGE_METHODS.get(name, noun="algorithm")(**params)
