"""Torch modules of the temporal classifiers: PSE, TAE, L-TAE, TempCNN, the day-of-year positional encoding, and
the focal loss.

Shapes follow :mod:`antares.deep`: a pixel-set batch is ``(B, T, C, S)`` (samples, dates, channels,
pixels), a date vector ``(T,)`` of days of year (or days since a reference date), an embedding
sequence ``(B, T, D)``.

References
----------
- Garnot, Landrieu, Giordano & Chehata (2020). Satellite image time series classification with
  pixel-set encoders and temporal self-attention. CVPR. (PSE, TAE)
- Garnot & Landrieu (2020). Lightweight temporal self-attention for classifying satellite image
  time series. AALTD, LNCS 12588. (L-TAE)
- Pelletier, Webb & Petitjean (2019). Temporal convolutional neural network for the classification
  of satellite image time series. Remote Sensing 11(5):523. (TempCNN)
- Lin, Goyal, Girshick, He & Dollar (2017). Focal loss for dense object detection. ICCV. (focal loss)
"""

from __future__ import annotations

import math

import torch
from torch import nn


def positional_encoding(days: torch.Tensor, dim: int, period: float = 1000.0) -> torch.Tensor:
    """Sinusoidal encoding of acquisition days (Vaswani et al. 2017, with days as positions; Garnot et al. 2020).

    ``PE(t, 2i) = sin(t / period^(2i/dim))``, ``PE(t, 2i+1) = cos(t / period^(2i/dim))``.

    Parameters
    ----------
    days : Tensor (T,) or (B, T) float
        Day of year (or days since a reference) of each acquisition; (B, T): each sample's own dates
        (minimum-sequence sampling draws dates per sample).
    dim : int
        Encoding size (even or odd).
    period : float
        The ``T`` of the papers (1000).

    Returns
    -------
    Tensor (T, dim) or (B, T, dim) float32
    """
    i = torch.arange(dim, dtype=torch.float32, device=days.device)
    angle = days.float()[..., None] / torch.pow(torch.tensor(period, device=days.device), 2 * torch.div(i, 2, rounding_mode="floor") / dim)
    return torch.where(i.long() % 2 == 0, torch.sin(angle), torch.cos(angle))


def mean_std_pool(h: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and population standard deviation of ``h`` over ``dim`` (the PSE's pooling, Garnot et al. 2020 eq. 1).

    ``std = sqrt(var + 1e-6)``: the population std (defined for a set of one pixel), with the epsilon of
    the reference implementation. The variance by the corrected two-pass algorithm (Chan, Golub & LeVeque
    1983, *Algorithms for computing the sample variance: analysis and recommendations*, Am. Stat. 37(3)):
    ``var = mean(d**2) - mean(d)**2`` with ``d = h - mean(h)``, the second term removing the error of the
    float32 mean; rather than :func:`torch.var`, whose one-pass (Welford) CPU kernel is about 50 times
    slower on these shapes (``benchmarks/deep.py``).

    Parameters
    ----------
    h : Tensor (..., S, ..., D) float
    dim : int
        The pixel axis.

    Returns
    -------
    (mean, std) : Tensors of ``h``'s shape without ``dim``
    """
    mean = h.mean(dim=dim)
    centred = h - mean.unsqueeze(dim)
    error = centred.mean(dim=dim)  # 0 in exact arithmetic
    squares = centred.square() if torch.is_grad_enabled() else centred.square_()  # in place when no gradient
    return mean, torch.sqrt((squares.mean(dim=dim) - error.square()).clamp_(min=0) + 1e-6)


def mlp(sizes, *, last_relu: bool = True) -> nn.Sequential:
    """Linear + BatchNorm + ReLU layers ``sizes[0] -> sizes[1] -> ...`` (the last without BN/ReLU if not ``last_relu``)."""
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if last_relu or k < len(sizes) - 2:
            layers += [nn.BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers)


class PixelSetEncoder(nn.Module):
    """Pixel-set encoder: a shared MLP on each pixel, mean and std pooling over the set, an MLP on the pooled vector.

    Garnot et al. (2020), section 3.1: MLP1 ``[C, 32, 64]``, pooling ``mean ‖ std`` (128), extra
    (geometric) features appended, MLP2 ``[128 + E, 128]``. Invariant to the order of the pixels.

    Parameters
    ----------
    channels : int
    mlp1 : sequence of int
        Hidden sizes after the input (default ``(32, 64)``).
    mlp2 : sequence of int
        Output sizes of MLP2 (default ``(128,)``).
    extra : int
        Number of extra features per sample (0: none).

    Shapes
    ------
    ``forward(x (B, T, C, S), extra (B, E) or None) -> (B, T, mlp2[-1])``
    """

    def __init__(self, channels: int, mlp1=(32, 64), mlp2=(128,), extra: int = 0):
        super().__init__()
        self.mlp1 = mlp((channels, *mlp1))
        self.extra = extra
        self.mlp2 = mlp((2 * mlp1[-1] + extra, *mlp2), last_relu=False)
        self.out_dim = mlp2[-1]

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        b, t, c, s = x.shape
        h = self.mlp1(x.permute(0, 1, 3, 2).reshape(b * t * s, c)).view(b, t, s, -1)
        mean, std = mean_std_pool(h, dim=2)
        pooled = torch.cat([mean, std], dim=-1)
        if self.extra:
            pooled = torch.cat([pooled, extra[:, None, :].expand(b, t, self.extra)], dim=-1)
        return self.mlp2(pooled.reshape(b * t, -1)).view(b, t, -1)


class _DateEncoded(nn.Module):
    """Base of the attention encoders: the positional encoding of their dates, computed once for all batches when
    ``keep_encoding`` is set (inference: every batch has the same dates; see
    :func:`antares.deep.network.inference_copy`)."""

    keep_encoding = False
    period = 1000.0

    def _encoding(self, days: torch.Tensor, dim: int) -> torch.Tensor:
        kept = self.__dict__.get("_kept")
        if (self.keep_encoding and kept is not None and kept[1].shape == (len(days), dim)
                and torch.equal(kept[0], days)):
            return kept[1]
        encoding = positional_encoding(days, dim, self.period)
        if self.keep_encoding:
            self.__dict__["_kept"] = (days.clone(), encoding)
        return encoding


class TemporalAttentionEncoder(_DateEncoded):
    """Temporal attention encoder (Garnot et al. 2020, section 3.2): a master query per head attends over the dates.

    The query of each head is computed from the temporal mean of the (position-encoded) inputs; keys
    from each date; the values are the full inputs, so the output of the ``n_head`` heads is
    ``n_head × d_in`` wide before MLP3 ``[n_head·d_in, 128, 128]``.

    Parameters
    ----------
    d_in : int
        Embedding size of each date (128).
    n_head, d_k : int
        Heads and key size (4, 32).
    mlp3 : sequence of int
        Sizes after the concatenated heads (default ``(128, 128)``).
    dropout : float
    period : float
        Positional-encoding period (1000).

    Shapes
    ------
    ``forward(e (B, T, d_in), days (T,) or (B, T)) -> (B, mlp3[-1])``; the attention weights of the last call
    are kept in ``self.attention`` (B, n_head, T).
    """

    def __init__(self, d_in: int = 128, n_head: int = 4, d_k: int = 32, mlp3=(128, 128), dropout: float = 0.2,
                 period: float = 1000.0):
        super().__init__()
        self.n_head, self.d_k, self.period = n_head, d_k, period
        self.in_norm = nn.LayerNorm(d_in)
        self.fc1_q = nn.Linear(d_in, n_head * d_k)
        self.fc2_q = nn.Sequential(nn.BatchNorm1d(n_head * d_k), nn.Linear(n_head * d_k, n_head * d_k))
        self.fc1_k = nn.Linear(d_in, n_head * d_k)
        self.mlp3 = mlp((n_head * d_in, *mlp3))
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(mlp3[-1])
        self.out_dim = mlp3[-1]
        self.attention = None

    def forward(self, e: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
        b, t, d = e.shape
        encoding = self._encoding(days, d)
        e = self.in_norm(e) + (encoding if encoding.dim() == 3 else encoding[None])
        q = self.fc2_q(self.fc1_q(e).mean(dim=1)).view(b, self.n_head, 1, self.d_k)
        k = self.fc1_k(e).view(b, t, self.n_head, self.d_k).permute(0, 2, 3, 1)  # (B, h, d_k, T)
        attention = torch.softmax((q @ k).squeeze(2) / math.sqrt(self.d_k), dim=-1)  # (B, h, T)
        self.attention = attention.detach()
        heads = attention @ e  # (B, h, d): every head weighs the full inputs
        return self.out_norm(self.dropout(self.mlp3(heads.reshape(b, -1))))


class LightTemporalAttentionEncoder(_DateEncoded):
    """Lightweight TAE (Garnot & Landrieu 2020): learned master queries, channels split between heads.

    Inputs are projected to ``d_model`` and layer-normalised; each head has a learned query
    (``d_k``), keys from each date and, as values, its own ``d_model / n_head`` channels; the heads'
    outputs are concatenated (``d_model``) and passed through the MLP ``[d_model, 128]``. The positional
    encoding has ``d_model / n_head`` dimensions, repeated for every head.

    Shapes
    ------
    ``forward(e (B, T, d_in), days (T,) or (B, T)) -> (B, mlp[-1])``; ``self.attention`` (B, n_head, T).
    """

    def __init__(self, d_in: int = 128, n_head: int = 16, d_k: int = 8, d_model: int = 256, mlp_sizes=(128,),
                 dropout: float = 0.2, period: float = 1000.0):
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_head ({n_head}).")
        self.n_head, self.d_k, self.d_model, self.period = n_head, d_k, d_model, period
        self.inconv = nn.Linear(d_in, d_model)
        self.in_norm = nn.LayerNorm(d_model)
        self.query = nn.Parameter(torch.randn(n_head, d_k) * math.sqrt(2.0 / d_k))
        self.fc1_k = nn.Linear(d_model, n_head * d_k)
        self.mlp = mlp((d_model, *mlp_sizes))
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(mlp_sizes[-1])
        self.out_dim = mlp_sizes[-1]
        self.attention = None

    def forward(self, e: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
        b, t, _ = e.shape
        h, dv = self.n_head, self.d_model // self.n_head
        encoding = self._encoding(days, dv).repeat(*(1,) * (days.dim() - 1), 1, h)  # every head: (B,) T, d_model
        e = self.in_norm(self.inconv(e)) + (encoding if encoding.dim() == 3 else encoding[None])
        k = self.fc1_k(e).view(b, t, h, self.d_k)
        scores = torch.einsum("hk,bthk->bht", self.query, k) / math.sqrt(self.d_k)
        attention = torch.softmax(scores, dim=-1)  # (B, h, T)
        self.attention = attention.detach()
        v = e.view(b, t, h, dv)
        heads = torch.einsum("bht,bthd->bhd", attention, v).reshape(b, self.d_model)
        return self.out_norm(self.dropout(self.mlp(heads)))


class MeanPool(nn.Module):
    """The object mean series of a pixel set: ``(B, T, C, S) -> (B, T, C)`` (TempCNN's input)."""

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        return x.mean(dim=3)


class TempCNNEncoder(nn.Module):
    """TempCNN (Pelletier et al. 2019): three 1-D convolutions over time, then one dense layer.

    Each convolution: ``filters`` kernels of size ``kernel_size`` (padding keeps ``T``), BatchNorm,
    ReLU, dropout; then flatten (``filters × T``) → dense ``hidden`` + BatchNorm + ReLU + dropout.
    The dates are not used (a fixed number of dates ``T``).

    Shapes
    ------
    ``forward(x (B, T, C), days) -> (B, hidden)``
    """

    def __init__(self, channels: int, dates: int, filters: int = 64, kernel_size: int = 5, hidden: int = 256,
                 dropout: float = 0.2):
        super().__init__()
        layers, c = [], channels
        for _ in range(3):
            layers += [nn.Conv1d(c, filters, kernel_size, padding=kernel_size // 2), nn.BatchNorm1d(filters), nn.ReLU(),
                       nn.Dropout(dropout)]
            c = filters
        self.conv = nn.Sequential(*layers)
        self.dense = nn.Sequential(nn.Linear(filters * dates, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                   nn.Dropout(dropout))
        self.out_dim = hidden

    def forward(self, x: torch.Tensor, days: torch.Tensor | None = None) -> torch.Tensor:
        return self.dense(self.conv(x.transpose(1, 2)).flatten(1))


def focal_loss(logits, target, gamma: float = 2.0, weight=None):
    """The focal loss of Lin et al. (2017), averaged over the batch.

    ``FL(p_t) = -alpha_t (1 - p_t)**gamma log(p_t)`` (Lin, Goyal, Girshick, He & Dollar 2017, *Focal
    Loss for Dense Object Detection*, ICCV, eq. 5), with ``p_t`` the softmax probability of the true
    class and ``alpha_t`` the weight of the true class. The mean is weighted as
    :class:`torch.nn.CrossEntropyLoss`'s: ``sum(FL) / sum(alpha_t)``, so that ``gamma = 0`` is the
    (weighted) cross-entropy.

    Parameters
    ----------
    logits : torch.Tensor (B, K) float
    target : torch.Tensor (B,) int64
        Class indices in ``0 .. K-1``.
    gamma : float >= 0
        Focusing parameter: how much the loss of well-classified samples (``p_t`` near 1) is reduced.
    weight : torch.Tensor (K,) float, optional
        Per-class weights ``alpha`` (default: 1 for every class).

    Returns
    -------
    torch.Tensor, scalar
    """
    log_p = torch.log_softmax(logits, dim=-1).gather(-1, target[:, None])[:, 0]
    alpha = torch.ones_like(log_p) if weight is None else weight.to(log_p.dtype)[target]
    # (1 - p_t)**gamma with 0**0 = 1 (torch.pow does so) for gamma = 0
    modulating = torch.pow(torch.clamp(1 - log_p.exp(), min=0.0), gamma)
    return -(alpha * modulating * log_p).sum() / alpha.sum()
