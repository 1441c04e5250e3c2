"""The focal loss option of the deep models (Lin et al. 2017, eq. 5) against the published equation in numpy."""

import numpy as np
import pytest
import torch

from antares.errors import UsageError


def _numpy_focal(logits, target, gamma, alpha=None):
    """Lin et al. 2017 eq. 5 per sample, FL = -alpha_t (1 - p_t)^gamma log p_t, weighted mean as CrossEntropyLoss."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p_t = p[np.arange(len(target)), target]
    a_t = np.ones(len(target)) if alpha is None else alpha[target]
    return float(np.sum(-a_t * (1 - p_t) ** gamma * np.log(p_t)) / np.sum(a_t))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_focal_loss_equals_the_published_equation(gamma, weighted):
    from antares.deep.layers import focal_loss

    rng = np.random.default_rng(int(gamma * 10) + weighted)
    logits = rng.normal(scale=3, size=(50, 4))
    target = rng.integers(0, 4, 50)
    alpha = rng.uniform(0.2, 3, 4) if weighted else None
    got = focal_loss(torch.tensor(logits), torch.tensor(target), gamma,
                     torch.tensor(alpha) if weighted else None)
    assert float(got) == pytest.approx(_numpy_focal(logits, target, gamma, alpha), rel=1e-10)


def test_gamma_zero_is_the_weighted_cross_entropy_and_gamma_down_weights_easy_samples():
    from antares.deep.layers import focal_loss

    rng = np.random.default_rng(3)
    logits = torch.tensor(rng.normal(size=(40, 3)))
    target = torch.tensor(rng.integers(0, 3, 40))
    weight = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    ce = torch.nn.CrossEntropyLoss(weight=weight)(logits, target)
    assert float(focal_loss(logits, target, 0.0, weight)) == pytest.approx(float(ce), rel=1e-12)
    # a confidently right sample (p_t ~ 0.99) loses ~(0.01)^2 of its loss at gamma 2; a wrong one keeps most of it
    easy, hard = torch.tensor([[5.0, 0.0, 0.0]]), torch.tensor([[0.0, 5.0, 0.0]])
    zero = torch.tensor([0])
    assert float(focal_loss(easy, zero, 2.0)) / float(focal_loss(easy, zero, 0.0)) < 1e-3
    assert float(focal_loss(hard, zero, 2.0)) / float(focal_loss(hard, zero, 0.0)) > 0.98


def test_gradient_matches_finite_differences():
    from antares.deep.layers import focal_loss

    rng = np.random.default_rng(5)
    logits = torch.tensor(rng.normal(size=(6, 3)), requires_grad=True)
    target = torch.tensor(rng.integers(0, 3, 6))
    assert torch.autograd.gradcheck(lambda x: focal_loss(x, target, 2.0), (logits,))


def test_training_with_focal_loss_is_wired():
    """loss=focal with gamma 0 trains exactly as cross-entropy (same seed); gamma 2 trains otherwise."""
    from antares.deep.data import SensorSeries
    from antares.models.registry import make_estimator

    rng = np.random.default_rng(0)
    y = np.repeat([1, 2, 5], 10)
    values = rng.normal(size=(30, 5, 3, 2)).astype(np.float32) + y[:, None, None, None] / 2
    sets = {"s2": SensorSeries(values, np.arange(5) * 30 + 10, ["b0", "b1", "b2"])}
    fast = {"epochs": 3, "batch_size": 8, "patience": 3}
    ce = make_estimator("tempcnn", dict(fast), seed=1).fit(sets, y)
    f0 = make_estimator("tempcnn", {**fast, "loss": "focal", "focal_gamma": 0.0}, seed=1).fit(sets, y)
    f2 = make_estimator("tempcnn", {**fast, "loss": "focal", "focal_gamma": 2.0}, seed=1).fit(sets, y)
    for a, b in zip(ce.history_, f0.history_):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    assert f2.history_[0]["loss"] < ce.history_[0]["loss"]  # (1 - p_t)^2 < 1 for every sample
    assert f2.config["params"]["loss"] == "focal" and f2.config["params"]["focal_gamma"] == 2.0


def test_bad_loss_values_are_refused_in_one_line():
    from antares.models.registry import make_estimator

    with pytest.raises(UsageError, match="'loss' parameter .* among .*focal.* Got 'hinge'") as err:
        make_estimator("ltae", {"loss": "hinge"}, seed=0)
    assert "\n" not in str(err.value)
    with pytest.raises(UsageError, match="'focal_gamma' parameter"):
        make_estimator("pse_tae", {"focal_gamma": -1.0}, seed=0)
