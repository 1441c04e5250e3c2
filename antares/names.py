"""The one rule for the names of results, and where a named result's files may go.

Every name a command gives to something it creates — a product (``ingest``, ``apply_recipe``,
``model_predict``), a segmentation, a model, a classification, a training or validation set,
a class scheme, a stored accuracy report — follows :data:`NAME_RULE`: 1 to 63 ASCII letters,
digits and underscores. That is ODC's own rule for product names (``^\\w+$``) made stricter
(ASCII only, bounded), so a name never carries a path separator, ``..``, a space or a
character a file system or a shell treats specially, and ODC never rejects it after the work
is done. Names are checked when the command line is read, before anything is computed or
written; the stage functions of :mod:`antares.pipeline` check them again for callers of the
Python API.

A product's files go under ``--outdir`` when given, else under ``$ANTARES_HOME/products/NAME``;
:func:`product_dir` resolves that directory (symbolic links included) and refuses one that
lies outside ``$ANTARES_HOME/products``.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath

from antares.errors import InvalidInputError, UsageError, shorten

NAME_RULE = "1 to 63 ASCII letters, digits and underscores"
_NAME = re.compile(r"[A-Za-z0-9_]{1,63}")


def check_name(name, option: str = "--name") -> str:
    """``name`` if it follows the name rule (:data:`NAME_RULE`), else a one-line usage error.

    Parameters
    ----------
    name : str
        The name of a result to create (product, segmentation, model, classification, sample
        set, class scheme, report).
    option : str
        The command-line option named in the message.

    Returns
    -------
    str
        ``name`` unchanged.

    Raises
    ------
    UsageError
        ``name`` is not a string of 1 to 63 ASCII letters, digits and underscores (exit code 2).

    Examples
    --------
    >>> check_name("map_2018")
    'map_2018'
    """
    problem = name_problem(name)
    if problem:
        raise UsageError(f"{option} {problem}")
    return name


def name_problem(name) -> str | None:
    """What is wrong with ``name`` under the name rule (``"must be ... Got ..."``), or None if nothing is."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return None
    return (f"must be a name of {NAME_RULE}. "
            f"Got {shorten(repr(name))}; for example {_suggest(name)}.")


def _suggest(name) -> str:
    words = re.findall(r"[A-Za-z0-9]+", PurePath(str(name)).name or str(name))
    return "_".join(words)[:63] or "map_2018"


def inside(path, root, what: str = "output path") -> Path:
    """``path`` resolved (symbolic links followed), once it is known to lie inside ``root``.

    Parameters
    ----------
    path, root : path
        Neither need exist; the existing part of each is resolved through its symbolic links.

    Returns
    -------
    pathlib.Path
        The resolved ``path``.

    Raises
    ------
    InvalidInputError
        ``path`` resolves to a place outside the resolved ``root`` (through ``..`` or a
        symbolic link).
    """
    resolved, top = Path(path).resolve(), Path(root).resolve()
    if resolved != top and top not in resolved.parents:
        raise InvalidInputError(f"the {what} {shorten(str(path))} resolves to {shorten(str(resolved))}, outside {top}; "
                                "remove the link or give --outdir.")
    return resolved


def product_dir(home, name: str, outdir=None) -> Path:
    """The directory of product ``name``'s files: ``outdir`` if given, else ``home/products/name``.

    ``name`` is checked against the name rule; the default directory must lie inside
    ``home/products`` once resolved (a symbolic link ``products/NAME`` pointing elsewhere is
    refused). Nothing is created.

    Parameters
    ----------
    home : path
        ``$ANTARES_HOME`` (``Settings.home``).
    name : str
        The product's name.
    outdir : path, optional
        ``--outdir``, taken as the user gave it (resolved).

    Returns
    -------
    pathlib.Path
        Resolved directory.

    Raises
    ------
    UsageError
        ``name`` breaks the name rule.
    InvalidInputError
        The default directory resolves outside ``home/products``.
    """
    check_name(name)
    if outdir:
        return Path(outdir).resolve()
    products = Path(home) / "products"
    return inside(products / name, products, f"output directory of {name}")
