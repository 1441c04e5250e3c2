"""Preparers: eo3 dataset documents for Sentinel-2, DEM, Sentinel-1 files and NetCDF cubes.

Each preparer is a module with a class implementing :class:`antares.prepare.base.Preparer`,
registered here by name (``--dataset_name`` on the command line).
"""

from __future__ import annotations

PREPARERS = {
    "s2_bands": "antares.prepare.bands:S2BandsPreparer",
    "s2_l2a_safe": "antares.prepare.safe:S2L2ASafePreparer",
    "s2_l1c_safe": "antares.prepare.safe:S2L1CSafePreparer",
    "stac": "antares.prepare.stac:StacPreparer",
    "dem": "antares.prepare.dem:DemPreparer",
    "s1_grd": "antares.prepare.s1:S1GrdPreparer",
    "netcdf": "antares.prepare.netcdf:NetcdfPreparer",
}


def get_preparer(name: str, **options):
    """Instantiate the preparer ``name`` with the ``options`` it accepts.

    Options whose value is ``None`` are ignored; any other option the preparer's
    ``__init__`` does not take is a usage error.

    Raises
    ------
    UsageError
        Unknown preparer (the known ones are listed), or an option it does not take.
    """
    import importlib
    import inspect

    from antares.errors import UsageError

    if name not in PREPARERS:
        raise UsageError(f"unknown preparer '{name}'; known preparers: {', '.join(sorted(PREPARERS))}.")
    module, attr = PREPARERS[name].split(":")
    cls = getattr(importlib.import_module(module), attr)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    given = {k: v for k, v in options.items() if v is not None}
    unsupported = sorted(set(given) - accepted)
    if unsupported:
        raise UsageError(
            f"the {name} preparer does not take --{', --'.join(unsupported)}; it takes: "
            f"{', '.join('--' + a.replace('_', '-') for a in sorted(accepted)) or 'no options'}."
        )
    return cls(**given)
