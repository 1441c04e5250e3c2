"""Sentinel-2 digital numbers (DN) to reflectance, with the offsets of each dataset.

From processing baseline 04.00 (products from 25 January 2022 on) ESA stores
Sentinel-2 L1C and L2A reflectances with a radiometric offset, so that values
darker than zero are kept::

    reflectance = (DN + ADD_OFFSET) / QUANTIFICATION_VALUE

with ``ADD_OFFSET`` = ``RADIO_ADD_OFFSET`` (L1C) or ``BOA_ADD_OFFSET`` (L2A), -1000
in practice, ``QUANTIFICATION_VALUE`` = 10000, and DN = 0 still meaning no data.
Source: ESA, *Sentinel-2 Products Specification Document* (S2-PDGS-TAS-DI-PSD, the
issue for processing baseline 04.00), "Provision of negative radiometric values
(implementing an offset)", also on ESA's Sentinel-2 "Processing Baseline" page.
Before 04.00 the offset is 0. The SAFE preparers record the offset of
each dataset as ``antares:add_offset`` (``antares:add_offset_per_band`` when bands
differ) and ``antares:scale_factor`` = 1 / QUANTIFICATION_VALUE.

Scale and offset are applied only where they are declared: by the product's measurement
(ODC's ``scale_factor`` and ``add_offset``: ``value = pixel * scale_factor + add_offset``, as in
``config/products/s2_l2a.yaml``) or by the dataset (the properties above, which take precedence
and apply to the measurements in units ``'1'``). A measurement with neither is read as it is:
a float32 product of reflectance in 0-1 stays in 0-1.
"""

from __future__ import annotations

import logging

from antares.errors import InvalidInputError

log = logging.getLogger(__name__)

SKIP = {"SCL"}
DATASET_KEYS = ("antares:scale_factor", "antares:add_offset", "antares:add_offset_per_band")


def _properties(ds) -> dict:
    doc = ds.metadata_doc if hasattr(ds, "metadata_doc") else ds
    return doc.get("properties", {})


def _time(ds):
    import numpy as np
    import pandas as pd

    if hasattr(ds, "center_time"):
        when = ds.center_time
    else:
        when = pd.Timestamp(_properties(ds)["datetime"])
    when = pd.Timestamp(when)
    if when.tzinfo is not None:
        when = when.tz_convert("UTC").tz_localize(None)
    return np.datetime64(when, "ns")


def _canonical(data, datasets) -> dict:
    """Loaded variable name -> product measurement name (resolving aliases), when known."""
    names = {}
    for ds in datasets:
        product = getattr(ds, "product", None)
        for name, m in (getattr(product, "measurements", None) or {}).items():
            names.setdefault(name, name)
            for alias in m.get("aliases", []):
                names.setdefault(alias, name)
    return {var: names.get(var, var) for var in data.data_vars}


def never_scaled(name: str, attrs: dict) -> bool:
    """Whether measurement ``name`` (definition ``attrs``) holds classes or flags, read as stored whatever is declared (SCL)."""
    return name.upper() in SKIP or "flags_definition" in attrs


def is_reflectance(name: str, attrs: dict, properties=()) -> bool:
    """Whether measurement ``name`` has a declared scale or offset to apply (digital numbers to values).

    Parameters
    ----------
    name : str
        The product's measurement name.
    attrs : dict
        The measurement's definition (or a loaded DataArray's attributes).
    properties : iterable of dict
        The properties of the datasets read.

    Returns
    -------
    bool
        True when ``attrs`` declares ``scale_factor`` or ``add_offset``, or, for a measurement in
        units ``'1'``, a dataset declares ``antares:scale_factor``/``antares:add_offset``. SCL and
        measurements with a ``flags_definition`` are never scaled; nothing declared: read as is.
    """
    if never_scaled(name, attrs):
        return False
    if "scale_factor" in attrs or "add_offset" in attrs:
        return True
    return str(attrs.get("units", "1")) == "1" and any(k in p for p in properties for k in DATASET_KEYS)


def _offset_scale(properties: list[dict], name: str, when, attrs: dict | None = None) -> tuple:
    """The one ``(offset in digital numbers, scale_factor)`` of measurement ``name`` in a time step's datasets.

    A dataset's ``antares:`` properties take precedence over the measurement's ``scale_factor`` and
    ``add_offset`` (``attrs``); what neither declares is 1 and 0.
    """
    attrs = attrs or {}
    declared_scale = float(attrs.get("scale_factor", 1.0))
    declared_offset = float(attrs.get("add_offset", 0.0)) / declared_scale  # in digital numbers
    pairs = set()
    for p in properties:
        scale = float(p.get("antares:scale_factor", declared_scale))
        offset = p.get("antares:add_offset_per_band", {}).get(name, p.get("antares:add_offset"))
        pairs.add((declared_offset if offset is None else float(offset), scale))
    if len(pairs) > 1:
        raise InvalidInputError(f"the datasets of time step {str(when)[:19]} have different offsets/scales for {name} "
                                f"({sorted(pairs)}); load them separately (group_by=None) before to_reflectance.")
    (offset, scale), = pairs
    return offset, scale


def offsets_per_time(data, datasets, name: str, attrs: dict | None = None) -> tuple:
    """``(offset, scale)`` arrays of shape (time,) for measurement ``name`` (definition ``attrs``).

    Raises
    ------
    InvalidInputError
        A time step has no dataset among ``datasets``, or its datasets disagree.
    """
    import numpy as np

    by_time: dict = {}
    for ds in datasets:
        by_time.setdefault(_time(ds), []).append(_properties(ds))
    times = np.array(sorted(by_time), dtype="datetime64[ns]")
    offsets, scales = [], []
    for t in data.time.values:
        group = by_time.get(np.datetime64(t, "ns"))
        if group is None:  # grouped by solar day: the datasets within 12 hours
            near = times[np.abs(times - np.datetime64(t, "ns")) <= np.timedelta64(12, "h")] if times.size else times
            group = [p for n in near for p in by_time[n]]
        if not group:
            raise InvalidInputError(f"no dataset given for time step {str(t)[:19]}; pass the datasets that were loaded "
                                    "(dc.find_datasets with the same query) to to_reflectance.")
        offset, scale = _offset_scale(group, name, t, attrs)
        offsets.append(offset)
        scales.append(scale)
    return np.array(offsets, np.float32), np.array(scales, np.float32)


def offsets_per_group(groups, name: str, times=None, attrs: dict | None = None) -> tuple:
    """``(offset, scale)`` float32 arrays of shape (time,) for measurement ``name``, one per group of datasets.

    For data already grouped (each time step's datasets known, e.g.
    :attr:`antares.cube.blockread.GridReader.groups`); the same values :func:`offsets_per_time`
    finds by matching times.

    Raises
    ------
    InvalidInputError
        The datasets of one group disagree.
    """
    import numpy as np

    pairs = [_offset_scale([_properties(ds) for ds in group], name, times[t] if times is not None else t, attrs)
             for t, group in enumerate(groups)]
    return np.array([p[0] for p in pairs], np.float32), np.array([p[1] for p in pairs], np.float32)


def reflectance_into(dn, offset, scale, nodata=None, out=None):
    """:func:`to_reflectance`'s arithmetic on a numpy block, one fused pass per time step.

    ``out[t] = (float32(dn[t]) + offset[t]) * scale[t]`` in float32, NaN where ``dn`` equals
    ``nodata`` (a number; None or NaN: no such test), bit for bit what :func:`to_reflectance`
    gives for the same values.

    Parameters
    ----------
    dn : numpy.ndarray, (time, y, x)
        Digital numbers, any integer or floating dtype.
    offset, scale : numpy.ndarray of float32, (time,)
        From :func:`offsets_per_time` or :func:`offsets_per_group`.
    nodata : number, optional
    out : numpy.ndarray of float32, (time, y, x), optional
        Where to write (reused across calls); a new array by default.

    Returns
    -------
    numpy.ndarray of float32, (time, y, x)
    """
    import numpy as np

    if out is None:
        out = np.empty(dn.shape, np.float32)
    test = nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata))
    for t in range(dn.shape[0]):
        layer = out[t]
        if offset[t] == 0:  # (x + 0) * s == x * s exactly
            np.multiply(dn[t], scale[t], out=layer, dtype=np.float32)
        else:
            np.add(dn[t], offset[t], out=layer, dtype=np.float32)
            np.multiply(layer, scale[t], out=layer)
        if test:
            np.copyto(layer, np.float32(np.nan), where=dn[t] == nodata)
    return out


def to_reflectance(data, datasets):
    """Turn loaded digital numbers into float32 values (reflectance), dataset by dataset, where declared.

    ``value = (DN + add_offset) * scale_factor``, NaN where DN equals the variable's ``nodata``
    attribute. ``add_offset`` (``antares:add_offset``, or the band's entry in
    ``antares:add_offset_per_band``) and ``scale_factor`` (``antares:scale_factor``) are read
    from the properties of the datasets of each time step, so a series mixing processing
    baselines before and after 04.00 (offset 0 and -1000) comes out consistent; where a dataset
    declares none, the measurement's ``scale_factor``/``add_offset`` apply. A variable for which
    nothing is declared is returned as it is (e.g. reflectance already in 0-1).
    Reflectance may be slightly negative from baseline 04.00 (DN below 1000): that is
    ESA's intent and is kept.

    Parameters
    ----------
    data : xarray.Dataset
        As returned by ``dc.load``: variables (time, y, x) of integer DN with a
        ``nodata`` attribute; numpy- or dask-backed (kept lazy).
    datasets : sequence of datacube.model.Dataset or eo3 dataset documents (dict)
        The datasets loaded (e.g. ``dc.find_datasets(...)`` with the same query).
        Each time step is matched by time (exactly, else within 12 hours when the
        data was grouped by solar day).

    Returns
    -------
    xarray.Dataset
        Same coordinates, CRS and variables. Reflectance variables are float32,
        unitless, with ``nodata`` NaN. SCL, variables with a ``flags_definition``
        and variables without a declared scale or offset (:func:`is_reflectance`) are returned unchanged.

    Raises
    ------
    InvalidInputError
        A time step has no dataset among ``datasets``, or the datasets of one time step
        have different offsets.

    Examples
    --------
    >>> datasets = dc.find_datasets(product="s2_l2a", time=("2022-01-01", "2022-12-31"))  # doctest: +SKIP
    >>> dn = dc.load(datasets=datasets, measurements=["B04", "B08", "SCL"], like=geobox)  # doctest: +SKIP
    >>> refl = to_reflectance(dn, datasets)  # doctest: +SKIP
    >>> float(refl.B04.isel(time=0).mean())  # doctest: +SKIP
    0.0412
    """
    import numpy as np
    import xarray as xr

    datasets = list(datasets)
    canonical = _canonical(data, datasets)
    out = {}
    properties = [_properties(ds) for ds in datasets]
    for var, arr in data.data_vars.items():
        if not is_reflectance(canonical[var], arr.attrs, properties) or "time" not in arr.dims:
            out[var] = arr
            continue
        offset, scale = offsets_per_time(data, datasets, canonical[var], arr.attrs)
        offset = xr.DataArray(offset, dims="time", coords={"time": data.time})
        scale = xr.DataArray(scale, dims="time", coords={"time": data.time})
        refl = (arr.astype(np.float32) + offset) * scale
        nodata = arr.attrs.get("nodata")
        if nodata is not None and not (isinstance(nodata, float) and np.isnan(nodata)):
            refl = refl.where(arr != nodata)
        refl = refl.astype(np.float32)
        refl.attrs = {**{k: v for k, v in arr.attrs.items() if k not in ("scale_factor", "add_offset")},
                      "nodata": np.nan, "units": "1"}
        out[var] = refl
        log.debug("%s: reflectance with offsets %s", var, sorted(set(offset.values.tolist())))
    return xr.Dataset(out, coords=data.coords, attrs=data.attrs)
