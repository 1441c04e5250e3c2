"""One network per architecture (pse_tae, ltae, tempcnn) and fusion strategy (Ofori-Ampofo et al. 2021).

The inputs reach the network already arranged by :func:`antares.deep.data.arrange` (see there):

``single``
    one sensor, or early fusion (S1 interpolated to the S2 dates, channels concatenated): one encoder.
``pse``
    one spatial encoder per sensor on the same dates; embeddings concatenated per date before one
    temporal encoder.
``tsa``
    a full spatial + temporal encoder per sensor (each with its own dates); the sensor embeddings are
    concatenated before the classifier.
``decision``
    a full classifier per sensor; their class probabilities are averaged (trained together, with the
    mean of their losses: the parameters are disjoint, so each is trained as it would be alone).

Reference: Ofori-Ampofo, Pelletier & Lang (2021). Crop type mapping from optical and radar time series
using attention-based deep learning. Remote Sensing 13(22):4668.
"""

from __future__ import annotations

import torch
from torch import nn

from antares.deep.layers import (
    LightTemporalAttentionEncoder, MeanPool, PixelSetEncoder, TempCNNEncoder, TemporalAttentionEncoder, mlp,
)

ARCHITECTURES = ("pse_tae", "ltae", "tempcnn")
FUSIONS = ("early", "pse", "tsa", "decision")


def _spatial(arch: str, channels: int, extra: int, hp: dict) -> nn.Module:
    if arch == "tempcnn":
        pool = MeanPool()
        pool.out_dim = channels
        return pool
    return PixelSetEncoder(channels, (32, 64), (128,), extra)


def _temporal(arch: str, d_in: int, dates: int, hp: dict) -> nn.Module:
    if arch == "pse_tae":
        return TemporalAttentionEncoder(d_in, hp["n_head"], hp["d_k"], (128, 128), hp["dropout"], hp["period"])
    if arch == "ltae":
        return LightTemporalAttentionEncoder(d_in, hp["n_head"], hp["d_k"], hp["d_model"], (128,), hp["dropout"],
                                             hp["period"])
    return TempCNNEncoder(d_in, dates, hp["filters"], hp["kernel_size"], hp["hidden"], hp["dropout"])


def _decoder(arch: str, d_in: int, classes: int) -> nn.Module:
    if arch == "tempcnn":
        return nn.Linear(d_in, classes)
    return mlp((d_in, 64, 32, classes), last_relu=False)  # MLP4 of Garnot et al. (2020)


class Encoder(nn.Module):
    """Spatial then temporal encoder of one input: ``forward(x (B, T, C, S), days (T,), extra) -> (B, D)``."""

    def __init__(self, arch: str, channels: int, dates: int, extra: int, hp: dict):
        super().__init__()
        self.spatial = _spatial(arch, channels, extra, hp)
        self.temporal = _temporal(arch, self.spatial.out_dim, dates, hp)
        self.out_dim = self.temporal.out_dim

    def forward(self, x, days, extra=None):
        return self.temporal(self.spatial(x, extra), days)


class TemporalNet(nn.Module):
    """The classifier of one architecture and fusion over one or two inputs.

    Parameters
    ----------
    arch : {'pse_tae', 'ltae', 'tempcnn'}
    fusion : {'single', 'pse', 'tsa', 'decision'}
    inputs : list of (channels, dates)
        One per arranged input (two for pse, tsa, decision).
    classes : int
    extra : int
        Extra features per sample (the PSE's geometric features; 0: none; TempCNN ignores them).
    hp : dict
        Architecture hyper-parameters (n_head, d_k, d_model, dropout, period, filters, kernel_size, hidden).

    Shapes
    ------
    ``forward(xs: list of (B, T_i, C_i, S), days: list of (T_i,), extra (B, E) or None)`` returns logits
    ``(B, K)``, or ``(M, B, K)`` for decision fusion (one per member).
    """

    def __init__(self, arch: str, fusion: str, inputs: list, classes: int, extra: int, hp: dict):
        super().__init__()
        self.arch, self.fusion = arch, fusion
        extra = 0 if arch == "tempcnn" else extra
        self.extra = extra
        if fusion == "single":
            (c, t), = inputs
            self.encoders = nn.ModuleList([Encoder(arch, c, t, extra, hp)])
            self.decoders = nn.ModuleList([_decoder(arch, self.encoders[0].out_dim, classes)])
        elif fusion == "pse":
            if arch == "tempcnn" or len({t for _, t in inputs}) != 1:
                raise ValueError("pse fusion needs a pixel-set encoder and inputs on the same dates.")
            self.spatials = nn.ModuleList([_spatial(arch, c, extra, hp) for c, _ in inputs])
            self.temporal = _temporal(arch, sum(s.out_dim for s in self.spatials), inputs[0][1], hp)
            self.decoders = nn.ModuleList([_decoder(arch, self.temporal.out_dim, classes)])
        elif fusion == "tsa":
            self.encoders = nn.ModuleList([Encoder(arch, c, t, extra, hp) for c, t in inputs])
            self.decoders = nn.ModuleList([_decoder(arch, sum(e.out_dim for e in self.encoders), classes)])
        elif fusion == "decision":
            self.encoders = nn.ModuleList([Encoder(arch, c, t, extra, hp) for c, t in inputs])
            self.decoders = nn.ModuleList([_decoder(arch, e.out_dim, classes) for e in self.encoders])
        else:
            raise ValueError(f"unknown fusion {fusion!r}")

    def forward(self, xs, days, extra=None):
        extra = extra if self.extra else None
        if self.fusion == "single":
            return self.decoders[0](self.encoders[0](xs[0], days[0], extra))
        if self.fusion == "pse":
            e = torch.cat([s(x, extra) for s, x in zip(self.spatials, xs)], dim=-1)
            return self.decoders[0](self.temporal(e, days[0]))
        if self.fusion == "tsa":
            e = torch.cat([enc(x, d, extra) for enc, x, d in zip(self.encoders, xs, days)], dim=-1)
            return self.decoders[0](e)
        return torch.stack([dec(enc(x, d, extra)) for enc, dec, x, d in zip(self.encoders, self.decoders, xs, days)])

    def probabilities(self, xs, days, extra=None) -> torch.Tensor:
        """Class probabilities ``(B, K)`` (decision fusion: the mean of the members' probabilities)."""
        logits = self(xs, days, extra)
        p = torch.softmax(logits, dim=-1)
        return p.mean(dim=0) if self.fusion == "decision" else p


def inference_copy(net: nn.Module) -> nn.Module:
    """A copy of ``net`` for prediction: the same function in eval mode, with fewer operations.

    Every ``Linear`` (``Conv1d``) followed by a ``BatchNorm1d`` becomes one ``Linear`` (``Conv1d``) with the
    batch normalisation's running statistics folded in (:func:`torch.nn.utils.fusion.fuse_linear_bn_eval`:
    ``W' = W·γ/√(σ²+ε)``, ``b' = (b − μ)·γ/√(σ²+ε) + β``), ``Dropout`` (the identity in eval mode) is dropped,
    ``ReLU`` works in place, and the temporal encoders compute their positional encoding once for all
    batches of the same dates. The probabilities equal those of ``net.eval()`` up to float32 rounding
    (``tests/unit/test_deep_inference.py``). ``net`` itself is not changed.

    Parameters
    ----------
    net : torch.nn.Module
        A :class:`TemporalNet` (any module built from ``Sequential`` blocks works).

    Returns
    -------
    torch.nn.Module
        In eval mode, for use under :func:`torch.inference_mode` (it cannot be trained: its batch
        normalisations are gone).
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

    fast = copy.deepcopy(net).eval()
    for module in list(fast.modules()):
        if hasattr(module, "keep_encoding"):  # the attention encoders (antares.deep.layers._DateEncoded)
            module.keep_encoding = True
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Dropout) and not isinstance(module, nn.Sequential):
                setattr(module, name, nn.Identity())
        if not isinstance(module, nn.Sequential):
            continue
        layers, kept, i = list(module), [], 0
        while i < len(layers):
            layer, following = layers[i], layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(following, nn.BatchNorm1d) and following.track_running_stats and type(layer) in (nn.Linear,
                                                                                                              nn.Conv1d):
                fuse = fuse_linear_bn_eval if isinstance(layer, nn.Linear) else fuse_conv_bn_eval
                kept.append(fuse(layer, following))
                i += 2
                continue
            if isinstance(layer, nn.ReLU) and kept:  # in place on the output of the layer before, never on the input
                kept.append(nn.ReLU(inplace=True))
            elif not isinstance(layer, nn.Dropout):
                kept.append(layer)
            i += 1
        module._modules.clear()
        for k, layer in enumerate(kept):
            module.add_module(str(k), layer)
    return fast
