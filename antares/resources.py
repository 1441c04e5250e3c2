"""Where the files shipped beside the package live (``config/``, ``recipes/``).

In a checkout (and an editable install) they are the top-level ``config/`` and ``recipes/``
folders; a wheel carries copies of them as package data, ``antares/_data/config`` and
``antares/_data/recipes`` (setup.py's ``build_py`` copies them), found through
:mod:`importlib.resources`. The packaged copy wins when both exist.
"""

from __future__ import annotations

from pathlib import Path

from antares.errors import ConfigError

_ROOT = Path(__file__).resolve().parent.parent


def shipped_dir(name: str, marker: str | None = None) -> Path:
    """The directory ``name`` (``config`` or ``recipes``) shipped with antares: packaged, else the source tree's.

    Parameters
    ----------
    name : str
        ``config`` or ``recipes``.
    marker : str, optional
        A sub-directory the folder must hold (``products`` for ``config``).

    Raises
    ------
    ConfigError
        Neither the wheel's package data nor the source tree has it (a broken install).
    """
    from importlib.resources import files

    packaged = Path(str(files("antares").joinpath("_data", name)))
    for path in (packaged, _ROOT / name):
        if (path / marker).is_dir() if marker else path.is_dir():
            return path
    raise ConfigError(
        f"antares's built-in {name} are missing (expected {packaged} in an installed wheel, or {_ROOT / name} in a "
        "checkout). Reinstall antares ('pip install antares-*.whl', or 'make install' in a checkout)."
    )


def config_dir() -> Path:
    """The ``config/`` directory shipped with antares (product definitions, grids, styles).

    Raises
    ------
    ConfigError
        antares was installed without it (see :func:`shipped_dir`).
    """
    return shipped_dir("config", "products")


def builtin_product_files() -> list[Path]:
    """The built-in ODC product definitions (``config/products/*.yaml``), sorted by name."""
    return sorted((config_dir() / "products").glob("*.yaml"))
