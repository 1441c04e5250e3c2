"""Finding and reading recipe files: the built-ins in ``<repo>/recipes/`` or any YAML path."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from antares.errors import InvalidInputError, NotFoundError

log = logging.getLogger(__name__)


def recipes_dir() -> Path:
    """The ``recipes/`` directory shipped with antares (the built-in recipes).

    Returns
    -------
    pathlib.Path
        The wheel's ``antares/_data/recipes``, else the checkout's ``recipes/``
        (:func:`antares.resources.shipped_dir`).

    Raises
    ------
    ConfigError
        antares was installed without it.
    """
    from antares.resources import shipped_dir

    return shipped_dir("recipes")


def _builtin_files() -> list[Path]:
    return sorted(recipes_dir().glob("*.yaml"))


def read_recipe(path: str | Path):
    """Read and validate the recipe in YAML file ``path``; its name is the file name without suffix.

    Raises
    ------
    NotFoundError
        ``path`` does not exist.
    InvalidInputError
        The file is not valid YAML or not a valid recipe (see :func:`antares.recipes.parse.parse_recipe`).
    """
    import yaml

    from antares.recipes.parse import parse_recipe

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"recipe file '{path}' does not exist.")
    raw = path.read_bytes()
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInputError(f"recipe file '{path}' is not valid YAML: {problem}{line}.") from None
    log.debug("read recipe %s from %s", path.stem, path)
    return parse_recipe(doc, path.stem, source=path.resolve(), digest=hashlib.sha256(raw).hexdigest())


def list_recipes() -> list:
    """The built-in recipes (``<repo>/recipes/*.yaml``), sorted by name.

    Returns
    -------
    list of Recipe

    Raises
    ------
    ConfigError
        The ``recipes/`` directory is missing.
    InvalidInputError
        A built-in recipe is invalid (a bug in antares).
    """
    return [read_recipe(path) for path in _builtin_files()]


def load_recipe(name_or_path: str | Path):
    """A recipe by built-in name (``recipes/NAME.yaml``) or by the path of a YAML file.

    A value holding a path separator or ending in ``.yaml`` / ``.yml``, or an existing file,
    is read as a path; anything else is a built-in name.

    Parameters
    ----------
    name_or_path : str or pathlib.Path

    Returns
    -------
    Recipe

    Raises
    ------
    NotFoundError
        No built-in recipe has that name (the message lists the known ones), or the file does not exist.
    InvalidInputError
        The recipe is invalid; the message names the YAML key, the bad value and the valid values.

    Examples
    --------
    >>> load_recipe("s2_20m_001").output_names[:2]
    ['blue_mean', 'green_mean']
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or "/" in text or "\\" in text or text.endswith((".yaml", ".yml")) \
            or Path(text).is_file():
        return read_recipe(text)
    path = recipes_dir() / f"{text}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in _builtin_files()) or "none"
        raise NotFoundError(f"unknown recipe '{text}'; known recipes: {known}.")
    return read_recipe(path)
