"""antares.deep: shapes, attention, PSE permutation invariance, date alignment, storage, determinism, refusals."""

import numpy as np
import pytest
import torch

from antares.errors import InvalidInputError, UsageError


def _series(n=24, t=6, c=4, s=3, seed=0, days=None, channels=None):
    from antares.deep.data import SensorSeries

    rng = np.random.default_rng(seed)
    days = np.arange(t) * 30 + 10 if days is None else days
    return SensorSeries(rng.normal(size=(n, t, c, s)).astype(np.float32), days, channels or [f"b{i}" for i in range(c)])


def _labelled(n=40, seed=0):
    """Two sensors whose values carry the class (3 classes), as a tiny learnable problem."""
    from antares.deep.data import SensorSeries

    rng = np.random.default_rng(seed)
    y = np.repeat([1, 2, 5], int(np.ceil(n / 3)))[:n]
    s2 = _series(n, 5, 3, 2, seed)
    s1 = _series(n, 7, 2, 2, seed + 1, days=np.arange(7) * 20 + 5, channels=["VV", "VH"])
    s2 = SensorSeries(s2.values + y[:, None, None, None] / 2, s2.days, s2.channels)
    s1 = SensorSeries(s1.values + rng.normal(size=(n, 1, 1, 1)).astype(np.float32) + y[:, None, None, None] / 3,
                      s1.days, s1.channels)
    return {"s2": s2, "s1": s1}, y


FAST = {"epochs": 2, "batch_size": 16, "patience": 2}


def test_positional_encoding_follows_the_formula():
    from antares.deep.layers import positional_encoding

    days = np.array([3.0, 40.0, 200.0])
    pe = positional_encoding(torch.tensor(days), 6, 1000.0).numpy()
    expected = np.zeros((3, 6))
    for i in range(6):
        angle = days / 1000.0 ** (2 * (i // 2) / 6)
        expected[:, i] = np.sin(angle) if i % 2 == 0 else np.cos(angle)
    np.testing.assert_allclose(pe, expected, rtol=1e-5, atol=1e-6)


def test_shapes_through_every_module():
    from antares.deep.layers import (
        LightTemporalAttentionEncoder, MeanPool, PixelSetEncoder, TempCNNEncoder, TemporalAttentionEncoder,
    )

    x, days = torch.randn(5, 7, 4, 3), torch.arange(7.0) * 15
    pse = PixelSetEncoder(4, extra=2).eval()
    e = pse(x, torch.randn(5, 2))
    assert e.shape == (5, 7, 128)
    assert TemporalAttentionEncoder(128).eval()(e, days).shape == (5, 128)
    assert LightTemporalAttentionEncoder(128).eval()(e, days).shape == (5, 128)
    mean = MeanPool()(x)
    np.testing.assert_allclose(mean.numpy(), x.numpy().mean(axis=3), rtol=1e-6)
    assert TempCNNEncoder(4, 7).eval()(mean).shape == (5, 256)


@pytest.mark.parametrize("arch, fusion, shape", [
    ("pse_tae", "single", (4, 3)), ("pse_tae", "pse", (4, 3)), ("pse_tae", "tsa", (4, 3)),
    ("pse_tae", "decision", (2, 4, 3)), ("ltae", "tsa", (4, 3)), ("tempcnn", "decision", (2, 4, 3)),
])
def test_network_logits_per_fusion(arch, fusion, shape):
    from antares.deep.network import TemporalNet

    hp = {"n_head": 4 if arch == "pse_tae" else 16, "d_k": 8, "d_model": 64, "dropout": 0.1, "period": 1000.0,
          "filters": 8, "kernel_size": 3, "hidden": 16}
    inputs = [(3, 5)] if fusion == "single" else [(3, 5), (2, 5 if fusion == "pse" else 6)]
    net = TemporalNet(arch, fusion, inputs, 3, 0, hp).eval()
    xs = [torch.randn(4, t, c, 2) for c, t in inputs]
    days = [torch.arange(float(t)) * 10 for _, t in inputs]
    assert net(xs, days).shape == shape
    p = net.probabilities(xs, days)
    np.testing.assert_allclose(p.sum(-1).detach().numpy(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("encoder, heads", [("tae", 4), ("ltae", 16)])
def test_attention_weights_sum_to_one(encoder, heads):
    from antares.deep.layers import LightTemporalAttentionEncoder, TemporalAttentionEncoder

    module = TemporalAttentionEncoder(32, n_head=heads) if encoder == "tae" else \
        LightTemporalAttentionEncoder(32, n_head=heads, d_model=64)
    module.eval()(torch.randn(6, 9, 32), torch.arange(9.0) * 12)
    attention = module.attention.numpy()
    assert attention.shape == (6, heads, 9)
    assert (attention >= 0).all()
    np.testing.assert_allclose(attention.sum(-1), 1.0, rtol=1e-6)


def test_pixel_set_encoder_is_invariant_to_pixel_order():
    from antares.deep.layers import PixelSetEncoder

    torch.manual_seed(0)
    pse = PixelSetEncoder(4, extra=1).eval()
    x, extra = torch.randn(3, 5, 4, 16), torch.randn(3, 1)
    permuted = x[..., torch.randperm(16)]
    assert not torch.equal(x, permuted)
    np.testing.assert_allclose(pse(x, extra).detach().numpy(), pse(permuted, extra).detach().numpy(), atol=1e-5)


def test_nearest_and_linear_date_alignment_against_numpy():
    from antares.deep.data import align_dates

    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 5, 2, 1))
    days, target = np.array([0, 10, 30, 31, 60]), np.array([-5, 5, 20, 29, 45, 80])
    linear = align_dates(values, days, target, "linear")
    for n in range(3):
        for c in range(2):
            np.testing.assert_allclose(linear[n, :, c, 0], np.interp(target, days, values[n, :, c, 0]), rtol=1e-6)
    nearest = align_dates(values, days, target, "nn")
    index = [int(np.argmin(np.abs(days - d))) for d in target]  # argmin: the earlier date on a tie (5 -> 0, 20 -> 10)
    np.testing.assert_allclose(nearest, values[:, index].astype(np.float32))


@pytest.mark.parametrize("method", ["nn", "linear"])
def test_early_fusion_equals_concatenation_of_interpolated_inputs(method):
    from antares.deep.data import arrange

    sets, _ = _labelled(10)
    mode, inputs = arrange(sets, "early", method)
    assert mode == "single" and len(inputs) == 1
    s1, s2 = sets["s1"], sets["s2"]
    if method == "linear":
        aligned = np.stack([[[[np.interp(s2.days, s1.days, s1.values[n, :, c, p]) for p in range(2)]
                              for c in range(2)] for n in range(10)]]).squeeze(0).transpose(0, 3, 1, 2)
    else:
        aligned = s1.values[:, [int(np.argmin(np.abs(s1.days - d))) for d in s2.days]]
    np.testing.assert_allclose(inputs[0].values, np.concatenate([s2.values, aligned], axis=2), rtol=1e-6)
    assert inputs[0].channels == tuple([f"s2:{c}" for c in s2.channels] + ["s1:VV", "s1:VH"])
    np.testing.assert_array_equal(inputs[0].days, s2.days)


def test_gap_filling_against_numpy_interp():
    from antares.deep.data import fill_gaps

    days = np.array([0, 31, 59, 90, 120])
    values = np.arange(2 * 5 * 3, dtype=np.float64).reshape(2, 5, 3, 1) ** 1.5
    holes = values.copy()
    holes[0, [0, 2], 1, 0] = np.nan
    holes[1, :, 2, 0] = np.nan
    filled = fill_gaps(holes, days)
    good = ~np.isnan(holes[0, :, 1, 0])
    np.testing.assert_allclose(filled[0, :, 1, 0], np.interp(days, days[good], holes[0, good, 1, 0]), rtol=1e-6)
    assert np.isnan(filled[1, :, 2, 0]).all()  # no value at all: left for the normalisation
    np.testing.assert_allclose(filled[0, :, 0, 0], values[0, :, 0, 0], rtol=1e-6)


def test_month_days_are_days_since_january_first():
    import datetime as dt

    from antares.deep.table import month_days

    got = month_days("2016-12-01", 3)
    expected = [(dt.date(y, m, 1) - dt.date(2016, 1, 1)).days for y, m in [(2016, 12), (2017, 1), (2017, 2)]]
    assert got.tolist() == expected


@pytest.mark.parametrize("model, fusion", [("pse_tae", "tsa"), ("ltae", "pse"), ("tempcnn", "decision"),
                                           ("ltae", "early")])
def test_saved_and_reloaded_model_predicts_identically(model, fusion):
    from antares.deep.classifier import from_bytes, read_config
    from antares.models.registry import make_estimator
    from antares.models.store import blob_format, deserialize

    sets, y = _labelled(30)
    fitted = make_estimator(model, {**FAST, "fusion": fusion}, seed=3).fit(sets, y)
    blob = fitted.to_bytes()
    assert blob_format(blob) == "safetensors"
    config = read_config(blob)
    assert config["arch"] == model and config["classes"] == [1, 2, 5] and config["sensors"]["s1"]["channels"] == ["VV", "VH"]
    for back in (from_bytes(blob), deserialize(blob, "m")):
        np.testing.assert_array_equal(back.predict_proba(sets), fitted.predict_proba(sets))
    probs = fitted.predict_proba(sets)
    assert probs.shape == (30, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    assert set(fitted.predict(sets)) <= {1, 2, 5}


def test_a_stored_model_refuses_other_channels_dates_or_sensors():
    from antares.deep.classifier import from_bytes
    from antares.deep.data import SensorSeries
    from antares.models.registry import make_estimator

    sets, y = _labelled(20)
    model = from_bytes(make_estimator("ltae", {**FAST, "fusion": "tsa"}, seed=0).fit(sets, y).to_bytes())
    s2 = sets["s2"]
    with pytest.raises(InvalidInputError, match="trained on s2 channels b0, b1, b2; got b0, b2, b1"):
        model.predict_proba({**sets, "s2": SensorSeries(s2.values, s2.days, ["b0", "b2", "b1"])})
    with pytest.raises(InvalidInputError, match=r"trained on s2 dates \(days\) \[10, 40, 70, 100, 130\]"):
        model.predict_proba({**sets, "s2": SensorSeries(s2.values, s2.days + 1, s2.channels)})
    with pytest.raises(InvalidInputError, match="trained on sensor\\(s\\) s1, s2; got s2"):
        model.predict_proba({"s2": s2})


def test_training_is_deterministic_with_a_seed():
    from antares.models.registry import make_estimator

    sets, y = _labelled(30)
    runs = [make_estimator("pse_tae", {**FAST, "fusion": "early"}, seed=s).fit(sets, y) for s in (7, 7, 8)]
    a, b, c = (r.predict_proba(sets) for r in runs)
    np.testing.assert_array_equal(a, b)
    assert runs[0].history_ == runs[1].history_
    assert not np.array_equal(a, c)


def test_early_stopping_keeps_the_best_epoch_and_records_the_curve():
    from antares.models.registry import make_estimator

    sets, y = _labelled(30)
    model = make_estimator("tempcnn", {"epochs": 30, "patience": 2, "batch_size": 8}, seed=0).fit({"s2": sets["s2"]}, y)
    history = model.history_
    assert 1 <= len(history) <= 30 and [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    losses = [h["val_loss"] for h in history]
    assert model.best_epoch_ == 1 + int(np.argmin(losses))
    if len(history) < 30:  # stopped: `patience` epochs without a better validation loss
        assert len(history) - model.best_epoch_ >= 2


def test_refusals_one_line():
    from antares.deep.classifier import resolve_device
    from antares.deep.data import arrange
    from antares.models.fitting import fit_model
    from antares.models.registry import make_estimator

    sets, y = _labelled(12)
    with pytest.raises(UsageError, match="--fusion tsa needs two sensors"):
        arrange({"s2": sets["s2"]}, "tsa")
    with pytest.raises(UsageError, match="two sensors need --fusion early, pse, tsa or decision"):
        arrange(sets, None)
    with pytest.raises(UsageError, match="tempcnn has no pixel-set encoder"):
        make_estimator("tempcnn", {**FAST, "fusion": "pse"}).fit(sets, y)
    with pytest.raises(UsageError, match="ltae: d_model must be a multiple of n_head"):
        make_estimator("ltae", {"d_model": 100})
    with pytest.raises(UsageError, match="The 'kernel_size' parameter of TempCnn must be an odd int"):
        make_estimator("tempcnn", {"kernel_size": 4})
    with pytest.raises(UsageError, match="takes pixel-set time series, not a feature product"):
        fit_model("pse_tae", np.zeros((4, 2)), np.array([1, 1, 2, 2]))
    with pytest.raises(InvalidInputError, match="at least 2 classes"):
        make_estimator("tempcnn", FAST).fit({"s2": sets["s2"]}, np.ones(12, int))
    if torch.cuda.is_available():
        assert resolve_device("cuda") == "cuda"
    else:
        with pytest.raises(UsageError, match="--device cuda: torch .* sees no CUDA device here; use --device cpu"):
            resolve_device("cuda")
    assert resolve_device("cpu") == "cpu"


def test_safetensors_header_is_checked():
    from antares.deep.classifier import is_safetensors, read_config

    assert not is_safetensors(b"PK\x03\x04rest")
    with pytest.raises(InvalidInputError, match="not a readable safetensors model of antares"):
        read_config(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}       ", "bad")


def test_model_params_lists_the_deep_hyper_parameters():
    from antares.models.registry import MODELS, estimator_params

    assert {"pse_tae", "ltae", "tempcnn"} <= set(MODELS)
    params = estimator_params("pse_tae")
    assert params["n_head"] == 4 and params["d_k"] == 32 and params["fusion"] == "early"
    assert estimator_params("ltae")["n_head"] == 16 and estimator_params("ltae")["d_model"] == 256
    assert estimator_params("tempcnn")["kernel_size"] == 5
