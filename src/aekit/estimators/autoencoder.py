"""The ``Autoencoder`` estimator: scikit-learn's conventions over aekit's model."""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from aekit import guard as data_guard
from aekit import regularizers
from aekit.data.binarize import DynamicBinarization, binarize, check_mode
from aekit.data.binarize import check_unit_interval as _check_unit_interval
from aekit.data.preprocessing import Scaler
from aekit.data.readers import Dataset
from aekit.data.sources import NpyFile, RowSource, fits_in_memory, whole_npy_file
from aekit.data.validation import check_array, defers_finite_check
from aekit.estimators.base import (
    batched,
    check_params,
    register_estimator,
    seed_from,
)
from aekit.estimators.generative import GenerativeMixin
from aekit.exceptions import ConfigError, DataError, ModelFileError, NotFittedError
from aekit.losses import LOSS_ALIASES
from aekit.metrics import compression, error_summary
from aekit.model import AutoencoderModule, check_memory
from aekit.registry import (
    ARCHITECTURES,
    CORRUPTIONS,
    LATENTS,
    LIKELIHOODS,
    REGULARIZERS,
)
from aekit.runs import read_run, write_run
from aekit.training.callbacks import KLWarmup
from aekit.training.trainer import (
    TensorSource,
    Trainer,
    TrainerConfig,
    resolve_device,
)

ERROR_QUANTILE_LEVELS = np.linspace(0.0, 1.0, 201)
STAT_ROWS = 10_000  # rows the code statistics (stat_* terms) are measured on


@register_estimator
class Autoencoder(GenerativeMixin, TransformerMixin, BaseEstimator):
    """An autoencoder with scikit-learn's ``fit``/``transform`` interface.

    The encoder narrows through ``hidden`` to a code of ``code_size`` units; the
    decoder mirrors it. Training needs no labels: ``fit(X)`` learns to rebuild
    ``X`` from its code.

    Parameters
    ----------
    code_size : int, default=32
        Units in the code (the bottleneck).
    hidden : tuple of int, default=(512, 256)
        Encoder layer widths, narrowing toward the code; the decoder mirrors
        them unless ``decoder_hidden`` is given.
    decoder_hidden : tuple of int or None, default=None
    activation : str, default="relu"
        Activation of every hidden layer ("relu", "gelu", "tanh", "sigmoid", ...).
    loss : {"auto", "mse", "bce"} or str, default="auto"
        Reconstruction loss. "bce" needs data in [0, 1] after scaling; "auto"
        picks "bce" when the scaled training data lies in [0, 1], else "mse".
        Any likelihood spec is accepted too, e.g. "gaussian:variance=learned",
        "gaussian:variance=0.1", "bernoulli:reduction=mean" or "multinomial".
        With a variational latent the reconstruction term is summed over
        elements (nats per sample, ``reduction="sum"``) unless the spec sets a
        reduction, and "mse" means a Gaussian of fixed variance 1 in scaled
        units, so that the loss is the negative ELBO.
    code_activation : str or None, default=None
        Activation on the code (None: linear code).
    latent : str or dict, default="deterministic"
        The code's kind: "deterministic" or "variational" (with options, e.g.
        "variational:beta=4" or "variational:free_bits=0.1"). A variational
        latent makes a variational autoencoder: see ``sample``, ``elbo``,
        ``log_likelihood``, ``posterior``, ``interpolate`` and ``latent_grid``.
    kl_warmup : float, default=0.0
        Epochs over which the KL weight of a variational latent ramps linearly
        from 0 to 1 (updated every step); 0: no warm-up. The validation loss
        that early stopping watches always uses the full weight; without
        validation data the best weights are chosen by training loss among
        the epochs after the warm-up (a loss with the KL term weighed down is
        lower than the objective's).
    binarize : {None, "dynamic", "static"}, default=None
        For data in [0, 1] that stands for binary events (pixel intensities):
        "dynamic" trains on a fresh Bernoulli draw of every batch, "static" on
        one draw made before training. Validation data is drawn once, with the
        estimator's seed.
    noise : str, dict or None, default=None
        Input corruption for a denoising autoencoder, e.g. "gaussian:0.3" or
        "masking:0.25"; applied in training only.
    regularizers : sequence of str or dict, default=()
        Penalties on the code, e.g. ("l1:1e-3",) or ("topk:25", "contractive:1e-3").
    sparsity : str, dict or None, default=None
        A sparse code: "l1:WEIGHT", "kl:TARGET" (mean activation, e.g.
        "kl:0.05" or "kl:target=0.05,weight=0.01"; the code becomes a sigmoid
        unless ``code_activation`` says otherwise) or "topk:K". Same as adding
        it to ``regularizers``.
    contractive : float, str or None, default=None
        Weight of the contractive penalty ||dz/dx||_F^2, or a spec with options
        ("contractive:1e-3,method=hutchinson"). Same as adding it to
        ``regularizers``.
    dropout : float, default=0.0
    batch_norm : bool, default=False
    architecture : str or dict, default="dense"
        "dense" (fully connected) or "conv" (convolutional, for images of shape
        (C, H, W)), with options, e.g. "conv:blocks=1,upsample=transposed".
        The flat parameters below fill in the options the string leaves out.
    channels : tuple of int, default=(32, 64, 128)
        Conv: channels per encoder level; each level halves height and width.
    kernel_size : int, default=3
        Conv: odd kernel size.
    norm : {None, "batch", "group", "instance"}, default=None
        Conv: normalization after each convolution.
    spatial_code : bool, default=False
        Conv: keep a spatial code (``code_size`` channels x h x w; for
        denoising and repair) instead of a flat one of ``code_size`` units.
    epochs : int or "auto", default="auto"
        Most epochs to train; early stopping on validation loss may stop sooner.
        "auto" plans about 12,000 optimizer steps, between 30 and 500 epochs
        (30 on MNIST-sized data, hundreds on a few thousand rows).
    batch_size : int, default=128
    lr : float, default=1e-3
        Peak learning rate of Adam.
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
    lr_schedule : {"cosine", "constant"}, default="cosine"
    weight_decay : float, default=0.0
    validation_fraction : float, default=0.1
        Fraction of samples held out for early stopping and error statistics.
    patience : int or None, default=10
        Epochs without validation improvement before stopping; the best
        weights are restored. None trains all ``epochs``.
    scaling : {"auto", "none", "range", "minmax", "standard"}, default="auto"
        Integer data (pixels) is divided by its range; data already in [0, 1] is
        kept; other data is standardized. Stored with the model and undone by
        ``inverse_transform``.
    random_state : int, RandomState, Generator or None, default=None
        Seeds weights, split, shuffling, noise and dropout. The same int gives
        the same weights on CPU.
    device : str, default="auto"
        "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
    precision : {"fp32", "bf16", "fp16", "auto"}, default="fp32"
        Mixed precision in training: "bf16" autocast (CPU or CUDA), "fp16" with
        a gradient scaler (CUDA), "auto" (bf16 on CUDA GPUs that support it
        and on CPUs with native bf16 instructions, else fp32).
    compile : bool, default=False
        ``torch.compile`` the training step.
    in_memory : bool or "auto", default="auto"
        False streams rows from a memory-mapped .npy file batch by batch, so
        data larger than RAM trains; "auto" streams when the data in float32
        would take more than a quarter of the available memory.
    verbose : int, default=0
        1 shows a progress bar over epochs.
    guard : bool, default=True
        Warn (``aekit.guard.DataGuardWarning``) when input to ``transform``,
        ``reconstruct`` and friends has reconstruction errors far outside the
        held-out training errors: input unlike the training data. See
        :mod:`aekit.guard`.
    nan_policy : {"error", "drop", "zero"}, default="error"
        NaN and inf in ``X``: an error saying how many and where; "drop" drops
        those rows in ``fit`` (inference must keep every row, so there it is
        an error); "zero" replaces them by 0. Both warn with the count.
    divergence_retries : int, default=0
        When the loss becomes NaN or inf, start training over (from the
        initial weights, or from the resumed checkpoint) with the learning rate
        halved, up to this many times, before giving up.

    Attributes
    ----------
    module_ : AutoencoderModule
        The trained torch module.
    history_ : list of dict
        Per epoch: train and validation loss, each loss term, learning rate,
        seconds.
    n_features_in_ : int
    input_shape_ : tuple of int
        Shape of one sample (``(n_features,)`` or ``(C, H, W)``).
    loss_ : str
        The loss used ("mse" or "bce").
    scaler_ : Scaler
    reconstruction_error_ : dict
        Mean, std and quantiles of the per-sample reconstruction MSE (scaled
        units) on the training and validation samples.
    code_statistics_ : dict
        What the regularizers measure on held-out data with the final weights,
        e.g. ``mean_activation`` and ``active_fraction`` of a sparse code, or
        ``jacobian_frobenius_sq`` of a contractive one (``history_`` has them
        per epoch as ``val_stat_*``).
    error_quantiles_ : ndarray of shape (201,)
        Quantiles of the held-out per-sample errors at levels 0, 0.005, ..., 1.
    fit_seconds_ : float

    Example
    -------
    >>> from sklearn.datasets import load_digits
    >>> X = load_digits().data
    >>> ae = Autoencoder(code_size=8, hidden=(64,), epochs=5, random_state=0)
    >>> ae.fit(X).transform(X).shape
    (1797, 8)
    """

    def __init__(
        self,
        code_size: int = 32,
        hidden: tuple[int, ...] = (512, 256),
        *,
        decoder_hidden: tuple[int, ...] | None = None,
        activation: str = "relu",
        loss: str = "auto",
        code_activation: str | None = None,
        latent: str | dict = "deterministic",
        kl_warmup: float = 0.0,
        binarize: str | None = None,
        noise: str | dict | None = None,
        regularizers: tuple = (),
        sparsity: str | dict | None = None,
        contractive: float | str | dict | None = None,
        dropout: float = 0.0,
        batch_norm: bool = False,
        architecture: str | dict = "dense",
        channels: tuple[int, ...] = (32, 64, 128),
        kernel_size: int = 3,
        norm: str | None = None,
        spatial_code: bool = False,
        epochs: int | str = "auto",
        batch_size: int = 128,
        lr: float = 1e-3,
        optimizer: str = "adam",
        lr_schedule: str = "cosine",
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        patience: int | None = 10,
        scaling: str = "auto",
        random_state=None,
        device: str = "auto",
        precision: str = "fp32",
        compile: bool = False,
        in_memory: bool | str = "auto",
        verbose: int = 0,
        guard: bool = True,
        nan_policy: str = "error",
        divergence_retries: int = 0,
    ):
        self.code_size = code_size
        self.hidden = hidden
        self.decoder_hidden = decoder_hidden
        self.activation = activation
        self.loss = loss
        self.code_activation = code_activation
        self.latent = latent
        self.kl_warmup = kl_warmup
        self.binarize = binarize
        self.noise = noise
        self.regularizers = regularizers
        self.sparsity = sparsity
        self.contractive = contractive
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.architecture = architecture
        self.channels = channels
        self.kernel_size = kernel_size
        self.norm = norm
        self.spatial_code = spatial_code
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.scaling = scaling
        self.random_state = random_state
        self.device = device
        self.precision = precision
        self.compile = compile
        self.in_memory = in_memory
        self.verbose = verbose
        self.guard = guard
        self.nan_policy = nan_policy
        self.divergence_retries = divergence_retries

    # -- building -------------------------------------------------------------
    def _model_spec(self, loss: str) -> dict[str, Any]:
        """The components this estimator's parameters select."""
        if not isinstance(self.code_size, int | np.integer) or self.code_size < 1:
            raise ConfigError(
                "The 'code_size' parameter of Autoencoder must be an int in the range "
                f"[1, inf). Got {self.code_size!r} instead."
            )
        hidden = _widths(self.hidden, "hidden")
        latent = LATENTS.parse(self.latent)
        latent.setdefault("code_size", int(self.code_size))
        if self.code_activation is not None:
            latent["activation"] = self.code_activation
        regs = self.regularizers
        regs = [regs] if isinstance(regs, str | dict) else list(regs or ())
        regs = [REGULARIZERS.parse(r) for r in regs]
        regs += regularizers.from_options(self.sparsity, self.contractive)
        kl = any(r["kind"] == "kl" for r in regs)
        if kl and self.code_activation is None and latent["kind"] == "deterministic":
            latent.setdefault("activation", "sigmoid")  # KL needs a code in (0, 1)
        likelihood = LIKELIHOODS.parse(LOSS_ALIASES.get(loss, loss))
        if latent["kind"] == "variational":
            # The ELBO needs log p(x|z) in nats per sample: sum over elements, and
            # a normalised density for continuous data.
            likelihood.setdefault("reduction", "sum")
            if loss == "mse":
                likelihood["variance"] = 1.0
        # The flat parameters fill in whichever options the architecture has.
        arch = ARCHITECTURES.parse(self.architecture)
        options = {
            f.name for f in dataclasses.fields(ARCHITECTURES.get(arch["kind"]).Config)
        }
        flat = {
            "hidden": tuple(int(h) for h in hidden),
            "decoder_hidden": (
                _widths(self.decoder_hidden, "decoder_hidden")
                if self.decoder_hidden is not None
                else None
            ),
            "activation": self.activation,
            "dropout": float(self.dropout),
            "batch_norm": bool(self.batch_norm),
            "channels": _widths(self.channels, "channels"),
            "kernel_size": int(self.kernel_size),
            "norm": self.norm,
            "spatial_code": bool(self.spatial_code),
        }
        for name, value in flat.items():
            if name in options:
                arch.setdefault(name, value)
        return {
            "architecture": arch,
            "latent": latent,
            "regularizers": regs,
            "corruption": CORRUPTIONS.parse(self.noise) if self.noise else None,
            "likelihood": likelihood,
        }

    def _trainer_config(self, seed: int) -> TrainerConfig:
        if self.batch_norm and _number(self.batch_size, int, "batch_size") < 2:
            raise ConfigError(
                "batch_norm=True needs batch_size >= 2 (batch statistics of one "
                f"sample are undefined). Got batch_size={self.batch_size!r}."
            )
        return TrainerConfig(
            epochs=self._epochs(),
            batch_size=_number(self.batch_size, int, "batch_size"),
            lr=_number(self.lr, float, "lr"),
            optimizer=self.optimizer,
            weight_decay=_number(self.weight_decay, float, "weight_decay"),
            lr_schedule=self.lr_schedule,
            patience=None
            if self.patience is None
            else _number(self.patience, int, "patience"),
            device=self.device,
            seed=seed,
            verbose=_number(self.verbose, int, "verbose"),
            precision=self.precision,
            compile=bool(self.compile),
            divergence_retries=_number(
                self.divergence_retries, int, "divergence_retries"
            ),
        )

    def _epochs(self) -> int:
        if self.epochs != "auto":
            if not isinstance(self.epochs, int | np.integer) or self.epochs < 1:
                raise ConfigError(
                    "The 'epochs' parameter must be 'auto' or an int in the range "
                    f"[1, inf). Got {self.epochs!r} instead."
                )
            return int(self.epochs)
        steps_per_epoch = max(1, -(-self._n_train // int(self.batch_size)))
        return int(np.clip(-(-12000 // steps_per_epoch), 30, 500))

    def _callbacks(self) -> list[Any]:
        if self.kl_warmup:
            return [KLWarmup(float(self.kl_warmup))]
        return []

    def _resolve_loss(self, Xs: np.ndarray) -> str:
        lo, hi = float(Xs.min()), float(Xs.max())
        in_unit = lo >= 0.0 and hi <= 1.0
        if self.loss == "auto":
            return "bce" if in_unit else "mse"
        if self.loss not in LOSS_ALIASES:
            spec_like = isinstance(self.loss, str) and (
                ":" in self.loss or self.loss in LIKELIHOODS
            )
            if not spec_like:
                raise ConfigError(
                    "The 'loss' parameter must be 'auto', 'mse', 'bce' or a "
                    "likelihood such as 'gaussian:variance=learned'. "
                    f"Got {self.loss!r}."
                )
            spec = LIKELIHOODS.parse(self.loss)
            needs_unit = LIKELIHOODS.get(spec["kind"]).needs_unit_interval
        else:
            needs_unit = LIKELIHOODS.get(LOSS_ALIASES[self.loss]).needs_unit_interval
        if needs_unit and not in_unit:
            raise DataError(
                f"loss={self.loss!r} needs data in [0, 1], but the scaled data ranges "
                f"over [{lo:.4g}, {hi:.4g}]. Use loss='mse', or scaling='minmax'."
            )
        return self.loss

    # -- validation -----------------------------------------------------------
    def _nan_policy(self, reset: bool) -> str:
        if not reset and self.nan_policy == "drop":
            return "error"  # inference returns one row per input row
        return self.nan_policy

    def _validate(
        self, X, *, reset: bool, finite: bool = True, owner: str | None = None
    ) -> tuple[np.ndarray, Any]:
        value_range = None
        if isinstance(X, Dataset):
            value_range, X = X.value_range, X.X
        policy = self._nan_policy(reset)
        if reset and _n_rows(X) == 1:
            raise DataError(
                f"X has 1 sample, but fitting {type(self).__name__} needs at least 2. "
                "Add data; a fitted model transforms single samples."
            )
        X = check_array(
            X, min_samples=2 if reset else 1, nan_policy=policy, finite=finite
        )
        if reset:
            self._set_input(X)
        else:
            self._check_shape(X, owner)
        return X, value_range

    def _check_shape(self, X: np.ndarray, owner: str | None = None) -> None:
        """``owner``: the estimator the user holds, when it wraps this one (an
        AnomalyDetector), which the message names."""
        got = tuple(X.shape[1:])
        if got == self.input_shape_:
            return
        name = owner or type(self).__name__
        if len(self.input_shape_) == 1 and len(got) == 1:
            raise DataError(
                f"X has {got[0]} features, but {name} is expecting "
                f"{self.input_shape_[0]} features as input."
            )
        raise DataError(
            f"X has samples of shape {got}, but this {name} was fitted "
            f"on samples of shape {self.input_shape_}."
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "module_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' "
                "with appropriate arguments before using this estimator."
            )

    # -- fitting --------------------------------------------------------------
    def fit(
        self, X, y=None, *, checkpoint: str | Path | None = None, resume: bool = False
    ):
        """Train on ``X`` (labels ``y`` are ignored: autoencoders need none).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...) or aekit.data.Dataset
        y : ignored
        checkpoint : path, optional
            Write a resumable checkpoint there after every epoch.
        resume : bool
            Continue from ``checkpoint`` instead of starting fresh.
        """
        t0 = time.perf_counter()
        check_params(self)
        if self.in_memory not in (True, False, "auto"):
            raise ConfigError(
                "The 'in_memory' parameter of Autoencoder must be True, False or "
                f"'auto'. Got {self.in_memory!r} instead."
            )
        source, file = None, None
        if _is_source(X):
            # A sampler (e.g. aekit.images.PatchSource) trains on fresh draws;
            # one fixed draw sets the shape and scaling and is the validation set.
            source = X
            draw = source.take(torch.arange(min(len(source), 2048)))
            value_range = getattr(source, "value_range", None)
            X = np.asarray(draw)
            if value_range is not None:
                X = Dataset(X, "image", tuple(value_range))
            X, value_range = self._validate(X, reset=True)
        else:
            file = self._stream_file(X)
        if file is not None:  # stays on disk: validated chunk by chunk below
            value_range = X.value_range if isinstance(X, Dataset) else None
            X = X.X if isinstance(X, Dataset) else X
            self._set_input(X)
        elif source is None:
            X, value_range = self._validate(X, reset=True)
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(
                "validation_fraction must be in [0, 1). Got "
                f"{self.validation_fraction!r}."
            )
        try:
            seed = seed_from(self.random_state)
            if not 0 <= seed < 2**63:
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(
                "random_state must be None, an int in [0, 2**63), a RandomState or "
                f"a Generator. Got {self.random_state!r}."
            ) from None
        rng = np.random.default_rng(seed)
        n = len(X)
        n_val = int(round(n * self.validation_fraction))
        if n_val and n - n_val < 2:
            raise ConfigError(
                f"validation_fraction={self.validation_fraction!r} holds out {n_val} "
                f"of {n} samples, leaving {n - n_val} to train on; fitting needs at "
                "least 2. Lower validation_fraction (0 turns validation off) or add "
                "data."
            )
        order = rng.permutation(n)
        train_idx, val_idx = np.sort(order[n_val:]), np.sort(order[:n_val])
        self._n_train = len(train_idx)
        self.validation_indices_ = val_idx  # held out: wrappers calibrate on it
        if file is None:
            # Without validation every row trains, in order: no copy of them.
            whole = n_val == 0 and type(X) is np.ndarray
            X_train = X if whole else np.asarray(X[train_idx])
            self.scaler_ = Scaler(self.scaling).fit(X_train, value_range)
            Xs_val = self.scaler_.transform(np.asarray(X[val_idx])) if n_val else None
            val = torch.from_numpy(Xs_val) if Xs_val is not None else None
            if source is None and self.binarize is None:
                # Rows scaled as the trainer draws them, the same float32
                # operations: no scaled copy of the training data (4 times a
                # uint8 array, and its first touch cost a third of a 1-epoch
                # fit of 100,000 MNIST rows).
                Xs_train = None
                train = RowSource(X_train, None, self.scaler_.transform)
            else:
                Xs_train = self.scaler_.transform(X_train)
                train = torch.from_numpy(Xs_train)
        else:
            chunks = (_finite(c, file.path) for c in file.chunks(train_idx))
            self.scaler_ = Scaler(self.scaling).fit_chunks(chunks, value_range, X.dtype)
            train = RowSource(file, train_idx, self.scaler_.transform)
            val = RowSource(file, val_idx, self.scaler_.transform) if n_val else None
            # Statistics come from samples of the splits, held in memory.
            cap = 20000
            pick = lambda rows: np.sort(rng.choice(rows, min(cap, len(rows)), False))  # noqa: E731
            Xs_train = self.scaler_.transform(
                _finite(file.rows(pick(train_idx)), file.path)
            )
            Xs_val = self.scaler_.transform(file.rows(pick(val_idx))) if n_val else None
        if Xs_train is None:
            # The scaling is monotonic in each feature: the scaled extremes
            # are those of the raw extremes scaled, exactly.
            extremes = np.stack([X_train.min(0), X_train.max(0)])
            self.loss_ = self._resolve_loss(self.scaler_.transform(extremes))
        else:
            self.loss_ = self._resolve_loss(Xs_train)
        if source is not None:
            train = _ScaledSource(source, self.scaler_)
        check_mode(self.binarize)
        Xs_val_plain = Xs_val  # error statistics stay on the data as given
        if self.binarize is not None:
            _check_unit_interval(Xs_train, "training data")
            if Xs_val is not None:
                Xs_val = binarize(Xs_val, random_state=seed)
                val = torch.from_numpy(Xs_val)  # early stopping scores binary data
            if self.binarize == "static":
                if file is not None:
                    raise ConfigError(
                        "binarize='static' needs the data in memory; use "
                        "binarize='dynamic' to stream it from disk."
                    )
                train = torch.from_numpy(binarize(Xs_train, random_state=seed + 1))
            else:
                src = TensorSource(train) if isinstance(train, torch.Tensor) else train
                train = DynamicBinarization(src)

        torch.manual_seed(seed)
        self.module_ = AutoencoderModule(
            self._model_spec(self.loss_), self.input_shape_
        )
        self._warn_overcomplete()
        self._device = resolve_device(self.device)
        if self._device.type == "cpu":
            check_memory(self.module_, training=True)
        trainer = Trainer(
            self._trainer_config(seed),
            callbacks=self._callbacks(),
            checkpoint=checkpoint,
        )
        self.history_ = trainer.fit(self.module_, train, val, resume=resume)
        self.best_epoch_ = trainer.best_epoch
        self.stopped_early_ = trainer.stopped_early
        if Xs_train is None:
            self._fit_error_stats(X_train, Xs_val_plain, scale=self.scaler_.transform)
        else:
            self._fit_error_stats(Xs_train, Xs_val_plain)
        # Measurements the components log (stat_* terms: code sparsity, Jacobian
        # norm, ...) for the final weights, on held-out data when there is some,
        # from at most STAT_ROWS evenly spaced rows (a pass of the loss over all
        # 60,000 MNIST digits took 8 s of a 1-epoch IWAE fit).
        held_out = Xs_val if Xs_val is not None and len(Xs_val) else Xs_train
        raw = held_out is None
        if raw:
            held_out = X_train  # scaled once the rows are picked
        if len(held_out) > STAT_ROWS:
            rows = np.linspace(0, len(held_out) - 1, STAT_ROWS).astype(int)
            held_out = held_out[rows]
        if raw:
            held_out = self.scaler_.transform(held_out)
        terms = trainer.evaluate(self.module_, TensorSource(torch.from_numpy(held_out)))
        self.code_statistics_ = {
            k[5:]: v for k, v in terms.items() if k.startswith("stat_")
        }
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    def _stream_file(self, X) -> NpyFile | None:
        """The .npy file to train from without loading it, or None for in memory."""
        arr = X.X if isinstance(X, Dataset) else X
        filename = getattr(arr, "filename", None)
        on_disk = (
            isinstance(arr, np.memmap) and filename and str(filename).endswith(".npy")
        )
        if self.in_memory is True or (self.in_memory == "auto" and not on_disk):
            return None
        if not on_disk:
            raise ConfigError(
                "in_memory=False streams rows from a .npy file: pass the array "
                "np.load(path, mmap_mode='r') returns (or the path to the CLI)."
            )
        if self.in_memory == "auto" and fits_in_memory(arr.size):
            return None
        return whole_npy_file(arr)  # None for a slice of the map: not streamable

    def _set_input(self, X) -> None:
        if X.ndim < 2 or X.shape[0] < 2 or np.prod(X.shape[1:]) == 0:
            check_array(np.empty(X.shape, X.dtype), min_samples=2)
        self.input_shape_ = tuple(int(s) for s in X.shape[1:])
        self.n_features_in_ = int(np.prod(self.input_shape_))
        self.input_dtype_ = str(X.dtype)

    def _warn_overcomplete(self) -> None:
        n_code = int(np.prod(self.module_.code_shape))
        if n_code >= np.prod(self.input_shape_) and not self._regularized():
            warnings.warn(
                f"The code's {n_code} values are not fewer than the "
                f"{int(np.prod(self.input_shape_))} input features and no regularizer "
                "is set: the autoencoder can learn the identity and the code will not "
                "be a useful summary. Lower code_size or add a regularizer.",
                UserWarning,
                stacklevel=3,
            )

    def _regularized(self) -> bool:
        return (
            bool(self.regularizers)
            or self.sparsity is not None
            or self.contractive is not None
            or self.noise is not None
            or (self.latent != "deterministic")
        )

    def _fit_error_stats(self, Xs_train, Xs_val, *, scale=None) -> None:
        """Error summaries and the guard's reference quantiles; ``scale``
        scales ``Xs_train`` chunk by chunk when it holds raw rows."""
        err_train = self._errors_scaled(Xs_train, scale=scale)
        self.reconstruction_error_ = {"train": error_summary(err_train)}
        held_out = err_train
        if Xs_val is not None and len(Xs_val):
            held_out = self._errors_scaled(Xs_val)
            self.reconstruction_error_["validation"] = error_summary(held_out)
        for part, errs in (("train", err_train), ("validation", held_out)):
            if part in self.reconstruction_error_:  # the guard weighs it by n
                self.reconstruction_error_[part]["n"] = int(len(errs))
        self.error_quantiles_ = np.quantile(held_out, ERROR_QUANTILE_LEVELS).astype(
            np.float64
        )

    @torch.inference_mode()
    def _errors_scaled(
        self, Xs: np.ndarray, batch_size: int = 1024, *, scale=None
    ) -> np.ndarray:
        """Per-sample MSE of scaled data, one batch at a time, in float32 on
        the device as the data guard measures it (:func:`guard.sample_errors`;
        numpy's float64 took a seventh of ``reconstruction_error``'s time);
        the whole reconstruction is never held (it is as large as ``Xs``).
        ``scale`` (``Scaler.transform``) scales raw rows batch by batch."""
        out = np.empty(len(Xs), np.float64)
        for start in range(0, len(Xs), batch_size):
            chunk = Xs[start : start + batch_size]
            if scale is not None:
                chunk = scale(chunk)
            chunk = np.ascontiguousarray(chunk, np.float32)
            xb = torch.from_numpy(chunk).to(self._device)
            out[start : start + len(xb)] = data_guard.sample_errors(
                xb, self.module_(xb)
            )
        return out

    # -- inference ------------------------------------------------------------
    def _prepare(
        self, X, *, finite: bool = True, owner: str | None = None
    ) -> np.ndarray:
        """``X`` validated for inference; ``finite=False`` leaves the NaN and
        inf check (under ``nan_policy="error"``) to :meth:`_guarded`, which
        runs it on each batch as the model reads it; ``owner`` names a
        wrapping estimator in errors (:meth:`_check_shape`)."""
        self._check_fitted()
        X, _ = self._validate(X, reset=False, finite=finite, owner=owner)
        return X

    def transform(self, X, *, sample: bool = False, random_state=None) -> np.ndarray:
        """Encode ``X``: the codes, ``(n_samples, code_size)`` (or spatial).

        Deterministic: a variational latent gives its posterior mean. With
        ``sample=True`` (variational latent only), one draw from q(z|x) per
        sample, seeded by ``random_state``; see also ``posterior``.
        """
        if sample:
            return self.sample_posterior(X, random_state=random_state)
        X = self._prepare(X, finite=False)
        self.module_.eval()
        return self._guarded(data_guard.encoding(self.module_), X, "transform")

    def _guarded(self, fn, X: np.ndarray, method: str) -> np.ndarray:
        """Run ``fn(xb, idx) -> (output, recon of xb[idx])`` over scaled batches
        of ``X`` (from ``_prepare(X, finite=False)``: NaN and inf are checked
        here, batch by batch), and warn when ``X`` does not look like the
        training data."""
        out, errors = data_guard.batched_with_errors(
            fn,
            X,
            device=self._device,
            rows=data_guard.checked_rows(len(X), bool(self.guard)),
            prepare=self.scaler_.tensor_transform(self._device),  # on the device
            batch_size=data_guard.batch_rows(X),
            finite=defers_finite_check(X.dtype, self._nan_policy(reset=False)),
        )
        data_guard.check(self, errors, len(X), method, stacklevel=4)
        return out

    def inverse_transform(self, Z) -> np.ndarray:
        """Decode codes back to data, in the units of the training data."""
        self._check_fitted()
        Z = check_array(Z, name="Z")
        code_shape = self.module_.code_shape
        if tuple(Z.shape[1:]) != code_shape:
            raise DataError(
                f"Z has codes of shape {tuple(Z.shape[1:])}, but this "
                f"{type(self).__name__} has codes of shape {code_shape}."
            )
        self.module_.eval()
        Xs = batched(self.module_.decode, Z, device=self._device)
        return self.scaler_.inverse_transform(Xs)

    def reconstruct(self, X) -> np.ndarray:
        """Encode then decode ``X``; same shape and units as ``X``."""
        X = self._prepare(X, finite=False)
        self.module_.eval()
        Xs = self._guarded(data_guard.reconstruction(self.module_), X, "reconstruct")
        return self.scaler_.inverse_transform(Xs)

    def denoise(self, X) -> np.ndarray:
        """Clean ``X``: :meth:`reconstruct`, named for a denoising autoencoder.

        Give the noisy, blurred or incomplete samples as they are; the result
        has the shape and units of ``X``. Corruption is never applied here.
        The data guard is not applied either: its reference errors come from
        clean held-out data, so noisy input would always look foreign.
        """
        X = self._prepare(X)
        self.module_.eval()
        Xs = batched(
            self.module_, X, device=self._device, prepare=self.scaler_.transform
        )
        return self.scaler_.inverse_transform(Xs)

    def reconstruction_error(self, X) -> np.ndarray:
        """Per-sample mean squared reconstruction error, in scaled units."""
        X = self._prepare(X)
        Xs = self.scaler_.transform(X)
        self.module_.eval()
        return self._errors_scaled(Xs)

    def score(self, X, y=None) -> float:
        """Negative mean reconstruction error (scaled units): higher is better."""
        return -float(np.mean(self.reconstruction_error(X)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags

    # -- files ----------------------------------------------------------------
    def _extra_tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def _config(self) -> dict[str, Any]:
        params = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in self.get_params().items()
        }
        if not isinstance(params.get("random_state"), int | type(None)):
            params["random_state"] = None
        return {
            "estimator": type(self).__name__,
            "params": params,
            "model": {"input_shape": list(self.input_shape_), **self.module_.spec()},
            "input_dtype": self.input_dtype_,
            "loss": self.loss_,
            "scaling": {
                "mode": self.scaler_.mode,
                "fitted_mode": self.scaler_.fitted_mode,
            },
        }

    def summary(self) -> dict[str, Any]:
        """Final metrics and statistics, as ``summary.json`` stores them."""
        self._check_fitted()
        last = self.history_[-1] if self.history_ else {}
        return {
            "estimator": type(self).__name__,
            "loss": self.loss_,
            "epochs_run": len(self.history_),
            "best_epoch": self.best_epoch_,
            "stopped_early": self.stopped_early_,
            "final": {k: v for k, v in last.items() if k not in ("epoch",)},
            "reconstruction_error": self.reconstruction_error_,
            "code_statistics": getattr(self, "code_statistics_", {}),
            "compression": compression(
                self.input_shape_, self.input_dtype_, self.module_.code_shape
            ),
            "fit_seconds": getattr(self, "fit_seconds_", None),
            "n_parameters": sum(p.numel() for p in self.module_.parameters()),
            "guard": {"enabled": bool(self.guard)}
            | data_guard.reference_summary(
                self.error_quantiles_, data_guard.reference_size(self)
            ),
        }

    def save(self, path: str | Path, *, extra_summary: dict | None = None) -> Path:
        """Write the run folder (config.json, model.safetensors, ...)."""
        self._check_fitted()
        tensors = {f"module.{k}": v for k, v in self.module_.state_dict().items()}
        tensors |= {f"scaler.{k}": v for k, v in self.scaler_.state().items()}
        tensors["stats.error_quantiles"] = torch.from_numpy(self.error_quantiles_)
        tensors |= self._extra_tensors()
        summary = self.summary() | (extra_summary or {})
        extra = {
            "best_epoch": self.best_epoch_,
            "stopped_early": self.stopped_early_,
            "reconstruction_error": self.reconstruction_error_,
            "code_statistics": getattr(self, "code_statistics_", {}),
            "fit_seconds": getattr(self, "fit_seconds_", None),
        }
        return write_run(
            path,
            config=self._config() | {"fitted": extra},
            tensors=tensors,
            summary=summary,
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
            known = cls().get_params()
            unknown = set(params) - set(known)
            if unknown:
                raise ModelFileError(
                    f"{path} uses parameter(s) {', '.join(sorted(unknown))} that this "
                    "aekit does not know; upgrade aekit to load it."
                )
            for k in ("hidden", "decoder_hidden", "regularizers", "channels"):
                if isinstance(params.get(k), list):
                    params[k] = tuple(params[k])
            if device is not None:
                params["device"] = device
            est = cls(**params)
            model_cfg = dict(config["model"])
            input_shape = tuple(model_cfg.pop("input_shape"))
            module = AutoencoderModule(model_cfg, input_shape)
            state = {k[7:]: v for k, v in tensors.items() if k.startswith("module.")}
            module.load_state_dict(state, strict=True)
            est.scaler_ = Scaler.from_state(
                config["scaling"]["mode"],
                config["scaling"]["fitted_mode"],
                {k[7:]: v for k, v in tensors.items() if k.startswith("scaler.")},
            )
            est.error_quantiles_ = tensors["stats.error_quantiles"].numpy()
            est.loss_ = config["loss"]
            est.input_shape_ = input_shape
            est.n_features_in_ = int(np.prod(input_shape))
            est.input_dtype_ = config.get("input_dtype", "float32")
            fitted = config.get("fitted", {})
            est.best_epoch_ = fitted.get("best_epoch", -1)
            est.stopped_early_ = fitted.get("stopped_early", False)
            est.reconstruction_error_ = fitted.get("reconstruction_error", {})
            est.fit_seconds_ = fitted.get("fit_seconds")
            est.code_statistics_ = fitted.get("code_statistics", {})
            est._load_extra(config, tensors)
        except ModelFileError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise ModelFileError(
                f"{path} does not describe a model this aekit can rebuild: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            ) from None
        est.history_ = _read_history(Path(path) / "history.csv")
        try:
            est._device = resolve_device(est.device)
        except (TypeError, ValueError, RuntimeError) as exc:  # a tampered "device"
            raise ModelFileError(
                f"{path}: config.json names an unusable device {est.device!r} "
                f"({type(exc).__name__}); pass device= to load it."
            ) from None
        module.to(est._device).eval()
        est.module_ = module
        return est

    def _load_extra(self, config, tensors) -> None:
        pass


def _n_rows(X) -> int | None:
    try:
        return len(X) if getattr(X, "ndim", 2) >= 2 else None
    except TypeError:
        return None


def _number(value, kind: type, name: str):
    """``int(value)`` or ``float(value)``, or a ConfigError naming ``name``."""
    try:
        if isinstance(value, str | bytes) or (kind is int and value != int(value)):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(
            f"The {name!r} parameter must be {'an int' if kind is int else 'a number'}"
            f". Got {value!r}."
        ) from None


def _widths(value, name: str) -> tuple[int, ...]:
    """Layer widths from an int or a sequence of ints."""
    values = (value,) if isinstance(value, int | np.integer) else value
    try:
        if isinstance(values, str | bytes):
            raise TypeError
        return tuple(_number(v, int, name) for v in values)
    except (TypeError, ConfigError):
        raise ConfigError(
            f"The {name!r} parameter must be a tuple of ints such as (512, 256). "
            f"Got {value!r}."
        ) from None


def _finite(chunk: np.ndarray, name: str) -> np.ndarray:
    if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
        check_array(chunk, name=name)  # raises with counts and places
    return chunk


def _is_source(X) -> bool:
    """Whether ``X`` is a sampler (``__len__`` and ``take``), not an array."""
    return (
        hasattr(X, "take")
        and hasattr(X, "__len__")
        and not isinstance(X, np.ndarray | Dataset | torch.Tensor)
    )


class _ScaledSource:
    """A training source whose draws are scaled into the model's units."""

    def __init__(self, source, scaler: Scaler):
        self.source, self.scaler = source, scaler

    def __len__(self) -> int:
        return len(self.source)

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        raw = self.source.take(idx)
        raw = raw.numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw)
        return torch.from_numpy(self.scaler.transform(raw))


def _read_history(path: Path) -> list[dict[str, Any]]:
    import csv

    if not path.exists():
        return []
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                rows.append(
                    {
                        k: (float(v) if v not in ("", None) else None)
                        for k, v in row.items()
                    }
                )
    except (OSError, ValueError, TypeError, csv.Error) as exc:
        # The log is not needed to use the model: load it without the history.
        warnings.warn(
            f"{path} is unreadable ({exc}); the model is loaded without its "
            "training history.",
            UserWarning,
            stacklevel=3,
        )
        return []
    return rows
