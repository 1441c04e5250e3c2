"""The :class:`Recipe`: a validated recipe YAML and the pure computation it describes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from antares.errors import InvalidInputError
from antares.recipes.indices import get_index
from antares.recipes.specs import (TERRAIN_FLAG, MaskSpec, OutputSpec, PcaSpec, SarSpec, StepsSpec, TerrainSpec,
                                   TextureSpec)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """A recipe: which measurements to load, how to mask, which indices and temporal reducers.

    Build one with :func:`antares.recipes.load_recipe`; the fields are validated there.

    Attributes
    ----------
    name : str
        The recipe's name: its file name without ``.yaml``.
    description : str
    product : str
        The default input product (``inputs.product``, default ``"s2_l2a"``); the CLI can override it.
    aliases : dict of str to list of str
        alias -> candidate measurement names in order of preference (built-ins updated by the
        recipe's ``aliases`` section).
    measurements : tuple of str
        The spectral aliases the recipe reads: ``inputs.measurements``, then the aliases its
        indices need that are not listed there. The mask's alias comes on top (:attr:`required`).
    mask : MaskSpec or None
    indices : tuple of str
        Index names: built-in (:data:`antares.recipes.indices.INDICES`), upper case, or of the
        Awesome Spectral Indices catalogue (:func:`antares.recipes.indices.catalogue_index`), its case.
    reducers : dict of str to tuple of str
        variable (an alias of :attr:`measurements` or a lower-case index name) -> reducer names.
    clear_count : bool
        Whether to output ``clear_count``: per pixel, the number of dates whose observation passes
        the mask and has a finite value in every spectral input (the dates every feature may use).
    terrain : TerrainSpec or None
    texture : tuple of TextureSpec
        GLCM texture of reducer outputs (:mod:`antares.recipes.texture`), computed after the reducers
        on the whole grid; the pipeline reads each tile with a margin of :attr:`texture_margin` pixels.
    pca : PcaSpec or None
        Principal components per date from a stored PCA: variables ``pc1`` .. ``pcK`` (:meth:`bind_pca`).
    outputs : list of OutputSpec
        The output measurements, in output order.
    source : pathlib.Path or None
        The YAML file the recipe was read from.
    resolution : float or None
        ``inputs.resolution``: the pixel size (CRS units, metres) of the default output grid
        when the command gives no grid; ``None``: the input's native resolution.
    digest : str
        sha256 of that file's bytes, to record with a run.
    steps : StepsSpec or None
        A time-series recipe (``steps:``): one dataset per step instead of reducers
        (:mod:`antares.pipeline.timeseries`); its outputs are the step variables, ``clear_count`` and ``filled``.
    sar : SarSpec or None
        Sentinel-1 features per step (``s1:``, time-series recipes only), read from another product onto the grid.
    """

    name: str
    description: str
    product: str
    aliases: dict[str, list[str]]
    measurements: tuple[str, ...]
    mask: MaskSpec | None
    indices: tuple[str, ...]
    reducers: dict[str, tuple[str, ...]]
    clear_count: bool
    terrain: TerrainSpec | None
    outputs: list[OutputSpec]
    source: Path | None = None
    digest: str = ""
    definition: dict = field(default_factory=dict, repr=False)
    resolution: float | None = None
    texture: tuple[TextureSpec, ...] = ()
    pca: PcaSpec | None = None
    steps: StepsSpec | None = None
    sar: SarSpec | None = None

    # ------------------------------------------------------------------ inputs
    @property
    def required(self) -> tuple[str, ...]:
        """Every alias :meth:`compute` needs in ``data``: :attr:`measurements`, then the mask's aliases
        (one, or the ten bands of an s2cloudless mask) not among them."""
        if self.mask is None:
            return self.measurements
        return self.measurements + tuple(a for a in self.mask.aliases if a not in self.measurements)

    def bind_pca(self, fitted, resolved: dict[str, str] | None = None) -> tuple[str, ...]:
        """The aliases that feed a fitted PCA, in the order of its measurements.

        Parameters
        ----------
        fitted : antares.pca.FittedPca
            The stored PCA :attr:`pca` names.
        resolved : dict of str to str, optional
            alias -> measurement of the input product (:meth:`resolve_measurements`); without it an
            alias matches a PCA measurement named like the alias or listed among its candidates.

        Returns
        -------
        tuple of str
            One alias of :attr:`measurements` per measurement of ``fitted``.

        Raises
        ------
        InvalidInputError
            The PCA is not the one the recipe names, was fitted on measurements the recipe does not
            read, or has fewer components than the recipe uses.
        """
        if self.pca is None or fitted.name != self.pca.name:
            raise InvalidInputError(f"recipe {self.name}: needs PCA '{self.pca.name if self.pca else None}'; "
                                    f"got '{fitted.name}'.")
        aliases, missing = [], []
        for m in fitted.measurements:
            if resolved is not None:
                found = next((a for a in self.measurements if resolved.get(a) == m), None)
            else:
                found = next((a for a in self.measurements if a == m or m in self.aliases.get(a, ())), None)
            (aliases.append(found) if found else missing.append(m))
        if missing:
            raise InvalidInputError(
                f"recipe {self.name}: PCA '{fitted.name}' was fitted on {', '.join(fitted.measurements)} of product "
                f"'{fitted.product}', but the recipe reads no {', '.join(missing)} (its inputs: "
                f"{', '.join(f'{a}={resolved[a]}' if resolved else a for a in self.measurements)}). Fit the PCA on the "
                "recipe's input product (antares pca_fit -m) or add the measurements to inputs.measurements.")
        if self.pca.components > fitted.n_components:
            raise InvalidInputError(f"recipe {self.name}: pca.components is {self.pca.components} but PCA "
                                    f"'{fitted.name}' has {fitted.n_components}; lower it or fit more components.")
        return tuple(aliases)

    def pca_variables(self, fitted, aliases, values: dict) -> dict:
        """``pc1`` .. ``pcK`` from the (masked, float32) values of ``aliases`` (:meth:`bind_pca`), any shape."""
        scores = fitted.transform({m: values[a] for m, a in zip(fitted.measurements, aliases)}, self.pca.components)
        return {f"pc{i + 1}": scores[i] for i in range(self.pca.components)}

    @property
    def texture_margin(self) -> int:
        """Pixels of context around a tile that the texture windows need (0 without texture)."""
        return max((spec.margin for spec in self.texture), default=0)

    @property
    def texture_outputs(self) -> tuple[str, ...]:
        """The outputs computed by :attr:`texture` (after the reducers, on a whole tile with its margin)."""
        return tuple(name for spec in self.texture for name in spec.outputs)

    def compute_texture(self, produced: dict) -> dict:
        """The texture outputs from the (float32, decoded) source outputs of a whole grid.

        Parameters
        ----------
        produced : dict of str to numpy.ndarray, (y, x)
            At least the :attr:`texture` sources, float, NaN = nodata.

        Returns
        -------
        dict of str to numpy.ndarray of float32, (y, x)
            One array per name of :attr:`texture_outputs`; windows are clipped at the array's edges.
        """
        out = {}
        for spec in self.texture:
            out.update(spec.compute(produced[spec.source]))
        return out

    @property
    def output_names(self) -> list[str]:
        """The names of :attr:`outputs`, in order."""
        return [o.name for o in self.outputs]

    def resolve_measurements(self, product_definition) -> dict[str, str]:
        """Map each alias the recipe needs to a measurement of an ODC product.

        Each alias's candidates are tried in order; a candidate matches a measurement whose
        ``name`` equals it or whose ``aliases`` contain it (exact, case-sensitive).

        Parameters
        ----------
        product_definition : dict or datacube.model.Product
            An ODC product definition (``{"name": ..., "measurements": [{"name", "aliases", ...}]}``)
            or an object with such a ``definition``.

        Returns
        -------
        dict of str to str
            alias -> measurement name, for :attr:`required` (spectral aliases, then the mask's).
            Two aliases may map to the same measurement (see :meth:`rename_to_aliases`).

        Raises
        ------
        InvalidInputError
            Some aliases match no measurement; the message lists them with their candidates and
            the product's measurements.

        Examples
        --------
        >>> load_recipe("s2_10m_001").resolve_measurements(yaml.safe_load(open("config/products/s2_l2a.yaml")))
        {'blue': 'B02', 'green': 'B03', 'red': 'B04', 'nir': 'B08', 'scl': 'SCL'}
        """
        definition = getattr(product_definition, "definition", product_definition)
        measurements = definition.get("measurements") or []
        lookup: dict[str, str] = {}
        for m in measurements:  # names first, so a name beats another measurement's alias
            lookup.setdefault(m["name"], m["name"])
        for m in measurements:
            for alias in m.get("aliases") or []:
                lookup.setdefault(alias, m["name"])
        resolved, missing = {}, []
        for alias in self.required:
            found = next((lookup[c] for c in self.aliases[alias] if c in lookup), None)
            if found is None:
                missing.append(f"{alias} ({', '.join(self.aliases[alias])})")
            else:
                resolved[alias] = found
        if missing:
            product = definition.get("name", "?")
            names = ", ".join(m["name"] for m in measurements) or "none"
            raise InvalidInputError(
                f"recipe {self.name}: product '{product}' has no measurement for {', '.join(missing)}; "
                f"its measurements: {names}. Use a product with these bands, or map the aliases to other "
                f"measurements in the recipe's 'aliases' section."
            )
        return resolved

    @staticmethod
    def rename_to_aliases(loaded, resolved: dict[str, str]):
        """Name the variables of a loaded dataset by alias, as :meth:`compute` wants them.

        Parameters
        ----------
        loaded : xarray.Dataset
            Variables named by measurement (as ``dc.load(measurements=set(resolved.values()))`` returns them).
        resolved : dict of str to str
            From :meth:`resolve_measurements`. A measurement used by two aliases is shared, not copied.

        Returns
        -------
        xarray.Dataset
            One variable per alias, with ``loaded``'s coordinates and attributes.
        """
        import xarray as xr

        return xr.Dataset({alias: loaded[name].rename(alias) for alias, name in resolved.items()},
                          coords=loaded.coords, attrs=loaded.attrs)

    # ------------------------------------------------------------------ compute
    def compute(self, data, terrain=None, pca=None, s1=None):
        """Compute the recipe's outputs for one tile.

        Pure (no I/O) and lazy with dask-backed inputs: reductions run block by block with the whole
        time series of each (y, x) chunk in memory.

        Parameters
        ----------
        data : xarray.Dataset
            Variables named by alias (:attr:`required`), dims ``(time, y, x)`` (any order; the two
            non-time dims are the spatial ones), any CRS. Spectral variables: surface reflectance
            0..1, floating (float32), NaN = nodata. The SCL variable: integer classes, 0 = nodata.
            ``time`` must be a datetime64 coordinate when a ``doy_max`` reducer is used.
        terrain : xarray.Dataset, optional
            Variables ``elevation`` (metre), ``slope``, ``aspect`` (degree), ``(y, x)`` (a ``time``
            dim of length 1 is dropped), floating, NaN = nodata, on the same grid as ``data``.
            Required when the recipe has a ``terrain`` section, ignored otherwise. Its voids (NaN) are
            interpolated and flagged in the output ``terrain_filled`` (:mod:`antares.recipes.voids`).
        pca : antares.pca.FittedPca, optional
            The stored PCA the recipe's ``pca`` section names (required then; :meth:`bind_pca`).
        s1 : xarray.Dataset, optional
            Variables ``vv`` and ``vh``, ``(time, y, x)`` backscatter in dB (attrs ``units`` ``linear``: linear
            power), NaN = nodata, on the grid of ``data`` (its own dates). Required when the recipe has an ``s1``
            section with reducers (:func:`antares.recipes.sar.reduce_backscatter`).

        Returns
        -------
        xarray.Dataset
            The variables of :attr:`outputs`, in order, dims ``(y, x)`` with ``data``'s spatial
            coordinates (and ``spatial_ref``), each with its dtype and attrs ``nodata``, ``units``.

        Raises
        ------
        InvalidInputError
            A required variable or the terrain is missing, a spectral variable is not floating, the
            dims are not (time, y, x), the terrain's grid differs, or ``doy_max`` has no datetime64 time.

        Examples
        --------
        >>> recipe = load_recipe("s2_20m_002")
        >>> features = recipe.compute(data, terrain)     # data: blue ... swir2 and scl by alias
        >>> features.ndvi_mean.dtype, features.clear_count.attrs["nodata"]
        (dtype('float32'), nan)
        """
        import numpy as np
        import xarray as xr

        from antares.recipes.masks import clear
        from antares.recipes.reducers import reduce_variable

        data, spatial = self._check_data(data)
        if self.mask is not None and self.mask.kind == "s2cloudless":
            from antares.recipes.cloudless import clear_s2cloudless

            first = data[self.mask.aliases[0]].transpose("time", *spatial)
            stack = np.stack([np.asarray(data[a].transpose("time", *spatial).values, np.float32)
                              for a in self.mask.aliases])
            clear_obs = first.copy(data=clear_s2cloudless(stack, self.mask)).rename("clear")
        elif self.mask is not None:
            clear_obs = clear(data[self.mask.alias].transpose("time", *spatial), self.mask)
        else:
            clear_obs = None
        variables = {}
        for alias in self.measurements:
            band = data[alias].transpose("time", *spatial)
            variables[alias] = band.where(clear_obs) if clear_obs is not None else band
        for name in self.indices:
            variables[name.lower()] = get_index(name).compute(variables)
        if self.pca is not None:
            if pca is None:
                raise InvalidInputError(f"recipe {self.name}: needs the stored PCA '{self.pca.name}' "
                                        "(pca=antares.pipeline.pca.load_pca(settings, name)).")
            aliases = self.bind_pca(pca)
            first = variables[aliases[0]]
            arrays = {a: np.asarray(variables[a].values) for a in aliases}
            for var, values in self.pca_variables(pca, aliases, arrays).items():
                variables[var] = xr.DataArray(values, dims=first.dims, coords=first.coords, name=var)
        doys = self._day_of_year(data) if any("doy_max" in r for r in self.reducers.values()) else None
        produced = {}
        for var, reducers in self.reducers.items():
            for out in reduce_variable(variables[var].rename(var), reducers, doys):
                produced[out.name] = out
        if self.clear_count:
            complete = clear_obs if clear_obs is not None else True
            for alias in self.measurements:
                complete = variables[alias].notnull() & complete
            produced["clear_count"] = complete.sum("time").astype(np.float32)
        if self.terrain is not None:
            produced.update(self._terrain(terrain, data, spatial))
        if self.sar is not None and self.sar.reducers:
            produced.update(self._s1(s1, data, spatial))
        if self.texture:
            coords = {d: data[d] for d in spatial if d in data.coords}
            sources = {s.source: np.asarray(produced[s.source].transpose(*spatial).values, np.float32)
                       for s in self.texture}
            produced.update({name: xr.DataArray(values, dims=spatial, coords=coords, name=name)
                             for name, values in self.compute_texture(sources).items()})
        result = {o.name: o.encode(produced[o.name].transpose(*spatial)) for o in self.outputs}
        attrs = dict(data.attrs, recipe=self.name)
        return xr.Dataset(result, attrs=attrs)

    def _s1(self, s1, data, spatial) -> dict:
        """The ``s1_<feature>_<reducer>`` outputs of :meth:`compute` from ``s1`` (vv, vh) on ``data``'s grid."""
        import xarray as xr

        from antares.recipes.sar import reduce_backscatter

        if s1 is None or any(v not in s1 for v in ("vv", "vh")):
            raise InvalidInputError(f"recipe {self.name}: needs S1 backscatter vv and vh (product "
                                    f"'{self.sar.product}'); got: {', '.join(s1.data_vars) if s1 is not None else 'none'}.")
        arrays = [s1[v].transpose("time", *spatial) for v in ("vv", "vh")]
        if any(a.shape[1:] != tuple(data.sizes[d] for d in spatial) for a in arrays):
            raise InvalidInputError(f"recipe {self.name}: the S1 grid {arrays[0].shape[1:]} differs from the data's "
                                    f"{tuple(data.sizes[d] for d in spatial)}; load S1 on the same grid.")
        linear = all(str(a.attrs.get("units", "dB")).lower() == "linear" for a in arrays)
        coords = {d: data[d] for d in spatial if d in data.coords}
        reduced = reduce_backscatter(arrays[0].values, arrays[1].values, self.sar.reducers, self.sar.features,
                                     db=not linear)
        return {name: xr.DataArray(values, dims=spatial, coords=coords, name=name) for name, values in reduced.items()}

    def _check_data(self, data):
        missing = [a for a in self.required if a not in data.data_vars]
        if missing:
            raise InvalidInputError(
                f"recipe {self.name}: the data lacks variable(s) {', '.join(missing)} (variables are named by alias); "
                f"it has: {', '.join(map(str, data.data_vars)) or 'none'}. Rename loaded measurements with "
                f"Recipe.rename_to_aliases(loaded, recipe.resolve_measurements(product))."
            )
        dims = data[self.required[0]].dims if self.required else ("time",) + tuple(d for d in data.dims if d != "time")
        spatial = tuple(d for d in dims if d != "time")
        for alias in self.required:
            if set(data[alias].dims) != set(dims) or "time" not in dims or len(dims) != 3:
                raise InvalidInputError(
                    f"recipe {self.name}: variable '{alias}' must have dims (time, y, x) like the others. "
                    f"Got {data[alias].dims}."
                )
        cloudless = self.mask is not None and self.mask.kind == "s2cloudless"
        for alias in self.required if cloudless else self.measurements:
            if data[alias].dtype.kind != "f":
                raise InvalidInputError(
                    f"recipe {self.name}: variable '{alias}' must be floating reflectance (0..1, NaN = nodata). "
                    f"Got {data[alias].dtype}. Convert digital numbers with antares.cube.reflectance.to_reflectance "
                    "(it applies the scale_factor the product or datasets declare)."
                )
        if "time" in data.indexes and not data.indexes["time"].is_monotonic_increasing:
            data = data.sortby("time")  # doy_max's ties go to the earliest date
        if any(data[a].chunks is not None for a in self.required):
            data = data[list(self.required)].chunk({"time": -1})
        return data, spatial

    def _day_of_year(self, data):
        import numpy as np

        time = data.coords.get("time")
        if time is None or not np.issubdtype(time.dtype, np.datetime64):
            raise InvalidInputError(
                f"recipe {self.name}: the doy_max reducer needs a datetime64 'time' coordinate (UTC). "
                f"Got {'none' if time is None else time.dtype}."
            )
        days = time.values.astype("datetime64[D]")
        return (days - days.astype("datetime64[Y]")).astype(np.int64) + 1

    def _terrain(self, terrain, data, spatial) -> dict:
        import numpy as np
        import xarray as xr

        from antares.recipes.voids import fill_terrain

        layers = self.terrain.dem_layers
        if terrain is None or any(layer not in terrain.data_vars for layer in layers):
            have = "none" if terrain is None else ", ".join(map(str, terrain.data_vars)) or "none"
            raise InvalidInputError(
                f"recipe {self.name}: needs terrain layers {', '.join(layers)} (product '{self.terrain.product}'); "
                f"got: {have}. Pass terrain=dc.load(product='{self.terrain.product}', like=<the data's GeoBox>)."
            )
        out = {}
        for layer in layers:
            values = terrain[layer]
            if "time" in values.dims:
                values = values.isel(time=0, drop=True) if values.sizes["time"] == 1 else None
            if values is None or set(values.dims) != set(spatial) or any(
                    values.sizes[d] != data.sizes[d] for d in spatial):
                raise InvalidInputError(
                    f"recipe {self.name}: terrain layer '{layer}' must be (y, x) on the data's grid "
                    f"{dict((d, data.sizes[d]) for d in spatial)}. Got {dict(terrain[layer].sizes)}."
                )
            for d in spatial:
                if d in values.coords and d in data.coords and not np.allclose(values[d].values, data[d].values):
                    raise InvalidInputError(
                        f"recipe {self.name}: terrain layer '{layer}' is not on the data's grid (its '{d}' "
                        f"coordinates differ). Load it with like=<the data's GeoBox>."
                    )
            out[layer] = np.asarray(values.transpose(*spatial).data, dtype=np.float32)
        out, void = fill_terrain(out)
        out[TERRAIN_FLAG] = void.astype(np.float32)
        coords = {d: data[d] for d in spatial if d in data.coords}
        return {layer: xr.DataArray(out[layer], dims=spatial, name=layer, coords=coords)
                for layer in self.terrain.layers}

    # ------------------------------------------------------------------ product and text
    def product_definition(self, name: str, input_product: str | None = None) -> dict:
        """An eo3 ODC product definition for this recipe's output product ``name``.

        Parameters
        ----------
        name : str
            The output product's name (letters, digits, underscores).
        input_product : str, optional
            The product the features are computed from, for the description; default :attr:`product`.

        Returns
        -------
        dict
            ``name``, ``description`` (naming the recipe), ``metadata_type: eo3``,
            ``metadata: {product: {name}}`` and one measurement per output (``dtype``, ``nodata`` —
            ``"NaN"`` for float32 —, ``units``, and ``scale_factor`` / ``add_offset`` for scaled int16
            outputs, keys ODC 1.9's product schema accepts). Valid for ``datacube.model.Product.validate``.

        Raises
        ------
        InvalidInputError
            ``name`` breaks the name rule of :mod:`antares.names`.
        """
        from antares.names import name_problem

        problem = name_problem(name)
        if problem:
            raise InvalidInputError(f"The 'name' parameter of product_definition {problem}")
        return {
            "name": name,
            "description": f"Features computed by the antares recipe '{self.name}' from {input_product or self.product}: "
                           f"{self.description}".strip(),
            "metadata_type": "eo3",
            "metadata": {"product": {"name": name}},
            "measurements": [o.measurement() for o in self.outputs],
        }

    def describe(self) -> list[str]:
        """Lines describing the recipe, for ``antares recipe show NAME``."""
        lines = [f"recipe {self.name}: {self.description}"]
        if self.source is not None:
            lines.append(f"  file: {self.source}")
        lines.append(f"  input product: {self.product}")
        lines.append(f"  default grid: {'%g m pixels' % self.resolution if self.resolution else 'the input native resolution'}"
                     " in the input's CRS (or --grid / --crs)")
        lines.append("  inputs (alias -> candidate measurements, first found wins):")
        lines += [f"    {alias} -> {', '.join(self.aliases[alias])}" for alias in self.required]
        lines.append(f"  mask: {self.mask.describe() if self.mask else 'none (every observation is used)'}")
        lines.append("  indices:" if self.indices else "  indices: none")
        lines += [f"    {n} = {get_index(n).formula}  [{get_index(n).reference}]" for n in self.indices]
        if self.pca:
            lines.append(f"  pca: {', '.join(self.pca.variables)} per date from stored PCA '{self.pca.name}' (antares pca_fit)")
        if self.steps is not None:
            lines.append(f"  {self.steps.describe()}")
        if self.sar is not None:
            lines.append(f"  {self.sar.describe()}")
        else:
            lines.append("  reducers (over time, NaN-aware):")
            lines += [f"    {var}: {', '.join(reducers)}" for var, reducers in self.reducers.items()]
        if self.clear_count:
            lines.append("  clear_count: dates per pixel passing the mask with every input band valid")
        if self.terrain:
            t = self.terrain
            lines.append(f"  terrain: {', '.join(t.layers)} from product {t.product} ({t.resampling} resampling)")
        if self.texture:
            lines.append(f"  texture (tiles read with a margin of {self.texture_margin} pixels):")
            lines += [f"    {spec.describe()}" for spec in self.texture]
        lines.append(f"  outputs ({len(self.outputs)}):")
        lines += [f"    {o.describe()}" for o in self.outputs]
        return lines
