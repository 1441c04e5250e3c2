"""The block path of apply_recipe (numpy/numba) against the xarray reference ``Recipe.compute``.

``Recipe.compute`` is what the other recipe tests check against independent numpy; here the
block engine, the fused reflectance conversion, the margin windows and the prefetching are
checked against it (bit for bit) and against plain numpy.
"""

import threading

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from antares.cube.blockread import MarginWindows
from antares.cube.reflectance import offsets_per_group, offsets_per_time, reflectance_into, to_reflectance
from antares.errors import InvalidInputError
from antares.recipes.blockwise import BlockRecipe, Conversion
from antares.recipes.masks import clear_numpy
from antares.recipes.specs import MaskSpec
from helpers import assert_blocks_identical as assert_identical
from helpers import write_recipe

EVERYTHING = """
    inputs: {measurements: [blue, green, red, re1, nir, nir08, swir1]}
    aliases: {nir08: [B8A], nir: [B8A]}
    mask: {scl: {keep: [2, 4, 5, 6, 7, 11], dilate: DILATE}}
    indices: [NDVI, NDMI, NDWI, MNDWI, NDRE, NDBI, EVI, EVI2, SAVI, MSAVI2, BI, BI2]
    reducers:
      blue: [mean, count]
      green: [mean, median, std]
      red: [min, max, p10]
      re1: [mean]
      nir: [mean, doy_max]
      swir1: [p0, p100, p37]
      ndvi: [mean, min, max, std, p10, p90, median, count, doy_max]
      ndmi: [mean, min, max]
      ndwi: [p50]
      mndwi: [mean]
      ndre: [max]
      ndbi: [min]
      evi: [mean, p50]
      evi2: [std]
      savi: [count]
      msavi2: [max]
      bi: [mean]
      bi2: [std, doy_max]
    clear_count: true
"""
MEASUREMENTS = {"B02": "blue", "B03": "green", "B04": "red", "B05": "re1", "B8A": "nir", "B11": "swir1"}
PRODUCT = {"measurements": [{"name": n} for n in [*MEASUREMENTS, "SCL"]]}


def random_inputs(seed, t=23, h=41, w=37, pad=1, nodata_share=0.05):
    """DN (uint16, 0 = nodata) with a margin of ``pad``, SCL with clouds, offsets of two processing baselines."""
    rng = np.random.default_rng(seed)
    shape = (t, h + 2 * pad, w + 2 * pad)
    raw = {m: rng.integers(0, 12000, shape).astype(np.uint16) for m in MEASUREMENTS}
    for m in raw:
        raw[m][rng.random(shape) < nodata_share] = 0
    raw["B04"][:, 3, 4] = raw["B8A"][:, 3, 4]  # NDVI 0 on every date: ties for doy_max
    raw["B04"][2, 5, 5], raw["B8A"][2, 5, 5] = 1000, 1000  # reflectance 0 + 0 with the -1000 offset: 0 / 0
    raw["B02"][:, 6, :] = 0  # a row without any observation of one band
    scl = rng.choice([2, 4, 5, 6, 7, 11], shape).astype(np.uint8)
    draw = rng.random(shape)
    scl[draw < 0.03] = rng.choice([1, 3, 8, 9, 10], int((draw < 0.03).sum()))  # clouds, shadows, ... (dilated)
    scl[draw > 0.97] = 0  # nodata (not dilated)
    scl[:, 20:24, 10:15] = 9  # a cloud
    scl[:, 7, 7] = 9  # always cloudy
    offset = np.where(np.arange(t) > t // 2, -1000, 0).astype(np.float32)  # baseline 04.00 from mid-series
    scale = np.full(t, 1e-4, np.float32)
    dates = pd.date_range("2019-12-20", periods=t, freq="9D")
    return raw, scl, offset, scale, dates


def reference(recipe, raw, scl, offset, scale, dates, pad):
    """Recipe.compute on the block with its margin (as the pipeline did before the block path), cropped."""
    t, hh, ww = scl.shape
    coords = {"time": dates.values, "y": np.arange(hh, dtype=float), "x": np.arange(ww, dtype=float)}
    dn = xr.Dataset({m: (("time", "y", "x"), v, {"nodata": 0, "units": "1"}) for m, v in raw.items()}, coords=coords)
    docs = [{"properties": {"datetime": str(d), "antares:add_offset": float(o), "antares:scale_factor": float(s)}}
            for d, o, s in zip(dates, offset, scale)]
    data = to_reflectance(dn, docs)
    data["SCL"] = (("time", "y", "x"), scl)
    out = recipe.compute(recipe.rename_to_aliases(data, recipe.resolve_measurements(PRODUCT)))
    inner = (slice(pad, hh - pad), slice(pad, ww - pad))
    return {name: out[name].values[inner] for name in recipe.output_names}


def block_path(recipe, raw, scl, offset, scale, dates, pad):
    engine = BlockRecipe(recipe, recipe.resolve_measurements(PRODUCT))
    t, hh, ww = scl.shape
    inner = (slice(None), slice(pad, hh - pad), slice(pad, ww - pad))
    blocks = {m: np.ascontiguousarray(v[inner]) for m, v in raw.items()}
    bands = {m: Conversion(True, offset, scale, 0) for m in raw}
    engine.check({m: v.dtype for m, v in blocks.items()}, bands)
    return engine, engine.compute(blocks, bands, mask=scl, doys=dates.day_of_year.values)


@pytest.mark.parametrize("dilate", [0, 1, 2])
def test_block_path_equals_reference_on_random_data_with_every_index_and_reducer(tmp_path, dilate):
    recipe = write_recipe(tmp_path, EVERYTHING.replace("DILATE", str(dilate)))
    raw, scl, offset, scale, dates = random_inputs(dilate, pad=dilate)
    expected = reference(recipe, raw, scl, offset, scale, dates, dilate)
    engine, got = block_path(recipe, raw, scl, offset, scale, dates, dilate)
    assert_identical(expected, got)
    assert np.isnan(got["ndvi_mean"][7 - dilate, 7 - dilate]) and got["clear_count"][7 - dilate, 7 - dilate] == 0
    assert (got["blue_count"][6 - dilate] == 0).all() and (got["clear_count"][6 - dilate] == 0).all()
    assert 0 < np.nanmean(got["clear_count"]) < len(dates)
    # a second block of another shape reuses the buffers and still equals the reference
    raw2, scl2, *_ = random_inputs(10 + dilate, h=12, w=50, pad=dilate)
    assert_identical(reference(recipe, raw2, scl2, offset, scale, dates, dilate),
                     engine.compute({m: np.ascontiguousarray(v[:, dilate:12 + dilate, dilate:50 + dilate])
                                     for m, v in raw2.items()},
                                    {m: Conversion(True, offset, scale, 0) for m in raw2}, scl2, dates.day_of_year.values))


def test_a_plugin_reducer_in_both_engines(tmp_path, monkeypatch):
    """A Reducer from a plugin (here registered for this test only) runs in both engines, NaN where nothing is seen."""
    from antares.recipes import reducers
    from antares.registry import Registry

    def value_range(values, doys):  # max - min of the observed values, float32 like the built-in reducers
        return np.fmax.reduce(values, axis=-1) - np.fmin.reduce(values, axis=-1)

    registry = Registry(reducers.REDUCERS.group, "reducer", {name: name for name in reducers.REDUCERS})
    registry.register("range", reducers.Reducer("range", value_range, "max - min"))
    monkeypatch.setattr(reducers, "REDUCERS", registry)
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [blue, red, nir]}
        aliases: {nir: [B8A]}
        mask: {scl: {keep: [2, 4, 5, 6, 7, 11], dilate: 1}}
        indices: [NDVI]
        reducers: {blue: [range, min, max], red: [p10, range], ndvi: [min, max, range, median]}
    """)
    raw, scl, offset, scale, dates = random_inputs(3)
    expected = reference(recipe, raw, scl, offset, scale, dates, 1)
    engine, got = block_path(recipe, raw, scl, offset, scale, dates, 1)
    assert_identical(expected, got)
    for var in ("blue", "ndvi"):
        np.testing.assert_array_equal(got[f"{var}_range"], got[f"{var}_max"] - got[f"{var}_min"])
    assert np.isnan(got["blue_range"][5]).all() and np.isfinite(got["red_range"]).any()
    with pytest.raises(InvalidInputError, match="unknown reducer 'spread' for 'red'; valid reducers: count, doy_max, "
                                                "max, mean, median, min, range, std, p0..p100"):
        write_recipe(tmp_path, "inputs: {measurements: [red]}\nreducers: {red: [spread]}", name="bad")


def test_block_path_equals_reference_with_a_measurement_mask_float_bands_and_int16_outputs(tmp_path):
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [red, nir]}
        aliases: {clp: [CLP]}
        mask: {measurement: {name: clp, threshold: 0.4, keep: below, dilate: 1}}
        indices: [NDVI]
        reducers: {red: [mean, max], ndvi: [mean, count, p90]}
        clear_count: true
        outputs:
          - {name: ndvi_mean, dtype: int16, nodata: -32768, scale: 0.0001}
          - {name: ndvi_count, dtype: int16, nodata: -1}
          - ndvi_p90
          - red_mean
          - red_max
          - clear_count
    """)
    rng = np.random.default_rng(5)
    t, h, w = 9, 20, 30
    red = rng.uniform(0, 0.5, (t, h + 2, w + 2)).astype(np.float32)
    nir = rng.uniform(0, 0.8, (t, h + 2, w + 2)).astype(np.float32)
    red[rng.random(red.shape) < 0.1] = np.nan
    clp = rng.uniform(0, 1, (t, h + 2, w + 2)).astype(np.float32)
    clp[rng.random(clp.shape) < 0.05] = np.nan
    dates = pd.date_range("2021-03-01", periods=t, freq="5D")
    coords = {"time": dates.values, "y": np.arange(h + 2.0), "x": np.arange(w + 2.0)}
    data = xr.Dataset({"red": (("time", "y", "x"), red), "nir": (("time", "y", "x"), nir),
                       "clp": (("time", "y", "x"), clp)}, coords=coords)
    full = recipe.compute(data)
    expected = {name: full[name].values[1:-1, 1:-1] for name in recipe.output_names}
    engine = BlockRecipe(recipe, {"red": "red", "nir": "nir", "clp": "clp"})
    bands = {"red": Conversion(False), "nir": Conversion(False)}
    engine.check({"red": red.dtype, "nir": nir.dtype}, bands)
    got = engine.compute({"red": np.ascontiguousarray(red[:, 1:-1, 1:-1]),
                          "nir": np.ascontiguousarray(nir[:, 1:-1, 1:-1])}, bands, clp, dates.day_of_year.values)
    assert got["ndvi_mean"].dtype == np.int16 and got["ndvi_count"].dtype == np.int16
    assert_identical(expected, got)


def test_block_path_refuses_digital_numbers_and_terrain_it_lacks(tmp_path):
    recipe = write_recipe(tmp_path, """
        inputs: {measurements: [red]}
        reducers: {red: [mean]}
        terrain: {layers: [elevation]}
    """)
    engine = BlockRecipe(recipe, {"red": "B04"})
    with pytest.raises(InvalidInputError, match="'red' must be floating reflectance .* Got uint16"):
        engine.check({"B04": np.dtype(np.uint16)}, {"B04": Conversion(False)})
    red = np.full((2, 3, 3), 0.25, np.float32)
    with pytest.raises(InvalidInputError, match="needs terrain layers elevation"):
        engine.compute({"B04": red}, {"B04": Conversion(False)})
    out = engine.compute({"B04": red}, {"B04": Conversion(False)}, terrain={"elevation": np.full((3, 3), 101.5)})
    assert out["elevation"].dtype == np.float32 and (out["elevation"] == 101.5).all()
    assert (out["red_mean"] == 0.25).all()
    engine.warm_up({"B04": np.dtype(np.float32)})


def test_reflectance_into_equals_to_reflectance():
    rng = np.random.default_rng(3)
    dn = rng.integers(0, 20000, (6, 15, 17)).astype(np.uint16)
    dn[rng.random(dn.shape) < 0.1] = 0
    dates = pd.date_range("2022-01-20", periods=6, freq="5D")
    docs = [{"properties": {"datetime": str(d), "antares:add_offset": -1000 if i % 2 else 0,
                            "antares:scale_factor": 1e-4}} for i, d in enumerate(dates)]
    data = xr.Dataset({"B04": (("time", "y", "x"), dn, {"nodata": 0, "units": "1"})}, coords={"time": dates.values})
    expected = to_reflectance(data, docs).B04.values
    offset, scale = offsets_per_time(data, docs, "B04")
    out = np.full(dn.shape, 7, np.float32)
    assert reflectance_into(dn, offset, scale, 0, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert np.isnan(out[dn == 0]).all() and out.dtype == np.float32
    grouped = offsets_per_group([[d] for d in docs], "B04")
    np.testing.assert_array_equal(grouped[0], offset)
    np.testing.assert_array_equal(grouped[1], scale)
    clash = [[docs[0], {"properties": {**docs[0]["properties"], "antares:add_offset": -1000}}]]
    with pytest.raises(InvalidInputError, match="different offsets/scales for B04"):
        offsets_per_group(clash, "B04")


def test_scl_lookup_table_equals_isin():
    rng = np.random.default_rng(9)
    scl = rng.integers(0, 12, (4, 30, 30)).astype(np.uint8)
    spec = MaskSpec("scl", "scl", (2, 4, 5, 6, 7, 11), dilate=2)
    np.testing.assert_array_equal(clear_numpy(scl, spec), clear_numpy(scl.astype(np.uint16), spec))


def test_margin_windows_cut_every_window_from_strips_read_once():
    rng = np.random.default_rng(2)
    tile = rng.integers(0, 12, (3, 70, 45)).astype(np.uint8)
    pad, size = 2, 16
    beyond = np.pad(tile, ((0, 0), (pad, pad), (pad, pad)), constant_values=0)  # the file ends at the tile
    reads = []

    def window(row0, col0, h, w):
        reads.append((row0, h))
        return beyond[:, row0 + pad:row0 + pad + h, col0 + pad:col0 + pad + w].copy()

    margins = MarginWindows(window, tile.shape[1:], size, pad)
    for y0 in range(0, 70, size):
        for x0 in range(0, 45, size):
            h, w = min(size, 70 - y0), min(size, 45 - x0)
            got = margins.window(y0 - pad, x0 - pad, h + 2 * pad, w + 2 * pad)
            assert got.flags.c_contiguous
            np.testing.assert_array_equal(got, beyond[:, y0:y0 + h + 2 * pad, x0:x0 + w + 2 * pad])
    assert reads == [(-2, 2), (0, 16), (16, 16), (32, 16), (48, 16), (64, 6), (70, 2)]  # each strip once
    assert len(margins.cache) <= 3


def test_prefetch_reads_ahead_in_a_thread_and_passes_errors_on():
    from antares.pipeline.recipe import _Prefetch

    produced, closed = [], threading.Event()

    def numbers():
        try:
            for i in range(5):
                produced.append((i, threading.current_thread().name))
                yield i
        finally:
            closed.set()

    with _Prefetch(numbers) as items:
        assert list(items) == list(range(5))
    assert closed.is_set() and all(name == "antares-recipe-read" for _, name in produced)

    closed.clear()
    with _Prefetch(numbers) as items:  # leaving early stops the producer and runs its finally
        next(iter(items))
    assert closed.is_set()

    def failing():
        yield 1
        raise InvalidInputError("broken block")

    with pytest.raises(InvalidInputError, match="broken block"):
        with _Prefetch(failing) as items:
            list(items)
