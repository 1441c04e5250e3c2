"""antares.recipes.sar on synthetic backscatter: dB <-> linear, composites in linear power, VH/VV ratio and RVI
against float64 numpy computations of the published formulas."""

import warnings

import numpy as np
import pytest

from antares.errors import InvalidInputError
from antares.recipes.sar import composite_db, db_to_linear, linear_to_db, sar_features


def test_db_linear_round_trip_and_nodata():
    db = np.array([-25.0, -17.3, -9.1, 0.0, 3.0, np.nan], np.float32)
    power = db_to_linear(db)
    np.testing.assert_allclose(power[:5], 10.0 ** (db[:5].astype(np.float64) / 10), rtol=1e-6)
    np.testing.assert_allclose(linear_to_db(power)[:5], db[:5], atol=1e-5)
    assert np.isnan(power[5]) and np.isnan(linear_to_db(np.array([0.0, -1.0, np.nan]))).all()


@pytest.mark.parametrize("how", ["mean", "median"])
def test_composite_is_computed_in_linear_power(how):
    rng = np.random.default_rng(0)
    db = rng.normal(-12, 3, (7, 5, 6)).astype(np.float32)
    db[2:5, 0, 0] = np.nan
    db[:, 1, 1] = np.nan  # never observed
    got = composite_db(db, axis=0, how=how)
    power = 10.0 ** (db.astype(np.float64) / 10)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = 10 * np.log10(np.nanmean(power, 0) if how == "mean" else np.nanmedian(power, 0))
    np.testing.assert_allclose(got, expected, atol=1e-4, equal_nan=True)
    assert np.isnan(got[1, 1])
    if how == "mean":  # the linear mean is above the dB mean wherever values vary (Jensen)
        seen = ~np.isnan(got)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert (got[seen] > np.nanmean(db, 0)[seen]).all()
    with pytest.raises(InvalidInputError, match="must be mean or median. Got 'max'"):
        composite_db(db, how="max")


def test_ratio_and_rvi_equal_the_formulas():
    rng = np.random.default_rng(1)
    vv = 10.0 ** (rng.normal(-9, 2, 50) / 10)
    vh = 10.0 ** (rng.normal(-17, 2, 50) / 10)
    vv[3] = np.nan
    out = sar_features(vv, vh)
    assert set(out) == {"vv", "vh", "vh_vv", "rvi"} and all(v.dtype == np.float32 for v in out.values())
    np.testing.assert_allclose(out["vv"], 10 * np.log10(vv) + 0 * vh, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(out["vh_vv"], 10 * np.log10(vh / vv), atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(out["rvi"], 4 * vh / (vv + vh), rtol=1e-5, equal_nan=True)
    assert np.isnan(out["vh"][3]) and ((out["rvi"][~np.isnan(vv)] > 0) & (out["rvi"][~np.isnan(vv)] < 4)).all()
    with pytest.raises(InvalidInputError, match="unknown S1 feature"):
        sar_features(vv, vh, ["vv", "hh"])
    with pytest.raises(InvalidInputError, match="same shape"):
        sar_features(vv, vh[:3])


STEPS = {"inputs": {"product": "s2_l2a", "measurements": ["red", "nir"]}, "indices": ["NDVI"],
         "steps": {"every": "1M", "variables": ["ndvi"]}}


def test_s1_section_parses_and_bad_ones_are_refused():
    from antares.recipes import load_recipe
    from antares.recipes.parse import parse_recipe

    recipe = parse_recipe(dict(STEPS, s1={"product": "s1_grd", "features": ["vh_vv", "rvi"]}), "s1_test")
    assert recipe.sar.outputs == ["s1_vh_vv", "s1_rvi"] and recipe.sar.resampling == "average"
    assert [(o.name, o.units) for o in recipe.outputs] == [("ndvi", "1"), ("s1_vh_vv", "dB"), ("s1_rvi", "1"),
                                                           ("clear_count", "1"), ("filled", "1")]
    builtin = load_recipe("s1_s2_monthly")
    names = [o.name for o in builtin.outputs]
    assert names[-8:] == ["s1_vv", "s1_vh", "s1_vh_vv", "s1_rvi", "elevation", "slope", "clear_count", "filled"]
    assert builtin.terrain.layers == ("elevation", "slope") and builtin.steps.every == "1M"
    for doc, message in (
            (dict(STEPS, s1={"reducers": ["mean"]}), "'s1.reducers' is for reducer recipes"),
            (dict(STEPS, s1={"features": ["vv", "hh"]}), "unknown S1 feature\\(s\\) hh in s1.features"),
            (dict(STEPS, s1={"resampling": "fancy"}), "unknown resampling 'fancy' in s1.resampling"),
            (dict(STEPS, s1={"polarisations": ["vv"]}), "unknown key 'polarisations' in s1")):
        with pytest.raises(InvalidInputError, match=message):
            parse_recipe(doc, "bad")


def test_s1_product_measurements_resolved_by_name_or_alias_with_units():
    from antares.pipeline.timeseries import sar_measurements
    from antares.recipes.parse import parse_recipe

    recipe = parse_recipe(dict(STEPS, s1={"product": "my_s1"}), "s1_test")
    db = {"name": "my_s1", "measurements": [{"name": "VV", "aliases": ["vv"], "units": "dB"},
                                            {"name": "VH", "aliases": ["vh"], "units": "dB"}]}
    assert sar_measurements(recipe, db) == (("VV", "VH"), True)
    linear = {"name": "my_s1", "measurements": [{"name": "sigma_vv", "aliases": ["vv"], "units": "1"},
                                                {"name": "sigma_vh", "aliases": ["vh"], "units": "1"}]}
    assert sar_measurements(recipe, linear) == (("sigma_vv", "sigma_vh"), False)
    with pytest.raises(InvalidInputError, match="S1 product 'my_s1' has no VH measurement .* its measurements: VV"):
        sar_measurements(recipe, {"name": "my_s1", "measurements": db["measurements"][:1]})
    mixed = {"name": "my_s1", "measurements": [db["measurements"][0], linear["measurements"][1]]}
    with pytest.raises(InvalidInputError, match="declares VV/VH units 'db'/'1'"):
        sar_measurements(recipe, mixed)
