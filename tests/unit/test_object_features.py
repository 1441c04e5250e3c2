"""Per-object percentiles (against numpy.nanpercentile) and shape features of segment polygons (against pixel
counts, crack lengths counted in numpy, scikit-image regionprops and a brute-force minimum-area rectangle)."""

import numpy as np
import pytest
from affine import Affine

from antares.errors import InvalidInputError

PIXEL = 10.0


def _labels():
    """Objects of known shapes on a 60 x 80 raster: rectangles, an L, a rotated bar, a ring, two-part object."""
    from skimage.draw import polygon

    lab = np.zeros((60, 80), np.int32)
    lab[2:12, 2:32] = 1              # 10 x 30 rectangle
    lab[15:25, 2:12] = 2             # square
    lab[30:50, 2:6] = 3              # L
    lab[46:50, 6:20] = 3
    rr, cc = polygon([20, 35, 55, 40], [40, 30, 60, 70], lab.shape)
    lab[rr, cc] = 4                  # rotated quadrilateral
    lab[2:14, 50:62] = 5             # ring (a hole of 4 x 4)
    lab[6:10, 56:60] = 0
    lab[52:56, 70:74] = 6            # two parts
    lab[52:56, 76:80] = 6
    return lab


def _crack_perimeter(lab, k):
    """Pixel edges between object k and anything else (including outside the raster), times the pixel size."""
    m = np.pad(lab == k, 1)
    return PIXEL * (np.count_nonzero(m[1:, :] != m[:-1, :]) + np.count_nonzero(m[:, 1:] != m[:, :-1]))


def _min_rectangle(lab, k):
    """Brute force: area and sides of the least-area rectangle around the pixel corners, angles every 0.01 degree."""
    from scipy.spatial import ConvexHull

    r, c = np.nonzero(lab == k)
    corners = np.concatenate([np.c_[c + dx, r + dy] for dx in (0, 1) for dy in (0, 1)]) * PIXEL
    hull = corners[ConvexHull(corners).vertices]
    best = None
    for a in np.deg2rad(np.arange(0, 90, 0.01)):
        rot = hull @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        w, h = np.ptp(rot, axis=0)
        if best is None or w * h < best[0]:
            best = (w * h, min(w, h), max(w, h))
    return best


def test_shape_features_against_independent_computations():
    import shapely
    from skimage.measure import regionprops

    from antares.object_features import SHAPE_FEATURES, shape_features
    from antares.segmentation.polygonize import polygon_rows

    lab = _labels()
    rows = polygon_rows(lab, 0, Affine(PIXEL, 0, 500000, 0, -PIXEL, 4000000), 32633)
    geoms = shapely.from_wkb([bytes.fromhex(r[1]) for r in rows])
    got = shape_features(geoms)
    assert got.shape == (6, len(SHAPE_FEATURES))
    props = {p.label: p for p in regionprops(lab)}
    for i, (k, *_rest) in enumerate(rows):
        area, perimeter, compactness, elongation, rectangularity = got[i]
        assert area == pytest.approx(props[k].area * PIXEL ** 2, rel=1e-12)
        assert area == pytest.approx(np.count_nonzero(lab == k) * PIXEL ** 2, rel=1e-12)
        assert perimeter == pytest.approx(_crack_perimeter(lab, k), rel=1e-12)
        assert compactness == pytest.approx(4 * np.pi * area / perimeter ** 2, rel=1e-12)
        rect_area, short, long = _min_rectangle(lab, k)
        assert rectangularity == pytest.approx(area / rect_area, rel=2e-3)
        assert elongation == pytest.approx(1 - short / long, abs=3e-3)
    # the closed forms of the simple shapes
    assert got[0, 3] == pytest.approx(1 - 10 / 30) and got[0, 4] == pytest.approx(1.0)
    assert got[1, 2] == pytest.approx(np.pi / 4) and got[1, 3] == pytest.approx(0.0, abs=1e-12)
    assert got[4, 1] == pytest.approx(PIXEL * (4 * 12 + 4 * 4))  # the ring: outer and inner boundary


def test_shape_features_of_missing_and_empty_geometries_and_refusals():
    import shapely

    from antares.object_features import shape_features

    got = shape_features(np.array([None, shapely.Polygon(), shapely.box(0, 0, 20, 10)], dtype=object))
    assert np.isnan(got[:2]).all()
    np.testing.assert_allclose(got[2], [200, 60, 4 * np.pi * 200 / 3600, 0.5, 1.0])
    with pytest.raises(InvalidInputError, match="need polygons"):
        shape_features([shapely.Point(0, 0)])


@pytest.mark.parametrize("q", [[50], [0, 10, 25, 75, 90, 100], 33.3])
def test_percentiles_equal_numpy_nanpercentile(q):
    from antares.object_features import object_percentiles, percentile_names

    rng = np.random.default_rng(1)
    lab = rng.integers(0, 40, (50, 70)) * 1000  # sparse ids, label 0 = none
    lab[:5, :5] = 999_000                       # an object whose pixels are all NaN in band 1
    values = rng.normal(size=(3, 50, 70))
    values[rng.random(values.shape) < 0.2] = np.nan
    values[1, :5, :5] = np.nan
    ids, got = object_percentiles(lab, values.astype(np.float32), q)
    qs = np.atleast_1d(q)
    assert got.shape == (len(ids), len(qs) * 3)
    np.testing.assert_array_equal(ids, np.unique(lab[lab != 0]))
    for i, k in enumerate(ids):
        for j, qq in enumerate(qs):
            for b in range(3):
                v = values[b].astype(np.float32).astype(np.float64)[lab == k]
                if np.isnan(v).all():
                    assert np.isnan(got[i, j * 3 + b])
                else:
                    assert got[i, j * 3 + b] == pytest.approx(np.nanpercentile(v, qq), rel=1e-12, abs=1e-12)
    assert percentile_names(["a", "b"], qs)[:2] == [f"a_p{qs[0]:g}", f"b_p{qs[0]:g}"]


def test_median_percentile_equals_object_medians_and_refusals():
    from antares.features import object_medians
    from antares.object_features import object_percentiles

    rng = np.random.default_rng(2)
    lab = rng.integers(0, 9, 500)
    values = rng.normal(size=(2, 500))
    ids, p50 = object_percentiles(lab, values, 50)
    ids2, med = object_medians(lab, values)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_allclose(p50, med, rtol=1e-12)
    with pytest.raises(InvalidInputError, match="percentiles must be numbers in \\[0, 100\\]"):
        object_percentiles(lab, values, [50, 101])
    with pytest.raises(InvalidInputError, match="do not match"):
        object_percentiles(lab, values[:, :-1], 50)


def test_object_series_merged_over_tiles_equal_the_whole_raster_means():
    """merge_series of tiles (objects crossing their edges, a tile without one date) = numpy means of the whole raster."""
    from antares.features import partial_statistics
    from antares.pipeline.object_timeseries import merge_series

    rng = np.random.default_rng(4)
    lab = np.repeat(np.repeat(rng.integers(0, 12, (6, 8)), 5, axis=0), 5, axis=1)  # 30 x 40, blocks cross tiles
    values = rng.normal(size=(3, 2, 30, 40))  # 3 times, 2 bands
    values[rng.random(values.shape) < 0.3] = np.nan
    times = np.array(["2020-01-15", "2020-02-15", "2020-03-15"], "datetime64[ns]")
    tiles = [(slice(0, 17), slice(0, 23)), (slice(0, 17), slice(23, 40)), (slice(17, 30), slice(0, 40))]
    results = []
    for n, (ys, xs) in enumerate(tiles):
        keep = [0, 2] if n == 1 else [0, 1, 2]  # a tile without the second date
        results.append((times[keep], [partial_statistics(lab[ys, xs], values[t][:, ys, xs]) for t in keep]))
    ids, got_times, mean, count = merge_series(results)
    np.testing.assert_array_equal(ids, np.unique(lab[lab > 0]))
    np.testing.assert_array_equal(got_times, times)
    for t in range(3):
        for b in range(2):
            v = values[t, b].copy()
            if t == 1:
                v[tiles[1]] = np.nan  # not read there
            for i, k in enumerate(ids):
                px = v[lab == k]
                assert count[t, i, b] == np.count_nonzero(~np.isnan(px))
                if count[t, i, b]:
                    assert mean[t, i, b] == pytest.approx(np.nanmean(px), rel=1e-12)
                else:
                    assert np.isnan(mean[t, i, b])


def test_training_aggregation_by_percentile_equals_rasterize_and_nanpercentile():
    """model_fit's per-polygon features with -sp p75: numpy.nanpercentile of the pixels whose centre is inside."""
    import shapely
    from rasterio.features import rasterize

    from antares.models.samples import aggregate, block_partials, is_aggregation, overlap_layers

    rng = np.random.default_rng(7)
    affine = Affine(10, 0, 1000, 0, -10, 2000)
    values = rng.normal(size=(2, 40, 50)).astype(np.float32)
    values[rng.random(values.shape) < 0.15] = np.nan
    geoms = np.array([shapely.box(1000 + 10 * a, 2000 - 10 * b - 10 * h, 1000 + 10 * a + 10 * w, 2000 - 10 * b)
                      for a, b, w, h in rng.integers(1, 20, (12, 4))], dtype=object)
    geoms[3] = shapely.Point(1000 + 10 * 7.5, 2000 - 10 * 9.5)  # a point reads its pixel
    parts, pixels = block_partials(values, affine, geoms, overlap_layers(geoms), True)
    features, n_pixels, _ = aggregate(parts, pixels, len(geoms), "p75")
    for i, g in enumerate(geoms):
        if g.geom_type == "Point":
            inside = np.zeros((40, 50), bool)
            inside[9, 7] = True
        else:
            inside = rasterize([g], out_shape=(40, 50), transform=affine).astype(bool)
        assert n_pixels[i] == inside.sum()
        for b in range(2):
            v = values[b][inside].astype(np.float64)
            want = np.nanpercentile(v, 75) if np.isfinite(v).any() else np.nan
            np.testing.assert_allclose(features[i, b], want, rtol=1e-12, equal_nan=True)
    assert all(map(is_aggregation, ["p0", "p5", "p90", "p100", "median"]))
    assert not any(map(is_aggregation, ["p101", "p05", "p-1", "q90", "p9.5", None]))


def test_several_statistics_per_object_equal_numpy_in_statistic_major_columns():
    """object_statistics / aggregate of 'mean std p90 min': numpy.nanmean, nanstd (ddof 0), nanpercentile, nanmin per
    object and band, every band of one statistic before the next; the shape columns are appended by id."""
    from antares.features import partial_statistics
    from antares.models.samples import aggregate, feature_columns, object_statistics, with_shape

    rng = np.random.default_rng(3)
    lab = _labels()
    values = rng.normal(size=(2, *lab.shape))
    values[0, rng.random(lab.shape) < 0.1] = np.nan
    ids, got = object_statistics(lab, values, "mean std p90 min")
    expected = []
    for k in ids:
        px = values[:, lab == k]
        expected.append(np.r_[np.nanmean(px, axis=1), np.nanstd(px, axis=1), np.nanpercentile(px, 90, axis=1),
                              np.nanmin(px, axis=1)])
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-12)
    assert feature_columns(["a", "b"], "mean std p90 min shape") == [
        "a_mean", "b_mean", "a_std", "b_std", "a_p90", "b_p90", "a_min", "b_min",
        "area", "perimeter", "compactness", "elongation", "rectangularity"]
    # aggregate over pixels (samples 0..n-1) and over mergeable accumulators give the same table
    flat, vals = lab.reshape(-1), values.reshape(2, -1)
    inside = flat > 0
    pixels = (flat[inside] - 1, vals[:, inside])
    parts = [partial_statistics(lab, values)]
    by_px, n_px, valid = aggregate(parts, pixels, int(lab.max()), "mean p90")
    np.testing.assert_allclose(by_px, np.array(expected)[:, [0, 1, 4, 5]], rtol=1e-12)
    merged, _, _ = aggregate(parts, None, int(lab.max()), "std mean")
    np.testing.assert_allclose(merged, np.array(expected)[:, [2, 3, 0, 1]], rtol=1e-12)
    assert n_px.tolist() == np.bincount(flat, minlength=lab.max() + 1)[1:].tolist() and valid.all()
    shapes = (np.array([2, 5]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    out = with_shape(np.array([5, 1, 2]), np.zeros((3, 1)), shapes)
    np.testing.assert_array_equal(out[:, 1:], [[3, 4], [np.nan, np.nan], [1, 2]])


@pytest.mark.parametrize("spec, fragment", [
    ("shape", "no statistic"), ("mean mean", "twice"), ("mean mode", "unknown aggregation 'mode'"), ("", "no statistic")])
def test_bad_object_feature_specifications(spec, fragment):
    from antares.errors import UsageError
    from antares.models.samples import parse_aggregation
    from antares.pipeline.requests import FitRequest

    with pytest.raises(ValueError, match=fragment):
        parse_aggregation(spec)
    if spec.count(" "):
        with pytest.raises(UsageError, match="^aggregation must be statistics"):
            FitRequest("rf", "p", "t", "m", aggregation=spec)
    with pytest.raises(UsageError, match="categorical variables need one aggregation"):
        FitRequest("rf", "p", "t", "m", aggregation="min max", categorical=("soil",))
