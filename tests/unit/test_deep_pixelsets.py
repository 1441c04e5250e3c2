"""Pixel sets drawn from object pixels (Garnot et al. 2020): membership, replacement rule, seed, day numbers."""

import numpy as np
import pytest

from antares.errors import InvalidInputError


def test_draw_pixel_sets_membership_and_replacement_rule():
    from antares.deep.pixelsets import draw_pixel_sets

    rng = np.random.default_rng(0)
    n, t, c, size = 7, 4, 3, 5
    index = rng.permutation(np.repeat(np.arange(n), [0, 1, 3, 5, 9, 20, 2]))  # object 0 has no pixel
    m = len(index)
    values = rng.normal(size=(t, c, m))
    # the pixel's column number in channel 0 of time 0 lets a drawn pixel be traced back
    values[0, 0] = np.arange(m)
    sets, counts = draw_pixel_sets(index, values, n, size, seed=3)
    assert sets.shape == (n, t, c, size) and sets.dtype == np.float32
    np.testing.assert_array_equal(counts, np.bincount(index, minlength=n))
    assert np.isnan(sets[0]).all()
    for k in range(1, n):
        cols = sets[k, 0, 0].astype(int)
        assert (index[cols] == k).all()  # every drawn pixel is one of the object's
        np.testing.assert_array_equal(sets[k], values[:, :, cols].astype(np.float32))  # whole series, same pixel
        if counts[k] >= size:
            assert len(set(cols)) == size  # without replacement
        else:
            assert set(cols) <= set(np.flatnonzero(index == k))
    again, _ = draw_pixel_sets(index, values, n, size, seed=3)
    other, _ = draw_pixel_sets(index, values, n, size, seed=4)
    np.testing.assert_array_equal(sets, again)
    assert not np.array_equal(np.nan_to_num(sets), np.nan_to_num(other))


def test_draw_is_uniform_over_the_pixels():
    from antares.deep.pixelsets import draw_pixel_sets

    index = np.zeros(10, np.int64)
    values = np.arange(10, dtype=float)[None, None, :]
    seen = np.concatenate([draw_pixel_sets(index, values, 1, 3, seed=s)[0].ravel() for s in range(2000)])
    freq = np.bincount(seen.astype(int), minlength=10) / len(seen)
    np.testing.assert_allclose(freq, 0.1, atol=0.01)


def test_series_days_and_refusals():
    from antares.deep.pixelsets import draw_pixel_sets, series_days

    times = np.array(["2018-01-16T12:00", "2018-02-15", "2019-01-01"], "datetime64[ns]")
    np.testing.assert_array_equal(series_days(times), [15, 45, 365])
    with pytest.raises(InvalidInputError, match="distinct, increasing days"):
        series_days(np.array(["2018-03-01T01:00", "2018-03-01T10:00"], "datetime64[ns]"))
    with pytest.raises(InvalidInputError, match="\\(T, C, m\\)"):
        draw_pixel_sets(np.zeros(3, int), np.zeros((2, 2, 4)), 1, 2)
    with pytest.raises(InvalidInputError, match="indices must be in 0..0"):
        draw_pixel_sets(np.array([0, 1]), np.zeros((1, 1, 2)), 1, 2)
    with pytest.raises(InvalidInputError, match="size must be an int >= 1"):
        draw_pixel_sets(np.zeros(2, int), np.zeros((1, 1, 2)), 1, 0)


def test_spatially_blocked_validation_keeps_groups_whole():
    from antares.deep.data import SensorSeries
    from antares.models.registry import make_estimator

    rng = np.random.default_rng(2)
    n = 120
    y = np.repeat([1, 2, 3], n // 3)
    groups = rng.integers(0, 15, n)
    model = make_estimator("tempcnn", {"validation": 0.25}, seed=0)
    model._groups = groups
    train, val = model._split(np.searchsorted([1, 2, 3], y), 0)
    assert len(np.intersect1d(groups[train], groups[val])) == 0  # no block on both sides
    assert len(np.union1d(train, val)) == n and len(np.intersect1d(train, val)) == 0
    assert 0.1 < len(val) / n < 0.45 and set(y[val]) == {1, 2, 3}
    sets = {"s2": SensorSeries(rng.normal(size=(n, 4, 2, 1)).astype(np.float32), np.arange(4) * 10, ["a", "b"])}
    fitted = make_estimator("tempcnn", {"epochs": 1, "batch_size": 32}, seed=0).fit(sets, y, groups=groups)
    assert fitted.history_[0]["val_oa"] is not None
    with pytest.raises(InvalidInputError, match="3 group\\(s\\) for 120 sample\\(s\\)"):
        make_estimator("tempcnn", {"epochs": 1}, seed=0).fit(sets, y, groups=[1, 2, 3])


def test_a_reloaded_model_with_extra_features_predicts_identically():
    """The extra (geometric) features of the pixel-set encoder survive storage: float32 after reloading too."""
    from antares.deep.classifier import from_bytes
    from antares.deep.data import SensorSeries
    from antares.models.registry import make_estimator

    rng = np.random.default_rng(3)
    y = np.repeat([1, 2], 20)
    sets = {"series": SensorSeries(rng.normal(size=(40, 3, 2, 4)).astype(np.float32), [10, 40, 70], ["a", "b"])}
    extra = rng.uniform(100, 5000, (40, 5))
    model = make_estimator("ltae", {"epochs": 1, "batch_size": 16}, seed=0).fit(sets, y, extra=extra)
    back = from_bytes(model.to_bytes())
    np.testing.assert_array_equal(back.predict_proba(sets, extra), model.predict_proba(sets, extra))
    with pytest.raises(InvalidInputError, match="extra feature"):
        back.predict_proba(sets)
