"""The temporal classifiers: ``fit(sets, y)``, ``predict_proba(sets)``, stored as safetensors + JSON config.

The estimator contract of antares' models (DESIGN.md §3) over pixel-set datasets: ``sets`` is a
dict ``{sensor: SensorSeries}`` (see :mod:`antares.deep.data`), ``y`` the legend codes. Training is
Adam with early stopping on a stratified validation split, balanced class weights by default, and a
fixed seed (repeatable on CPU with the same thread count).

Storage: :meth:`TemporalClassifier.to_bytes` writes one safetensors file whose header metadata holds
the JSON configuration (architecture, hyper-parameters, fusion, per-input channels, dates and
normalisation statistics, classes, training curve, library versions); :func:`from_bytes` reads it
back without running any code from it (safetensors holds tensors only; the config is JSON).
"""

from __future__ import annotations

import json
import logging
import struct

import numpy as np

from antares.deep.data import arrange
from antares.errors import InvalidInputError, UsageError

log = logging.getLogger(__name__)

FORMAT = "safetensors"
CONFIG_KEY = "antares"
CONFIG_VERSION = 1
LIBRARIES = ("antares", "torch", "safetensors", "numpy")
#: samples per inference batch: small batches keep the PSE's 64-wide pixel activations (16 sets of 24 dates × 32
#: pixels: 3 MB) in the CPU's caches; measured best of 4 .. 1,024 (benchmarks/deep.py --batches, docs/deep.md)
PREDICT_BATCH = 16
#: architecture hyper-parameters per architecture (the rest are training parameters)
ARCH_PARAMS = {"pse_tae": ("n_head", "d_k", "dropout", "period"),
               "ltae": ("n_head", "d_k", "d_model", "dropout", "period"),
               "tempcnn": ("filters", "kernel_size", "hidden", "dropout")}


def resolve_device(device: str) -> str:
    """``'cpu'`` or ``'cuda'`` for ``--device auto|cpu|cuda``.

    Raises
    ------
    UsageError
        ``cuda`` where torch sees no CUDA device, or another value.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device cuda: torch {torch.__version__} sees no CUDA device here; use --device cpu or auto.")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda. Got {device!r}.")
    return device


def _stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over samples, dates and pixels (NaN-aware); std 1 where 0 or undefined."""
    import warnings

    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN channel: mean 0, std 1 below
        mean = np.nanmean(values, axis=(0, 1, 3))
        std = np.nanstd(values, axis=(0, 1, 3))
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def _normalise(values: np.ndarray, mean, std) -> np.ndarray:
    out = (values - np.asarray(mean, np.float32)[None, None, :, None]) / np.asarray(std, np.float32)[None, None, :, None]
    return np.nan_to_num(out, nan=0.0).astype(np.float32)  # a missing value becomes the channel mean


class TemporalClassifier:
    """A temporal deep classifier of pixel sets (base of :class:`PseTae`, :class:`LTae`, :class:`TempCnn`).

    Parameters
    ----------
    **params
        The declared parameters of the model kind (:mod:`antares.deep.kinds`): architecture
        (``n_head``, ``d_k``, ...), fusion (``fusion``, ``interpolate``) and training (``epochs``,
        ``batch_size``, ``lr``, ``weight_decay``, ``patience``, ``validation``, ``class_weight``,
        ``loss`` (``cross_entropy`` or ``focal``: :func:`antares.deep.layers.focal_loss`), ``focal_gamma``,
        ``device``, ``random_state``, ``n_jobs``: torch threads, default 1).

    Attributes
    ----------
    classes_ : ndarray (K,) int64
        Legend codes, sorted.
    history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (training), ``val_loss``, ``val_oa``.
    best_epoch_ : int
    """

    arch = ""

    def __init__(self, **params):
        from antares.models.registry import model_kind

        self.params = {**{q.name: q.default for q in model_kind(self.arch).params}, **params}
        self.classes_ = None
        self.history_ = []
        self.best_epoch_ = None
        self._config = None
        self._net = None
        self._groups = None
        self._fast = self._fast_of = None  # the network's inference copy, and the network it copies

    # ----------------------------------------------------------------- the scikit-learn-like surface

    def get_params(self, deep: bool = False) -> dict:
        return dict(self.params)

    def set_params(self, **params):
        self.params.update(params)
        return self

    @property
    def n_jobs(self):
        return self.params.get("n_jobs")

    def fit(self, sets: dict, y, extra: np.ndarray | None = None, progress=None, groups=None):
        """Train on pixel sets.

        Parameters
        ----------
        sets : dict {sensor: SensorSeries}
            One sensor, or two with ``fusion`` set (see :func:`antares.deep.data.arrange`).
        y : array-like (N,) int
            Legend codes.
        extra : ndarray (N, E) float, optional
            Extra features per sample (geometry: perimeter, area, cover ratio ...), given to the PSE.
        progress : callable, optional
            ``progress(epoch, epochs, loss, val_oa)`` after each epoch.
        groups : array-like (N,) int, optional
            Group of each sample (e.g. its spatial block, :func:`antares.sampling.spatial_blocks`): the
            early-stopping validation split keeps whole groups on one side (scikit-learn's
            ``StratifiedGroupKFold``, one fold of about ``validation`` of the samples). With fewer than
            2 groups the split is stratified at random, as without ``groups``.

        Returns
        -------
        self

        Raises
        ------
        UsageError
            Fusion incompatible with the sensors or the architecture; ``--device cuda`` without CUDA.
        InvalidInputError
            Fewer than 2 classes, a label count that differs from the samples.
        """
        import torch

        p = self.params
        y = np.asarray(y).astype(np.int64)
        mode, inputs = self._arrange(sets)
        if any(len(s) != len(y) for s in inputs):
            raise InvalidInputError(f"{len(y)} label(s) for {len(inputs[0])} sample(s).")
        if groups is not None and len(groups) != len(y):
            raise InvalidInputError(f"{len(groups)} group(s) for {len(y)} sample(s).")
        self._groups = None if groups is None else np.asarray(groups)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise InvalidInputError(f"training needs at least 2 classes; got {len(self.classes_)}.")
        target = np.searchsorted(self.classes_, y)
        stats = [_stats(s.values) for s in inputs]
        extra_stats = None
        if extra is not None:
            extra = np.asarray(extra, np.float32)
            extra_stats = _stats(extra[:, None, :, None])
        device = resolve_device(p["device"])
        seed = p.get("random_state") or 0
        threads = torch.get_num_threads()
        torch.set_num_threads(int(p.get("n_jobs") or 1))  # more threads than free cores spin: 10x slower here
        try:
            torch.manual_seed(seed)
            self._config = self._make_config(mode, sets, inputs, stats, extra_stats)
            self._net = self._build(self._config).to(device)
            xs = [torch.from_numpy(_normalise(s.values, *st)) for s, st in zip(inputs, stats)]
            ex = torch.from_numpy(np.nan_to_num((extra - extra_stats[0]) / extra_stats[1])) if extra is not None else None
            self._train(xs, [torch.from_numpy(s.days.astype(np.float32)) for s in inputs], ex, target, device, seed,
                        progress)
        finally:
            torch.set_num_threads(threads)
        self._net.to("cpu").eval()
        self._config["history"], self._config["best_epoch"] = self.history_, self.best_epoch_
        return self

    def predict_proba(self, sets: dict, extra: np.ndarray | None = None, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Class probabilities ``(N, K)`` float64, columns in the order of ``classes_``.

        The samples go through :func:`antares.deep.network.inference_copy` of the network (batch
        normalisations folded into the layers before them) under :func:`torch.inference_mode`, in
        batches of ``batch_size`` samples normalised one batch at a time (small batches keep the pixel
        MLP's activations in the CPU's caches: ``benchmarks/deep.py``). ``n_jobs`` threads share the
        batches, each running torch on one thread (torch's own intra-op threads on batches this small
        mostly wait for each other: about 15 times slower on the shared benchmark machine).

        Raises
        ------
        InvalidInputError
            Sensors, channels or dates other than the model's (both named).
        """
        import torch

        if self._net is None:
            raise UsageError("the model is not fitted; call fit first.")
        self._check_sets(sets)
        _, inputs = self._arrange(sets)
        cfg = self._config
        stats = [(np.asarray(i["mean"], np.float32), np.asarray(i["std"], np.float32)) for i in cfg["inputs"]]
        days = [torch.from_numpy(s.days.astype(np.float32)) for s in inputs]
        ex = None
        if cfg["extra"]:
            if extra is None:
                raise InvalidInputError(f"the model takes {len(cfg['extra']['mean'])} extra feature(s) per sample; none given.")
            mean, std = (np.asarray(cfg["extra"][k], np.float32) for k in ("mean", "std"))  # JSON lists: float64
            ex = torch.from_numpy(np.nan_to_num((np.asarray(extra, np.float32) - mean) / std).astype(np.float32))
        net = self._inference_net()
        n, step = len(inputs[0]), max(1, int(batch_size))
        out = np.zeros((n, len(self.classes_)))
        starts = list(range(0, n, step))
        jobs = min(max(1, int(self.params.get("n_jobs") or 1)), max(1, len(starts)))

        def run(chunk):
            torch.set_num_threads(1)  # per thread (OpenMP): the batches are too small to share out
            with torch.inference_mode():
                for start in chunk:
                    part = slice(start, start + step)
                    xs = [torch.from_numpy(_normalise(s.values[part], *st)) for s, st in zip(inputs, stats)]
                    out[part] = net.probabilities(xs, days, ex[part] if ex is not None else None).numpy()

        threads = torch.get_num_threads()
        try:
            if jobs == 1:
                run(starts)
            else:  # n_jobs threads, each on its share of the batches (torch releases the GIL in its kernels)
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(jobs, thread_name_prefix="antares-predict") as pool:
                    list(pool.map(run, [starts[k::jobs] for k in range(jobs)]))
        finally:
            torch.set_num_threads(threads)
        return out

    def predict(self, sets: dict, extra: np.ndarray | None = None) -> np.ndarray:
        """Legend codes ``(N,)`` int64 of the most probable class."""
        return self.classes_[np.argmax(self.predict_proba(sets, extra), axis=1)]

    def _inference_net(self):
        """The network's :func:`~antares.deep.network.inference_copy`, made once per fitted network."""
        from antares.deep.network import inference_copy

        if self._fast_of is not self._net:
            self._fast, self._fast_of = inference_copy(self._net), self._net
        return self._fast

    @property
    def attention_(self):
        """Attention weights (B, heads, T) of the first temporal encoder's last forward pass (of the last prediction
        batch after :meth:`predict_proba`), or None."""
        net = self._fast if self._fast_of is self._net and self._net is not None else self._net
        temporal = net.temporal if hasattr(net, "temporal") else net.encoders[0].temporal
        return getattr(temporal, "attention", None)

    # ----------------------------------------------------------------- storage

    @property
    def config(self) -> dict:
        """The JSON configuration stored with the weights (see the module's docstring)."""
        return self._config

    def to_bytes(self) -> bytes:
        """The weights as a safetensors file with the JSON configuration in its header metadata."""
        from safetensors.torch import save

        if self._net is None:
            raise UsageError("the model is not fitted; nothing to store.")
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._net.state_dict().items()}
        return save(tensors, metadata={CONFIG_KEY: json.dumps(self._config)})

    # ----------------------------------------------------------------- internals

    def _arrange(self, sets: dict):
        p = self.params
        fusion = p.get("fusion") if len(sets) > 1 else None
        if len(sets) > 1 and fusion == "pse" and self.arch == "tempcnn":
            raise UsageError("tempcnn has no pixel-set encoder: --fusion pse is for pse_tae and ltae; use early, tsa "
                             "or decision.")
        return arrange(sets, fusion, p.get("interpolate", "nn"))

    def _check_sets(self, sets: dict) -> None:
        trained = self._config["sensors"]
        if sorted(sets) != sorted(trained):
            raise InvalidInputError(f"the model was trained on sensor(s) {', '.join(sorted(trained))}; got "
                                    f"{', '.join(sorted(sets)) or '(none)'}.")
        for name, series in sets.items():
            want = trained[name]
            if list(series.channels) != want["channels"]:
                raise InvalidInputError(f"the model was trained on {name} channels {', '.join(want['channels'])}; got "
                                        f"{', '.join(series.channels)}. Use the same channels in the same order.")
            if series.days.tolist() != want["days"]:
                raise InvalidInputError(f"the model was trained on {name} dates (days) {want['days']}; got "
                                        f"{series.days.tolist()}. Use a time-series product with the model's dates.")

    def _make_config(self, mode, sets, inputs, stats, extra_stats) -> dict:
        from antares.models.store import library_versions

        versions = library_versions()
        import importlib.metadata as md

        for lib in LIBRARIES:
            if lib not in versions:
                try:
                    versions[lib] = md.version(lib)
                except md.PackageNotFoundError:
                    versions[lib] = None
        return {
            "version": CONFIG_VERSION, "arch": self.arch, "mode": mode,
            "params": {k: v for k, v in self.params.items() if isinstance(v, (int, float, str, bool, type(None)))},
            "sensors": {n: {"channels": list(s.channels), "days": s.days.tolist()} for n, s in sets.items()},
            "inputs": [{"channels": list(s.channels), "days": s.days.tolist(), "mean": st[0].tolist(),
                        "std": st[1].tolist()} for s, st in zip(inputs, stats)],
            "extra": ({"mean": extra_stats[0].tolist(), "std": extra_stats[1].tolist()} if extra_stats else None),
            "classes": self.classes_.tolist(),
            "versions": {k: versions.get(k) for k in LIBRARIES},
        }

    @staticmethod
    def _build(config: dict):
        from antares.deep.network import TemporalNet

        hp = {k: config["params"][k] for k in ARCH_PARAMS[config["arch"]]}
        inputs = [(len(i["channels"]), len(i["days"])) for i in config["inputs"]]
        extra = len(config["extra"]["mean"]) if config["extra"] else 0
        return TemporalNet(config["arch"], config["mode"], inputs, len(config["classes"]), extra, hp)

    def _split(self, target: np.ndarray, seed: int):
        from sklearn.model_selection import ShuffleSplit, StratifiedGroupKFold, StratifiedShuffleSplit

        fraction = self.params["validation"]
        n = len(target)
        if not fraction:
            return np.arange(n), np.zeros(0, np.int64)
        groups = getattr(self, "_groups", None)
        if groups is not None and len(np.unique(groups)) >= 2:
            folds = int(min(max(2, round(1 / fraction)), len(np.unique(groups))))
            split = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
            train, val = next(split.split(np.zeros(n), target, groups))
            return np.sort(train), np.sort(val)
        counts = np.bincount(target)
        n_val = int(np.ceil(fraction * n))
        if counts.min() >= 2 and len(counts) <= n_val <= n - len(counts):
            split = StratifiedShuffleSplit(1, test_size=n_val, random_state=seed)
        else:
            split = ShuffleSplit(1, test_size=n_val, random_state=seed)
        train, val = next(split.split(np.zeros(n), target))
        return np.sort(train), np.sort(val)

    def _train(self, xs, days, extra, target, device, seed, progress):
        import copy

        import torch

        p = self.params
        train, val = self._split(target, seed)
        y = torch.from_numpy(target)
        weights = None
        if p["class_weight"] == "balanced":
            counts = np.bincount(target[train], minlength=len(self.classes_)).astype(np.float64)
            weights = torch.tensor(np.where(counts > 0, len(train) / (len(counts) * np.maximum(counts, 1)), 0.0),
                                   dtype=torch.float32, device=device)
        if p.get("loss", "cross_entropy") == "focal":
            from antares.deep.layers import focal_loss

            gamma = float(p.get("focal_gamma", 2.0))

            def loss_fn(logits, labels):
                return focal_loss(logits, labels, gamma, weights)
        else:
            loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
        net = self._net
        optimiser = torch.optim.Adam(net.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        days = [d.to(device) for d in days]
        generator = torch.Generator().manual_seed(seed)

        def loss_of(logits, labels):
            if logits.dim() == 3:  # decision fusion: the mean of the members' losses
                return torch.stack([loss_fn(m, labels) for m in logits]).mean()
            return loss_fn(logits, labels)

        def batch(index):
            idx = torch.from_numpy(index)
            return ([x[idx].to(device) for x in xs], extra[idx].to(device) if extra is not None else None,
                    y[idx].to(device))

        keep_dates = p.get("min_temp_seq")
        date_rng = np.random.default_rng(seed)

        def subsample(bx):
            """Minimum-sequence sampling (Ofori-Ampofo et al. 2021's ``min_temp_seq``): each sample keeps ``keep_dates``
            of its input's dates, drawn at random for that sample (as the reference's ``PixelSetData.__getitem__``),
            in time order; all when fewer. Inputs on the same dates (pse fusion) keep the same dates. The dates go
            to the temporal encoder per sample, ``(B, keep_dates)``."""
            if not keep_dates:
                return bx, days
            out_x, out_d, drawn = [], [], {}
            for x, d in zip(bx, days):
                key = tuple(d.tolist())
                if len(key) <= keep_dates:
                    out_x.append(x)
                    out_d.append(d)
                    continue
                if key not in drawn:  # per row, the first keep_dates of a random permutation, sorted
                    order = np.argsort(date_rng.random((len(x), len(key))), axis=1)[:, :keep_dates]
                    drawn[key] = torch.from_numpy(np.sort(order, axis=1)).to(x.device)
                pick = drawn[key]
                out_x.append(x[torch.arange(len(x), device=x.device)[:, None], pick])  # (B, keep, C, S)
                out_d.append(d[pick])  # (B, keep)
            return out_x, out_d

        best, best_loss, waited = None, np.inf, 0
        self.history_ = []
        for epoch in range(1, p["epochs"] + 1):
            net.train()
            order = train[torch.randperm(len(train), generator=generator).numpy()]
            total, seen = 0.0, 0
            for start in range(0, len(order), p["batch_size"]):
                index = order[start:start + p["batch_size"]]
                if len(index) < 2:
                    continue  # BatchNorm needs two samples
                bx, be, by = batch(index)
                bx, bdays = subsample(bx)
                optimiser.zero_grad()
                loss = loss_of(net(bx, bdays, be), by)
                loss.backward()
                optimiser.step()
                total, seen = total + loss.item() * len(index), seen + len(index)
            record = {"epoch": epoch, "loss": round(total / max(seen, 1), 6), "val_loss": None, "val_oa": None}
            if len(val):
                net.eval()
                with torch.no_grad():
                    bx, be, by = batch(val)
                    logits = net(bx, days, be)
                    val_loss = float(loss_of(logits, by))
                    probs = torch.softmax(logits, -1)
                    probs = probs.mean(0) if probs.dim() == 3 else probs
                    oa = float((probs.argmax(-1) == by).float().mean())
                record["val_loss"], record["val_oa"] = round(val_loss, 6), round(oa, 6)
                if val_loss < best_loss - 1e-6:
                    best, best_loss, waited, self.best_epoch_ = copy.deepcopy(net.state_dict()), val_loss, 0, epoch
                else:
                    waited += 1
            self.history_.append(record)
            if progress is not None:
                progress(epoch, p["epochs"], record["loss"], record["val_oa"])
            if len(val) and waited >= p["patience"]:
                log.info("early stop after epoch %d (best validation loss at epoch %d)", epoch, self.best_epoch_)
                break
        if best is not None:
            net.load_state_dict(best)
        else:
            self.best_epoch_ = len(self.history_)


class PseTae(TemporalClassifier):
    """PSE + TAE (Garnot et al. 2020)."""

    arch = "pse_tae"


class LTae(TemporalClassifier):
    """PSE + L-TAE (Garnot & Landrieu 2020)."""

    arch = "ltae"


class TempCnn(TemporalClassifier):
    """TempCNN on the object mean series (Pelletier et al. 2019)."""

    arch = "tempcnn"


CLASSES = {"pse_tae": PseTae, "ltae": LTae, "tempcnn": TempCnn}


def is_safetensors(blob: bytes) -> bool:
    """True when ``blob`` starts like a safetensors file (8-byte little-endian header size, then a JSON object)."""
    blob = bytes(blob[:9])
    if len(blob) < 9:
        return False
    return struct.unpack("<Q", blob[:8])[0] > 1 and blob[8:9] == b"{"


def read_config(blob: bytes, name: str = "model") -> dict:
    """The JSON configuration in a safetensors blob's header (nothing else is read).

    Raises
    ------
    InvalidInputError
        Not a safetensors file of antares (no configuration, unreadable header).
    """
    blob = bytes(blob)
    try:
        size = struct.unpack("<Q", blob[:8])[0]
        if size > len(blob) - 8:
            raise ValueError(f"header of {size} bytes in a blob of {len(blob)}")
        header = json.loads(blob[8:8 + size])
        config = json.loads(header["__metadata__"][CONFIG_KEY])
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise InvalidInputError(f"model '{name}' is not a readable safetensors model of antares: "
                                f"{type(exc).__name__}: {exc}"[:300]) from None
    if config.get("version") != CONFIG_VERSION or config.get("arch") not in CLASSES:
        raise InvalidInputError(f"model '{name}' has configuration version {config.get('version')} of architecture "
                                f"{config.get('arch')!r}; this antares reads version {CONFIG_VERSION} of "
                                f"{', '.join(CLASSES)}. Refit it with this antares.")
    return config


def from_bytes(blob: bytes, name: str = "model") -> TemporalClassifier:
    """The classifier stored by :meth:`TemporalClassifier.to_bytes` (weights checked against the architecture).

    Raises
    ------
    InvalidInputError
        Unreadable blob, or weights that do not fit the configured network (both named).
    """
    from safetensors.torch import load

    config = read_config(blob, name)
    model = CLASSES[config["arch"]](**config["params"])
    try:
        net = TemporalClassifier._build(config)
        net.load_state_dict(load(bytes(blob)), strict=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise InvalidInputError(f"model '{name}': its weights do not fit its configuration: {exc}"[:300]) from None
    model._net, model._config = net.eval(), config
    model.classes_ = np.asarray(config["classes"], np.int64)
    model.history_, model.best_epoch_ = config.get("history", []), config.get("best_epoch")
    return model
