"""Where the files shipped beside the package live (``config/``, ``recipes/``)."""

from __future__ import annotations

from pathlib import Path

from antares.errors import ConfigError

_ROOT = Path(__file__).resolve().parent.parent


def config_dir() -> Path:
    """The ``config/`` directory of the antares source tree (product definitions, grids, styles).

    Raises
    ------
    ConfigError
        antares was installed without its source tree (install it with ``pip install -e``).
    """
    path = _ROOT / "config"
    if not (path / "products").is_dir():
        raise ConfigError(
            f"antares's built-in definitions are missing (expected {path}/products). "
            "Install antares from its source tree with 'pip install -e .' or 'make install'."
        )
    return path


def builtin_product_files() -> list[Path]:
    """The built-in ODC product definitions (``config/products/*.yaml``), sorted by name."""
    return sorted((config_dir() / "products").glob("*.yaml"))
