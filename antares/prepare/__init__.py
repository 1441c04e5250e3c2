"""Preparers: eo3 dataset documents for Sentinel-2, DEM, Sentinel-1 files and NetCDF cubes.

Each preparer is a module with a class implementing :class:`antares.prepare.base.Preparer`,
registered by name (``--dataset_name`` on the command line) in :data:`PREPARERS`: the built-in
ones below and those of ``antares.preparers`` entry points (see :mod:`antares.registry`).
"""

from __future__ import annotations

from antares.registry import Registry


def _is_preparer(name: str, plugin) -> bool:
    from antares.prepare.base import Preparer

    return isinstance(plugin, type) and issubclass(plugin, Preparer)


#: name -> Preparer subclass (imported on first use): the built-in ones by name, then plugins.
PREPARERS = Registry("antares.preparers", "preparer", {
    "dem": "antares.prepare.dem:DemPreparer",
    "netcdf": "antares.prepare.netcdf:NetcdfPreparer",
    "s1_grd": "antares.prepare.s1:S1GrdPreparer",
    "s2_bands": "antares.prepare.bands:S2BandsPreparer",
    "s2_l1c_safe": "antares.prepare.safe:S2L1CSafePreparer",
    "s2_l2a_safe": "antares.prepare.safe:S2L2ASafePreparer",
    "stac": "antares.prepare.stac:StacPreparer",
}, accepts=_is_preparer)


def get_preparer(name: str, **options):
    """Instantiate the preparer ``name`` with the ``options`` it accepts.

    Options whose value is ``None`` are ignored; any other option the preparer's
    ``__init__`` does not take is a usage error.

    Raises
    ------
    UsageError
        Unknown preparer (the valid ones are listed), or an option it does not take.
    """
    import inspect

    from antares.errors import UsageError

    cls = PREPARERS.get(name)
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    given = {k: v for k, v in options.items() if v is not None}
    unsupported = sorted(set(given) - accepted)
    if unsupported:
        raise UsageError(
            f"the {name} preparer does not take --{', --'.join(unsupported)}; it takes: "
            f"{', '.join('--' + a.replace('_', '-') for a in sorted(accepted)) or 'no options'}."
        )
    return cls(**given)
