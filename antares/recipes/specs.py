"""The small value types of a recipe: its mask, terrain layers and output measurements.

They are built once, validated, by :mod:`antares.recipes.parse` from the recipe's YAML
and never change afterwards (frozen dataclasses).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Built-in aliases: alias -> candidate measurement names in order of preference. A candidate
#: matches a measurement of the product by its name or by one of its ODC aliases (see
#: :meth:`antares.recipes.Recipe.resolve_measurements`). B-names are Sentinel-2's band names
#: (config/products/s2_l2a.yaml); the others are the names odc-stac / Earth Search and the ODC
#: product definitions use. A recipe overrides an alias (its whole list) or adds new ones in its
#: ``aliases`` section.
DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "blue": ("B02", "blue"),
    "green": ("B03", "green"),
    "red": ("B04", "red"),
    "re1": ("B05", "rededge1", "red_edge_1"),
    "re2": ("B06", "rededge2", "red_edge_2"),
    "re3": ("B07", "rededge3", "red_edge_3"),
    "nir": ("B08", "nir"),
    "nir08": ("B8A", "nir08", "nir_narrow"),
    "swir1": ("B11", "swir1", "swir16"),
    "swir2": ("B12", "swir2", "swir22"),
    "scl": ("SCL", "scl"),
    "coastal": ("B01", "coastal"),
    "nir09": ("B09", "nir09"),
    "cirrus": ("B10", "cirrus"),
}

#: Sen2Cor Scene Classification (SCL) classes; 0 is nodata. Source: ESA, Sentinel-2 Level-2A
#: Product Format Specification / Sen2Cor Software Release Note, "Scene Classification".
SCL_CLASSES: dict[int, str] = {
    0: "no_data",
    1: "saturated_or_defective",
    2: "dark_area_pixels",
    3: "cloud_shadows",
    4: "vegetation",
    5: "not_vegetated",
    6: "water",
    7: "unclassified",
    8: "cloud_medium_probability",
    9: "cloud_high_probability",
    10: "thin_cirrus",
    11: "snow",
}

#: Terrain layers a recipe can copy through, with their units (config/products/srtm.yaml).
TERRAIN_LAYERS: dict[str, str] = {"elevation": "metre", "slope": "degree", "aspect": "degree"}

#: The optional terrain output that flags interpolated terrain: 1 where the DEM had no height, else 0
#: (the void policy of :mod:`antares.recipes.voids`).
TERRAIN_FLAG = "terrain_filled"

#: Resampling names that rasterio / ODC understand for the terrain layers.
RESAMPLINGS = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode", "min", "max", "med", "q1", "q3")

#: dtypes an output measurement may have.
OUTPUT_DTYPES = ("float32", "int16")

INT16_MIN, INT16_MAX = -32768, 32767
# The largest mask dilation, in pixels: every block is read with this margin on each side, so a
# dilation far beyond a cloud shadow's reach (a few hundred metres) would read whole scenes per block.
MAX_DILATE = 100


@dataclass(frozen=True)
class MaskSpec:
    """Which observations a recipe keeps, per date and pixel.

    Attributes
    ----------
    kind : {"scl", "measurement", "s2cloudless"}
        ``"scl"``: keep the pixels whose Sen2Cor SCL class is in ``keep``; SCL 0 is nodata and
        never kept. ``"measurement"``: keep the pixels whose value of the alias ``alias`` is
        strictly below (``keep == "below"``) or strictly above (``"above"``) ``threshold``
        (for example an s2cloudless cloud probability, kept below 0.4); NaN is nodata.
        ``"s2cloudless"``: the s2cloudless cloud probability computed from ten L1C bands
        (:mod:`antares.recipes.cloudless`), averaged over a disk of radius ``average_over``, cloud
        where above ``threshold``, dilated by a disk of radius ``dilate``; a pixel with a NaN band is nodata.
    alias : str
        The variable (by alias) holding the mask: ``"scl"`` for an SCL mask; ``"s2cloudless"`` (no
        variable: the bands are :attr:`aliases`) for an s2cloudless mask.
    keep : tuple of int, or str
        SCL classes kept (``kind == "scl"``), or ``"below"`` / ``"above"``.
    threshold : float or None
        The threshold of a measurement mask, in the mask measurement's units.
    dilate : int
        Grow the masked-out region (the observations that are valid data but not kept: clouds,
        shadows, ...) by this many pixels, per date, with a 3x3 square (8-connected) structuring
        element applied ``dilate`` times, i.e. a (2N+1) x (2N+1) square. Nodata (SCL 0, NaN) is
        masked but not grown. 0: no dilation; at most ``MAX_DILATE`` (100). For ``"s2cloudless"``
        the radius of the dilation disk (s2cloudless' ``dilation_size``).
    average_over : int
        ``"s2cloudless"`` only: radius in pixels of the disk the probability is averaged over (0: none).
    """

    kind: str
    alias: str
    keep: tuple[int, ...] | str
    threshold: float | None = None
    dilate: int = 0
    average_over: int = 0

    @property
    def aliases(self) -> tuple[str, ...]:
        """The variables (by alias) the mask reads: the ten s2cloudless bands, or ``(alias,)``."""
        if self.kind == "s2cloudless":
            from antares.recipes.cloudless import S2CLOUDLESS_ALIASES

            return S2CLOUDLESS_ALIASES
        return (self.alias,)

    @property
    def margin(self) -> int:
        """Pixels of context the mask needs around a pixel (the dilation, plus the averaging disk)."""
        return self.dilate + self.average_over

    def describe(self) -> str:
        """One line for ``antares recipe show``."""
        grow = f"; masked region dilated by {self.dilate} pixel(s) (3x3 square, per date)" if self.dilate else "; no dilation"
        if self.kind == "scl":
            names = ", ".join(f"{c} {SCL_CLASSES[c]}" for c in self.keep)
            return f"SCL ({self.alias}) keep classes {names}{grow}"
        if self.kind == "s2cloudless":
            return (f"s2cloudless (LightGBM model of s2cloudless 1.7.3 on {', '.join(self.aliases)}): cloud where the "
                    f"probability averaged over a disk of radius {self.average_over} px is > {self.threshold:g}, "
                    f"dilated by a disk of radius {self.dilate} px")
        op = "<" if self.keep == "below" else ">"
        return f"{self.alias} keep where {self.alias} {op} {self.threshold:g}{grow}"


@dataclass(frozen=True)
class TerrainSpec:
    """Terrain layers copied into the output, from a DEM product.

    Attributes
    ----------
    product : str
        The ODC product holding the layers, default ``"srtm"`` (config/products/srtm.yaml).
    layers : tuple of str
        A subset of ``("elevation", "slope", "aspect")``, default all three, in output order, and
        optionally ``"terrain_filled"`` (:data:`TERRAIN_FLAG`): 1 where the DEM had no height and the
        layers are interpolated (:mod:`antares.recipes.voids`), 0 elsewhere.
        Units: elevation metre, slope degree, aspect degree clockwise from north (0 on flat cells).
    resampling : str
        How the pipeline resamples the DEM product onto the tile's grid (``dc.load(resampling=)``),
        default ``"bilinear"``. :meth:`Recipe.compute` itself does not resample.
    """

    product: str = "srtm"
    layers: tuple[str, ...] = ("elevation", "slope", "aspect")
    resampling: str = "bilinear"

    @property
    def dem_layers(self) -> tuple[str, ...]:
        """The layers read from the DEM product: :attr:`layers` without the flag."""
        return tuple(layer for layer in self.layers if layer != TERRAIN_FLAG)


@dataclass(frozen=True)
class PcaSpec:
    """Principal components of the recipe's measurements, per date, from a stored PCA (``antares pca_fit``).

    Attributes
    ----------
    name : str
        The stored PCA (table ``antares.pca``); it must have been fitted on measurements the recipe
        reads (checked when the recipe runs: :meth:`Recipe.bind_pca`).
    components : int
        PC1..PCk become variables ``pc1`` .. ``pck`` (like indices: reducers apply to them).
    """

    name: str
    components: int

    @property
    def variables(self) -> list[str]:
        return [f"pc{i + 1}" for i in range(self.components)]


#: The largest margin (pixels) a tile is read with for texture: a texture window may be at most
#: ``2 * MAX_TEXTURE_MARGIN + 1`` pixels wide (the recipe parser refuses larger windows).
MAX_TEXTURE_MARGIN = 32
TEXTURE_FEATURES = ("contrast", "dissimilarity", "homogeneity", "asm", "energy", "correlation", "entropy")


@dataclass(frozen=True)
class TextureSpec:
    """GLCM texture of one output of the recipe (:mod:`antares.recipes.texture`).

    Attributes
    ----------
    source : str
        A float32 output of the reducers (e.g. ``"ndvi_median"``): the image whose texture is computed.
    window : int
        Odd moving-window size in pixels, 3..``2 * MAX_TEXTURE_MARGIN + 1``.
    distances : tuple of int
        Pair distances in pixels, each 1..window - 1.
    angles : tuple of float
        Pair angles in degrees (0, 45, 90, 135 by default); features are averaged over
        distances x angles.
    levels : int
        Grey levels, 2..256 (default 32).
    value_range : tuple of float
        ``(low, high)``: the values quantised to the first level and just past the last one.
    features : tuple of str
        A subset of :data:`TEXTURE_FEATURES`; outputs ``{source}_glcm_{feature}``.
    symmetric : bool
        Count pairs in both orders (default true).
    """

    source: str
    window: int
    distances: tuple[int, ...]
    angles: tuple[float, ...]
    levels: int
    value_range: tuple[float, float]
    features: tuple[str, ...]
    symmetric: bool = True

    @property
    def margin(self) -> int:
        """Pixels of context the window needs on each side of a pixel."""
        return self.window // 2

    @property
    def outputs(self) -> list[str]:
        """The output names, in feature order."""
        return [f"{self.source}_glcm_{f}" for f in self.features]

    def compute(self, values) -> dict:
        """The features of a 2-D float image (numpy, NaN = nodata): output name -> float32 array (y, x)."""
        from antares.recipes.texture import glcm_features

        got = glcm_features(values, self.window, self.distances, self.angles, self.levels, self.value_range,
                            self.features, self.symmetric)
        return {f"{self.source}_glcm_{f}": v for f, v in got.items()}

    def describe(self) -> str:
        """One line for ``antares recipe show``."""
        return (f"{self.source}: GLCM {', '.join(self.features)} in {self.window}x{self.window} windows, "
                f"{self.levels} levels over {self.value_range[0]:g}..{self.value_range[1]:g}, distances "
                f"{', '.join(map(str, self.distances))}, angles {', '.join('%g' % a for a in self.angles)} (averaged)"
                f"{'' if self.symmetric else ', not symmetric'}")


@dataclass(frozen=True)
class OutputSpec:
    """One output measurement of a recipe.

    Attributes
    ----------
    name : str
        The variable name, ``<variable>_<reducer>`` (``ndvi_mean``), ``clear_count`` or a terrain layer.
    dtype : {"float32", "int16", "uint16"}
    nodata : float or int
        NaN for float32; an explicit integer for int16 and uint16 (uint16: the time-series QA bands, counts and
        flags stored as they are, nodata :data:`STEP_QA_NODATA`).
    units : str
        ODC units string: ``"1"`` for reflectance, indices and counts.
    scale, offset : float
        int16 only: the stored integer is ``round((value - offset) / scale)``, so
        ``value = stored * scale + offset`` (ODC's ``scale_factor`` / ``add_offset``).
    """

    name: str
    dtype: str = "float32"
    nodata: float | int = math.nan
    units: str = "1"
    scale: float = 1.0
    offset: float = 0.0

    @property
    def scaled(self) -> bool:
        """True for an int16 output with a scale or offset other than 1 and 0."""
        return self.dtype == "int16" and (self.scale != 1.0 or self.offset != 0.0)

    def encode(self, values):
        """Cast float values to this output's dtype.

        Parameters
        ----------
        values : xarray.DataArray, (y, x), floating, NaN = nodata

        Returns
        -------
        xarray.DataArray, (y, x)
            float32 (NaN = nodata), or int16: ``round((values - offset) / scale)`` clipped to the int16
            range (less the nodata value when it is -32768 or 32767), nodata where ``values`` is NaN.
            A valid value that encodes to a nodata value inside the range reads back as nodata:
            choose -32768 for scaled outputs.
        """
        import numpy as np
        import xarray as xr

        if self.dtype == "float32":
            out = values.astype(np.float32)
        elif self.dtype == "uint16":
            out = xr.DataArray(self.encode_array(values.values), coords=values.coords, dims=values.dims)
        else:
            low = INT16_MIN + 1 if self.nodata == INT16_MIN else INT16_MIN
            high = INT16_MAX - 1 if self.nodata == INT16_MAX else INT16_MAX
            stored = np.round((values.astype(np.float64) - self.offset) / self.scale).clip(low, high)
            out = xr.where(values.isnull(), self.nodata, stored).astype(np.int16)
        out.attrs = self.attrs()
        return out.rename(self.name)

    def encode_array(self, values):
        """:meth:`encode` on a numpy array (y, x), floating, NaN = nodata: the same values, no attributes."""
        import numpy as np

        if self.dtype == "float32":
            return np.asarray(values, dtype=np.float32)
        if self.dtype == "uint16":  # counts and flags: whole numbers 0 .. nodata - 1
            return stored_uint16(values, int(self.nodata), self.name)
        low = INT16_MIN + 1 if self.nodata == INT16_MIN else INT16_MIN
        high = INT16_MAX - 1 if self.nodata == INT16_MAX else INT16_MAX
        with np.errstate(invalid="ignore"):
            stored = np.round((values.astype(np.float64) - self.offset) / self.scale).clip(low, high)
            return np.where(np.isnan(values), self.nodata, stored).astype(np.int16)

    def decode(self, stored):
        """The float32 values of stored output ``stored`` (inverse of :meth:`encode`), NaN = nodata."""
        import numpy as np

        if self.dtype == "float32":
            return stored.astype(np.float32)
        values = stored.astype(np.float64) * self.scale + self.offset
        return values.where(stored != self.nodata).astype(np.float32)

    def attrs(self) -> dict:
        """The attributes written on the output variable: nodata, units (and scale_factor/add_offset)."""
        attrs = {"nodata": self.nodata, "units": self.units}
        if self.scaled:
            attrs.update(scale_factor=self.scale, add_offset=self.offset)
        return attrs

    def measurement(self) -> dict:
        """This output as a measurement of an eo3 ODC product definition.

        ODC 1.9's product schema (datacube/model/schema/dataset-type-schema.yaml) accepts
        ``scale_factor`` and ``add_offset`` in a measurement (``real = pixel * scale_factor + add_offset``).
        """
        doc = {"name": self.name, "dtype": self.dtype, "nodata": "NaN" if self.dtype == "float32" else int(self.nodata),
               "units": self.units}
        if self.scaled:
            doc.update(scale_factor=self.scale, add_offset=self.offset)
        return doc

    def describe(self) -> str:
        """One line for ``antares recipe show``."""
        text = f"{self.name}: {self.dtype}, nodata {'NaN' if self.dtype == 'float32' else self.nodata}, units {self.units}"
        if self.scaled:
            text += f", value = stored x {self.scale:g} + {self.offset:g}"
        return text


@dataclass(frozen=True)
class SarSpec:
    """A recipe's ``s1:`` section: Sentinel-1 features on the recipe's grid, per step or over the period.

    Attributes
    ----------
    product : str
        The ODC product with VV and VH backscatter (by name or alias ``vv`` / ``vh``), in dB (units ``dB``, e.g.
        ``s1_grd``) or linear power (``s1_grd_linear``).
    features : tuple of str
        A subset of ``vv``, ``vh`` (dB), ``vh_vv`` (10 log10(VH/VV), dB) and ``rvi`` (4 VH / (VV + VH)), in output
        order; outputs ``s1_<feature>`` per step, or ``s1_<feature>_<reducer>`` in a reducer recipe.
    resampling : str
        How the S1 product is read onto the output grid (default ``"average"``: several S1 pixels per output
        pixel are averaged; ``bilinear`` for finer grids).
    reducers : tuple of str
        Reducer recipes only (empty in a ``steps:`` recipe): the statistics of the period, computed in linear
        power (mean, median, min, max, pNN; :func:`antares.recipes.sar.reduce_backscatter`).
    orbit : {"ascending", "descending"} or None
        Only the S1 datasets of this orbit direction (their ``sat:orbit_state``).
    relative_orbits : tuple of int
        Only the S1 datasets of these relative orbits (their ``sat:relative_orbit``); empty: all.

    In a ``steps:`` recipe each step's value is the mean of the step's S1 observations in linear power
    (:mod:`antares.recipes.sar`), shown in dB; a step without an S1 observation is NaN (S1 is not gap filled or
    smoothed).
    """

    product: str = "s1_grd"
    features: tuple[str, ...] = ("vv", "vh", "vh_vv", "rvi")
    resampling: str = "average"
    reducers: tuple[str, ...] = ()
    orbit: str | None = None
    relative_orbits: tuple[int, ...] = ()

    @property
    def outputs(self) -> list[str]:
        if self.reducers:
            return [f"s1_{f}_{r}" for f in self.features for r in self.reducers]
        return [f"s1_{f}" for f in self.features]

    @property
    def units(self) -> dict:
        from antares.recipes.sar import SAR_FEATURES

        if self.reducers:
            return {f"s1_{f}_{r}": SAR_FEATURES[f] for f in self.features for r in self.reducers}
        return {f"s1_{f}": SAR_FEATURES[f] for f in self.features}

    @property
    def filtered(self) -> bool:
        """Whether the section filters datasets by orbit."""
        return self.orbit is not None or bool(self.relative_orbits)

    def filter_text(self) -> str:
        """The orbit filter as the recipe spells it (for messages)."""
        parts = [f"orbit: {self.orbit}"] if self.orbit else []
        if self.relative_orbits:
            parts.append(f"relative_orbit: {list(self.relative_orbits)}")
        return ", ".join(parts) or "no filter"

    def describe(self) -> str:
        how = (f"{', '.join(self.reducers)} over the period in linear power" if self.reducers else
               "mean of the step's observations in linear power")
        where = f"; datasets with {self.filter_text()}" if self.filtered else ""
        when = "" if self.reducers else " per step"
        return (f"s1: {', '.join(self.outputs)}{when} from {self.product} (read with {self.resampling} resampling; "
                f"{how}, shown in dB; RVI = 4 VH / (VV + VH){where})")


#: The QA outputs of a time-series recipe (:class:`StepsSpec`), per step.
STEP_QA = ("clear_count", "filled")
#: Their dtype and nodata: whole numbers (counts, flags 0/1/2), written together in one integer COG per step.
STEP_QA_DTYPE, STEP_QA_NODATA = "uint16", 65535


def stored_uint16(values, nodata: int, name: str):
    """Whole-number float values (NaN = nodata) as uint16, NaN -> ``nodata``.

    Raises
    ------
    ValueError
        A value is negative, not whole, or not below ``nodata`` (it would read back as another value or as nodata).
    """
    import numpy as np

    values = np.asarray(values)
    valid = ~np.isnan(values)
    got = values[valid]
    if got.size and (got.min() < 0 or got.max() >= nodata or not np.array_equal(got, np.round(got))):
        raise ValueError(f"output {name} holds values {got.min():g} .. {got.max():g}, not whole numbers in 0 .. "
                         f"{nodata - 1}: they cannot be stored as uint16 with nodata {nodata}")
    return np.where(valid, values, nodata).astype(np.uint16)


@dataclass(frozen=True)
class StepsSpec:
    """A recipe's ``steps:`` section: a regular time series of composites (:mod:`antares.timeseries`).

    Attributes
    ----------
    every : str or None
        Step length, ``<N>D`` or ``<N>M`` (``10D``, ``16D``, ``1M``); None when ``periods`` is given.
    periods : tuple of (str, str) or None
        Explicit steps as inclusive dates (YYYY-MM-DD).
    variables : tuple of str
        The variables composited (aliases of the spectral inputs, lower-case index names); one
        output measurement each, in this order, then ``clear_count`` and ``filled``.
    composite : {"median", "mean", "max_ndvi"}
    gapfill : {"linear", "none"}
    smooth : float, "vcurve" or None
        The Whittaker λ (> 0), ``"vcurve"`` (λ per pixel; the default of a ``smooth`` section without
        ``lambda``), or None (no smoothing).
    order : int
        The Whittaker difference order d (default 2).
    weights : {"clear", "count"}
        Whittaker weights per step: 1 where the step has a composite, or its clear-observation count.
    """

    every: str | None
    periods: tuple | None
    variables: tuple[str, ...]
    composite: str = "median"
    gapfill: str = "linear"
    smooth: float | str | None = None
    order: int = 2
    weights: str = "clear"

    def describe(self) -> str:
        """One line for ``antares recipe show``."""
        when = f"every {self.every}" if self.every else f"{len(self.periods)} explicit period(s)"
        smooth = "no smoothing" if self.smooth is None else (
            f"Whittaker d={self.order}, lambda {'per pixel by V-curve' if self.smooth == 'vcurve' else f'{self.smooth:g}'}"
            f", weights {self.weights}")
        return (f"steps {when}: {self.composite} composite of {', '.join(self.variables)}; gap filling {self.gapfill}; "
                f"{smooth}; QA per step: clear_count, filled (0 observed, 1 interpolated, 2 edge = nearest)")
