"""The built-in index kernels equal the Awesome Spectral Indices formulas (spyndex); catalogue indices in recipes."""

import numpy as np
import pandas as pd
import pytest
import spyndex
import xarray as xr

from antares.errors import InvalidInputError
from antares.recipes.blockwise import BlockRecipe, Conversion
from antares.recipes.indices import INDICES, catalogue_index
from helpers import write_recipe

# built-in -> (catalogue name, catalogue symbol of each alias the built-in reads). NDMI and NDRE read the
# narrow NIR (B8A, alias nir08) where the catalogue writes N: the formula is the same, the band is the recipe's.
SAME_AS = {
    "NDVI": ("NDVI", {"nir": "N", "red": "R"}),
    "NDMI": ("NDMI", {"nir08": "N", "swir1": "S1"}),
    "NDWI": ("NDWI", {"green": "G", "nir": "N"}),
    "MNDWI": ("MNDWI", {"green": "G", "swir1": "S1"}),
    "NDRE": ("NDREI", {"nir08": "N", "re1": "RE1"}),
    "NDBI": ("NDBI", {"swir1": "S1", "nir": "N"}),
    "EVI": ("EVI", {"nir": "N", "red": "R", "blue": "B"}),
    "EVI2": ("EVI2", {"nir": "N", "red": "R"}),
    "SAVI": ("SAVI", {"nir": "N", "red": "R"}),
    "MSAVI2": ("MSAVI", {"nir": "N", "red": "R"}),
    "BI": ("BI", {"swir1": "S1", "red": "R", "nir": "N", "blue": "B"}),
}


def test_every_built_in_but_bi2_is_compared():
    # BI2 (Escadafal's second brightness index) is not in the catalogue; test_recipes.py checks it by hand
    assert set(INDICES) - set(SAME_AS) == {"BI2"}
    assert "BI2" not in spyndex.indices


@pytest.mark.parametrize("name", sorted(SAME_AS))
def test_built_in_kernel_equals_the_catalogue_formula(name):
    catalogue, symbols = SAME_AS[name]
    rng = np.random.default_rng(len(name))
    bands = {alias: rng.uniform(0.0, 0.6, 20000) for alias in INDICES[name].requires}
    params = {symbols[a]: v for a, v in bands.items()}
    params.update({k: spyndex.constants[k].default for k in spyndex.indices[catalogue].bands if k in spyndex.constants})
    if name == "SAVI":
        params["L"] = 0.5  # Huete 1988's L, antares' SAVI; the catalogue's default L (1.0) is EVI's
    expected = spyndex.computeIndex(catalogue, params)
    # the same formula: float64 in, float64 out, equal to rounding
    got = INDICES[name].function(*(bands[a] for a in INDICES[name].requires))
    ok = np.isfinite(expected)
    assert ok.mean() > 0.99
    np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-10, atol=1e-12)
    # float32 in (the recipes' reflectance): float32 out, equal to float32 rounding away from tiny denominators
    got32 = INDICES[name].function(*(bands[a].astype(np.float32) for a in INDICES[name].requires))
    assert got32.dtype == np.float32
    small = np.abs(expected) < 20
    np.testing.assert_allclose(got32[ok & small], expected[ok & small], rtol=1e-4, atol=1e-5)


def test_catalogue_index_in_a_recipe_equals_numpy_and_the_block_engine(tmp_path):
    recipe = write_recipe(tmp_path, """
        inputs: {product: p, measurements: [green, nir]}
        indices: [NDVI, GNDVI, NIRv]
        reducers: {gndvi: [mean, max], nirv: [median], ndvi: [mean]}
    """)
    assert recipe.indices == ("NDVI", "GNDVI", "NIRv") and "red" in recipe.measurements
    rng = np.random.default_rng(1)
    t, h, w = 4, 9, 11
    values = {a: rng.uniform(0.01, 0.5, (t, h, w)).astype(np.float32) for a in ("green", "nir", "red")}
    values["green"][0, 0, 0] = values["nir"][0, 0, 0] = 0.0  # zero denominator: NaN, not inf
    coords = {"time": pd.date_range("2022-05-01", periods=t).values, "y": np.arange(h) * -10.0, "x": np.arange(w) * 10.0}
    data = xr.Dataset({a: (("time", "y", "x"), v) for a, v in values.items()}, coords=coords)
    out = recipe.compute(data)
    g, n, r = (values[a].astype(np.float64) for a in ("green", "nir", "red"))
    with np.errstate(invalid="ignore"):
        gndvi = (n - g) / (n + g)
    gndvi[0, 0, 0] = np.nan
    np.testing.assert_allclose(out.gndvi_mean.values, np.nanmean(gndvi, axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.gndvi_max.values, np.nanmax(gndvi, axis=0), rtol=1e-5, atol=1e-7)
    nirv = (n - r) / (n + r) * n  # Badgley et al. 2017, Sci. Adv. 3:e1602244
    np.testing.assert_allclose(out.nirv_median.values, np.median(nirv, axis=0), rtol=1e-5, atol=1e-7)
    engine = BlockRecipe(recipe, {"green": "B03", "nir": "B08", "red": "B04"})
    raw = {"B03": values["green"], "B08": values["nir"], "B04": values["red"]}
    got = engine.compute(raw, {m: Conversion(False) for m in raw})
    for name in recipe.output_names:
        np.testing.assert_array_equal(got[name], out[name].values, err_msg=name)
    assert any("GNDVI = (nir-green)/(nir+green)" in line for line in recipe.describe())


@pytest.mark.parametrize("index, fragment", [
    ("NOPE", "'NOPE' is not an index of the Awesome Spectral Indices catalogue"),
    ("gndvi", "names are case-sensitive"),
    ("NDSI_thermal" if "NDSI_thermal" in spyndex.indices else "LST", "not an index"),
])
def test_unknown_catalogue_names_are_refused_in_one_line(tmp_path, index, fragment):
    with pytest.raises(InvalidInputError) as err:
        write_recipe(tmp_path, f"inputs: {{measurements: [red]}}\nindices: [{index}]\nreducers: {{red: [mean]}}\n")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_an_index_with_bands_antares_has_no_alias_for_is_refused():
    thermal = next(n for n, i in spyndex.indices.items() if "T" in i.bands)
    with pytest.raises(KeyError, match="no Sentinel-2 alias or default value"):
        catalogue_index(thermal)
