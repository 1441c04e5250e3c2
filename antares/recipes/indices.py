"""Spectral indices a recipe can name, each with the aliases it needs and its source.

Every formula takes surface reflectance (0..1, float32, NaN = nodata) by alias and returns
a float32 :class:`xarray.DataArray` of the same shape (``(time, y, x)``); NaN propagates, and a
zero denominator gives NaN (not inf). The formulas (:attr:`Index.function`) work on numpy arrays
too, with the same float32 operations (the block-wise engine, :mod:`antares.recipes.blockwise`).
The band an alias means is the recipe's choice (its ``aliases`` section): NDMI and NDRE use
``nir08`` (Sentinel-2 B8A, 865 nm) by default; a recipe that wants the 10 m B08 sets
``aliases: {nir08: [B08]}``.

Example
-------
>>> import xarray as xr
>>> INDICES["NDVI"].compute({"nir": xr.DataArray([0.5]), "red": xr.DataArray([0.1])}).values
array([0.6666667], dtype=float32)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from antares.registry import Registry

log = logging.getLogger(__name__)


def _nan_unless(values, keep):
    """``values`` with NaN where ``keep`` is False: xarray's ``where``, or numpy's for numpy arrays (same dtype)."""
    if hasattr(values, "where"):
        return values.where(keep)
    import numpy as np

    return np.where(keep, values, np.nan).astype(values.dtype, copy=False)


def _divide(num, den):
    """``num / den`` with NaN where ``den`` is 0 (no inf, no warning)."""
    return num / _nan_unless(den, den != 0)


def _normalized_difference(a, b):
    return _divide(a - b, a + b)


def _evi(nir, red, blue):
    return 2.5 * _divide(nir - red, nir + 6.0 * red - 7.5 * blue + 1.0)


def _evi2(nir, red):
    return 2.5 * _divide(nir - red, nir + 2.4 * red + 1.0)


def _savi(nir, red, soil=0.5):
    return (1.0 + soil) * _divide(nir - red, nir + red + soil)


def _msavi2(nir, red):
    import numpy as np

    root = (2.0 * nir + 1.0) ** 2 - 8.0 * (nir - red)
    return (2.0 * nir + 1.0 - np.sqrt(_nan_unless(root, root >= 0))) / 2.0


def _bare_soil(swir1, red, nir, blue):
    return _normalized_difference(swir1 + red, nir + blue)


def _brightness2(red, green, nir):
    import numpy as np

    return np.sqrt((red**2 + green**2 + nir**2) / 3.0)


@dataclass(frozen=True)
class Index:
    """A spectral index: name, the aliases it reads (in the formula's argument order), formula, source."""

    name: str
    requires: tuple[str, ...]
    formula: str
    reference: str
    function: Callable

    def compute(self, bands):
        """The index from ``bands`` (a mapping alias -> DataArray of reflectance), as float32.

        Raises
        ------
        KeyError
            ``bands`` lacks one of :attr:`requires` (the recipe checks this first).
        """
        import numpy as np

        out = self.function(*(bands[alias] for alias in self.requires))
        return out.astype(np.float32, copy=False).rename(self.name.lower())


def _nd(name, a, b, reference):
    return Index(name, (a, b), f"({a} - {b}) / ({a} + {b})", reference, _normalized_difference)


def _is_index(name: str, plugin) -> bool:
    return isinstance(plugin, Index) and plugin.name == name == name.upper()


#: The registry: upper-case name -> :class:`Index` (built-in, then ``antares.indices`` entry points, whose
#: functions must work on numpy arrays and DataArrays alike). Output variables use the lower-case name.
INDICES = Registry("antares.indices", "index", {
    index.name: index
    for index in (
        _nd("NDVI", "nir", "red", "Rouse et al. 1974, Monitoring vegetation systems in the Great Plains with ERTS, "
            "NASA SP-351; Tucker 1979, Remote Sens. Environ. 8:127-150"),
        _nd("NDMI", "nir08", "swir1", "Gao 1996, Remote Sens. Environ. 58:257-266 (NIR/SWIR water index); "
            "Wilson & Sader 2002, Remote Sens. Environ. 80:385-396 (NDMI with TM4/TM5). Sentinel-2: "
            "(B8A - B11) / (B8A + B11), as antares3's s2_20m_001 (its 20 m 'nir' was B8A)"),
        _nd("NDWI", "green", "nir", "McFeeters 1996, Int. J. Remote Sens. 17(7):1425-1432"),
        _nd("MNDWI", "green", "swir1", "Xu 2006, Int. J. Remote Sens. 27(14):3025-3033"),
        _nd("NDRE", "nir08", "re1", "Gitelson & Merzlyak 1994, J. Plant Physiol. 143:286-292 (R750, R705); "
            "Barnes et al. 2000, Proc. 5th Int. Conf. Precision Agriculture. Sentinel-2: (B8A - B05) / (B8A + B05)"),
        _nd("NDBI", "swir1", "nir", "Zha, Gao & Ni 2003, Int. J. Remote Sens. 24(3):583-594"),
        Index("EVI", ("nir", "red", "blue"), "2.5 * (nir - red) / (nir + 6 * red - 7.5 * blue + 1)",
              "Huete et al. 2002, Remote Sens. Environ. 83:195-213", _evi),
        Index("EVI2", ("nir", "red"), "2.5 * (nir - red) / (nir + 2.4 * red + 1)",
              "Jiang et al. 2008, Remote Sens. Environ. 112:3833-3845", _evi2),
        Index("SAVI", ("nir", "red"), "1.5 * (nir - red) / (nir + red + 0.5)  (L = 0.5)",
              "Huete 1988, Remote Sens. Environ. 25:295-309", _savi),
        Index("MSAVI2", ("nir", "red"), "(2 * nir + 1 - sqrt((2 * nir + 1)^2 - 8 * (nir - red))) / 2",
              "Qi et al. 1994, Remote Sens. Environ. 48:119-126", _msavi2),
        Index("BI", ("swir1", "red", "nir", "blue"),
              "((swir1 + red) - (nir + blue)) / ((swir1 + red) + (nir + blue))  (bare soil index)",
              "Rikimaru, Roy & Miyatake 2002, Tropical Ecology 43(1):39-47", _bare_soil),
        Index("BI2", ("red", "green", "nir"), "sqrt((red^2 + green^2 + nir^2) / 3)  (second brightness index)",
              "Escadafal 1989 (in Mathieu et al. 1998, Remote Sens. Environ. 66:17-28); SNAP S2 Toolbox "
              "radiometric indices, BI2 = sqrt((B4^2 + B3^2 + B8^2) / 3)", _brightness2),
    )
}, accepts=_is_index, plural="indices")


# ---------------------------------------------------------------- the Awesome Spectral Indices catalogue
#: The catalogue's band symbols (Montero et al. 2023, Sci. Data 10:197, "Awesome Spectral Indices") ->
#: antares aliases (:data:`antares.recipes.specs.DEFAULT_ALIASES`): N is the 10 m NIR (B08), N2 the narrow
#: NIR (B8A). Indices that read other bands (aerosol, water vapour, thermal, radar) are refused.
CATALOGUE_BANDS = {"B": "blue", "G": "green", "R": "red", "RE1": "re1", "RE2": "re2", "RE3": "re3", "N": "nir",
                   "N2": "nir08", "S1": "swir1", "S2": "swir2"}


def catalogue_index(name: str) -> Index:
    """An index of the Awesome Spectral Indices catalogue (the ``spyndex`` package's shipped JSON) by short name.

    Parameters
    ----------
    name : str
        The catalogue's short name, exact case (e.g. ``"GNDVI"``, ``"kNDVI"``, ``"NDREI"``).

    Returns
    -------
    Index
        ``requires``: the aliases of the formula's bands (:data:`CATALOGUE_BANDS`); the formula's constants
        take the catalogue's default values. The function evaluates the catalogue's formula with
        ``spyndex.computeIndex`` on float32 reflectance (numpy or xarray) and gives NaN where the result
        is not finite (a zero denominator, a negative square root).

    Raises
    ------
    KeyError
        No catalogue index has that name; or it reads a band antares has no alias for, or a constant
        without a default (the message names them).
    """
    import spyndex

    entry = spyndex.indices.get(name) if name in spyndex.indices else None
    if entry is None:
        raise KeyError(f"'{name}' is not an index of the Awesome Spectral Indices catalogue (spyndex "
                       f"{spyndex.__version__}); names are case-sensitive, e.g. GNDVI, kNDVI, NDREI.")
    symbols = list(entry.bands)
    constants = {s: spyndex.constants[s].default for s in symbols if s in spyndex.constants}
    bands = [s for s in symbols if s not in constants]
    unknown = [s for s in bands if s not in CATALOGUE_BANDS] + [s for s, v in constants.items() if v is None]
    if unknown:
        raise KeyError(f"catalogue index '{name}' ({entry.formula}) needs {', '.join(unknown)}, which antares has no "
                       f"Sentinel-2 alias or default value for; usable bands: {', '.join(CATALOGUE_BANDS)}.")
    requires = tuple(CATALOGUE_BANDS[s] for s in bands)

    def function(*values):
        import numpy as np

        params = dict(constants, **dict(zip(bands, values)))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = spyndex.computeIndex(name, params, online=False)  # the shipped catalogue, never the network
            return _nan_unless(out, np.isfinite(out))

    formula = entry.formula
    for symbol in sorted(bands, key=len, reverse=True):
        formula = formula.replace(symbol, f"<{CATALOGUE_BANDS[symbol]}>")
    formula = formula.replace("<", "").replace(">", "")
    return Index(name, requires, f"{formula}  ({', '.join(f'{k} = {v:g}' for k, v in constants.items())})"
                 if constants else formula, f"{entry.reference} (Awesome Spectral Indices: {entry.long_name})",
                 function)


def get_index(name: str) -> Index:
    """A built-in index (:data:`INDICES`, upper case) or else a catalogue index (:func:`catalogue_index`).

    Raises
    ------
    KeyError
        Neither knows ``name``.
    """
    if name.upper() in INDICES:
        return INDICES[name.upper()]
    return catalogue_index(name)
