"""S1 in reducer recipes on synthetic backscatter: statistics of the period computed in linear power and shown in
dB (the mean of dB values is not the dB of the mean power), the ratio and RVI from the reduced powers, the ``s1:``
section of a reducer recipe (outputs, orbit filter keys, refusals), ``Recipe.compute`` with S1, and the orbit
metadata the S1 preparer reads from tags and ESA product names."""

import numpy as np
import pytest

from antares.errors import InvalidInputError
from antares.recipes.sar import reduce_backscatter

REDUCERS = ("mean", "median", "min", "max", "p10", "p90")


def speckle(rng, shape, mean_db):
    """Backscatter in dB of exponentially distributed (single-look) intensity around ``mean_db``."""
    power = rng.exponential(10 ** (mean_db / 10), shape)
    return (10 * np.log10(power)).astype(np.float32)


def test_statistics_are_of_linear_power_shown_in_db():
    rng = np.random.default_rng(1)
    vv, vh = speckle(rng, (9, 6, 7), -9.0), speckle(rng, (9, 6, 7), -17.0)
    vv[2:5, 0, 0] = np.nan          # VV missing: those dates do not count for VH either
    vh[6, 1, 2] = np.nan
    vv[:, 3, 3] = np.nan            # never observed with both polarisations
    got = reduce_backscatter(vv, vh, REDUCERS)
    assert list(got) == [f"s1_{f}_{r}" for f in ("vv", "vh", "vh_vv", "rvi") for r in REDUCERS]
    both = ~(np.isnan(vv) | np.isnan(vh))
    p_vv = np.where(both, 10.0 ** (vv.astype(np.float64) / 10), np.nan)
    p_vh = np.where(both, 10.0 ** (vh.astype(np.float64) / 10), np.nan)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning):
        stats = {"mean": np.nanmean, "median": np.nanmedian, "min": np.nanmin, "max": np.nanmax,
                 "p10": lambda a, axis: np.nanpercentile(a, 10, axis=axis),
                 "p90": lambda a, axis: np.nanpercentile(a, 90, axis=axis)}
        for r, f in stats.items():
            rv, rh = f(p_vv, axis=0), f(p_vh, axis=0)
            np.testing.assert_allclose(got[f"s1_vv_{r}"], 10 * np.log10(rv), atol=1e-4, equal_nan=True, err_msg=r)
            np.testing.assert_allclose(got[f"s1_vh_{r}"], 10 * np.log10(rh), atol=1e-4, equal_nan=True, err_msg=r)
            np.testing.assert_allclose(got[f"s1_vh_vv_{r}"], 10 * np.log10(rh / rv), atol=1e-4, equal_nan=True)
            np.testing.assert_allclose(got[f"s1_rvi_{r}"], 4 * rh / (rv + rh), atol=1e-6, equal_nan=True)
    assert np.isnan(got["s1_vv_mean"][3, 3]) and np.isnan(got["s1_rvi_p90"][3, 3])
    # the mean in dB is the log of the geometric mean: for single-look speckle about 2.5 dB lower
    with pytest.warns(RuntimeWarning):  # the pixel never observed
        mean_of_db = np.nanmean(np.where(both, vv, np.nan), axis=0)
    gap = got["s1_vv_mean"] - mean_of_db
    assert np.nanmin(gap) > 0 and 1.0 < np.nanmean(gap) < 4.0


def test_linear_input_and_one_known_pixel():
    vv_db = np.array([-10.0, -20.0], np.float32).reshape(2, 1, 1)  # powers 0.1 and 0.01
    vh_db = np.array([-20.0, -20.0], np.float32).reshape(2, 1, 1)
    got = reduce_backscatter(vv_db, vh_db, ("mean",))
    assert got["s1_vv_mean"][0, 0] == pytest.approx(10 * np.log10(0.055), abs=1e-5)   # -12.596 dB, not -15 dB
    assert got["s1_vh_vv_mean"][0, 0] == pytest.approx(10 * np.log10(0.01 / 0.055), abs=1e-5)
    assert got["s1_rvi_mean"][0, 0] == pytest.approx(4 * 0.01 / 0.065, abs=1e-6)
    linear = reduce_backscatter(10 ** (vv_db / 10), 10 ** (vh_db / 10), ("mean",), db=False)
    for name, values in got.items():
        np.testing.assert_allclose(linear[name], values, atol=1e-5)
    with pytest.raises(InvalidInputError, match="unknown S1 reducer\\(s\\) std"):
        reduce_backscatter(vv_db, vh_db, ("std",))


BASE = {"inputs": {"product": "s2_l2a", "measurements": ["red", "nir"]}, "indices": ["NDVI"],
        "reducers": {"ndvi": ["mean"]}}


def test_s1_section_of_a_reducer_recipe():
    from antares.recipes.parse import parse_recipe

    recipe = parse_recipe(dict(BASE, s1={"product": "my_s1", "features": ["vv", "rvi"], "reducers": ["mean", "p90"],
                                         "orbit": "ascending", "relative_orbit": [88, 161]}), "s1_reducers")
    assert [(o.name, o.units) for o in recipe.outputs] == [
        ("ndvi_mean", "1"), ("s1_vv_mean", "dB"), ("s1_vv_p90", "dB"), ("s1_rvi_mean", "1"), ("s1_rvi_p90", "1")]
    assert recipe.sar.orbit == "ascending" and recipe.sar.relative_orbits == (88, 161)
    assert "orbit: ascending, relative_orbit: [88, 161]" in recipe.sar.describe()
    assert parse_recipe(dict(BASE, s1={}), "s1_default").sar.outputs == [
        "s1_vv_mean", "s1_vh_mean", "s1_vh_vv_mean", "s1_rvi_mean"]
    only_s1 = parse_recipe({"inputs": BASE["inputs"], "s1": {"reducers": ["median"]}}, "s1_only")
    assert only_s1.output_names == ["s1_vv_median", "s1_vh_median", "s1_vh_vv_median", "s1_rvi_median"]
    for s1, message in (
            ({"reducers": ["std"]}, "unknown S1 reducer 'std' in s1.reducers; valid: mean, median, min, max, p0..p100"),
            ({"reducers": ["doy_max"]}, "unknown S1 reducer 'doy_max'"),
            ({"reducers": []}, "'s1.reducers' must list at least one reducer"),
            ({"orbit": "north"}, "'s1.orbit' must be ascending or descending. Got 'north'."),
            ({"relative_orbit": [200]}, "'s1.relative_orbit' must be an int in 1..175. Got 200."),
            ({"relative_orbit": [3, 3]}, "lists an orbit more than once"),
            ({"relative_orbit": "88"}, "'s1.relative_orbit' must be a list")):
        with pytest.raises(InvalidInputError, match=message.replace("(", "\\(").replace(")", "\\)").replace(
                "[", "\\[").replace("]", "\\]").replace(".", "\\.")):
            parse_recipe(dict(BASE, s1=s1), "bad")


def test_recipe_compute_with_s1_equals_reduce_backscatter():
    import xarray as xr

    from antares.recipes.parse import parse_recipe

    recipe = parse_recipe(dict(BASE, s1={"reducers": ["mean", "p10"]}), "s1_compute")
    rng = np.random.default_rng(3)
    t, y, x = 4, 5, 6
    coords = {"time": np.arange(t).astype("datetime64[D]"), "y": np.arange(y), "x": np.arange(x)}
    data = xr.Dataset({b: (("time", "y", "x"), rng.uniform(0.01, 0.5, (t, y, x)).astype(np.float32))
                       for b in ("red", "nir")}, coords=coords)
    s1_coords = dict(coords, time=np.arange(7).astype("datetime64[D]"))  # S1 has its own dates
    vv, vh = speckle(rng, (7, y, x), -9.0), speckle(rng, (7, y, x), -17.0)
    s1 = xr.Dataset({"vv": (("time", "y", "x"), vv), "vh": (("time", "y", "x"), vh)}, coords=s1_coords)
    out = recipe.compute(data, s1=s1)
    expected = reduce_backscatter(vv, vh, ("mean", "p10"))
    for name, values in expected.items():
        np.testing.assert_array_equal(out[name].values, values)
    assert out["s1_vv_mean"].attrs["units"] == "dB"
    with pytest.raises(InvalidInputError, match="needs S1 backscatter vv and vh"):
        recipe.compute(data)
    with pytest.raises(InvalidInputError, match="S1 grid"):
        recipe.compute(data, s1=s1.isel(x=slice(0, 3)))


def test_s1_preparer_reads_the_orbit_from_tags_and_esa_names(tmp_path):
    from antares.prepare.s1 import orbit_properties

    assert orbit_properties(tmp_path / "a.tif", "a.tif", {"ORBITPROPERTIES_PASS": "ASCENDING",
                                                          "RELATIVEORBITNUMBER_START": "88"}) == {
        "sat:orbit_state": "ascending", "sat:relative_orbit": 88}
    # ESA names: S1A relative = (absolute - 73) mod 175 + 1, S1B (absolute - 27) mod 175 + 1
    name = "S1A_IW_GRDH_1SDV_20200105T055800_20200105T055825_030649_038375_ABCD_VV.tif"
    assert orbit_properties(tmp_path / name, name, {"ORBIT_DIRECTION": "DESCENDING"}) == {
        "sat:orbit_state": "descending", "sat:relative_orbit": (30649 - 73) % 175 + 1, "platform": "sentinel-1a",
        "sat:absolute_orbit": 30649}
    name_b = "S1B_IW_GRDH_1SDV_20200110T173309_20200110T173334_019766_0255FD_1B8A_VH.tif"
    assert orbit_properties(tmp_path / name_b, name_b, {})["sat:relative_orbit"] == (19766 - 27) % 175 + 1
    assert orbit_properties(tmp_path / "2020-11_S1_sigma0_dB.tif", "2020-11_S1_sigma0_dB.tif", {"PERIOD": "2020-11"}) == {}
    with pytest.raises(InvalidInputError, match="orbit direction tag says 'up'"):
        orbit_properties(tmp_path / "a.tif", "a.tif", {"PASS": "up"})
    with pytest.raises(InvalidInputError, match="relative orbit tag says '0'"):
        orbit_properties(tmp_path / "a.tif", "a.tif", {"TRACK": "0"})


def test_block_engine_writes_the_s1_outputs_it_is_given_and_refuses_without_them():
    from antares.recipes.blockwise import BlockRecipe, Conversion
    from antares.recipes.parse import parse_recipe

    recipe = parse_recipe(dict(BASE, s1={"reducers": ["median"], "features": ["vv", "rvi"]}), "s1_block")
    engine = BlockRecipe(recipe, {"red": "red", "nir": "nir"})
    rng = np.random.default_rng(4)
    red, nir = (rng.uniform(0.02, 0.5, (3, 4, 5)).astype(np.float32) for _ in range(2))
    vv, vh = speckle(rng, (6, 4, 5), -9.0), speckle(rng, (6, 4, 5), -17.0)
    s1 = reduce_backscatter(vv, vh, ("median",), ("vv", "rvi"))
    got = engine.compute({"red": red, "nir": nir}, {"red": Conversion(False), "nir": Conversion(False)}, s1=s1)
    assert list(got) == ["ndvi_mean", "s1_vv_median", "s1_rvi_median"]
    np.testing.assert_array_equal(got["s1_vv_median"], s1["s1_vv_median"])
    np.testing.assert_allclose(got["ndvi_mean"], ((nir - red) / (nir + red)).mean(axis=0), rtol=1e-5)
    with pytest.raises(InvalidInputError, match="needs S1 outputs s1_vv_median, s1_rvi_median"):
        engine.compute({"red": red, "nir": nir}, {"red": Conversion(False), "nir": Conversion(False)})
