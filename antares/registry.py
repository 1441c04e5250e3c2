"""Plugin registries: preparers, segmenters, models, spectral indices and reducers, by name, extensible by packages.

Every plugin family is one :class:`Registry`: the built-in plugins (objects, or ``"module:attribute"``
strings imported on first use) plus those that installed packages declare as Python entry points
in the family's group:

==========================  ==============================================================================
entry-point group           a plugin is
==========================  ==============================================================================
``antares.commands``        a :class:`click.Command` (an ``antares`` subcommand)
``antares.preparers``       a :class:`antares.prepare.base.Preparer` subclass (``antares index --dataset_name``)
``antares.segmenters``      a :class:`antares.segmentation.base.Segmenter` subclass (``segment --algorithm``)
``antares.models``          an :class:`antares.models.registry.ModelKind` (``model_fit -model``)
``antares.indices``         an :class:`antares.recipes.indices.Index` (a recipe's ``indices:``), its name upper case
``antares.reducers``        an :class:`antares.recipes.reducers.Reducer` (a recipe's ``reducers:``), lower case
``antares.change_methods``  a :class:`antares.change.base.ChangeMethod` subclass (``detect_change -a``)
==========================  ==============================================================================

The group ``antares.monitor_methods`` holds :class:`antares.monitor.MonitorMethod` objects
(``antares monitor --method``).

Entry points are read once per process, on the first listing or lookup of a name that is not built in
(nothing at import time; a built-in plugin never waits for them). A plugin that
fails to load, is not of its family's type, or takes a name already registered is left out with
one warning line naming it; the built-in plugins always work.

Parameters are declared with :class:`antares.params.Param` (re-exported here), one scheme for every
family, so that ``antares segment_params`` and ``antares model_params`` list them and values are
checked before any work.

Example
-------
A package adds a segmenter by declaring, in its ``pyproject.toml``::

    [project.entry-points."antares.segmenters"]
    grid = "antares_grid:GridSegmenter"

after which ``antares segment --algorithm grid`` and ``antares segment_params grid`` find it:

>>> from antares.segmentation import SEGMENTERS
>>> "bis" in SEGMENTERS and SEGMENTERS.get("bis").name
'bis'
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Callable

from antares.errors import UsageError

log = logging.getLogger(__name__)

__all__ = ["Registry"]  # and Param (module __getattr__)


def __getattr__(name: str):
    if name == "Param":  # the declaration scheme, antares.params.Param (imported on use: it needs numpy)
        from antares.params import Param

        return Param
    raise AttributeError(f"module 'antares.registry' has no attribute {name!r}")


class Registry(Mapping):
    """Named plugins of one family: the built-in ones, then those of the ``group`` entry points.

    A mapping ``name -> plugin`` in registration order (built-in first, then entry points by name,
    then :meth:`register` calls); ``registry[name]`` raises ``KeyError``, :meth:`get` a one-line
    usage error.

    Parameters
    ----------
    group : str
        Entry-point group, e.g. ``"antares.segmenters"``.
    noun : str
        What one plugin is called in messages (``"segmenter"``); ``plural`` defaults to noun + "s".
    builtins : dict
        name -> plugin object, or a ``"module:attribute"`` string: the object imported on first use.
    accepts : callable, optional
        ``accepts(name, plugin) -> bool``: whether an entry point's object is of this family (and fits
        its name); one that is not is left out with a warning.
    plural : str, optional

    Example
    -------
    >>> reg = Registry("antares.examples", "example", {"one": 1, "two": "operator:add"})
    >>> list(reg), reg.get("one")
    (['one', 'two'], 1)
    >>> reg.get("three")
    Traceback (most recent call last):
    antares.errors.UsageError: unknown example 'three'; valid examples: one, two.
    """

    def __init__(self, group: str, noun: str, builtins: dict[str, Any], *,
                 accepts: Callable[[str, Any], bool] | None = None, plural: str | None = None):
        self.group = group
        self.noun = noun
        self.plural = plural or f"{noun}s"
        self._builtins = dict(builtins)
        self._lazy = {name for name, plugin in builtins.items() if isinstance(plugin, str) and ":" in plugin}
        self._accepts = accepts
        self._plugins: dict[str, Any] | None = None

    # ------------------------------------------------------------------ loading

    def _entries(self) -> dict[str, Any]:
        if self._plugins is None:
            plugins = dict(self._builtins)
            plugins.update(self._entry_points(set(plugins)))
            self._plugins = plugins
        return self._plugins

    def _entry_points(self, taken: set[str]) -> dict[str, Any]:
        from importlib.metadata import entry_points

        found = {}
        for point in sorted(entry_points(group=self.group), key=lambda ep: ep.name):
            where = f"{self.noun} plugin {point.name!r} ({point.value}"
            where += f", package {point.dist.name})" if point.dist is not None else ")"
            if point.name in taken or point.name in found:
                log.warning("%s is ignored: the name %r is already taken.", where, point.name)
                continue
            try:
                plugin = point.load()
            except Exception as exc:  # a broken plugin must not break antares
                reason = " ".join(str(exc).split())[:200]
                log.warning("%s is ignored: it failed to load (%s: %s).", where, type(exc).__name__, reason)
                continue
            if self._accepts is not None and not self._accepts(point.name, plugin):
                log.warning("%s is ignored: %r is not a valid %s.", where, plugin, self.noun)
                continue
            found[point.name] = plugin
        return found

    def _resolve(self, name: str) -> Any:
        # a built-in plugin is found without reading the entry points (they cannot replace it)
        plugin = self._builtins[name] if name in self._builtins else self._entries()[name]
        if name in self._lazy:
            module, _, attribute = plugin.partition(":")
            plugin = getattr(importlib.import_module(module), attribute)
            self._builtins[name] = plugin
            if self._plugins is not None:
                self._plugins[name] = plugin
            self._lazy.discard(name)
        return plugin

    # ------------------------------------------------------------------ the mapping

    def __getitem__(self, name: str) -> Any:
        return self._resolve(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries()))

    def __len__(self) -> int:
        return len(self._entries())

    def __contains__(self, name) -> bool:
        return name in self._builtins or name in self._entries()

    def __repr__(self) -> str:
        return f"Registry({self.group!r}: {', '.join(self._entries())})"

    # ------------------------------------------------------------------ lookups

    def register(self, name: str, plugin: Any) -> None:
        """Add ``plugin`` under ``name`` for this process (e.g. a plugin defined in a notebook).

        Raises
        ------
        antares.errors.UsageError
            ``name`` is already registered.
        """
        if name in self._entries():
            raise UsageError(f"{self.noun} {name!r} is already registered; choose another name.")
        self._plugins[name] = plugin

    def get(self, name: str, noun: str | None = None) -> Any:
        """The plugin ``name``.

        Parameters
        ----------
        name : str
        noun : str, optional
            What a plugin is called in the message instead of the registry's noun (``"algorithm"``).

        Raises
        ------
        antares.errors.UsageError
            Unknown name: ``unknown segmenter 'watershed'; valid segmenters: bis, felzenszwalb, slic.``
        """
        if name not in self:
            noun, plural = (noun, f"{noun}s") if noun else (self.noun, self.plural)
            raise UsageError(f"unknown {noun} {name!r}; valid {plural}: {', '.join(self._entries())}.")
        return self._resolve(name)

    def describe(self, name: str, noun: str | None = None) -> dict[str, Any]:
        """``name``, ``description``, ``reference`` and declared ``params`` of the plugin ``name``.

        The description is the plugin's ``description`` attribute, else the first line of its docstring;
        ``reference`` and ``params`` are the plugin's attributes of that name (``None`` and ``()`` when
        it has none). ``noun`` is as for :meth:`get`.
        """
        plugin = self.get(name, noun)
        description = getattr(plugin, "description", None)
        if not description:
            description = ((getattr(plugin, "__doc__", None) or "").strip().splitlines() or [""])[0]
        return {"name": name, "description": description, "reference": getattr(plugin, "reference", None) or None,
                "params": tuple(getattr(plugin, "params", ()) or ())}
