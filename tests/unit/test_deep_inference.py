"""The fast prediction path of the temporal classifiers (issue 19's inference speed) predicts what the network does.

``predict_proba`` runs an inference copy of the network (batch normalisations folded into the layers
before them, no dropout, in-place ReLU, the positional encoding kept between batches) in small
batches normalised one at a time; these tests compare it with the network's own eval-mode forward
pass on the whole set at once (the path before the optimisation), and the PSE's pooling with numpy.
"""

import numpy as np
import pytest
import torch


def _sets(n=37, seed=0):
    """Two sensors (different dates and channels) whose values carry the class, and geometric extras."""
    from antares.deep.data import SensorSeries

    rng = np.random.default_rng(seed)
    y = np.array([3, 7, 9])[np.arange(n) % 3]
    s2 = rng.normal(size=(n, 6, 4, 5)).astype(np.float32) * 200 + 1500 + y[:, None, None, None] * 40
    s2[rng.random(s2.shape) < 0.05] = np.nan  # missing values: filled with the channel mean by both paths
    s1 = rng.normal(size=(n, 8, 2, 5)).astype(np.float32) - 12 + y[:, None, None, None] / 4
    extra = np.c_[rng.uniform(100, 900, n), rng.uniform(0.2, 1, n)]
    return ({"s2": SensorSeries(s2, np.arange(6) * 30 + 20, ["B02", "B03", "B04", "B08"]),
             "s1": SensorSeries(s1, np.arange(8) * 20 + 10, ["VV", "VH"])}, y, extra)


def _reference(model, sets, extra=None) -> np.ndarray:
    """Probabilities from the trained network itself (BatchNorm, dropout modules in eval mode), one batch."""
    from antares.deep.classifier import _normalise

    _, inputs = model._arrange(sets)
    cfg = model.config
    xs = [torch.from_numpy(_normalise(s.values, i["mean"], i["std"])) for s, i in zip(inputs, cfg["inputs"])]
    days = [torch.from_numpy(s.days.astype(np.float32)) for s in inputs]
    ex = None
    if cfg["extra"]:
        mean, std = (np.asarray(cfg["extra"][k], np.float32) for k in ("mean", "std"))
        ex = torch.from_numpy(np.nan_to_num((np.asarray(extra, np.float32) - mean) / std).astype(np.float32))
    model._net.eval()
    with torch.no_grad():
        return model._net.probabilities(xs, days, ex).double().numpy()


@pytest.mark.parametrize("arch, sensors, fusion", [
    ("pse_tae", ("s2",), None), ("pse_tae", ("s1", "s2"), "pse"), ("pse_tae", ("s1", "s2"), "tsa"),
    ("ltae", ("s1", "s2"), "early"), ("ltae", ("s1", "s2"), "decision"), ("tempcnn", ("s2",), None),
])
@pytest.mark.parametrize("batch_size", [1, 5, 1024])
def test_fast_prediction_equals_the_network_forward(arch, sensors, fusion, batch_size):
    from antares.models.registry import make_estimator

    sets, y, extra = _sets()
    sets = {k: sets[k] for k in sensors}
    params = {"epochs": 3, "batch_size": 8, "patience": 3, **({"fusion": fusion} if fusion else {})}
    model = make_estimator(arch, params, seed=1)
    model.fit(sets, y, extra=extra)
    # the BatchNorms have learnt running statistics: folding them in changes the weights
    assert any(float(m.running_var.sub(1).abs().max()) > 1e-3 for m in model._net.modules()
               if isinstance(m, torch.nn.BatchNorm1d))
    expected = _reference(model, sets, extra)
    got = model.predict_proba(sets, extra, batch_size=batch_size)
    assert got.shape == expected.shape == (len(y), 3) and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(np.argmax(got, 1), np.argmax(expected, 1))
    assert len(np.unique(np.argmax(expected, 1))) > 1  # a model that predicts something
    # two threads sharing the batches: the same numbers, each row where it belongs
    np.testing.assert_array_equal(model.set_params(n_jobs=2).predict_proba(sets, extra, batch_size=batch_size), got)
    # the trained network is left as it was (its BatchNorms and dropout still there, for a further fit)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in model._net.modules())


def test_inference_copy_folds_batch_norms_and_drops_dropout():
    from antares.deep.network import TemporalNet, inference_copy

    hp = {"n_head": 4, "d_k": 8, "dropout": 0.3, "period": 1000.0}
    net = TemporalNet("pse_tae", "single", [(3, 5)], 4, 0, hp)
    net.train()
    with torch.no_grad():  # a few batches move the running statistics off (0, 1)
        for seed in range(3):
            g = torch.Generator().manual_seed(seed)
            net([torch.randn(16, 5, 3, 7, generator=g) * 3 + 2], [torch.arange(5.0) * 40])
    fast = inference_copy(net)
    kinds = {type(m) for m in fast.modules()}
    assert torch.nn.Dropout not in kinds
    # one BatchNorm is left: TAE's fc2_q normalises before its Linear (nothing before it to fold into)
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in fast.modules()) == 1
    # of 7: MLP1 [C, 32, 64] 2, TAE's fc2_q 1 and MLP3 [512, 128, 128] 2, decoder MLP4 [128, 64, 32, K] 2
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in net.modules()) == 7
    assert net.training and not fast.training
    x, days = torch.randn(11, 5, 3, 7) * 3 + 2, torch.arange(5.0) * 40
    net.eval()
    with torch.no_grad():
        expected = net.probabilities([x], [days])
    with torch.inference_mode():
        got = fast.probabilities([x], [days])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_kept_positional_encoding_follows_the_dates():
    """The inference copy keeps the encoding of the last dates; other dates get their own."""
    from antares.deep.layers import TemporalAttentionEncoder
    from antares.deep.network import inference_copy

    torch.manual_seed(0)
    encoder = TemporalAttentionEncoder(16, 2, 4, (8, 8), 0.0).eval()
    fast = inference_copy(encoder)
    e = torch.randn(3, 5, 16)
    for days in (torch.arange(5.0) * 10, torch.arange(5.0) * 10, torch.arange(5.0) * 70 + 3, torch.arange(5.0) * 10):
        with torch.no_grad():
            expected = encoder(e, days)
        with torch.inference_mode():
            torch.testing.assert_close(fast(e, days), expected, rtol=0, atol=1e-5)


def test_mean_std_pooling_against_numpy():
    from antares.deep.layers import mean_std_pool

    rng = np.random.default_rng(2)
    h = np.maximum(rng.normal(5, 2, size=(4, 3, 9, 6)), 0).astype(np.float32)
    h[0, 0] = h[0, 0, :1]  # a set of identical pixels: std = sqrt(1e-6)
    h[1, 1, :, 2] = 1000 + rng.normal(0, 1e-2, 9)  # a large mean and a small spread
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            mean, std = mean_std_pool(torch.from_numpy(h), dim=2)
        h64 = h.astype(np.float64)
        np.testing.assert_allclose(mean.detach().numpy(), h64.mean(2), rtol=1e-6)
        expected = np.sqrt(h64.var(2) + 1e-6)
        np.testing.assert_allclose(std.detach().numpy(), expected, rtol=1e-4, atol=2e-6)  # float32 sums near 1000
        # as close as torch.var's (the pooling it replaces) in the worst case
        welford = torch.sqrt(torch.from_numpy(h).var(dim=2, unbiased=False) + 1e-6).numpy()
        assert np.abs(std.detach().numpy() - expected).max() <= 2 * np.abs(welford - expected).max() + 1e-7
        assert std[0, 0].detach().numpy() == pytest.approx(1e-3, rel=1e-3)


def test_refit_replaces_the_inference_copy():
    from antares.models.registry import make_estimator

    sets, y, _ = _sets()
    sets = {"s2": sets["s2"]}
    model = make_estimator("pse_tae", {"epochs": 2, "batch_size": 8, "patience": 2}, seed=1).fit(sets, y)
    first = model.predict_proba(sets)
    model.set_params(random_state=5).fit(sets, y[::-1].copy())
    again = model.predict_proba(sets)
    np.testing.assert_allclose(again, _reference(model, sets), rtol=0, atol=1e-5)
    assert np.abs(again - first).max() > 1e-3


def test_drawn_pixel_sets_are_c_contiguous():
    """The sets come in the (n, T, C, S) memory order the prediction batches slice (no strided copies later)."""
    from antares.deep.pixelsets import draw_pixel_sets

    rng = np.random.default_rng(0)
    index = np.repeat(np.arange(5), [1, 3, 40, 7, 2])
    values = rng.normal(size=(4, 3, len(index))).astype(np.float32)
    sets, counts = draw_pixel_sets(index, values, 6, 8, seed=1)
    assert sets.shape == (6, 4, 3, 8) and sets.flags["C_CONTIGUOUS"] and sets.dtype == np.float32
    assert np.isnan(sets[5]).all() and counts.tolist() == [1, 3, 40, 7, 2, 0]
    for k in range(5):  # every drawn pixel's series is one of the object's pixels'
        own = values[:, :, index == k].reshape(12, -1).T
        drawn = sets[k].reshape(12, -1).T
        assert all(any(np.array_equal(p, q) for q in own) for p in drawn)
