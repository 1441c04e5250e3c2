"""Recipe YAML -> :class:`~antares.recipes.recipe.Recipe`, validated once.

Every error is an :class:`~antares.errors.InvalidInputError` of one line that names the recipe,
the YAML key, the value received and the valid values, e.g.
``recipe s2_bad: unknown index 'NDXI' in indices; valid indices: BI, BI2, EVI, ...``.

The YAML keys (all optional but at least one reducer or a terrain section)::

    description: text
    inputs: {product: s2_l2a, measurements: [blue, red, nir], resolution: 20}   # aliases, see DEFAULT_ALIASES;
                                                                                # resolution: default grid pixel size
    aliases: {nir: [B8A]}                                           # override / add aliases
    mask: {scl: {keep: [4, 5, 6, 7], dilate: 1}}                    # or {measurement: {name: clp,
                                                                    #   threshold: 0.4, keep: below}}
    indices: [NDVI, NDMI, GNDVI]                                    # see INDICES; others: spyndex's catalogue
    reducers: {blue: [mean], ndvi: [mean, p90, doy_max]}            # see REDUCERS
    clear_count: true
    terrain: {product: srtm, layers: [elevation, slope, aspect], resampling: bilinear}   # + terrain_filled
    s1: {product: s1_grd, features: [vv, vh, vh_vv, rvi], reducers: [mean, p10, p90], orbit: ascending,
         relative_orbit: [88]}                                      # -> s1_vv_mean, ... (linear power, in dB)
    pca: {name: pca_bands, components: 3}                          # stored PCA (antares pca_fit) -> pc1..pc3
    texture: [{source: ndvi_median, window: 7, range: [-1, 1], levels: 32, distances: [1],
               angles: [0, 45, 90, 135], features: [contrast, entropy]}]     # -> ndvi_median_glcm_contrast, ...
    outputs: [{name: ndvi_mean, dtype: int16, nodata: -32768, scale: 0.0001}, blue_mean, ...]
    steps: {every: 1M, variables: [ndvi], composite: median, gapfill: linear,   # a time-series product instead
            smooth: {lambda: vcurve, order: 2}}                                 # of reducers (antares.timeseries)
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

from antares.errors import InvalidInputError
from antares.recipes.indices import INDICES, catalogue_index, get_index
from antares.recipes.recipe import Recipe
from antares.recipes.reducers import is_reducer, valid_reducers_text
from antares.recipes.specs import (
    DEFAULT_ALIASES, INT16_MAX, INT16_MIN, MAX_DILATE, MAX_TEXTURE_MARGIN, OUTPUT_DTYPES, RESAMPLINGS, SCL_CLASSES,
    STEP_QA, STEP_QA_DTYPE, STEP_QA_NODATA, TERRAIN_FLAG, TERRAIN_LAYERS, TEXTURE_FEATURES, MaskSpec, OutputSpec,
    PcaSpec, SarSpec, StepsSpec, TerrainSpec, TextureSpec,
)

log = logging.getLogger(__name__)

KEYS = ("description", "inputs", "aliases", "mask", "indices", "pca", "reducers", "clear_count", "terrain", "s1",
        "texture", "outputs", "steps")
_TEXTURE_KEYS = ("source", "window", "distances", "angles", "levels", "range", "features", "symmetric")
_ALIAS = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME = re.compile(r"^\w+$")


class _Checker:
    """Raises the recipe's one-line errors."""

    def __init__(self, name: str):
        self.name = name

    def fail(self, message: str):
        raise InvalidInputError(f"recipe {self.name}: {message}")

    def keys(self, mapping, allowed, where: str) -> dict:
        if mapping is None:
            return {}
        if not isinstance(mapping, dict):
            self.fail(f"'{where}' must be a mapping. Got {mapping!r}.")
        for key in mapping:
            if key not in allowed:
                self.fail(f"unknown key '{key}' in {where}; valid keys: {', '.join(allowed)}.")
        return mapping

    def str_list(self, value, where: str) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"'{where}' must be a list of names. Got {value!r}.")
        duplicates = sorted({v for v in value if value.count(v) > 1})
        if duplicates:
            self.fail(f"'{where}' lists {', '.join(duplicates)} more than once.")
        return value

    def integer(self, value, where: str, low: int, high: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            self.fail(f"'{where}' must be an int {bound}. Got {value!r}.")
        return value

    def number(self, value, where: str, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                positive and value <= 0):
            self.fail(f"'{where}' must be a {'float > 0' if positive else 'finite float'}. Got {value!r}.")
        return float(value)


def _aliases(c: _Checker, section) -> dict[str, tuple[str, ...]]:
    aliases = dict(DEFAULT_ALIASES)
    for alias, candidates in c.keys(section, _AnyKey(), "aliases").items():
        if not isinstance(alias, str) or not _ALIAS.match(alias):
            c.fail(f"alias {alias!r} in aliases must be lower case letters, digits and underscores.")
        aliases[alias] = tuple(c.str_list(candidates, f"aliases.{alias}"))
        if not aliases[alias]:
            c.fail(f"'aliases.{alias}' must list at least one measurement name. Got [].")
    return aliases


class _AnyKey:
    """An ``allowed`` for :meth:`_Checker.keys` that allows every key."""

    def __contains__(self, key) -> bool:
        return True


def _mask(c: _Checker, section, aliases) -> MaskSpec | None:
    if section is None or section == "none":
        return None
    section = c.keys(section, ("scl", "measurement", "s2cloudless"), "mask")
    if len(section) != 1:
        c.fail("'mask' must have exactly one of scl, measurement, s2cloudless (or be none). "
               f"Got {', '.join(section) or 'nothing'}.")
    if "s2cloudless" in section:
        spec = c.keys(section["s2cloudless"] or {}, ("threshold", "average_over", "dilate"), "mask.s2cloudless")
        threshold = c.number(spec.get("threshold", 0.4), "mask.s2cloudless.threshold")
        if not 0 < threshold < 1:
            c.fail(f"'mask.s2cloudless.threshold' must be a probability strictly between 0 and 1. Got {threshold!r}.")
        average = c.integer(spec.get("average_over", 4), "mask.s2cloudless.average_over", 0, MAX_DILATE)
        dilate = c.integer(spec.get("dilate", 2), "mask.s2cloudless.dilate", 0, MAX_DILATE - average)
        return MaskSpec("s2cloudless", "s2cloudless", "below", threshold, dilate, average)
    if "scl" in section:
        scl = c.keys(section["scl"], ("keep", "dilate"), "mask.scl")
        keep = scl.get("keep")
        if not isinstance(keep, list) or not keep:
            c.fail(f"'mask.scl.keep' must be a list of SCL classes 1..11. Got {keep!r}.")
        for value in keep:
            c.integer(value, "mask.scl.keep", 1, max(SCL_CLASSES))
        if len(set(keep)) != len(keep):
            c.fail(f"'mask.scl.keep' lists a class more than once. Got {keep!r}.")
        dilate = c.integer(scl.get("dilate", 0), "mask.scl.dilate", 0, MAX_DILATE)
        return MaskSpec("scl", "scl", tuple(sorted(keep)), None, dilate)
    spec = c.keys(section["measurement"], ("name", "threshold", "keep", "dilate"), "mask.measurement")
    alias = spec.get("name")
    if alias not in aliases:
        c.fail(f"'mask.measurement.name' {alias!r} is not an alias; valid aliases: {', '.join(aliases)} "
               "(add one in the 'aliases' section).")
    if "threshold" not in spec:
        c.fail("'mask.measurement.threshold' is required (e.g. 0.4 for a cloud probability 0..1).")
    threshold = c.number(spec["threshold"], "mask.measurement.threshold")
    keep = spec.get("keep", "below")
    if keep not in ("below", "above"):
        c.fail(f"'mask.measurement.keep' must be below or above. Got {keep!r}.")
    dilate = c.integer(spec.get("dilate", 0), "mask.measurement.dilate", 0, MAX_DILATE)
    return MaskSpec("measurement", alias, keep, threshold, dilate)


def _terrain(c: _Checker, section) -> TerrainSpec | None:
    if section is None:
        return None
    section = c.keys(section, ("product", "layers", "resampling"), "terrain")
    product = section.get("product", "srtm")
    if not isinstance(product, str) or not _NAME.match(product):
        c.fail(f"'terrain.product' must be a product name. Got {product!r}.")
    layers = c.str_list(section.get("layers", list(TERRAIN_LAYERS)), "terrain.layers")
    for layer in layers:
        if layer not in TERRAIN_LAYERS and layer != TERRAIN_FLAG:
            c.fail(f"unknown layer '{layer}' in terrain.layers; valid layers: {', '.join(TERRAIN_LAYERS)}, "
                   f"{TERRAIN_FLAG}.")
    if not [layer for layer in layers if layer != TERRAIN_FLAG]:
        c.fail("'terrain.layers' must list at least one DEM layer (or drop the terrain section).")
    resampling = section.get("resampling", "bilinear")
    if resampling not in RESAMPLINGS:
        c.fail(f"unknown resampling {resampling!r} in terrain.resampling; valid: {', '.join(RESAMPLINGS)}.")
    return TerrainSpec(product, tuple(layers), resampling)


def _texture(c: _Checker, section, sources) -> tuple[TextureSpec, ...]:
    if section is None:
        return ()
    if not isinstance(section, list):
        c.fail(f"'texture' must be a list of mappings (source, window, range, ...). Got {section!r}.")
    specs = []
    for n, entry in enumerate(section):
        entry = c.keys(entry, _TEXTURE_KEYS, f"texture[{n}]")
        source = entry.get("source")
        where = f"texture[{source}]"
        if source not in sources:
            c.fail(f"unknown source {source!r} in texture[{n}]; a texture source is an output of the reducers: "
                   f"{', '.join(sources) or 'none'}.")
        window = entry.get("window", 7)
        limit = 2 * MAX_TEXTURE_MARGIN + 1
        if isinstance(window, int) and not isinstance(window, bool) and window > limit:
            c.fail(f"'{where}.window' {window} is larger than the tile margin of {MAX_TEXTURE_MARGIN} pixels allows "
                   f"(at most {limit}); use a window <= {limit} or a coarser resolution.")
        window = c.integer(window, f"{where}.window", 3, limit)
        if window % 2 == 0:
            c.fail(f"'{where}.window' must be odd (a window centred on its pixel). Got {window}.")
        distances = entry.get("distances", [1])
        if not isinstance(distances, list) or not distances:
            c.fail(f"'{where}.distances' must be a list of ints in 1..{window - 1}. Got {distances!r}.")
        distances = tuple(c.integer(d, f"{where}.distances", 1, window - 1) for d in distances)
        angles = entry.get("angles", [0, 45, 90, 135])
        if not isinstance(angles, list) or not angles:
            c.fail(f"'{where}.angles' must be a list of angles in degrees, 0 <= a < 180. Got {angles!r}.")
        angles = tuple(c.number(a, f"{where}.angles") for a in angles)
        if any(not 0 <= a < 180 for a in angles) or len(set(angles)) != len(angles):
            c.fail(f"'{where}.angles' must be distinct angles in degrees, 0 <= a < 180. Got {list(angles)!r}.")
        levels = c.integer(entry.get("levels", 32), f"{where}.levels", 2, 256)
        value_range = entry.get("range")
        if not isinstance(value_range, list) or len(value_range) != 2:
            c.fail(f"'{where}.range' is required: [low, high], the values quantised to the first and past the last "
                   f"grey level (e.g. [-1, 1] for NDVI, [0, 0.5] for reflectance). Got {value_range!r}.")
        low, high = (c.number(v, f"{where}.range") for v in value_range)
        if not low < high:
            c.fail(f"'{where}.range' must be [low, high] with low < high. Got {value_range!r}.")
        features = c.str_list(entry.get("features", list(TEXTURE_FEATURES)), f"{where}.features")
        for f in features:
            if f not in TEXTURE_FEATURES:
                c.fail(f"unknown texture feature '{f}' in {where}.features; valid: {', '.join(TEXTURE_FEATURES)}.")
        if not features:
            c.fail(f"'{where}.features' must list at least one feature.")
        symmetric = entry.get("symmetric", True)
        if not isinstance(symmetric, bool):
            c.fail(f"'{where}.symmetric' must be true or false. Got {symmetric!r}.")
        specs.append(TextureSpec(source, window, distances, angles, levels, (low, high), tuple(features), symmetric))
    return tuple(specs)
def _sar(c: _Checker, section, steps: bool) -> SarSpec | None:
    from antares.recipes.sar import SAR_FEATURES, SAR_REDUCERS_TEXT, is_sar_reducer

    if section is None:
        return None
    section = c.keys(section, ("product", "features", "resampling", "reducers", "orbit", "relative_orbit"), "s1")
    product = section.get("product", "s1_grd")
    if not isinstance(product, str) or not product:
        c.fail(f"'s1.product' must be a product name. Got {product!r}.")
    features = c.str_list(section.get("features", list(SAR_FEATURES)), "s1.features")
    unknown = [f for f in features if f not in SAR_FEATURES]
    if unknown or not features:
        c.fail(f"unknown S1 feature(s) {', '.join(unknown) or 'none'} in s1.features; valid: {', '.join(SAR_FEATURES)}.")
    resampling = section.get("resampling", "average")
    if resampling not in RESAMPLINGS:
        c.fail(f"unknown resampling {resampling!r} in s1.resampling; valid: {', '.join(RESAMPLINGS)}.")
    if steps and "reducers" in section:
        c.fail("'s1.reducers' is for reducer recipes; a steps recipe averages each step's S1 observations in linear "
               "power. Drop s1.reducers.")
    reducers = () if steps else tuple(c.str_list(section.get("reducers", ["mean"]), "s1.reducers"))
    for reducer in reducers:
        if not is_sar_reducer(reducer):
            c.fail(f"unknown S1 reducer '{reducer}' in s1.reducers; valid: {SAR_REDUCERS_TEXT} (statistics of "
                   "linear power, shown in dB).")
    if not steps and not reducers:
        c.fail(f"'s1.reducers' must list at least one reducer ({SAR_REDUCERS_TEXT}).")
    orbit = section.get("orbit")
    if orbit is not None and orbit not in ("ascending", "descending"):
        c.fail(f"'s1.orbit' must be ascending or descending. Got {orbit!r}.")
    relative = section.get("relative_orbit", [])
    if isinstance(relative, int) and not isinstance(relative, bool):
        relative = [relative]
    if not isinstance(relative, list):
        c.fail(f"'s1.relative_orbit' must be a list of relative orbit numbers 1..175. Got {relative!r}.")
    relative = tuple(c.integer(r, "s1.relative_orbit", 1, 175) for r in relative)
    if len(set(relative)) != len(relative):
        c.fail(f"'s1.relative_orbit' lists an orbit more than once. Got {list(relative)!r}.")
    return SarSpec(product, tuple(features), resampling, reducers, orbit, relative)


def _steps(c: _Checker, section, variables: dict) -> StepsSpec | None:
    from antares.timeseries import COMPOSITES, check_every, step_calendar

    if section is None:
        return None
    section = c.keys(section, ("every", "periods", "variables", "composite", "gapfill", "smooth"), "steps")
    every, periods = section.get("every"), section.get("periods")
    if (every is None) == (periods is None):
        c.fail("'steps' needs exactly one of every (10D, 16D, 1M, ...) or periods ([[start, end], ...]).")
    try:
        if every is not None:
            check_every(every)
            every = str(every).strip().upper()
        else:
            if not isinstance(periods, list) or not periods:
                c.fail(f"'steps.periods' must be a list of [start, end] dates. Got {periods!r}.")
            periods = tuple((str(p[0]), str(p[1])) if isinstance(p, (list, tuple)) and len(p) == 2 else p
                            for p in periods)
            step_calendar("0001-01-01", "9999-12-30", periods=list(periods))  # order, overlap, dates
    except InvalidInputError as exc:
        c.fail(f"steps: {exc}")
    names = c.str_list(section.get("variables", []), "steps.variables")
    if not names:
        c.fail(f"'steps.variables' must list the variables to composite; valid: {', '.join(variables) or 'none'}.")
    for var in names:
        if var not in variables:
            c.fail(f"unknown variable {var!r} in steps.variables; valid variables: {', '.join(variables) or 'none'} "
                   "(the aliases of inputs.measurements and the indices, lower case).")
    method = section.get("composite", "median")
    if method not in COMPOSITES:
        c.fail(f"unknown composite {method!r} in steps.composite; valid: {', '.join(COMPOSITES)}.")
    if method == "max_ndvi" and "ndvi" not in variables:
        c.fail("the max_ndvi composite needs the NDVI index: add NDVI to indices.")
    gapfill = section.get("gapfill", "linear")
    if gapfill not in ("linear", "none"):
        c.fail(f"unknown gap filling {gapfill!r} in steps.gapfill; valid: linear, none.")
    smooth, order, weights = None, 2, "clear"
    spec = section.get("smooth")
    if spec is not None and spec != "none":
        spec = c.keys(spec, ("lambda", "order", "weights"), "steps.smooth")
        lam = spec.get("lambda", "vcurve")  # docs/timeseries.md: within 2 % of the best fixed λ at 1M and 10D steps
        if lam == "vcurve":
            smooth = "vcurve"
        elif isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam <= 0:
            c.fail(f"'steps.smooth.lambda' must be a number > 0 (e.g. 10; larger is smoother) or vcurve. Got {lam!r}.")
        else:
            smooth = float(lam)
        order = c.integer(spec.get("order", 2), "steps.smooth.order", 1, 3)
        weights = spec.get("weights", "clear")
        if weights not in ("clear", "count"):
            c.fail(f"'steps.smooth.weights' must be clear or count. Got {weights!r}.")
    for qa in STEP_QA:
        if qa in names:
            c.fail(f"variable '{qa}' clashes with the QA output {qa}; rename the alias.")
    return StepsSpec(every, periods, tuple(names), method, gapfill, smooth, order, weights)


def _output(c: _Checker, entry, default_units: dict) -> OutputSpec:
    if isinstance(entry, str):
        entry = {"name": entry}
    entry = c.keys(entry, ("name", "dtype", "nodata", "units", "scale", "offset"), "outputs[]")
    name = entry.get("name")
    if name not in default_units:
        c.fail(f"unknown output {name!r} in outputs; the recipe produces: {', '.join(default_units)}.")
    where = f"outputs[{name}]"
    dtype = entry.get("dtype", "float32")
    if dtype not in OUTPUT_DTYPES:
        c.fail(f"'{where}.dtype' must be one of {', '.join(OUTPUT_DTYPES)}. Got {dtype!r}.")
    units = entry.get("units", default_units[name])
    if not isinstance(units, str) or not units:
        c.fail(f"'{where}.units' must be a string. Got {units!r}.")
    nodata = entry.get("nodata", math.nan if dtype == "float32" else None)
    if dtype == "float32":
        if not (isinstance(nodata, float) and math.isnan(nodata)) and str(nodata).lower() != "nan":
            c.fail(f"'{where}.nodata' must be NaN for a float32 output. Got {nodata!r}.")
        for key in ("scale", "offset"):
            if key in entry:
                c.fail(f"'{where}.{key}' applies to int16 outputs only; float32 outputs hold the values themselves.")
        return OutputSpec(name, "float32", math.nan, units)
    if nodata is None:
        c.fail(f"'{where}.nodata' is required for an int16 output (e.g. -32768).")
    nodata = c.integer(nodata, f"{where}.nodata", INT16_MIN, INT16_MAX)
    scale = c.number(entry.get("scale", 1.0), f"{where}.scale", positive=True)
    offset = c.number(entry.get("offset", 0.0), f"{where}.offset")
    return OutputSpec(name, "int16", nodata, units, scale, offset)


def parse_recipe(doc, name: str, source: Path | None = None, digest: str = "") -> Recipe:
    """Validate a recipe's YAML mapping and build the :class:`Recipe`.

    Parameters
    ----------
    doc : dict
        The YAML document (keys in the module docstring).
    name : str
        The recipe's name (its file name without ``.yaml``), used in messages.
    source : pathlib.Path, optional
    digest : str, optional
        sha256 of the file's bytes.

    Returns
    -------
    Recipe

    Raises
    ------
    InvalidInputError
        A key, value or combination is invalid; the message names the key, the value and what is valid.
    """
    c = _Checker(name)
    if not isinstance(doc, dict):
        c.fail(f"the file must hold a YAML mapping with keys {', '.join(KEYS)}. Got {type(doc).__name__}.")
    c.keys(doc, KEYS, "the recipe")
    description = doc.get("description", "")
    if not isinstance(description, str):
        c.fail(f"'description' must be text. Got {description!r}.")
    aliases = _aliases(c, doc.get("aliases"))
    inputs = c.keys(doc.get("inputs"), ("product", "measurements", "resolution"), "inputs")
    resolution = inputs.get("resolution")
    if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, (int, float)) or resolution <= 0):
        c.fail(f"'inputs.resolution' must be a number > 0 (metres). Got {resolution!r}.")
    product = inputs.get("product", "s2_l2a")
    if not isinstance(product, str) or not _NAME.match(product):
        c.fail(f"'inputs.product' must be a product name. Got {product!r}.")
    measurements = c.str_list(inputs.get("measurements", []), "inputs.measurements")
    for band in measurements:
        if band not in aliases:
            c.fail(f"band '{band}' in inputs.measurements is not an alias; valid aliases: {', '.join(aliases)} "
                   "(add one in the 'aliases' section).")
    mask = _mask(c, doc.get("mask"), aliases)

    indices = []
    for index in c.str_list(doc.get("indices", []), "indices"):
        if index.upper() in INDICES:
            indices.append(index.upper())
            continue
        try:
            catalogue_index(index)
        except KeyError as exc:
            c.fail(f"unknown index '{index}' in indices; valid indices: {', '.join(sorted(INDICES))}. Other names "
                   f"come from the Awesome Spectral Indices catalogue, and {exc.args[0]}")
        indices.append(index)
    for index in indices:
        measurements += [a for a in get_index(index).requires if a not in measurements]
    spectral = [a for a in measurements if mask is None or a != mask.alias]
    for index in indices:
        if mask is not None and mask.alias in get_index(index).requires:
            c.fail(f"the mask's alias '{mask.alias}' is an input of index {index}; mask with another measurement.")

    variables = {a: "band" for a in spectral}
    for index in indices:
        if index.lower() in variables:
            c.fail(f"alias '{index.lower()}' clashes with the index {index}; rename the alias.")
        variables[index.lower()] = "index"
    pca = None
    if doc.get("pca") is not None:
        section = c.keys(doc["pca"], ("name", "components"), "pca")
        pca_name = section.get("name")
        if not isinstance(pca_name, str) or not _NAME.match(pca_name):
            c.fail(f"'pca.name' must name a stored PCA (antares pca_fit). Got {pca_name!r}.")
        if "components" not in section:
            c.fail("'pca.components' is required: how many components become variables pc1..pcK.")
        pca = PcaSpec(pca_name, c.integer(section["components"], "pca.components", 1, max(len(spectral), 1)))
        for var in pca.variables:
            if var in variables:
                c.fail(f"alias or index '{var}' clashes with the PCA's variable {var}; rename it.")
            variables[var] = "pca"
    reducers = {}
    for var, names in c.keys(doc.get("reducers"), _AnyKey(), "reducers").items():
        if var not in variables:
            c.fail(f"unknown variable {var!r} in reducers; valid variables: {', '.join(variables) or 'none'} "
                   "(the aliases of inputs.measurements, the indices in lower case and pc1..pcK of pca).")
        names = c.str_list(names, f"reducers.{var}")
        for reducer in names:
            if not is_reducer(reducer):
                c.fail(f"unknown reducer '{reducer}' for '{var}'; valid reducers: {valid_reducers_text()}.")
        if names:
            reducers[var] = tuple(names)

    clear_count = doc.get("clear_count", False)
    if not isinstance(clear_count, bool):
        c.fail(f"'clear_count' must be true or false. Got {clear_count!r}.")
    if clear_count and not spectral and mask is None:
        c.fail("'clear_count' needs inputs.measurements or a mask to count clear observations of.")
    terrain = _terrain(c, doc.get("terrain"))
    steps = _steps(c, doc.get("steps"), variables)
    sar = _sar(c, doc.get("s1"), steps is not None)
    if steps is not None:
        for key in ("reducers", "clear_count", "outputs"):
            if doc.get(key):
                c.fail(f"'{key}' cannot go with 'steps' (a time-series product has one output per variable, the S1 "
                       "features, the terrain layers (the same in every step) and the QA bands clear_count and filled); "
                       "put it in another recipe.")
        outputs = [OutputSpec(v) for v in steps.variables]
        if sar is not None:
            for out, units in sar.units.items():
                if out in steps.variables:
                    c.fail(f"variable '{out}' clashes with the S1 output {out}; rename the alias.")
                outputs.append(OutputSpec(out, units=units))
        for layer in terrain.layers if terrain else ():
            if layer in [o.name for o in outputs]:
                c.fail(f"output '{layer}' is produced twice (by steps and by terrain); rename the alias.")
            outputs.append(OutputSpec(layer, units=TERRAIN_LAYERS.get(layer, "1")))
        outputs += [OutputSpec(qa, dtype=STEP_QA_DTYPE, nodata=STEP_QA_NODATA) for qa in STEP_QA]
        return Recipe(
            name=name, description=description.strip(), product=product,
            aliases={a: list(v) for a, v in aliases.items()}, measurements=tuple(spectral), mask=mask,
            indices=tuple(indices), reducers={}, clear_count=False, terrain=terrain, outputs=outputs,
            source=source, digest=digest, definition=doc, resolution=float(resolution) if resolution else None,
            steps=steps, sar=sar,
        )

    default_units = {f"{var}_{r}": ("day" if r == "doy_max" else "1") for var, rs in reducers.items() for r in rs}
    if clear_count:
        default_units["clear_count"] = "1"
    for layer in terrain.layers if terrain else ():
        if layer in default_units:
            c.fail(f"output '{layer}' is produced twice (by a reducer and by terrain); rename the alias.")
        default_units[layer] = TERRAIN_LAYERS.get(layer, "1")
    for out, units in sar.units.items() if sar else ():
        if out in default_units:
            c.fail(f"output '{out}' is produced twice (by a reducer and by s1); rename the alias.")
        default_units[out] = units
    texture = _texture(c, doc.get("texture"), [f"{var}_{r}" for var, rs in reducers.items() for r in rs
                                              if r not in ("doy_max", "count")])
    for spec in texture:
        for out in spec.outputs:
            if out in default_units:
                c.fail(f"output '{out}' is produced twice (check the texture sources and features).")
            default_units[out] = "1"
    if not default_units:
        c.fail("the recipe produces no output; add reducers (e.g. reducers: {ndvi: [mean]}), a terrain or an s1 "
               "section.")
    if doc.get("outputs") is None:
        outputs = [OutputSpec(n, units=u) for n, u in default_units.items()]
    else:
        if not isinstance(doc["outputs"], list):
            c.fail(f"'outputs' must be a list of output names or mappings. Got {doc['outputs']!r}.")
        outputs = [_output(c, entry, default_units) for entry in doc["outputs"]]
        listed = [o.name for o in outputs]
        twice = sorted({n for n in listed if listed.count(n) > 1})
        if twice:
            c.fail(f"'outputs' lists {', '.join(twice)} more than once.")
        unlisted = [n for n in default_units if n not in listed]
        if unlisted:
            c.fail(f"'outputs' does not list {', '.join(unlisted)}, which the recipe produces; list every output "
                   "(or drop the reducer).")
    dtypes = {o.name: o.dtype for o in outputs}
    for spec in texture:
        if dtypes[spec.source] != "float32":
            c.fail(f"texture source '{spec.source}' must be a float32 output (texture is computed from the values "
                   f"it stores); it is {dtypes[spec.source]}.")
    return Recipe(
        name=name, description=description.strip(), product=product,
        aliases={a: list(v) for a, v in aliases.items()}, measurements=tuple(spectral), mask=mask,
        indices=tuple(indices), reducers=reducers, clear_count=clear_count, terrain=terrain, texture=texture, pca=pca,
        outputs=outputs, sar=sar,
        source=source, digest=digest, definition=doc, resolution=float(resolution) if resolution else None,
    )
