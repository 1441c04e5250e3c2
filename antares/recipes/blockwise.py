"""A recipe's computation on numpy blocks: raw values in, output arrays out, buffers reused.

:meth:`antares.recipes.Recipe.compute` (xarray in, xarray out) is the reference: it defines
what a recipe means and the tests compare it with independent numpy. :class:`BlockRecipe`
computes the same outputs for the pipeline, block by block, without xarray and without
full-size temporaries: each band's digital numbers become masked float32 reflectance in one
compiled pass (into a buffer kept from block to block, or straight into the running sums when
the band only has ``mean``/``count`` reducers), indices are computed into reused buffers, and
the reducers run along axis 0 of the C-contiguous ``(time, y, x)`` block.

The results equal the reference's bit for bit (the same float32 operations in the same
order; float64 sums in time order), with one exception that the reference leaves open: when
a pixel's values include both +0.0 and -0.0, ``min``/``max``/percentiles may return the other
zero. Spectral inputs are float32 (what the reflectance conversion gives); a floating
measurement of another dtype used as it is is rounded to float32 first, where the reference
would compute in its dtype.

Example
-------
>>> engine = BlockRecipe(recipe, recipe.resolve_measurements(product))          # doctest: +SKIP
>>> outputs = engine.compute({"B04": dn_red, "B8A": dn_nir}, {"B04": Conversion(True, off, scale, 0), ...},
...                          mask=scl_with_margin, doys=doys)                   # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from antares.errors import InvalidInputError
from antares.recipes.indices import _normalized_difference, get_index
from antares.recipes.masks import clear_numpy
from antares.recipes.reducers import plugin_reducer

log = logging.getLogger(__name__)

_SUMS = {"mean", "count"}  # reducers that need only the running count and sum


@dataclass(frozen=True)
class Conversion:
    """How a measurement's raw values become a recipe's float input.

    Attributes
    ----------
    convert : bool
        True: digital numbers to reflectance, ``(float32(dn) + offset[t]) * scale[t]`` and NaN
        where ``dn == nodata`` (as :func:`antares.cube.reflectance.to_reflectance`); False: the
        values are used as they are (float32, NaN = nodata).
    offset, scale : numpy.ndarray of float32, (time,), optional
        Per time step; required when ``convert``.
    nodata : number, optional
        Tested only when ``convert`` (None or NaN: no test).
    """

    convert: bool
    offset: np.ndarray | None = None
    scale: np.ndarray | None = None
    nodata: float | None = None


class BlockRecipe:
    """:meth:`Recipe.compute` on numpy blocks, for one recipe and one resolution of its aliases.

    Parameters
    ----------
    recipe : antares.recipes.Recipe
    resolved : dict of str to str
        alias -> measurement (:meth:`Recipe.resolve_measurements`); the raw blocks are keyed by measurement.
    pca : antares.pca.FittedPca, optional
        The stored PCA of the recipe's ``pca`` section (required then).

    Raises
    ------
    InvalidInputError
        The recipe has a ``pca`` section and ``pca`` is missing or does not fit it (:meth:`Recipe.bind_pca`).
    """

    def __init__(self, recipe, resolved: dict[str, str], pca=None):
        self.recipe = recipe
        self.resolved = dict(resolved)
        wanted = set(recipe.output_names)
        self.reducers = {var: tuple(r for r in reducers if f"{var}_{r}" in wanted)
                         for var, reducers in recipe.reducers.items()}
        self.reducers = {var: r for var, r in self.reducers.items() if r}
        self.indices = [name for name in recipe.indices if name.lower() in self.reducers]
        index_inputs = {alias for name in self.indices for alias in get_index(name).requires}
        self.pca, self.pca_aliases = pca, ()
        if recipe.pca is not None:
            if pca is None:
                raise InvalidInputError(f"recipe {recipe.name}: needs the stored PCA '{recipe.pca.name}'.")
            self.pca_aliases = recipe.bind_pca(pca, self.resolved)
            index_inputs |= set(self.pca_aliases)
        # measurements in the order the recipe lists their aliases; an alias's values are kept in a
        # buffer when an index needs them or a reducer other than mean/count does
        self.bands: dict[str, list[str]] = {}
        for alias in recipe.measurements:
            self.bands.setdefault(self.resolved[alias], []).append(alias)
        self.keep = {m for m, aliases in self.bands.items()
                     if any(a in index_inputs or not set(self.reducers.get(a, ())) <= _SUMS for a in aliases)}
        self.clear_count = recipe.clear_count and "clear_count" in wanted
        self._buffers: dict = {}

    # ------------------------------------------------------------------ checks
    def check(self, dtypes: dict, bands: dict) -> None:
        """Refuse what :meth:`Recipe.compute` refuses: a spectral measurement neither converted nor floating.

        Parameters
        ----------
        dtypes : dict of str to numpy.dtype
            Raw dtype per measurement.
        bands : dict of str to Conversion

        Raises
        ------
        InvalidInputError
            A spectral measurement is not converted to reflectance and not floating.
        """
        for measurement, aliases in self.bands.items():
            dtype = np.dtype(dtypes[measurement])
            if not bands[measurement].convert and dtype.kind != "f":
                raise InvalidInputError(
                    f"recipe {self.recipe.name}: variable '{aliases[0]}' must be floating reflectance (0..1, NaN = "
                    f"nodata). Got {dtype}, and no scale_factor is declared for measurement {measurement}: declare it in "
                    "the product (e.g. scale_factor: 0.0001 for reflectance x 10000; antares product add FILE)."
                )

    @property
    def margin(self) -> int:
        """Pixels of margin the mask variable needs around a block (the mask's dilation)."""
        return self.recipe.mask.margin if self.recipe.mask is not None else 0

    def warm_up(self, dtypes: dict, mask_dtype=None) -> None:
        """Load the compiled loops for these raw dtypes by computing a tiny block.

        numba loads (or compiles, the first time) a loop per dtype on first use; call this while
        the first real block is being read, so that it does not wait.

        Parameters
        ----------
        dtypes : dict of str to numpy.dtype
            Raw dtype per spectral measurement.
        mask_dtype : numpy.dtype, optional
            The dtype of the mask values (required when the recipe has a mask).
        """
        n, m = 2, self.margin
        raw = {name: np.zeros((n, 2, 2), dtypes[name]) for name in self.bands}
        bands = {name: Conversion(True, np.zeros(n, np.float32), np.ones(n, np.float32), 0) for name in self.bands}
        mask = np.zeros((n, 2 + 2 * m, 2 + 2 * m), mask_dtype) if self.recipe.mask is not None else None
        terrain = {layer: np.zeros((2, 2), np.float32) for layer in self.recipe.terrain.layers} \
            if self.recipe.terrain is not None else None
        s1 = {name: np.zeros((2, 2), np.float32) for name in self.recipe.sar.outputs} \
            if self.recipe.sar is not None else None
        self.compute(raw, bands, mask, np.ones(n, np.int64), terrain, s1)

    # ------------------------------------------------------------------ buffers
    def _buffer(self, key, shape: tuple, dtype=np.float32) -> np.ndarray:
        """A C-contiguous array of ``shape``, reusing the memory of earlier blocks."""
        size = int(np.prod(shape))
        flat = self._buffers.get((key, np.dtype(dtype)))
        if flat is None or flat.size < size:
            flat = np.empty(size, dtype)
            self._buffers[(key, np.dtype(dtype))] = flat
        return flat[:size].reshape(shape)

    # ------------------------------------------------------------------ compute
    def compute(self, raw: dict, bands: dict, mask=None, doys=None, terrain: dict | None = None,
                s1: dict | None = None) -> dict:
        """The recipe's outputs for one block.

        Parameters
        ----------
        raw : dict of str to numpy.ndarray, (time, y, x)
            Raw values per measurement (C-contiguous), dates ascending.
        bands : dict of str to Conversion
            How to turn each measurement of ``raw`` into the recipe's input.
        mask : numpy.ndarray, (time, y + 2 m, x + 2 m), optional
            The mask variable with a margin of :attr:`margin` pixels on each side: SCL classes,
            or the (converted) mask measurement. Required when the recipe has a mask.
        doys : numpy.ndarray of int, (time,), optional
            Day of year of each date; required for ``doy_max``.
        terrain : dict of str to numpy.ndarray (y, x), optional
            The recipe's terrain layers on the block.
        s1 : dict of str to numpy.ndarray (y, x), optional
            The recipe's S1 outputs on the block (``s1_<feature>_<reducer>``,
            :func:`antares.recipes.sar.reduce_backscatter`); required when the recipe has an ``s1`` section.

        Returns
        -------
        dict of str to numpy.ndarray, (y, x)
            Every output of the recipe but :attr:`Recipe.texture_outputs` (they need the whole tile:
            :meth:`Recipe.compute_texture`), in its dtype (new arrays).
        """
        from antares.recipes import _kernels as k

        recipe = self.recipe
        first = next(iter(raw.values())) if raw else None
        if first is not None:
            shape = first.shape
        else:
            m = self.margin
            shape = (mask.shape[0], mask.shape[1] - 2 * m, mask.shape[2] - 2 * m)
        n_t, n_y, n_x = shape
        clear = None
        if recipe.mask is not None:
            m = self.margin
            clear = clear_numpy(mask, recipe.mask)
            if m:
                clear = np.ascontiguousarray(clear[:, m:m + n_y, m:m + n_x])
        complete = None
        if self.clear_count:
            complete = clear.copy() if clear is not None else np.ones(shape, bool)
        dummy3 = np.zeros((1, 1, 1), bool)
        produced: dict = {}
        values: dict = {}
        for slot, (measurement, aliases) in enumerate(self.bands.items()):
            band = bands[measurement]
            dn = raw[measurement]
            off = band.offset if band.convert else np.zeros(n_t, np.float32)
            scale = band.scale if band.convert else np.ones(n_t, np.float32)
            nodata = band.nodata
            has_nodata = bool(band.convert and nodata is not None and not np.isnan(nodata))
            args = (dn, np.asarray(off, np.float32), np.asarray(scale, np.float32), band.convert, has_nodata,
                    float(nodata) if has_nodata else 0.0, clear if clear is not None else dummy3, clear is not None)
            track = complete if complete is not None else dummy3
            # mean and count come from the running sums of this pass; other reducers read the buffer
            sums_only = all(set(self.reducers.get(a, ())) <= _SUMS for a in aliases)
            count = np.empty((n_y, n_x), np.int64)
            total = np.empty((n_y, n_x), np.float64)
            store = measurement in self.keep
            if not store and complete is None and not any(self.reducers.get(a) for a in aliases):
                continue  # read only for outputs that are not wanted
            buf = self._buffer(("band", slot), shape) if store else np.zeros((1, 1, 1), np.float32)
            k.prepare_band(*args, buf, store, count, total, sums_only, track, complete is not None)
            for alias in aliases:
                if store:
                    values[alias] = buf
                if sums_only:
                    produced.update(self._from_sums(alias, self.reducers.get(alias, ()), count, total))
                else:
                    produced.update(self._reduce(alias, buf, doys))
        for name in self.indices:
            index = get_index(name)
            inputs = [values[a] for a in index.requires]
            buf = self._buffer("index", shape)
            if index.function is _normalized_difference:  # the common case, in one compiled pass
                k.normalized_difference(inputs[0], inputs[1], buf)
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    np.copyto(buf, index.function(*inputs), casting="same_kind")
            produced.update(self._reduce(name.lower(), buf, doys))
        if self.pca_aliases and any(var in self.reducers for var in recipe.pca.variables):
            for var, scores in recipe.pca_variables(self.pca, self.pca_aliases, values).items():
                produced.update(self._reduce(var, np.ascontiguousarray(scores), doys))
        if complete is not None:
            count = np.empty((n_y, n_x), np.int64)
            k.count_true(complete, count)
            produced["clear_count"] = count.astype(np.float32)
        if recipe.terrain is not None:
            if terrain is None or any(layer not in terrain for layer in recipe.terrain.layers):
                raise InvalidInputError(
                    f"recipe {recipe.name}: needs terrain layers {', '.join(recipe.terrain.layers)} (product "
                    f"'{recipe.terrain.product}'); got: {', '.join(terrain or ()) or 'none'}."
                )
            produced.update({layer: np.asarray(terrain[layer], dtype=np.float32) for layer in recipe.terrain.layers})
        if recipe.sar is not None:
            wanted = recipe.sar.outputs
            if s1 is None or any(name not in s1 for name in wanted):
                raise InvalidInputError(f"recipe {recipe.name}: needs S1 outputs {', '.join(wanted)} (product "
                                        f"'{recipe.sar.product}'); got: {', '.join(s1 or ()) or 'none'}.")
            produced.update({name: np.asarray(s1[name], dtype=np.float32) for name in wanted})
        texture = set(recipe.texture_outputs)  # computed on the whole tile (Recipe.compute_texture)
        return {o.name: o.encode_array(produced[o.name]) for o in recipe.outputs if o.name not in texture}

    @staticmethod
    def _from_sums(var: str, reducers, count, total) -> dict:
        out = {}
        for name in reducers:
            if name == "count":
                out[f"{var}_count"] = count.astype(np.float32)
            elif name == "mean":
                out[f"{var}_mean"] = _where_empty(total / np.maximum(count, 1), count)
        return out

    def _reduce(self, var: str, block: np.ndarray, doys) -> dict:
        """The reducers of ``var`` (only those the outputs use) over axis 0 of a float32 block."""
        from antares.recipes import _kernels as k

        reducers = self.reducers.get(var, ())
        if not reducers:
            return {}
        n_y, n_x = block.shape[1:]
        count = np.empty((n_y, n_x), np.int64)
        total = np.empty((n_y, n_x), np.float64)
        vmin = np.empty((n_y, n_x), np.float32)
        vmax = np.empty((n_y, n_x), np.float32)
        arg = np.empty((n_y, n_x), np.int64)
        want = set(reducers)
        k.basic_stats(block, count, total, bool(want & {"mean", "std"}), vmin, "min" in want, vmax, "max" in want,
                      arg, "doy_max" in want)
        out = self._from_sums(var, [r for r in reducers if r in _SUMS], count, total)
        if "min" in want:
            out[f"{var}_min"] = _where_empty(vmin, count)
        if "max" in want:
            out[f"{var}_max"] = _where_empty(vmax, count)
        if "doy_max" in want:
            if doys is None:
                raise InvalidInputError(f"recipe {self.recipe.name}: the doy_max reducer needs the dates' "
                                        "days of year.")
            out[f"{var}_doy_max"] = _where_empty(np.asarray(doys, np.float64)[arg], count)
        if "std" in want:
            mean32 = (total / np.maximum(count, 1)).astype(np.float32)
            squares = np.empty((n_y, n_x), np.float64)
            k.squared_deviations(block, mean32, squares)
            out[f"{var}_std"] = _where_empty(np.sqrt(squares / np.maximum(count, 1)), count)
        plugins = {r: plugin_reducer(r) for r in reducers if plugin_reducer(r) is not None}
        if plugins:
            series = np.moveaxis(block, 0, -1)  # (y, x, time): the plugins' contract
            for r, plugin in plugins.items():
                out[f"{var}_{r}"] = _where_empty(np.asarray(plugin.function(series, doys)), count)
        quantiles = [r for r in reducers if r not in plugins and (r == "median" or r.startswith("p"))]
        if quantiles:
            fractions = np.array([(50.0 if r == "median" else float(r[1:])) / 100.0 for r in quantiles])
            result = np.empty((len(quantiles), n_y, n_x), np.float64)
            k.percentiles(block, fractions, result)
            for r, values in zip(quantiles, result):
                out[f"{var}_{r}"] = _where_empty(values, count)
        return out


def _where_empty(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``values`` as float32, NaN where ``count`` is 0."""
    out = values.astype(np.float32)
    out[count == 0] = np.nan
    return out
