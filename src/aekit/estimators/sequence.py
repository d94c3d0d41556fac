"""The ``SequenceAutoencoder`` estimator: windows of a series, item sequences, video.

scikit-learn's conventions over the composite recurrent model of
:mod:`aekit.architectures.sequence`. One window is ``observed + horizon``
steps; ``fit`` trains the encoder on the observed steps, the reconstruction
decoder on them and the future decoder on the last ``horizon`` steps.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from aekit.estimators.autoencoder import _read_history, _widths
from aekit.estimators.base import check_params, register_estimator, seed_from
from aekit.exceptions import ConfigError, DataError, ModelFileError, NotFittedError
from aekit.metrics import error_summary, hit_rate_ndcg
from aekit.model import AutoencoderModule, check_memory
from aekit.ranking import top_k
from aekit.registry import CORRUPTIONS, LATENTS
from aekit.runs import read_run, write_run
from aekit.training.trainer import Trainer, TrainerConfig, resolve_device

KINDS = ("values", "items", "frames")
OFFSETS = ("none", "last", "mean")
TRANSITION_WEIGHTS = ("ranking", "learned")
# Weights of the Markov chain tried on the held-out windows (with the learned one).
TRANSITION_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


class _WindowSource:
    """Training windows kept in their stored dtype; a batch is scaled on demand.

    Video stays uint8 in memory (10,000 windows of 20 frames of 64x64 are 0.8
    GB as bytes, 3.3 GB as float32).
    """

    def __init__(self, X: np.ndarray, prepare):
        self.X, self.prepare = X, prepare

    def __len__(self) -> int:
        return len(self.X)

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.prepare(self.X[idx.numpy()]))


@register_estimator
class SequenceAutoencoder(TransformerMixin, BaseEstimator):
    """A recurrent sequence autoencoder that also predicts what comes next.

    Each sample is a window of ``L`` steps: the first ``L - horizon`` are
    observed (the encoder reads them into one fixed-length code), the last
    ``horizon`` are the future that the future decoder learns to predict
    (Srivastava et al. 2015, https://arxiv.org/abs/1502.04681). Three kinds of
    steps:

    - values: ``X`` of shape (n, L) or (n, L, d), floats; NaN pads windows
      whose observed part ends early, and marks missing values;
    - items: ``X`` of shape (n, L), integers ``1..n_items`` (0 pads);
      the likelihood is a softmax over items, and :meth:`recommend` ranks
      the next item of each history;
    - frames: ``X`` of shape (n, L, H, W) or (n, L, C, H, W), pixels (uint8
      or floats in [0, 1]); a conv encoder/decoder per frame.

    Parameters
    ----------
    horizon : int, default=0
        Future steps at the end of each window (0: a plain sequence
        autoencoder).
    code_size : int, default=32
    cell : {"gru", "lstm"}, default="gru"
    hidden_size : int, default=64
    num_layers : int, default=1
    reconstruct : bool, default=True
        Train the reconstruction decoder on the observed steps too (the
        composite model); False leaves only the future decoder.
    reverse_reconstruction : bool, default=True
    kind : {"auto", "values", "items", "frames"}, default="auto"
        "auto": 2-D integer arrays are items, 4-D and 5-D arrays frames,
        anything else values.
    window_offset : {"none", "last", "mean"}, default="none"
        Values only: subtract each window's last (or mean) observed step
        before scaling, and add it back to predictions; makes forecasts of a
        trending series translation-invariant.
    loss : {"auto", "mse", "bce"}, default="auto"
        Values and frames: "auto" is "mse" ("bce" needs values in [0, 1]).
        Items always use the categorical likelihood.
    latent : str or dict, default="deterministic"
        "deterministic" or "variational[:beta=...]". A variational model
        scores the reconstruction in nats per window (summed over the scored
        elements, "mse" as a unit-variance Gaussian), the scale of its KL.
    noise : str, dict or None, default=None
        Input corruption in training, e.g. "gaussian:0.1" or "masking:0.2"
        (for items, masking drops items from the history).
    embedding_dim : int, default=64
    item_transitions : bool, default=False
        Items only: add a first-order Markov chain, the training windows'
        (last observed item, next item) pair counts smoothed towards
        popularity, whose log-probability joins the first future step's
        logits with a weight learned along with the model. It carries the
        item-to-item transitions the code is too small to hold. The counts
        come from the training windows only (not the validation ones) and
        fill a dense ``(n_items + 1)**2`` table, so at most 10,000 items.
    transition_weight : {"ranking", "learned"}, default="ranking"
        With ``item_transitions``: "learned" keeps the chain's weight as
        training left it, the one that maximises the likelihood; "ranking"
        then picks, among that weight and 0, 0.25, 0.5, 1, 2 and 4, the one
        whose ranking of the held-out windows' next items has the best
        NDCG@10 (the held-out windows' pairs are not in the chain's counts).
        Likelihood and ranking disagree about the chain: on MovieLens 100K the
        learned weight is about 0.09 and the held-out windows pick 0.5 or 1
        (bench/results/sequence_items.md). Needs ``validation_fraction > 0``;
        without held-out windows the learned weight stays.
    ar_lags : int, default=0
        Values with ``horizon > 0``: add a linear autoregression on the last
        ``ar_lags`` observed steps (all features) to the future decoder's
        output, the "highway" of LSTNet (Lai et al. 2018). Its weights start
        at zero and train with the rest. On statsmodels' quarterly
        macrodata, ``ar_lags=3`` took the bench's forecast MSE
        from 6.58 to 4.86 (VAR(3): 4.96), and ``ar_lags=24`` on monthly co2
        from 0.401 to 0.352 (SARIMA: 0.356; bench/results/sequence_ts.md).
    frame_channels : tuple of int, default=(16, 32, 64)
        Frames: the per-frame convolution widths (see ``frame_core``).
    frame_features : int, default=256
        Frames with the recurrent core: the per-frame vector fed to the RNN.
    frame_core : {"recurrent", "conv"}, default="recurrent"
        Frames: "recurrent" encodes each frame to a vector (strided
        convolutions, one per ``frame_channels`` entry) and runs the
        GRU/LSTM over them; the code is flat. "conv" turns each frame into a
        feature map on the 4x4-patch grid (one convolution per
        ``frame_channels`` entry), stacks the observed maps along channels and
        mixes them with convolutions (SimVP, Gao et al. 2022): ``hidden_size``
        channels at half that grid, ``num_layers`` residual blocks on each
        side of the code, and a spatial code of ``code_size`` channels
        (``transform`` gives (n, code_size, H / 8, W / 8)); ``cell`` and
        ``dropout`` do not apply to it. On the bench's Moving MNIST it
        reached MSE 90.7 per frame (31 wall minutes on 2 threads, 20,000
        videos) where the recurrent core reached 127.4 (25 minutes on one
        thread, 6,000 videos; bench/results/sequence_video.md).
    ssim_weight : float, default=0.0
        Frames: add ``ssim_weight * (1 - SSIM)`` of the decoded frames to the
        loss (SSIM as scikit-image computes it). MSE and BCE alone are
        minimised by the average of the futures the model cannot tell apart,
        a haze that SSIM punishes on a blank background. On the bench's Moving
        MNIST, 0.4 took SSIM from 0.741 to 0.790 (all-black frames: 0.774)
        and MSE per frame from 90.7 to 93.0. The weight is on the scale of
        a per-element MSE or BCE; a variational model sums its likelihood over
        the elements, so it needs a weight that many times larger.
    precision : {"fp32", "bf16", "fp16", "auto"}, default="fp32"
        Mixed precision in training, as in :class:`aekit.Autoencoder`.
    dropout : float, default=0.0
    epochs, batch_size, lr, optimizer, lr_schedule, weight_decay,
    validation_fraction, patience, random_state, device, verbose :
        As in :class:`aekit.Autoencoder`.

    Attributes
    ----------
    kind_ : str
    window_length_ : int
    n_observed_ : int
    step_shape_ : tuple
    n_items_ : int
    mean_, scale_ : ndarray
        Per-feature scaling of values (after the window offset).
    module_ : AutoencoderModule
    history_ : list of dict
    reconstruction_error_ : dict
        Summary of per-window errors on training and validation windows.
    transition_weight_ : dict
        With ``item_transitions``: the chain's ``learned`` weight, the
        ``chosen`` one, and the held-out NDCG@10 of each weight tried
        (``validation_ndcg10``, empty for "learned").
    error_quantiles_ : ndarray of shape (201,)

    Example
    -------
    >>> t = np.arange(400, dtype=np.float32)
    >>> from aekit.data.sequences import sliding_windows
    >>> W = sliding_windows(np.sin(t / 5), 24)
    >>> model = SequenceAutoencoder(horizon=4, epochs=2, random_state=0).fit(W)
    >>> model.transform(W[:, :20]).shape, model.forecast(W[:, :20]).shape
    ((377, 32), (377, 4, 1))
    """

    def __init__(
        self,
        horizon: int = 0,
        code_size: int = 32,
        *,
        cell: str = "gru",
        hidden_size: int = 64,
        num_layers: int = 1,
        reconstruct: bool = True,
        reverse_reconstruction: bool = True,
        kind: str = "auto",
        window_offset: str = "none",
        loss: str = "auto",
        latent: str | dict = "deterministic",
        noise: str | dict | None = None,
        embedding_dim: int = 64,
        item_transitions: bool = False,
        transition_weight: str = "ranking",
        ar_lags: int = 0,
        frame_channels: tuple[int, ...] = (16, 32, 64),
        frame_features: int = 256,
        frame_core: str = "recurrent",
        ssim_weight: float = 0.0,
        dropout: float = 0.0,
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adam",
        lr_schedule: str = "cosine",
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        random_state=None,
        device: str = "auto",
        precision: str = "fp32",
        verbose: int = 0,
    ):
        self.horizon = horizon
        self.code_size = code_size
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.reconstruct = reconstruct
        self.reverse_reconstruction = reverse_reconstruction
        self.kind = kind
        self.window_offset = window_offset
        self.loss = loss
        self.latent = latent
        self.noise = noise
        self.embedding_dim = embedding_dim
        self.item_transitions = item_transitions
        self.ar_lags = ar_lags
        self.transition_weight = transition_weight
        self.frame_channels = frame_channels
        self.frame_features = frame_features
        self.frame_core = frame_core
        self.ssim_weight = ssim_weight
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.verbose = verbose

    # -- validation -----------------------------------------------------------
    def _as_array(self, X) -> np.ndarray:
        if hasattr(X, "X") and not isinstance(X, np.ndarray):  # aekit Dataset
            X = X.X
        if hasattr(X, "toarray"):
            raise DataError(
                "X is a sparse matrix; SequenceAutoencoder needs a dense array of "
                "windows (n_windows, steps, ...)."
            )
        X = np.asarray(X)
        if X.dtype.kind not in "uifb":
            raise DataError(
                f"X must hold numbers; got an array of dtype {X.dtype}. Convert it "
                "with np.asarray(X, dtype=float)."
            )
        if X.ndim < 2 or len(X) == 0:
            raise DataError(
                "X must be an array of windows of shape (n_windows, steps, ...). Got "
                f"shape {X.shape}."
            )
        if X.dtype.kind == "f" and np.isinf(X).any():
            raise DataError("X contains infinity; drop or clip those values first.")
        return X

    def _detect_kind(self, X: np.ndarray) -> str:
        if self.kind != "auto":
            if self.kind not in KINDS:
                raise ConfigError(
                    f"kind must be 'auto', 'values', 'items' or 'frames'. Got "
                    f"{self.kind!r}."
                )
            return self.kind
        if X.ndim == 2 and X.dtype.kind in "ui":
            return "items"
        if X.ndim in (4, 5):
            return "frames"
        return "values"

    def _standard_shape(self, X: np.ndarray, kind: str) -> np.ndarray:
        """(n, L, d) values, (n, L) items, (n, L, C, H, W) frames."""
        if kind == "values" and X.ndim == 2:
            return X[:, :, None]
        if kind == "frames" and X.ndim == 4:
            return X[:, :, None]
        expected = {"values": 3, "items": 2, "frames": 5}[kind]
        if X.ndim != expected:
            raise DataError(
                f"{kind} windows must have {expected} dimensions "
                f"(n_windows, steps, ...). Got shape {X.shape}."
            )
        return X

    def _validate(self, X, *, fit: bool) -> np.ndarray:
        X = self._as_array(X)
        if fit:
            self.kind_ = self._detect_kind(X)
        X = self._standard_shape(X, self.kind_)
        if self.kind_ == "items":
            if X.dtype.kind == "f":
                if np.isnan(X).any() or (X != np.round(X)).any():
                    raise DataError("Item windows must hold integer ids (0 pads).")
            if (X < 0).any():
                raise DataError("Item ids must be >= 0 (0 pads; items are 1..n).")
            X = X.astype(np.int64)
        elif self.kind_ == "values" and X.dtype.kind == "f":
            all_nan = np.isnan(X).all(axis=(1, 2))
            if all_nan.any():
                raise DataError(
                    f"Window {int(np.argmax(all_nan))} of X is all NaN; drop it."
                )
        elif self.kind_ == "frames" and X.dtype.kind == "f":
            if np.isnan(X).any():
                raise DataError("Frames contain NaN; fill them first.")
            if X.min() < 0 or X.max() > 1:
                raise DataError(
                    f"Float frames must lie in [0, 1]; X ranges over "
                    f"[{X.min():.4g}, {X.max():.4g}]. Rescale them, or pass uint8 "
                    "pixels."
                )
        if fit:
            self.window_length_ = int(X.shape[1])
            self.n_observed_ = self.window_length_ - int(self.horizon)
            self.step_shape_ = tuple(int(s) for s in X.shape[2:])
            if self.n_observed_ < 1:
                raise ConfigError(
                    f"Windows of {self.window_length_} steps leave no observed step "
                    f"with horizon={self.horizon}; make windows longer than the "
                    "horizon."
                )
        else:
            if tuple(X.shape[2:]) != self.step_shape_:
                raise DataError(
                    f"X has steps of shape {tuple(X.shape[2:])}, but this "
                    f"SequenceAutoencoder was fitted on steps of shape "
                    f"{self.step_shape_}."
                )
        return X

    def _check_length(self, X: np.ndarray, *, allow_observed: bool = True) -> None:
        L, T = self.window_length_, self.n_observed_
        ok = (L, T) if allow_observed else (L,)
        if X.shape[1] not in ok:
            what = f"{T} (observed) or {L} (observed + future)" if allow_observed else L
            raise DataError(
                f"X has windows of {X.shape[1]} steps, but this SequenceAutoencoder "
                f"takes {what} steps."
            )

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError(
                "This SequenceAutoencoder instance is not fitted yet. Call 'fit' "
                "with appropriate arguments before using this estimator."
            )

    # -- scaling ----------------------------------------------------------------
    def _offsets(self, X: np.ndarray) -> np.ndarray:
        """Per-window offsets (n, 1, d) of values, from the observed steps."""
        n, d = len(X), X.shape[2]
        mode = self.window_offset
        if mode not in OFFSETS:
            raise ConfigError(
                f"window_offset must be 'none', 'last' or 'mean'. Got {mode!r}."
            )
        if mode == "none":
            return np.zeros((n, 1, d), np.float32)
        obs = X[:, : self.n_observed_].astype(np.float64)
        if mode == "mean":
            return np.nanmean(obs, axis=1, keepdims=True).astype(np.float32)
        valid = ~np.isnan(obs)  # the last observed value of each feature
        idx = obs.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)  # (n, d)
        last = np.take_along_axis(obs, idx[:, None, :], axis=1)
        return np.nan_to_num(last).astype(np.float32)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        """Windows in the model's units, float32."""
        if self.kind_ == "items":
            return X.astype(np.float32)
        if self.kind_ == "frames":
            Xf = X.astype(np.float32)
            return Xf / 255.0 if X.dtype == np.uint8 else Xf
        Xs = (X.astype(np.float32) - self._offsets(X)) - self.mean_
        return (Xs / self.scale_).astype(np.float32)

    def _to_units(self, Xs: np.ndarray, X_obs: np.ndarray) -> np.ndarray:
        """Model outputs back to the data's units (values and frames)."""
        if self.kind_ == "values":
            return Xs * self.scale_ + self.mean_ + self._offsets(X_obs)
        if self.kind_ == "frames" and self.input_dtype_ == "uint8":
            return Xs * 255.0
        return Xs

    def _fit_scaling(self, X: np.ndarray) -> None:
        if self.kind_ != "values":
            return
        d = X.shape[2]
        self.mean_, self.scale_ = np.zeros(d, np.float32), np.ones(d, np.float32)
        Xo = X.astype(np.float64) - self._offsets(X)
        flat = Xo.reshape(-1, d)
        self.mean_ = np.nan_to_num(np.nanmean(flat, 0)).astype(np.float32)
        std = np.nan_to_num(np.nanstd(flat, 0))
        self.scale_ = np.where(std > 1e-12, std, 1.0).astype(np.float32)

    # -- building ---------------------------------------------------------------
    def _resolve_loss(self, sample: np.ndarray) -> str:
        if self.kind_ == "items":
            return "categorical"
        if self.loss not in ("auto", "mse", "bce"):
            raise ConfigError(
                f"The 'loss' parameter must be 'auto', 'mse' or 'bce'. Got "
                f"{self.loss!r}."
            )
        finite = sample[~np.isnan(sample)]
        in_unit = finite.size == 0 or (finite.min() >= 0 and finite.max() <= 1)
        if self.loss == "auto":
            # Frames too: with BCE, short CPU trainings on Moving MNIST stalled
            # at the all-background plateau where MSE kept improving.
            return "mse"
        if self.loss == "bce" and not in_unit:
            raise DataError(
                "loss='bce' needs values in [0, 1] after scaling; use loss='mse'."
            )
        return self.loss

    def _model_spec(self) -> dict[str, Any]:
        if not isinstance(self.code_size, int | np.integer) or self.code_size < 1:
            raise ConfigError(
                "The 'code_size' parameter of SequenceAutoencoder must be an int in "
                f"the range [1, inf). Got {self.code_size!r} instead."
            )
        latent = LATENTS.parse(self.latent)
        latent.setdefault("code_size", int(self.code_size))
        likelihood: dict[str, Any] = {
            "kind": {"mse": "gaussian", "bce": "bernoulli"}.get(self.loss_, "")
        }
        if self.loss_ == "categorical":
            likelihood = {"kind": "categorical", "n_classes": self.n_items_ + 1}
        if latent["kind"] == "variational":
            # The ELBO needs log p(x|z) in nats per window, as the KL is: sum
            # over the scored elements; squared error becomes a unit-variance
            # Gaussian density (as in Autoencoder).
            likelihood["reduction"] = "sum"
            if self.loss_ == "mse":
                likelihood["variance"] = 1.0
        return {
            "architecture": {
                "kind": "sequence",
                "cell": self.cell,
                "hidden_size": int(self.hidden_size),
                "num_layers": int(self.num_layers),
                "horizon": int(self.horizon),
                "reconstruct": bool(self.reconstruct),
                "reverse_reconstruction": bool(self.reverse_reconstruction),
                "dropout": float(self.dropout),
                "n_items": int(self.n_items_),
                "embedding_dim": int(self.embedding_dim),
                "item_transitions": bool(self.item_transitions),
                "ar_lags": int(self.ar_lags),
                "frame_channels": _widths(self.frame_channels, "frame_channels"),
                "frame_features": int(self.frame_features),
                "frame_core": self.frame_core,
                "ssim_weight": self.ssim_weight,
            },
            "latent": latent,
            "regularizers": [],
            "corruption": CORRUPTIONS.parse(self.noise) if self.noise else None,
            "likelihood": likelihood,
        }

    def _input_shape(self) -> tuple[int, ...]:
        return (self.window_length_, *self.step_shape_)

    # -- fitting ----------------------------------------------------------------
    def fit(self, X, y=None, *, checkpoint: str | Path | None = None):
        """Train on windows ``X`` (labels ``y`` are ignored).

        Parameters
        ----------
        X : array-like of windows, see the class docstring
        y : ignored
        checkpoint : path, optional
            A resumable checkpoint written after every epoch.
        """
        t0 = time.perf_counter()
        check_params(self)
        for name in ("module_", "mean_", "scale_", "transition_weight_"):
            self.__dict__.pop(name, None)
        X = self._validate(X, fit=True)
        self.input_dtype_ = str(X.dtype)
        self.n_items_ = int(X.max()) if self.kind_ == "items" else 0
        if self.kind_ == "items" and self.n_items_ < 1:
            raise DataError("Item windows hold no item (every id is 0, padding).")
        if self.transition_weight not in TRANSITION_WEIGHTS:
            raise ConfigError(
                "transition_weight must be 'ranking' or 'learned'. Got "
                f"{self.transition_weight!r}."
            )
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(
                "validation_fraction must be in [0, 1). Got "
                f"{self.validation_fraction!r}."
            )
        seed = seed_from(self.random_state)
        rng = np.random.default_rng(seed)
        n = len(X)
        n_val = int(round(n * self.validation_fraction))
        n_val = n_val if n - n_val >= 1 else 0
        order = rng.permutation(n)
        train_idx, val_idx = np.sort(order[n_val:]), np.sort(order[:n_val])
        X_train, X_val = X[train_idx], X[val_idx]
        self._fit_scaling(X_train)
        self.loss_ = self._resolve_loss(self._prepare(X_train[:256]))
        torch.manual_seed(seed)
        self.module_ = AutoencoderModule(self._model_spec(), self._input_shape())
        self._device = resolve_device(self.device)
        if self._device.type == "cpu":
            check_memory(self.module_, training=True)
        if self.item_transitions:
            arch = self.module_.architecture
            arch.fit_transitions(torch.as_tensor(X_train))  # the integer ids
        trainer = Trainer(
            TrainerConfig(
                epochs=int(self.epochs),
                batch_size=int(self.batch_size),
                lr=float(self.lr),
                optimizer=self.optimizer,
                weight_decay=float(self.weight_decay),
                lr_schedule=self.lr_schedule,
                patience=None if self.patience is None else int(self.patience),
                device=self.device,
                seed=seed,
                verbose=int(self.verbose),
                precision=self.precision,
            ),
            checkpoint=checkpoint,
        )
        self.history_ = trainer.fit(
            self.module_,
            _WindowSource(X_train, self._prepare),
            _WindowSource(X_val, self._prepare) if n_val else None,
        )
        self.best_epoch_ = trainer.best_epoch
        self.stopped_early_ = trainer.stopped_early
        if self.item_transitions:
            self._choose_transition_weight(X_val)
        err_train = self._window_errors(X_train)
        self.reconstruction_error_ = {"train": error_summary(err_train)}
        held_out = err_train
        if n_val:
            held_out = self._window_errors(X_val)
            self.reconstruction_error_["validation"] = error_summary(held_out)
        self.error_quantiles_ = np.quantile(held_out, np.linspace(0, 1, 201))
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _choose_transition_weight(self, X_val: np.ndarray) -> None:
        """Set the chain's weight (``transition_weight``): as learned, or the
        one with the best NDCG@10 of the held-out windows' next items."""
        weight = self.module_.architecture.transition_weight
        learned = float(weight.detach())
        scores: dict[float, float] = {}
        T = self.n_observed_
        X_val = X_val[X_val[:, T] > 0]  # windows with a next item
        if self.transition_weight == "ranking" and len(X_val):
            history, target = X_val[:, :T], X_val[:, T]
            for w in sorted({learned, *TRANSITION_GRID}):
                with torch.no_grad():
                    weight.fill_(w)
                s = self.next_item_scores(history)  # (n, n_items + 1)
                np.put_along_axis(s, history.astype(np.int64), -np.inf, axis=1)
                scores[w] = hit_rate_ndcg(top_k(s, 10), target)[1]
        # Ties go to the learned weight, then to the smaller one.
        chosen = max(
            scores, key=lambda w: (scores[w], w == learned, -w), default=learned
        )
        with torch.no_grad():
            weight.fill_(chosen)
        self.transition_weight_ = {
            "learned": learned,
            "chosen": chosen,
            "validation_ndcg10": {str(w): v for w, v in scores.items()},
        }

    # -- inference --------------------------------------------------------------
    @torch.no_grad()
    def _batches(self, X: np.ndarray, fn, batch_size: int = 256) -> np.ndarray:
        self.module_.eval()
        outs = []
        for start in range(0, len(X), batch_size):
            chunk = self._prepare(X[start : start + batch_size])
            xb = torch.from_numpy(chunk).to(self._device)
            outs.append(fn(xb).float().cpu().numpy())
        return np.concatenate(outs, axis=0)

    def _inputs(self, X) -> np.ndarray:
        self._check_fitted()
        X = self._validate(X, fit=False)
        self._check_length(X)
        return X

    def transform(self, X) -> np.ndarray:
        """One code per window, shape (n_windows, code_size).

        Only the observed steps are read: ``X`` may hold the observed steps
        alone or whole windows.
        """
        X = self._inputs(X)
        return self._batches(X, self.module_.encode)

    def predict(self, X) -> np.ndarray:
        """The decoded window: reconstructed observed steps, then the forecast.

        Shape (n_windows, window_length, ...) in the data's units; for items,
        the most probable item per step. A model without a reconstruction
        decoder gives NaN (items: 0) for the observed steps.
        """
        X = self._inputs(X)
        out = self._batches(X, self.module_)  # (n, S, *step)
        if not self.reconstruct:
            fill = 0 if self.kind_ == "items" else np.nan
            head = np.full((len(X), self.n_observed_, *out.shape[2:]), fill, out.dtype)
            out = np.concatenate([head, out], axis=1)  # (n, L, *step)
        if self.kind_ == "items":
            return out.astype(np.int64)
        return self._to_units(out, X)  # (n, L, *step)

    def forecast(self, X, horizon: int | None = None) -> np.ndarray:
        """Predict the ``horizon`` steps that follow each window's observed steps.

        Parameters
        ----------
        X : windows with the observed steps (or whole windows; the future is
            not read)
        horizon : int, default=the fitted horizon
            At most the fitted horizon.

        Returns
        -------
        ndarray of shape (n_windows, horizon, ...); for items, item ids.
        """
        self._check_fitted()
        H = int(self.horizon) if horizon is None else int(horizon)
        if not 1 <= H <= int(self.horizon):
            raise ConfigError(
                f"horizon must be between 1 and the fitted horizon {self.horizon}. "
                f"Got {horizon!r}; refit with a longer horizon to see further."
            )
        T = self.n_observed_
        return self.predict(X)[:, T : T + H]

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-window error of the decoded window against ``X`` (scaled units).

        Mean squared error over the steps present in ``X`` that the model
        decodes (padding left out); for items, the mean negative
        log-likelihood. High values flag unusual windows.
        """
        X = self._inputs(X)
        return self._window_errors(X)

    def _window_errors(self, X: np.ndarray) -> np.ndarray:
        steps, L, T = X.shape[1], self.window_length_, self.n_observed_
        if steps < L and not self.reconstruct:
            raise DataError(
                "This SequenceAutoencoder has no reconstruction decoder: its error "
                f"needs whole windows of {L} steps (observed and future)."
            )
        module = self.module_

        def errors(xb):
            full = xb
            if steps < L:  # observed steps only: pad the future, score none of it
                fill = 0.0 if self.kind_ == "items" else float("nan")
                pad = xb.new_full((len(xb), L - steps, *xb.shape[2:]), fill)
                full = torch.cat([xb, pad], dim=1)
            target, mask = module.architecture.loss_target(full)
            if self.kind_ == "frames" and steps < L:
                mask = torch.ones_like(target, dtype=torch.bool)
                mask[:, T:] = False
            out = module.decoder_output(module.encode(full), full)
            if self.kind_ == "items":
                err = module.likelihood.nll(out, target)  # (B, S)
            else:
                err = (module.likelihood.mean(out) - target).square()  # (B, S, ..)
            if mask is None:
                return err.flatten(1).mean(1)
            m = mask.flatten(1).float()
            return (err.flatten(1) * m).sum(1) / m.sum(1).clamp_min(1)

        return self._batches(X, errors).astype(np.float64)

    def score(self, X, y=None) -> float:
        """Negative mean per-window error: higher is better."""
        return -float(np.mean(self.reconstruction_error(X)))

    def recommend(
        self, histories, n: int = 10, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rank the next item of each history (order-aware).

        Parameters
        ----------
        histories : sequence of sequences of item ids, oldest first
        n : int, default=10
        exclude_seen : bool, default=True
            Leave out items already in the history.

        Returns
        -------
        items : ndarray (n_histories, n), best first
        scores : ndarray (n_histories, n), log-probabilities
        """
        self._check_fitted()
        if self.kind_ != "items":
            raise ConfigError(
                "recommend needs a model fitted on item sequences (integer "
                f"windows); this one was fitted on {self.kind_}."
            )
        if int(self.horizon) < 1:
            raise ConfigError("recommend needs a model fitted with horizon >= 1.")
        from aekit.data.sequences import pad_histories

        hist = [[int(i) for i in h if 1 <= int(i) <= self.n_items_] for h in histories]
        X = pad_histories(hist, self.n_observed_)
        scores = self.next_item_scores(X)
        if exclude_seen:
            for i, h in enumerate(hist):
                scores[i, h] = -np.inf
        n = min(int(n), self.n_items_)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        return top, np.take_along_axis(scores, top, axis=1)

    def next_item_scores(self, X) -> np.ndarray:
        """Log-probability of every item id (column 0 = padding, -inf) next.

        ``X``: padded histories (n, observed) or windows; shape (n, n_items + 1).
        """
        X = self._inputs(X)
        module, T = self.module_, self.n_observed_

        def scores(xb):
            out = module.decoder_output(module.encode(xb), xb)  # (B, K, S)
            first = T if self.reconstruct else 0  # the step after the history
            return module.likelihood.log_probs(out[:, :, first])  # (B, K)

        s = self._batches(X, scores).astype(np.float64)
        s[:, 0] = -np.inf
        return s

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    # -- files ------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        self._check_fitted()
        last = self.history_[-1] if self.history_ else {}
        return {
            "estimator": type(self).__name__,
            "kind": self.kind_,
            "loss": self.loss_,
            "window_length": self.window_length_,
            "observed": self.n_observed_,
            "horizon": int(self.horizon),
            "epochs_run": len(self.history_),
            "best_epoch": self.best_epoch_,
            "final": {k: v for k, v in last.items() if k != "epoch"},
            "reconstruction_error": self.reconstruction_error_,
            "fit_seconds": getattr(self, "fit_seconds_", None),
            "n_parameters": sum(p.numel() for p in self.module_.parameters()),
        } | (
            {"transition_weight": self.transition_weight_}
            if hasattr(self, "transition_weight_")
            else {}
        )

    def save(self, path: str | Path, *, extra_summary: dict | None = None) -> Path:
        """Write the run folder (config.json, model.safetensors, ...)."""
        self._check_fitted()
        tensors = {f"module.{k}": v for k, v in self.module_.state_dict().items()}
        tensors["stats.error_quantiles"] = torch.from_numpy(
            np.asarray(self.error_quantiles_, np.float64)
        )
        if self.kind_ == "values":
            tensors["scaling.mean"] = torch.from_numpy(self.mean_)
            tensors["scaling.scale"] = torch.from_numpy(self.scale_)
        params = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in self.get_params().items()
        }
        if not isinstance(params.get("random_state"), int | type(None)):
            params["random_state"] = None
        config = {
            "estimator": type(self).__name__,
            "params": params,
            "model": {"input_shape": list(self._input_shape()), **self.module_.spec()},
            "fitted": {
                "kind": self.kind_,
                "loss": self.loss_,
                "window_length": self.window_length_,
                "n_observed": self.n_observed_,
                "step_shape": list(self.step_shape_),
                "n_items": self.n_items_,
                "input_dtype": self.input_dtype_,
                "best_epoch": self.best_epoch_,
                "stopped_early": self.stopped_early_,
                "reconstruction_error": self.reconstruction_error_,
                "fit_seconds": getattr(self, "fit_seconds_", None),
                "transition_weight": getattr(self, "transition_weight_", None),
            },
        }
        return write_run(
            path,
            config=config,
            tensors=tensors,
            summary=self.summary() | (extra_summary or {}),
            history=self.history_,
        )

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None):
        """Rebuild a fitted estimator from its run folder (no unpickling)."""
        config, tensors = read_run(path)
        if config.get("estimator") != cls.__name__:
            raise ModelFileError(
                f"{path} holds a {config.get('estimator')!r}, not a {cls.__name__}; "
                "use aekit.load() to load any kind."
            )
        try:
            params = dict(config["params"])
            unknown = set(params) - set(cls().get_params())
            if unknown:
                raise ModelFileError(
                    f"{path} uses parameter(s) {', '.join(sorted(unknown))} that this "
                    "aekit does not know; upgrade aekit to load it."
                )
            if isinstance(params.get("frame_channels"), list):
                params["frame_channels"] = tuple(params["frame_channels"])
            if device is not None:
                params["device"] = device
            est = cls(**params)
            fitted = config["fitted"]
            est.kind_, est.loss_ = fitted["kind"], fitted["loss"]
            est.window_length_ = int(fitted["window_length"])
            est.n_observed_ = int(fitted["n_observed"])
            est.step_shape_ = tuple(fitted["step_shape"])
            est.n_items_ = int(fitted["n_items"])
            est.input_dtype_ = fitted["input_dtype"]
            est.best_epoch_ = fitted.get("best_epoch", -1)
            est.stopped_early_ = fitted.get("stopped_early", False)
            est.reconstruction_error_ = fitted.get("reconstruction_error", {})
            est.fit_seconds_ = fitted.get("fit_seconds")
            if fitted.get("transition_weight") is not None:
                est.transition_weight_ = fitted["transition_weight"]
            if est.kind_ == "values":
                est.mean_ = tensors["scaling.mean"].numpy()
                est.scale_ = tensors["scaling.scale"].numpy()
            est.error_quantiles_ = tensors["stats.error_quantiles"].numpy()
            model_cfg = dict(config["model"])
            input_shape = tuple(model_cfg.pop("input_shape"))
            module = AutoencoderModule(model_cfg, input_shape)
            state = {k[7:]: v for k, v in tensors.items() if k.startswith("module.")}
            module.load_state_dict(state, strict=True)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ModelFileError(
                f"{path} does not describe a model this aekit can rebuild: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            ) from None
        est.history_ = _read_history(Path(path) / "history.csv")
        est._device = resolve_device(est.device)
        module.to(est._device).eval()
        est.module_ = module
        return est
