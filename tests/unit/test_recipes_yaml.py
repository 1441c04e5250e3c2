"""antares.recipes: the built-in recipes, YAML validation errors, measurement resolution, product definitions."""

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from antares.errors import InvalidInputError, NotFoundError
from antares.recipes import DEFAULT_ALIASES, list_recipes, load_recipe, recipes_dir

REPO = Path(__file__).resolve().parents[2]
BUILTINS = ["s1_s2_monthly", "s2_10m_001", "s2_20m_001", "s2_20m_002", "s2_lulc_indices", "s2_ndvi_monthly"]
# antares3's s2_20m_001 features, in its order (madmex/conf/indexing/s2_20m_001.yaml)
ANTARES3_18 = ["blue_mean", "green_mean", "red_mean", "re1_mean", "re2_mean", "re3_mean", "nir_mean", "swir1_mean",
               "swir2_mean", "ndvi_mean", "ndmi_mean", "ndvi_max", "ndvi_min", "ndmi_max", "ndmi_min",
               "elevation", "slope", "aspect"]
ROMANIA_PRODUCT = {"name": "ro_test", "measurements": [{"name": n} for n in
                                                        ("B02", "B03", "B04", "B08", "B8A", "B11", "SCL")]}


def s2_l2a():
    return yaml.safe_load((REPO / "config" / "products" / "s2_l2a.yaml").read_text())


def write(tmp_path, text, name="s2_bad"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_list_recipes_finds_the_builtins():
    recipes = list_recipes()
    assert [r.name for r in recipes] == BUILTINS
    assert recipes_dir() == REPO / "recipes"
    assert all(r.source == REPO / "recipes" / f"{r.name}.yaml" and len(r.digest) == 64 for r in recipes)
    assert all(r.description and r.product == "s2_l2a" for r in recipes)


def test_s2_20m_001_is_antares3s_18_features():
    recipe = load_recipe("s2_20m_001")
    assert recipe.output_names == ANTARES3_18
    assert all(o.dtype == "float32" for o in recipe.outputs)
    assert recipe.mask.keep == (2, 4, 5, 6, 7, 8, 11) and recipe.mask.dilate == 0
    assert recipe.indices == ("NDVI", "NDMI") and not recipe.clear_count
    assert recipe.aliases["nir"][0] == "B8A"  # antares3's 20 m nir
    assert (recipe.terrain.product, recipe.terrain.layers, recipe.terrain.resampling) == (
        "srtm", ("elevation", "slope", "aspect"), "bilinear")
    second = load_recipe("s2_20m_002")
    assert second.output_names == ANTARES3_18 + ["clear_count"]
    assert second.mask.keep == (2, 4, 5, 6, 7, 11) and second.mask.dilate == 1


def test_other_builtins():
    tenm = load_recipe("s2_10m_001")
    assert tenm.measurements == ("blue", "green", "red", "nir") and tenm.terrain is None
    assert tenm.output_names[-8:] == ["ndvi_mean", "ndvi_min", "ndvi_max", "ndvi_std", "ndvi_p10", "ndvi_p90",
                                      "ndvi_doy_max", "clear_count"]
    lulc = load_recipe("s2_lulc_indices")
    assert lulc.indices == ("NDVI", "NDRE", "EVI2", "BI2", "MNDWI", "NDBI")
    assert {f"{i.lower()}_{r}" for i in lulc.indices for r in ("mean", "median", "std", "p10", "p90")} <= set(
        lulc.output_names)


def test_resolve_measurements_against_the_s2_l2a_product():
    assert load_recipe("s2_20m_001").resolve_measurements(s2_l2a()) == {
        "blue": "B02", "green": "B03", "red": "B04", "re1": "B05", "re2": "B06", "re3": "B07", "nir": "B8A",
        "swir1": "B11", "swir2": "B12", "nir08": "B8A", "scl": "SCL"}
    assert load_recipe("s2_10m_001").resolve_measurements(s2_l2a()) == {
        "blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "scl": "SCL"}
    assert set(load_recipe("s2_lulc_indices").resolve_measurements(s2_l2a()).values()) == {
        "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12", "SCL"}


def test_resolve_measurements_matches_aliases_in_order_of_preference():
    earth_search = {"name": "sentinel_2_l2a", "measurements": [
        {"name": n} for n in ("blue", "green", "red", "nir", "nir08", "swir16", "scl")]}
    assert load_recipe("s2_10m_001").resolve_measurements(earth_search)["nir"] == "nir"
    by_alias = {"name": "p", "measurements": [{"name": "band_8", "aliases": ["B08"]}, {"name": "nir", "aliases": []},
                                               {"name": "SCL"}, {"name": "b2", "aliases": ["blue"]},
                                               {"name": "B03"}, {"name": "B04"}]}
    resolved = load_recipe("s2_10m_001").resolve_measurements(by_alias)
    assert resolved == {"blue": "b2", "green": "B03", "red": "B04", "nir": "band_8", "scl": "SCL"}


def test_resolve_measurements_lists_the_missing_aliases():
    assert load_recipe("s2_10m_001").resolve_measurements(ROMANIA_PRODUCT)["nir"] == "B08"
    with pytest.raises(InvalidInputError) as err:
        load_recipe("s2_20m_001").resolve_measurements(ROMANIA_PRODUCT)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("recipe s2_20m_001: product 'ro_test' has no measurement for re1 (B05, ")
    missing = re.findall(r"(\w+) \((?:[\w ,]+)\)", message.split(";")[0])
    assert missing == ["re1", "re2", "re3", "swir2"]
    assert "its measurements: B02, B03, B04, B08, B8A, B11, SCL." in message


def test_product_definition_is_a_valid_eo3_product():
    recipe = load_recipe("s2_20m_002")
    doc = recipe.product_definition("ro_features")
    assert doc["metadata_type"] == "eo3" and doc["metadata"] == {"product": {"name": "ro_features"}}
    assert "s2_20m_002" in doc["description"]
    assert [m["name"] for m in doc["measurements"]] == recipe.output_names
    assert doc["measurements"][0] == {"name": "blue_mean", "dtype": "float32", "nodata": "NaN", "units": "1"}
    with pytest.raises(InvalidInputError, match="The 'name' parameter of product_definition"):
        recipe.product_definition("bad name")
    import datacube.model as model
    for r in list_recipes():
        definition = r.product_definition(f"{r.name}_out")
        model.Product.validate(definition)
        model.Product.validate_measurements(definition)


def test_describe_names_inputs_mask_indices_reducers_terrain_outputs():
    text = "\n".join(load_recipe("s2_20m_001").describe())
    for fragment in ("recipe s2_20m_001:", "nir -> B8A, nir08, nir_narrow", "scl -> SCL, scl",
                     "keep classes 2 dark_area_pixels, 4 vegetation", "8 cloud_medium_probability, 11 snow",
                     "NDMI = (nir08 - swir1) / (nir08 + swir1)", "ndvi: mean, max, min",
                     "terrain: elevation, slope, aspect from product srtm (bilinear", "outputs (18):",
                     "aspect: float32, nodata NaN, units degree"):
        assert fragment in text, fragment


def test_recipe_overrides_and_extends_aliases(tmp_path):
    recipe = load_recipe(str(write(tmp_path, """
        inputs: {product: ro_test, measurements: [nir, clp]}
        aliases: {nir: [B8A], clp: CLP}
        reducers: {nir: [mean], clp: [max]}
    """, name="mine")))
    assert recipe.name == "mine" and recipe.product == "ro_test"
    assert recipe.aliases["nir"] == ["B8A"] and recipe.aliases["clp"] == ["CLP"]
    assert recipe.aliases["red"] == list(DEFAULT_ALIASES["red"])
    assert recipe.mask is None and recipe.output_names == ["nir_mean", "clp_max"]


def test_unknown_recipe_name_lists_the_known_ones(tmp_path):
    with pytest.raises(NotFoundError) as err:
        load_recipe("s2_nope")
    assert str(err.value) == f"unknown recipe 's2_nope'; known recipes: {', '.join(BUILTINS)}."
    with pytest.raises(NotFoundError, match="recipe file '.*missing.yaml' does not exist"):
        load_recipe(str(tmp_path / "missing.yaml"))


BAD = [
    ("indices: [NDVI, NDXI]\nreducers: {ndvi: [mean]}",
     "recipe s2_bad: unknown index 'NDXI' in indices; valid indices: BI, BI2, EVI, EVI2, MNDWI, MSAVI2, NDBI, "
     "NDMI, NDRE, NDVI, NDWI, SAVI."),
    ("indices: [NDVI]\nreducers: {ndvi: [mean, avg]}",
     "recipe s2_bad: unknown reducer 'avg' for 'ndvi'; valid reducers: count, doy_max, max, mean, median, min, "
     "std, p0..p100 (e.g. p10, p90)."),
    ("inputs: {measurements: [blue, nir2]}\nreducers: {blue: [mean]}",
     "recipe s2_bad: band 'nir2' in inputs.measurements is not an alias; valid aliases: blue, green, red, re1, "
     "re2, re3, nir, nir08, swir1, swir2, scl, coastal, nir09, cirrus (add one in the 'aliases' section)."),
    ("inputs: {measurements: [red]}\nreducers: {red: [p05]}", "unknown reducer 'p05' for 'red'"),
    ("inputs: {measurements: [red]}\nreducers: {red: [p101]}", "unknown reducer 'p101' for 'red'"),
    ("inputs: {measurements: [red]}\nreducers: {ndvi: [mean]}",
     "recipe s2_bad: unknown variable 'ndvi' in reducers; valid variables: red (the aliases"),
    ("inputs: {measurements: [red]}\nreducer: {red: [mean]}", "unknown key 'reducer' in the recipe; valid keys:"),
    ("inputs: {measurements: [red], bands: 1}\nreducers: {red: [mean]}", "unknown key 'bands' in inputs"),
    ("inputs: {measurements: [red]}\nmask: {scl: {keep: [4], dilate: -1}}\nreducers: {red: [mean]}",
     "recipe s2_bad: 'mask.scl.dilate' must be an int in 0..100. Got -1."),  # the bound is named (issue 15 item 13)
    ("inputs: {measurements: [red]}\nmask: {scl: {keep: [4], dilate: 100000}}\nreducers: {red: [mean]}",
     "recipe s2_bad: 'mask.scl.dilate' must be an int in 0..100. Got 100000."),
    ("aliases: {clp: [CLP]}\ninputs: {measurements: [red]}\nmask: {measurement: {name: clp, threshold: 0.4, "
     "dilate: 101}}\nreducers: {red: [mean]}", "'mask.measurement.dilate' must be an int in 0..100. Got 101."),
    ("inputs: {measurements: [red]}\nmask: {scl: {keep: [0, 4]}}\nreducers: {red: [mean]}",
     "'mask.scl.keep' must be an int in 1..11. Got 0."),
    ("inputs: {measurements: [red]}\nmask: {scl: {keep: [4]}, measurement: {name: red}}\nreducers: {red: [mean]}",
     "'mask' must have exactly one of scl, measurement"),
    ("inputs: {measurements: [red]}\nmask: {measurement: {name: clp, threshold: 0.4}}\nreducers: {red: [mean]}",
     "'mask.measurement.name' 'clp' is not an alias"),
    ("aliases: {clp: [CLP]}\ninputs: {measurements: [red]}\nmask: {measurement: {name: clp, threshold: 0.4, "
     "keep: under}}\nreducers: {red: [mean]}", "'mask.measurement.keep' must be below or above. Got 'under'."),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean]}\nterrain: {layers: [elevation, tpi]}",
     "unknown layer 'tpi' in terrain.layers; valid layers: elevation, slope, aspect, terrain_filled."),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean]}\nterrain: {resampling: spline}",
     "unknown resampling 'spline' in terrain.resampling"),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean]}\nclear_count: 1", "'clear_count' must be true or false"),
    ("inputs: {measurements: [red]}", "the recipe produces no output"),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean, min]}\noutputs: [red_mean]",
     "'outputs' does not list red_min, which the recipe produces"),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean]}\noutputs: [red_max]",
     "unknown output 'red_max' in outputs; the recipe produces: red_mean."),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean]}\noutputs: [{name: red_mean, dtype: int16}]",
     "'outputs[red_mean].nodata' is required for an int16 output"),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean]}\noutputs: [{name: red_mean, scale: 0.1}]",
     "'outputs[red_mean].scale' applies to int16 outputs only"),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean]}\noutputs: [{name: red_mean, dtype: int16, nodata: 0, "
     "scale: 0}]", "'outputs[red_mean].scale' must be a float > 0. Got 0."),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean]}\noutputs: [{name: red_mean, dtype: uint8}]",
     "'outputs[red_mean].dtype' must be one of float32, int16. Got 'uint8'."),
    ("inputs: {measurements: [red]}\nreducers: {red: [mean]}\noutputs: [{name: red_mean, dtype: int16, "
     "nodata: 40000}]", "'outputs[red_mean].nodata' must be an int in -32768..32767. Got 40000."),
    ("- just\n- a list", "recipe s2_bad: the file must hold a YAML mapping"),
    ("inputs: {measurements: [red, red]}\nreducers: {red: [mean]}", "'inputs.measurements' lists red more than once"),
]


@pytest.mark.parametrize("text, message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_recipes_raise_one_line_errors(tmp_path, text, message):
    with pytest.raises(InvalidInputError) as err:
        load_recipe(str(write(tmp_path, text)))
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("recipe s2_bad: ")


def test_invalid_yaml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "inputs: {measurements: [red\nreducers: {red: [mean]}\n")
    with pytest.raises(InvalidInputError, match=r"recipe file '.*s2_bad.yaml' is not valid YAML: .* \(line \d+\)\.$"):
        load_recipe(path)
