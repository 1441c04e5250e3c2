"""Preparers: eo3 dataset documents for Sentinel-2, DEM and Sentinel-1 files.

Each preparer is a module with a class implementing :class:`antares.prepare.base.Preparer`,
registered here by name (``--dataset_name`` on the command line).
"""

from __future__ import annotations

PREPARERS = {
    "s2_bands": "antares.prepare.bands:S2BandsPreparer",
}


def get_preparer(name: str, **options):
    """Instantiate the preparer ``name`` with its ``options``.

    Raises
    ------
    UsageError
        Unknown preparer (the known ones are listed).
    """
    import importlib

    from antares.errors import UsageError

    if name not in PREPARERS:
        raise UsageError(f"unknown preparer '{name}'; known preparers: {', '.join(sorted(PREPARERS))}.")
    module, attr = PREPARERS[name].split(":")
    return getattr(importlib.import_module(module), attr)(**options)
