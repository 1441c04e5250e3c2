"""antares.timeseries against independent computations: scipy.sparse solves of the Whittaker system, numpy.interp,
calendar arithmetic, numpy composites; and the recipe ``steps:`` section's validation."""

import datetime as dt
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from antares.errors import InvalidInputError
from antares.recipes import load_recipe
from antares.timeseries import (
    FILLED_EDGE, FILLED_INSIDE, OBSERVED, composite, gapfill_linear, regularise, step_calendar, step_index,
    vcurve_lambda, whittaker,
)

UTC = dt.timezone.utc


def sparse_whittaker(y, w, lam, order):
    """Independent: z = (W + λ DᵀD)⁻¹ W y with scipy.sparse, one pixel."""
    n = len(y)
    d = sp.csr_matrix(np.diff(np.eye(n), n=order, axis=0))
    a = (sp.diags(w) + lam * (d.T @ d)).tocsc()
    return spl.spsolve(a, w * np.nan_to_num(y))


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(42)
    n, p = 30, 200
    t = np.linspace(0, 4 * np.pi, n)[:, None]
    y = np.sin(t) + rng.normal(scale=0.3, size=(n, p))
    w = rng.uniform(0.2, 2.0, size=(n, p))
    w[rng.random((n, p)) < 0.35] = 0.0  # gaps
    y[w == 0] = np.nan
    return y, w


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("lam", [0.1, 3.0, 100.0, 1e4])
def test_whittaker_equals_sparse_solve(series, lam, order):
    y, w = series
    z = whittaker(y, w, lam, order)
    assert z.shape == y.shape
    for j in range(0, y.shape[1], 7):
        np.testing.assert_allclose(z[:, j], sparse_whittaker(y[:, j], w[:, j], lam, order), rtol=0, atol=1e-6)


def test_whittaker_per_pixel_lambda_and_3d(series):
    y, w = series
    lam = np.geomspace(0.5, 500, y.shape[1])
    z = whittaker(y.reshape(30, 20, 10), w.reshape(30, 20, 10), lam.reshape(20, 10), 2).reshape(30, -1)
    for j in (0, 57, 199):
        np.testing.assert_allclose(z[:, j], sparse_whittaker(y[:, j], w[:, j], lam[j], 2), atol=1e-6)


def test_whittaker_singular_pixel_is_nan_and_bad_lambda_refused():
    y = np.array([[1.0, 2.0], [np.nan, 3.0], [np.nan, 5.0], [np.nan, 4.0]])
    w = np.array([[1.0, 1.0], [0, 1], [0, 1], [0, 1]])
    z = whittaker(y, w, 10.0, 2)
    assert np.isnan(z[:, 0]).all()  # one observation cannot fix a line
    np.testing.assert_allclose(z[:, 1], sparse_whittaker(y[:, 1], w[:, 1], 10.0, 2), atol=1e-9)
    for lam in (0.0, -1.0, np.nan):
        with pytest.raises(InvalidInputError, match="lambda must be a number > 0"):
            whittaker(y, w, lam)
    with pytest.raises(InvalidInputError, match="weights must be finite and >= 0"):
        whittaker(y, -w, 1.0)


def independent_vcurve(y, w, order, grid):
    """Frasso & Eilers (2015) V-curve with scipy.sparse solves, one pixel."""
    fit, pen = [], []
    for lg in grid:
        z = sparse_whittaker(y, w, 10.0 ** lg, order)
        fit.append(np.log(np.sum(w * (np.nan_to_num(y) - z) ** 2) + 1e-12))
        pen.append(np.log(np.sum(np.diff(z, n=order) ** 2) + 1e-12))
    v = np.hypot(np.diff(fit), np.diff(pen))
    k = int(np.argmin(v))
    return 10.0 ** ((grid[k] + grid[k + 1]) / 2)


def test_vcurve_lambda_equals_independent_vcurve(series):
    y, w = series
    grid = np.arange(-1.0, 4.01, 0.5)
    lam = vcurve_lambda(y[:, :40], w[:, :40], 2, grid)
    for j in range(0, 40, 5):
        assert lam[j] == pytest.approx(independent_vcurve(y[:, j], w[:, j], 2, grid), rel=1e-9)
    # noise on a smooth curve: the V-curve smooths (λ well above the grid's bottom) but keeps the curve
    assert np.median(lam) > 1.0


def test_gapfill_equals_numpy_interp():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(5, 40, 14))
    y = rng.normal(size=(14, 300)).astype(np.float32)
    y[rng.random(y.shape) < 0.5] = np.nan
    y[:, 0] = np.nan  # a pixel without any observation
    filled, flag = gapfill_linear(y, t)
    assert filled.dtype == np.float32 and flag.dtype == np.uint8
    for j in range(1, 300):
        seen = ~np.isnan(y[:, j])
        if not seen.any():
            continue
        expected = np.interp(t, t[seen], y[seen, j].astype(np.float64))
        np.testing.assert_allclose(filled[:, j], expected, rtol=1e-6, atol=1e-6)
        first, last = np.flatnonzero(seen)[[0, -1]]
        inner = np.arange(14)[(np.arange(14) > first) & (np.arange(14) < last)]
        assert (flag[seen, j] == OBSERVED).all()
        assert (flag[inner[~seen[inner]], j] == FILLED_INSIDE).all()
        assert (flag[:first, j] == FILLED_EDGE).all() and (flag[last + 1:, j] == FILLED_EDGE).all()
    assert np.isnan(filled[:, 0]).all() and (flag[:, 0] == 255).all()


def test_regularise_smooths_and_fills_edges_with_the_nearest_smoothed_value(series):
    y, w = series
    y = y[:, :50].astype(np.float32)
    y[:3, 0] = np.nan  # leading gap
    counts = (~np.isnan(y)).astype(np.int32)
    out, flag = regularise(y, counts, None, "linear", 10.0, 2)
    observed = ~np.isnan(y)
    z = whittaker(y, observed.astype(float), 10.0, 2)
    inside = flag != FILLED_EDGE
    np.testing.assert_allclose(out[inside], z[inside].astype(np.float32), rtol=1e-6, atol=1e-6)
    first = np.flatnonzero(observed[:, 0])[0]
    assert (flag[:first, 0] == FILLED_EDGE).all()
    np.testing.assert_allclose(out[:first, 0], np.float32(z[first, 0]), rtol=1e-6)
    none, nflag = regularise(y, counts, None, "none", None)
    assert np.array_equal(np.isnan(none), ~observed) and set(np.unique(nflag)) <= {OBSERVED, 255}


def test_monthly_calendar():
    steps = step_calendar("2018-01-01", "2018-12-31", "1M")
    assert len(steps) == 12
    assert [a.month for a, _ in steps] == list(range(1, 13))
    assert steps[1] == (dt.datetime(2018, 2, 1, tzinfo=UTC), dt.datetime(2018, 3, 1, tzinfo=UTC))
    assert steps[-1][1] == dt.datetime(2019, 1, 1, tzinfo=UTC)
    mid = step_calendar("2018-01-15", "2018-03-10", "1M")  # cut at both ends, later steps on month starts
    assert mid == [(dt.datetime(2018, 1, 15, tzinfo=UTC), dt.datetime(2018, 2, 1, tzinfo=UTC)),
                   (dt.datetime(2018, 2, 1, tzinfo=UTC), dt.datetime(2018, 3, 1, tzinfo=UTC)),
                   (dt.datetime(2018, 3, 1, tzinfo=UTC), dt.datetime(2018, 3, 11, tzinfo=UTC))]


@pytest.mark.parametrize("every, days", [("10D", 10), ("16D", 16)])
def test_day_calendars(every, days):
    steps = step_calendar("2018-01-01", "2018-12-31", every)
    assert len(steps) == -(-365 // days)
    assert all((b - a).days == days for a, b in steps[:-1])
    assert steps[-1][1] == dt.datetime(2019, 1, 1, tzinfo=UTC)
    assert all(steps[i][1] == steps[i + 1][0] for i in range(len(steps) - 1))


def test_explicit_periods_and_step_index():
    steps = step_calendar("2018-01-01", "2018-12-31",
                          periods=[["2017-12-01", "2018-03-31"], ["2018-06-01", "2018-08-31"]])
    assert steps == [(dt.datetime(2018, 1, 1, tzinfo=UTC), dt.datetime(2018, 4, 1, tzinfo=UTC)),
                     (dt.datetime(2018, 6, 1, tzinfo=UTC), dt.datetime(2018, 9, 1, tzinfo=UTC))]
    times = np.array(["2018-01-01", "2018-03-31T23:00", "2018-04-01", "2018-07-04", "2018-09-01"], "datetime64[ns]")
    assert step_index(times, steps).tolist() == [0, 0, -1, 1, -1]
    with pytest.raises(InvalidInputError, match="no step period lies inside"):
        step_calendar("2018-01-01", "2018-12-31", periods=[["2019-01-01", "2019-02-01"]])
    with pytest.raises(InvalidInputError, match="in order and not overlap"):
        step_calendar("2018-01-01", "2018-12-31", periods=[["2018-03-01", "2018-05-01"], ["2018-04-01", "2018-06-01"]])
    with pytest.raises(InvalidInputError, match="unknown step length '2W'"):
        step_calendar("2018-01-01", "2018-12-31", "2W")


def test_composites_equal_numpy():
    rng = np.random.default_rng(3)
    nt, ny, nx = 20, 6, 7
    red = rng.uniform(0.02, 0.2, (nt, ny, nx)).astype(np.float32)
    nir = rng.uniform(0.1, 0.5, (nt, ny, nx)).astype(np.float32)
    ndvi = (nir - red) / (nir + red)
    valid = rng.random((nt, ny, nx)) > 0.4
    which = np.repeat(np.arange(5), 4)
    which[-2:] = -1  # outside every step
    values = {"red": np.where(valid, red, np.nan), "ndvi": np.where(valid, ndvi, np.nan)}
    for method, fn in (("median", np.nanmedian), ("mean", np.nanmean)):
        out, counts = composite(values, valid, which, 5, method)
        for k in range(5):
            sel = which == k
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = fn(np.where(valid[sel], red[sel], np.nan), axis=0)
            np.testing.assert_allclose(out["red"][k], expected, rtol=1e-6, equal_nan=True)
            assert np.array_equal(counts[k], valid[sel].sum(axis=0))
    out, counts = composite(values, valid, which, 5, "max_ndvi")
    for k in range(5):
        sel = np.flatnonzero(which == k)
        for y in range(ny):
            for x in range(nx):
                ok = sel[valid[sel, y, x]]
                if not ok.size:
                    assert np.isnan(out["red"][k, y, x]) and np.isnan(out["ndvi"][k, y, x])
                    continue
                best = ok[np.argmax(ndvi[ok, y, x])]
                assert out["red"][k, y, x] == red[best, y, x] and out["ndvi"][k, y, x] == ndvi[best, y, x]


STEPS_RECIPE = """
    description: test
    inputs: {product: s2_l2a, measurements: [red, nir]}
    mask: {scl: {keep: [4, 5]}}
    indices: [NDVI]
    steps: %s
"""


def recipe_with(tmp_path, steps, extra=""):
    path = tmp_path / "ts_test.yaml"
    path.write_text(textwrap.dedent(STEPS_RECIPE % steps) + extra)
    return load_recipe(str(path))


def test_steps_section_parses(tmp_path):
    recipe = recipe_with(tmp_path, "{every: 16d, variables: [ndvi, red], composite: mean, smooth: {lambda: 50}}")
    assert recipe.output_names == ["ndvi", "red", "clear_count", "filled"]
    s = recipe.steps
    assert (s.every, s.composite, s.gapfill, s.smooth, s.order, s.weights) == ("16D", "mean", "linear", 50.0, 2, "clear")
    periods = recipe_with(tmp_path, "{periods: [[2018-01-01, 2018-06-30], [2018-07-01, 2018-12-31]], variables: [ndvi]}")
    assert periods.steps.periods == (("2018-01-01", "2018-06-30"), ("2018-07-01", "2018-12-31"))
    assert load_recipe("s2_ndvi_monthly").steps.smooth == 1.0  # the best on Romania (docs/timeseries.md)
    assert recipe_with(tmp_path, "{every: 1M, variables: [ndvi], smooth: {order: 1}}").steps.smooth == "vcurve"


@pytest.mark.parametrize("steps, extra, fragment", [
    ("{every: 2W, variables: [ndvi]}", "", "unknown step length '2W'"),
    ("{every: 1M, variables: [ndvi], smooth: {lambda: 0}}", "", "'steps.smooth.lambda' must be a number > 0"),
    ("{every: 1M, variables: [ndvi], smooth: {lambda: -5}}", "", "'steps.smooth.lambda' must be a number > 0"),
    ("{every: 1M, variables: [evi]}", "", "unknown variable 'evi' in steps.variables"),
    ("{every: 1M, periods: [[2018-01-01, 2018-02-01]], variables: [ndvi]}", "", "exactly one of every"),
    ("{every: 1M, variables: [ndvi], composite: mode}", "", "unknown composite 'mode'"),
    ("{every: 1M, variables: [ndvi]}", "reducers: {ndvi: [mean]}\n", "'reducers' cannot go with 'steps'"),
])
def test_bad_steps_sections(tmp_path, steps, extra, fragment):
    with pytest.raises(InvalidInputError, match="recipe ts_test: ") as err:
        recipe_with(tmp_path, steps, extra)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_block_reflectance_conversion_and_refusal():
    from antares.pipeline.timeseries_blocks import reflectance
    from antares.recipes.blockwise import Conversion

    dn = np.array([[[0, 1000], [2500, 10000]], [[5, 0], [7, 8]]], np.uint16)
    conv = Conversion(True, np.array([-1000, 0], np.float32), np.array([1e-4, 2e-4], np.float32), 0)
    got = reflectance(dn, conv, "B04")
    expected = np.where(dn == 0, np.nan, (dn.astype(np.float32) + np.array([-1000, 0], np.float32)[:, None, None])
                        * np.array([1e-4, 2e-4], np.float32)[:, None, None])
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    with pytest.raises(InvalidInputError, match="measurement B04 must be floating reflectance"):
        reflectance(dn, Conversion(False), "B04")


@pytest.mark.parametrize("lam, weights", [(10.0, "count"), ("vcurve", "clear"), ("vcurve", "count"), (None, "clear")])
def test_fused_regularise_equals_the_separate_steps(series, lam, weights):
    """regularise's one-pass loop against gapfill_linear, whittaker / vcurve_lambda and the edge rule, on (step, y, x)."""
    y, _ = series
    y = y[:24, :120].astype(np.float32).reshape(24, 10, 12)
    y[:, 0, 0] = np.nan  # no observation
    y[:, 0, 1] = np.nan
    y[5, 0, 1] = 0.5  # one observation: singular, keeps the filled series
    y[:4, 1, 0] = np.nan  # leading and trailing edges
    y[-3:, 1, 0] = np.nan
    rng = np.random.default_rng(7)
    counts = np.where(np.isnan(y), 0, rng.integers(1, 5, y.shape)).astype(np.int32)
    t = np.cumsum(rng.uniform(20, 40, 24))
    out, flag = regularise(y, counts, t, "linear", lam, 2, weights)
    filled, want_flag = gapfill_linear(y, t)
    assert np.array_equal(flag, want_flag)
    if lam is None:
        assert np.array_equal(out, filled, equal_nan=True)
        return
    observed = ~np.isnan(y)
    w = observed.astype(float) if weights == "clear" else counts.astype(float)
    lam_px = vcurve_lambda(y, w, 2) if lam == "vcurve" else lam
    z = whittaker(y, w, lam_px, 2)
    for j in np.ndindex(y.shape[1:]):
        col = (slice(None),) + j
        seen = np.flatnonzero(observed[col])
        if not seen.size:
            assert np.isnan(out[col]).all() and (flag[col] == 255).all()
            continue
        if np.isnan(z[col]).any():  # too few observations to smooth
            np.testing.assert_array_equal(out[col], filled[col])
            continue
        want = z[col].copy()
        want[:seen[0]], want[seen[-1] + 1:] = want[seen[0]], want[seen[-1]]
        np.testing.assert_allclose(out[col], want.astype(np.float32), rtol=1e-6, atol=1e-7)
    assert np.isnan(out[:, 0, 0]).all() and np.array_equal(out[:, 0, 1], filled[:, 0, 1])


def test_median_composite_of_interleaved_steps_and_nan_values():
    """Times of a step need not be consecutive; a valid observation that is NaN counts but is not composited."""
    rng = np.random.default_rng(11)
    nt = 15
    red = rng.uniform(0.02, 0.2, (nt, 9)).astype(np.float32)
    valid = rng.random((nt, 9)) > 0.3
    red[2, 3] = np.nan
    valid[2, 3] = True
    which = rng.integers(-1, 4, nt)
    out, counts = composite({"red": red}, valid, which, 4, "median")
    for k in range(4):
        sel = which == k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(np.where(valid[sel], red[sel], np.nan), axis=0)
        np.testing.assert_array_equal(out["red"][k], expected.astype(np.float32))
        assert np.array_equal(counts[k], valid[sel].sum(axis=0))


@pytest.mark.parametrize("smooth", ["{lambda: 1}", "{lambda: vcurve}"])
def test_raw_block_series_equals_the_reflectance_path(tmp_path, smooth):
    """A median of input measurements taken straight from the DN equals the reflectance arrays' path, value for value."""
    from types import SimpleNamespace

    from antares.cube.blockread import TileBlock
    from antares.pipeline.timeseries_blocks import _block_inputs, _raw_block_series, _raw_conversions, series_block
    from antares.timeseries import step_calendar

    text = textwrap.dedent(STEPS_RECIPE % f"{{every: 1M, variables: [red, nir], smooth: {smooth}}}")
    (tmp_path / "ts_test.yaml").write_text(text.replace("keep: [4, 5]}", "keep: [4, 5], dilate: 1}"))
    recipe = load_recipe(str(tmp_path / "ts_test.yaml"))
    rng = np.random.default_rng(5)
    nt, h, w = 30, 9, 11
    m = recipe.mask.margin
    times = np.array(sorted(np.datetime64("2021-01-01") + rng.choice(365, nt, replace=False)), "datetime64[ns]")
    raw = {"B04": rng.integers(1, 3000, (nt, h, w)).astype(np.uint16), "B08": rng.integers(1, 6000, (nt, h, w)).astype(np.uint16)}
    raw["B04"][rng.random((nt, h, w)) < 0.1] = 0  # nodata in one band only: the observation is not used
    scl = rng.choice(np.array([4, 5, 8, 9, 0], np.uint8), (nt, h + 2 * m, w + 2 * m), p=[0.5, 0.2, 0.15, 0.1, 0.05])
    offsets = {"B04": np.where(times < np.datetime64("2021-06-01"), 0, -1000).astype(np.float32)}
    offsets["B08"] = offsets["B04"]

    def offset_scale(name):
        return offsets[name], np.full(nt, 1e-4, np.float32)

    block = TileBlock(slice(0, h), slice(0, w), raw, scl, times, offset_scale)
    definitions = {b: {"dtype": "uint16", "nodata": 0, "units": "1", "scale_factor": 1e-4} for b in ("B04", "B08")}
    definitions["SCL"] = {"dtype": "uint8", "nodata": 0, "units": "1"}
    job = SimpleNamespace(measurements={"red": "B04", "nir": "B08", "scl": "SCL"})
    steps = step_calendar("2021-01-01", "2021-12-31", "1M")
    conversions = _raw_conversions(recipe, job, block, definitions, [])
    assert conversions is not None
    got = _raw_block_series(recipe, job, block, conversions, definitions, [], steps)
    variables, valid = _block_inputs(recipe, job, block, definitions, [])
    want = series_block(recipe, variables, valid, times, steps)
    assert set(got) == set(want) == {"red", "nir", "clear_count", "filled"}
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
    assert (want["filled"] == FILLED_INSIDE).any() and (want["clear_count"] > 1).any()
    mean = recipe_with(tmp_path, "{every: 1M, variables: [red], composite: mean}")
    assert _raw_conversions(mean, job, block, definitions, []) is None  # other composites take the reflectance path


def test_step_files_group_outputs_by_declared_dtype():
    from antares.pipeline.timeseries import step_files, stored_types
    from antares.recipes.specs import OutputSpec

    outputs = [OutputSpec("red"), OutputSpec("nir"), OutputSpec("clear_count", dtype="uint16", nodata=65535),
               OutputSpec("filled", dtype="uint16", nodata=65535)]
    definition = {"measurements": [o.measurement() for o in outputs]}
    stored = stored_types(definition)
    assert np.isnan(stored["red"][1]) and stored["filled"] == ("uint16", 65535)
    names = [o.name for o in outputs]
    layout = step_files(names, stored)
    assert list(layout) == ["", "_qa"]
    assert layout[""][0] == "float32" and layout[""][2] == ["red", "nir"]
    assert layout["_qa"] == ("uint16", 65535, ["clear_count", "filled"])
    # a product defined with float32 QA bands (before they were integers): one float32 file per step
    old = stored_types({"measurements": [dict(o.measurement(), dtype="float32", nodata="NaN") for o in outputs]})
    assert list(step_files(names, old)) == [""] and step_files(names, old)[""][2] == names


def test_uint16_outputs_store_whole_numbers_and_refuse_others():
    from antares.recipes.specs import OutputSpec

    spec = OutputSpec("clear_count", dtype="uint16", nodata=65535)
    values = np.array([[0, 3, np.nan], [65534, 1, 2]], np.float32)
    stored = spec.encode_array(values)
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored, [[0, 3, 65535], [65534, 1, 2]])
    assert spec.measurement() == {"name": "clear_count", "dtype": "uint16", "nodata": 65535, "units": "1"}
    for bad in (65535.0, -1.0, 0.5):
        with pytest.raises(ValueError, match="clear_count"):
            spec.encode_array(np.array([1.0, bad], np.float32))
