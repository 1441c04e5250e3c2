"""Change methods (antares.change) against independent computations of the published equations.

iMAD (Nielsen 2007) is re-derived here by another route (whitening by inverse square roots and an SVD of the
whitened cross-covariance, weighted covariances from numpy.cov); MAF shifts are re-counted pair by pair;
distance is scikit-image's match_histograms followed by numpy; Kapur's threshold is a plain loop over cuts.
"""

import numpy as np
import pytest
from scipy.stats import chi2

from antares.change import CHANGE_METHODS, get_change_method
from antares.change.base import NODATA, _Sampler, pixel_keys
from antares.change.distance import Distance
from antares.change.imad import imad, maf_transform, spatial_difference_covariance
from antares.change.threshold import chi2_threshold, kapur, otsu
from antares.errors import InvalidInputError, UsageError
from helpers import reference_imad


def _pair(seed=0, shape=(60, 70), bands=4, changed=((10, 25), (12, 30))):
    """Pre/post stacks (bands, y, x): a spatially smooth scene, post a linear mixture of pre plus noise and a
    changed block."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    pre = np.stack([gaussian_filter(rng.normal(size=shape), 2) * 10 + rng.normal(size=shape) for _ in range(bands)])
    mix = np.eye(bands) * 1.3 + 0.2 * rng.normal(size=(bands, bands))
    post = np.einsum("ij,jyx->iyx", mix, pre) + 5 + 0.8 * rng.normal(size=pre.shape)
    (r0, r1), (c0, c1) = changed
    post[:, r0:r1, c0:c1] += rng.normal(6, 1, size=(bands, 1, 1))
    return pre, post


def _pixels(pre, post):
    valid = np.isfinite(pre).all(0) & np.isfinite(post).all(0)
    return pre[:, valid].T, post[:, valid].T


@pytest.mark.parametrize("iterations", [1, 7])
def test_imad_equals_the_published_equations(iterations):
    x, y = _pixels(*_pair())
    fit = imad(x, y, max_iterations=iterations, min_delta=0.0)
    rho, mad, z = reference_imad(x, y, iterations)
    assert fit.iterations == iterations
    np.testing.assert_allclose(fit.rho, rho, atol=1e-6)
    ours = fit.variates(x, y)
    signs = np.sign((ours * mad).sum(axis=0))  # the SVD route fixes no sign
    np.testing.assert_allclose(ours, mad * signs, atol=1e-6)
    np.testing.assert_allclose(fit.chi2(x, y), z, rtol=1e-6, atol=1e-8)
    # the MAD variates are uncorrelated with variance 2 (1 - rho) under the weights of the last analysis
    assert np.all(np.diff(fit.rho) >= 0)


def test_imad_is_invariant_to_a_linear_transform_of_the_post_bands():
    pre, post = _pair(seed=1)
    rng = np.random.default_rng(5)
    transform = rng.normal(size=(4, 4)) + 3 * np.eye(4)
    moved = np.einsum("ij,jyx->iyx", transform, post) - 40.0
    x, y = _pixels(pre, post)
    _, y2 = _pixels(pre, moved)
    a, b = imad(x, y, max_iterations=30, min_delta=0.0), imad(x, y2, max_iterations=30, min_delta=0.0)
    np.testing.assert_allclose(a.rho, b.rho, atol=1e-8)
    np.testing.assert_allclose(a.chi2(x, y), b.chi2(x, y2), rtol=1e-6, atol=1e-6)
    one, two = get_change_method("imadmaf"), get_change_method("imadmaf")
    mask_one = one.fit(lambda: [(pre, post)]).detect(pre, post)[1]
    mask_two = two.fit(lambda: [(pre, moved)]).detect(pre, moved)[1]
    assert (mask_one == mask_two).mean() > 0.999


def test_imad_finds_the_changed_block():
    pre, post = _pair(seed=2)
    method = get_change_method("imadmaf", threshold="kapur").fit(lambda: [(pre, post)])
    change = method.detect(pre, post)[1]
    truth = np.zeros(change.shape, bool)
    truth[10:25, 12:30] = True
    assert change[truth].mean() > 0.95
    assert change[~truth].mean() < 0.05


def test_spatial_differences_use_valid_pairs_only_and_never_wrap():
    rng = np.random.default_rng(3)
    image = np.cumsum(rng.normal(size=(2, 9, 11)), axis=2)  # a drifting signal: wrapping would pair extremes
    valid = rng.random((9, 11)) > 0.2
    sums, count = spatial_difference_covariance(image, valid)
    expected, pairs = np.zeros((2, 2)), 0
    for r in range(9):
        for c in range(11):
            for r2, c2 in ((r, c + 1), (r + 1, c)):
                if r2 < 9 and c2 < 11 and valid[r, c] and valid[r2, c2]:
                    d = image[:, r, c] - image[:, r2, c2]
                    expected += np.outer(d, d)
                    pairs += 1
    assert count == pairs
    np.testing.assert_allclose(sums, expected, rtol=1e-12)
    full, n_full = spatial_difference_covariance(image)
    rolled = sum(((image - np.roll(image, 1, axis=k)).reshape(2, -1) @ (image - np.roll(image, 1, axis=k)).reshape(2, -1).T)
                 for k in (1, 2))
    assert n_full == 9 * 10 + 8 * 11
    assert not np.allclose(full, rolled)  # np.roll adds the pairs across the edges


def test_maf_orders_by_autocorrelation_and_keeps_the_chi_square():
    rng = np.random.default_rng(4)
    from scipy.ndimage import gaussian_filter

    smooth, noise = gaussian_filter(rng.normal(size=(80, 80)), 3), rng.normal(size=(80, 80))
    smooth /= smooth.std()
    image = np.stack([smooth + noise, smooth - noise])  # mixtures of a smooth and a white signal
    sums, count = spatial_difference_covariance(image)
    cov = np.cov(image.reshape(2, -1), bias=True)
    w, ratio = maf_transform(sums / count, cov)
    mafs = np.einsum("ij,iyx->jyx", w, image - image.mean(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(np.cov(mafs.reshape(2, -1), bias=True), np.eye(2), atol=1e-8)
    assert ratio[0] < ratio[1]
    first = mafs[0] / np.linalg.norm(mafs[0])
    assert abs((first * smooth).sum() / np.linalg.norm(smooth)) > 0.95  # the smooth signal comes first

    pre, post = _pair(seed=6)
    with_maf = get_change_method("imadmaf").fit(lambda: [(pre, post)])
    without = get_change_method("imadmaf", maf=False).fit(lambda: [(pre, post)])
    np.testing.assert_allclose(with_maf.rotation.T @ with_maf.rotation, np.eye(4), atol=1e-10)
    np.testing.assert_allclose(with_maf.score(pre, post), without.score(pre, post), rtol=1e-4)
    x, y = _pixels(pre, post)
    assert with_maf.threshold_value == pytest.approx(chi2.ppf(0.99, 4))
    np.testing.assert_allclose(with_maf.score(pre, post)[np.isfinite(pre).all(0)],
                               with_maf.fit_.chi2(x, y).astype(np.float32), rtol=1e-4)


def test_distance_equals_skimage_matching_then_numpy():
    from skimage.exposure import match_histograms

    pre, post = _pair(seed=7, bands=3)
    pre[1, 5, 5] = np.nan
    post[0, 6, 6] = np.nan
    method = get_change_method("distance").fit(lambda: [(pre, post)])
    score, change = method.detect(pre, post)
    valid = np.isfinite(pre).all(0) & np.isfinite(post).all(0)
    diff = np.stack([post[b][valid] - match_histograms(pre[b][valid], post[b][valid]) for b in range(3)])
    np.testing.assert_allclose(score[valid], np.sqrt((diff ** 2).sum(0)), rtol=1e-6)
    assert np.isnan(score[5, 5]) and change[5, 5] == NODATA and change[6, 6] == NODATA
    assert ((change == NODATA) == ~valid).all()
    one = get_change_method("distance", threshold=1.0).fit(lambda: [(pre[:1], post[:1])])
    valid = np.isfinite(pre[0]) & np.isfinite(post[0])  # one band: (5, 5) is valid again
    expected = np.abs(post[0][valid] - match_histograms(pre[0][valid], post[0][valid]))
    np.testing.assert_allclose(one.score(pre[:1], post[:1])[valid], expected, rtol=1e-6)
    assert ((one.detect(pre[:1], post[:1])[1] == 1) == (one.score(pre[:1], post[:1]) > 1.0)).all()


def test_tiles_share_one_transform_and_one_threshold():
    pre, post = _pair(seed=8)
    tiles = [(pre[:, :30], post[:, :30]), (pre[:, 30:], post[:, 30:])]
    for name in ("distance", "imadmaf"):
        method = get_change_method(name, threshold="otsu").fit(lambda: tiles)
        whole = method.detect(pre, post)
        for (a, b), rows in zip(tiles, (slice(0, 30), slice(30, None))):
            score, change = method.detect(a, b)
            np.testing.assert_array_equal(change, whole[1][rows])
            np.testing.assert_allclose(score, whole[0][rows])


def test_sample_is_fixed_by_the_seed_and_bounded():
    pre, post = _pair(seed=9, shape=(80, 80))
    a = get_change_method("imadmaf", max_samples=1000, seed=3).fit(lambda: [(pre, post)])
    b = get_change_method("imadmaf", max_samples=1000, seed=3).fit(lambda: [(pre, post)])
    c = get_change_method("imadmaf", max_samples=1000, seed=4).fit(lambda: [(pre, post)])
    assert len(a.fit_.weights) == 1000 and a.n_valid == 6400
    np.testing.assert_array_equal(a.fit_.rho, b.fit_.rho)
    assert not np.array_equal(a.fit_.rho, c.fit_.rho)


def reference_kapur(values, nbins):
    counts, edges = np.histogram(values, bins=nbins)
    p = counts / counts.sum()
    best, best_t = -np.inf, None
    for t in range(nbins - 1):
        p0, p1 = p[:t + 1].sum(), p[t + 1:].sum()
        if p0 <= 0 or p1 <= 0:
            continue
        q0, q1 = p[:t + 1][p[:t + 1] > 0] / p0, p[t + 1:][p[t + 1:] > 0] / p1
        h = -(q0 * np.log(q0)).sum() - (q1 * np.log(q1)).sum()
        if h > best:
            best, best_t = h, edges[t + 1]
    return best_t


def test_thresholds_against_independent_computations():
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(10)
    values = np.concatenate([rng.normal(0, 1, 5000), rng.normal(8, 1.5, 800), [np.nan, np.inf]])
    finite = values[np.isfinite(values)]
    assert kapur(values, 64) == pytest.approx(reference_kapur(finite, 64), rel=1e-12)
    assert kapur(values) == pytest.approx(reference_kapur(finite, 256), rel=1e-12)
    assert 2 < kapur(values) < 7
    assert otsu(values) == pytest.approx(threshold_otsu(finite), rel=1e-12)
    assert chi2_threshold(0.05, 3) == pytest.approx(7.814727903251178)
    z = chi2.rvs(4, size=200_000, random_state=1)
    assert (z > chi2_threshold(0.01, 4)).mean() == pytest.approx(0.01, abs=0.002)
    with pytest.raises(InvalidInputError):
        kapur([np.nan, np.nan])


def test_parameters_and_bad_input():
    assert list(CHANGE_METHODS)[:2] == ["distance", "imadmaf"] and CHANGE_METHODS.get("distance") is Distance
    with pytest.raises(UsageError, match="cannot be 'chi2'"):
        get_change_method("distance", threshold="chi2")
    with pytest.raises(UsageError, match="The 'threshold' parameter of imadmaf must be"):
        get_change_method("imadmaf", threshold="median")
    with pytest.raises(UsageError, match="unknown algorithm 'pca'"):
        get_change_method("pca")
    pre, post = _pair(seed=11)
    with pytest.raises(InvalidInputError, match="same bands"):
        get_change_method("distance").fit(lambda: [(pre, post[:3])])
    with pytest.raises(InvalidInputError, match="identical up to a linear transform"):
        get_change_method("imadmaf").fit(lambda: [(pre, 2 * pre + 1)])
    empty = np.full_like(pre, np.nan)
    with pytest.raises(InvalidInputError, match="valid in both dates"):
        get_change_method("imadmaf").fit(lambda: [(pre, empty)])
    with pytest.raises(InvalidInputError, match="call fit"):
        get_change_method("distance").detect(pre, post)


def test_change_objects_ids_mmu_and_polygons():
    import shapely.wkb
    from odc.geo.geobox import GeoBox

    from antares.pipeline.change import change_objects

    geobox = GeoBox.from_bbox((500000, 5800000, 500100, 5800080), "EPSG:32633", resolution=10)  # 8 x 10 pixels
    change = np.zeros(geobox.shape, np.uint8)
    change[0, 7:10] = 1         # 3 pixels, first in raster order
    change[2:5, 1:3] = 1        # 6 pixels
    change[6, 5] = 1            # 1 pixel: below an mmu of 200 m²
    change[3, 3] = 1            # touches the 6-pixel block: one 4-connected object of 7
    change[7, 0] = NODATA
    score = np.arange(change.size, dtype=np.float32).reshape(change.shape)
    rows, dropped = change_objects(change, score, geobox, 200.0)
    assert dropped == 1
    assert [(r["object_id"], r["pixel_count"], r["area_m2"]) for r in rows] == [(1, 3, 300.0), (2, 7, 700.0)]
    assert rows[0]["score"] == pytest.approx(score[0, 7:10].mean())
    for r in rows:
        geometry = shapely.wkb.loads(r["wkb"])
        assert geometry.geom_type == "MultiPolygon" and geometry.area == pytest.approx(r["area_m2"])
    assert shapely.wkb.loads(rows[0]["wkb"]).bounds == (500070.0, 5800070.0, 500100.0, 5800080.0)
    assert change_objects(np.zeros(geobox.shape, np.uint8), score, geobox, None) == ([], 0)


def test_majority_by_area_reports_ties():
    from antares.pipeline.change import majority

    assert majority({}) == (None, False)
    assert majority({3: 10.0, 1: 4.0}) == (3, False)
    assert majority({3: 5.0, 1: 5.0, 2: 1.0}) == (1, True)


def _reference_imadmaf(pre, post, components=None, **params):
    """The route of the published equations, step by step: iMAD on the valid pixels, the MAD image, the
    neighbour-difference covariance of that image (pairs counted one by one in spatial_difference_covariance),
    MAF, then the chi-square of the first ``components`` MAFs."""
    valid = np.isfinite(pre).all(0) & np.isfinite(post).all(0)
    x, y = pre[:, valid].T, post[:, valid].T
    fit = imad(x, y, **params)
    image = np.full(pre.shape, np.nan)
    image[:, valid] = (fit.variates(x, y) / fit.sigma).T
    sums, count = spatial_difference_covariance(image, valid)
    rotation, ratio = maf_transform(sums / count)
    mafs = (fit.variates(x, y) / fit.sigma) @ rotation
    score = np.full(valid.shape, np.nan)
    score[valid] = (mafs[:, :components or pre.shape[0]] ** 2).sum(axis=1)
    return fit, rotation, ratio, score


@pytest.mark.parametrize("components", [None, 2])
def test_one_pass_imadmaf_equals_the_reference_route(components):
    """The fitting pass gathers the neighbour differences of the stacked dates and maps them through the MAD
    transform in closed form; scoring is one (2p, k) product per pixel. Stated tolerance: 1e-9 relative
    (both routes compute in float64; they differ by summation order only)."""
    pre, post = _pair(seed=12, shape=(50, 64))
    pre[2, 3, 4] = np.nan
    post[:, 20:22, 40:45] = np.nan
    params = dict(max_iterations=8, min_delta=0.0)
    method = get_change_method("imadmaf", max_samples=10_000, components=components, **params)
    method.fit(lambda: [(pre, post)])
    fit, rotation, ratio, score = _reference_imadmaf(pre, post, components, **params)
    np.testing.assert_allclose(method.fit_.rho, fit.rho, rtol=1e-9)
    np.testing.assert_allclose(method.rotation, rotation, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(method.maf_ratio, ratio, rtol=1e-9)
    ours = method.score(pre, post)
    assert ours.dtype == np.float32 and (np.isnan(ours) == np.isnan(score)).all()
    np.testing.assert_allclose(ours, score.astype(np.float32), rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(method._score_tile(pre, post, np.isfinite(score)), score, rtol=1e-6, equal_nan=True)
    x, y = _pixels(pre, post)
    np.testing.assert_allclose(method._score(x, y), score[np.isfinite(score)], rtol=1e-9)


def test_a_tiled_fit_equals_the_untiled_fit():
    """Tiles with positions, of uneven sizes and in any order, give the sample, the transform and the threshold
    of the whole area (the sample's keys depend on pixel positions; MAF's pairs across tile edges are
    completed from the tiles' edge rows and columns); float32 input gives what its float64 copy gives."""
    pre, post = _pair(seed=13, shape=(70, 90))
    pre[1, 30:33, 29:31] = np.nan  # nodata across a tile edge
    rows, cols = (0, 23, 41, 70), (0, 30, 31, 90)
    tiles = [(pre[:, r0:r1, c0:c1], post[:, r0:r1, c0:c1], (r0, c0))
             for r0, r1 in zip(rows, rows[1:]) for c0, c1 in zip(cols, cols[1:])]
    rng = np.random.default_rng(0)
    tiles = [tiles[i] for i in rng.permutation(len(tiles))]
    assert len({t[2] for t in tiles}) == 9
    for threshold in ("chi2", "otsu"):
        whole = get_change_method("imadmaf", max_samples=1000, threshold=threshold).fit(lambda: [(pre, post, (0, 0))])
        tiled = get_change_method("imadmaf", max_samples=1000, threshold=threshold).fit(lambda: tiles)
        np.testing.assert_array_equal(tiled.fit_.rho, whole.fit_.rho)  # one sample, in one order
        np.testing.assert_allclose(tiled.rotation, whole.rotation, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(tiled.threshold_value, whole.threshold_value, rtol=1e-10)
        score, change = whole.detect(pre, post)
        for a, b, (r0, c0) in tiles:
            tile_score, tile_change = tiled.detect(a, b)
            window = (slice(r0, r0 + a.shape[1]), slice(c0, c0 + a.shape[2]))
            np.testing.assert_allclose(tile_score, score[window], rtol=1e-6, equal_nan=True)
            np.testing.assert_array_equal(tile_change, change[window])
    # and the untiled fit is the reference route's (the sample then holds every valid pixel)
    every = get_change_method("imadmaf", max_samples=10_000).fit(lambda: tiles)
    np.testing.assert_allclose(every.rotation, _reference_imadmaf(pre, post, min_delta=1e-3)[1], rtol=1e-9,
                               atol=1e-12)
    without_positions = get_change_method("imadmaf", max_samples=1000).fit(lambda: [t[:2] for t in tiles])
    assert not np.allclose(without_positions.rotation, whole.rotation, atol=1e-6)
    as32 = get_change_method("imadmaf", max_samples=1000).fit(
        lambda: [(a.astype(np.float32), b.astype(np.float32), o) for a, b, o in tiles])
    exact = get_change_method("imadmaf", max_samples=1000).fit(
        lambda: [(a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64), o)
                 for a, b, o in tiles])
    np.testing.assert_array_equal(as32.fit_.rho, exact.fit_.rho)
    np.testing.assert_allclose(as32.rotation, exact.rotation, rtol=1e-10, atol=1e-13)


def test_float32_tiles_score_within_the_stated_tolerance():
    """float32 input is scored in float32 on pixels centred on the means (1e-4 relative stated, about 1e-6
    seen); the fit and the threshold are float64 and identical to those of the float64 copy."""
    pre, post = _pair(seed=14, shape=(64, 64))
    pre, post = (1000 + 30 * pre).astype(np.float32), (1000 + 30 * post).astype(np.float32)  # reflectance-like
    pre[0, 7, 9] = np.nan
    single = get_change_method("imadmaf", max_samples=10_000).fit(lambda: [(pre, post)])
    double = get_change_method("imadmaf", max_samples=10_000).fit(lambda: [(pre.astype(float), post.astype(float))])
    np.testing.assert_array_equal(single.fit_.rho, double.fit_.rho)
    assert single.threshold_value == double.threshold_value
    reference = _reference_imadmaf(pre.astype(float), post.astype(float), min_delta=1e-3)[3]
    score, change = single.detect(pre, post)
    np.testing.assert_allclose(score, reference, rtol=1e-4, atol=1e-6, equal_nan=True)
    near = np.abs(reference - single.threshold_value) < 1e-4 * single.threshold_value
    valid = np.isfinite(reference)
    np.testing.assert_array_equal(change[valid & ~near], (reference > single.threshold_value)[valid & ~near])
    assert change[7, 9] == NODATA and 0 < change[valid].mean() < 0.5


def test_transition_legend_codes_names_and_colours():
    from antares.legend import LegendEntry
    from antares.pipeline.change_raster import CHANGE_COLOUR, transition_legend

    legend = [LegendEntry(1, "forest", "#228b22"), LegendEntry(2, "open land", "#f5deb3")]
    codes, entries = transition_legend([(2, 1), (1, 2), (None, 2), (1, 2)], legend)
    assert codes == {(None, 2): 1, (1, 2): 2, (2, 1): 3}
    assert [(e.code, e.name, e.colour) for e in entries] == [
        (1, "no class → open land", "#f5deb3"), (2, "forest → open land", "#f5deb3"), (3, "open land → forest", "#228b22")]
    assert transition_legend([(None, None)], []) == ({(None, None): 1}, [LegendEntry(1, "change", CHANGE_COLOUR)])
    assert transition_legend([(1, 7)], legend)[1][0] == LegendEntry(1, "forest → class 7", CHANGE_COLOUR)


def test_a_refit_after_an_interrupted_fit_starts_afresh():
    pre, post = _pair(seed=15)

    def broken():
        yield pre[:, :30], post[:, :30], (0, 0)
        raise OSError("a tile could not be read")

    method = get_change_method("imadmaf", max_samples=10_000)
    with pytest.raises(OSError):
        method.fit(broken)
    method.fit(lambda: [(pre, post, (0, 0))])
    fresh = get_change_method("imadmaf", max_samples=10_000).fit(lambda: [(pre, post, (0, 0))])
    np.testing.assert_array_equal(method.rotation, fresh.rotation)
    assert method.threshold_value == fresh.threshold_value


def test_parts_made_per_tile_and_merged_in_any_order_give_the_sequential_fit():
    """The fit's per-tile half (:meth:`fit_part`, what a dask worker runs: no cut known, pickled back) merged in
    any order by :meth:`fit_parts` gives exactly the fit of :meth:`fit` over the same tiles (sample bit for
    bit, neighbour sums added in the order of the tiles' positions); a part holds at most ``max_samples``
    pixels whatever the tile's size."""
    import pickle

    pre, post = _pair(seed=16, shape=(70, 90))
    pre[2, 40:44, 58:62] = np.nan  # nodata across a tile edge
    rows, cols = (0, 35, 70), (0, 30, 60, 90)
    tiles = [(pre[:, r0:r1, c0:c1].astype(np.float32), post[:, r0:r1, c0:c1].astype(np.float32), (r0, c0))
             for r0, r1 in zip(rows, rows[1:]) for c0, c1 in zip(cols, cols[1:])]
    for name, threshold in (("imadmaf", "otsu"), ("imadmaf", "chi2"), ("distance", "kapur")):
        sequential = get_change_method(name, max_samples=1000, threshold=threshold).fit(lambda: tiles)
        method = get_change_method(name, max_samples=1000, threshold=threshold)
        parts = [pickle.loads(pickle.dumps(method.fit_part(a, b, o))) for a, b, o in tiles]
        assert all(len(p.bits) == min(1000, p.valid) for p in parts) and sum(p.valid for p in parts) == 6284
        merged = method.fit_parts(parts[i] for i in np.random.default_rng(1).permutation(len(parts)))
        assert merged.threshold_value == sequential.threshold_value and merged.n_valid == sequential.n_valid == 6284
        if name == "imadmaf":
            np.testing.assert_array_equal(merged.fit_.rho, sequential.fit_.rho)
            np.testing.assert_array_equal(merged.rotation, sequential.rotation)
            np.testing.assert_array_equal(merged.fit_.weights, sequential.fit_.weights)
        for a, b, _ in tiles:
            np.testing.assert_array_equal(merged.detect(a, b)[1], sequential.detect(a, b)[1])
    # and the sample is the area's: the smallest keys of the valid pixels, in the order of their keys
    valid = np.isfinite(pre).all(0) & np.isfinite(post).all(0)
    r, c = np.nonzero(valid)
    keys = pixel_keys(r, c, 0)
    first = np.argsort(keys)[:1000]
    method = get_change_method("imadmaf", max_samples=1000)
    sampler = _Sampler(1000, 0)
    for part in reversed([method.fit_part(a, b, o) for a, b, o in tiles]):
        sampler.add(part.bits, part.pre, part.post, part.valid)
    x, _ = sampler.result()
    np.testing.assert_array_equal(x, pre[:, r[first], c[first]].T.astype(np.float32))


@pytest.mark.parametrize("nodata", [0.0, 0.5, 0.95])
def test_a_tile_part_holds_its_smallest_keys_whatever_its_nodata(nodata):
    """A part's candidates are the tile's valid pixels of smallest keys (checked by sorting every valid pixel's
    key), whether the quick key level holds enough of them (little nodata) or not (mostly nodata)."""
    rng = np.random.default_rng(17)
    pre = rng.normal(size=(2, 200, 150)).astype(np.float32)
    post = pre + rng.normal(size=pre.shape).astype(np.float32)
    pre[0][rng.random((200, 150)) < nodata] = np.nan
    part = get_change_method("imadmaf", max_samples=1000).fit_part(pre, post, (400, 250))
    r, c = np.nonzero(np.isfinite(pre).all(0))
    smallest = np.argsort(pixel_keys(r + 400, c + 250, 0))[:1000]
    assert part.valid == len(r) and len(part.bits) == min(1000, len(r))
    order = np.argsort(part.bits)
    np.testing.assert_array_equal(part.bits[order].astype(np.float64) * 2.0 ** -53,
                                  pixel_keys(r[smallest] + 400, c[smallest] + 250, 0))
    np.testing.assert_array_equal(part.pre[order], pre[:, r[smallest], c[smallest]].T)
    np.testing.assert_array_equal(part.post[order], post[:, r[smallest], c[smallest]].T)
