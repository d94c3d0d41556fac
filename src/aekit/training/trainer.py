"""The training loop. Nothing here knows which autoencoder it trains.

The trainer reads ``model.loss(x)["loss"]``, minimises it and logs every other
key. It owns device, optimizer, learning-rate schedule, epochs, early stopping
with best-weights restore, history, checkpoints and seeds. Data that fits in
memory stays a tensor sliced by a fresh permutation each epoch: no per-sample
DataLoader on the hot path.

Schedules that belong to a model (KL warm-up, noise level) are callbacks with
``on_epoch_start(model, epoch, n_epochs)`` that set a field on the model; a
callback may also define ``on_step_start(model, step, steps_per_epoch)`` (``step``
counts optimizer steps from 0 over the whole run) for per-step schedules.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aekit.exceptions import ConfigError, TrainingError
from aekit.training.checkpoint import load_checkpoint, save_checkpoint
from aekit.training.distributed import DistributedContext, wrap


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    epochs: int = 50  # upper bound; early stopping may end sooner
    batch_size: int = 128  # samples per optimizer step
    lr: float = 1e-3  # peak learning rate
    optimizer: str = "adam"  # "adam", "adamw" or "sgd"
    weight_decay: float = 0.0  # L2 (adam, sgd) or decoupled (adamw)
    lr_schedule: str = (
        "cosine"  # "constant" or "cosine" (decay to 1% by the last epoch)
    )
    patience: int | None = 10  # epochs without validation improvement; None: off
    min_delta: float = 0.0  # smallest improvement that counts
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", "mps"
    seed: int = 0  # seeds weights, permutations, noise and dropout
    verbose: int = 0  # 0: silent, 1: progress bar
    precision: str = (
        "fp32"  # "fp32", "bf16" (autocast), "fp16" (CUDA, GradScaler), "auto"
    )
    compile: bool = False  # torch.compile the loss (pays off on long GPU runs)
    divergence_retries: int = 0  # on a NaN/inf loss, start over at half the lr

    def __post_init__(self):
        def bad(name, rule):
            raise ConfigError(
                f"The {name!r} training option must be {rule}. "
                f"Got {getattr(self, name)!r}."
            )

        def integer(value, low):
            return isinstance(value, numbers.Integral) and value >= low

        def real(value, low, strict):
            return isinstance(value, numbers.Real) and (
                (value > low if strict else value >= low) and value < math.inf
            )

        for name in ("epochs", "batch_size"):
            if not integer(getattr(self, name), 1):
                bad(name, "an int >= 1")
        if not real(self.lr, 0, strict=True):
            bad("lr", "a finite number > 0")
        for name in ("weight_decay", "min_delta"):
            if not real(getattr(self, name), 0, strict=False):
                bad(name, "a finite number >= 0")
        if self.patience is not None and not integer(self.patience, 1):
            bad("patience", "an int >= 1, or None to turn early stopping off")
        if not integer(self.divergence_retries, 0):
            bad("divergence_retries", "an int >= 0")


def resolve_device(name: str) -> torch.device:
    """The torch device for a name; under torchrun, "cuda" is the local rank's GPU."""
    local = DistributedContext.from_env()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local.local_rank if local.active else 0)
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"Unknown device {name!r}. Use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device='cuda' was asked for but no CUDA GPU is available; use 'cpu' or "
            "'auto'."
        )
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local.local_rank if local.active else 0)
    return device


def _snapshot(model, optimizer, perm_gen, state: tuple) -> dict[str, Any]:
    return {
        "model": copy.deepcopy(model.state_dict()),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "perm": perm_gen.get_state(),
        "torch": torch.get_rng_state(),
        "state": copy.deepcopy(state),
    }


def _restore(snapshot, model, optimizer, perm_gen) -> tuple:
    model.load_state_dict(snapshot["model"])
    optimizer.load_state_dict(snapshot["optimizer"])
    perm_gen.set_state(snapshot["perm"])
    torch.set_rng_state(snapshot["torch"])
    return copy.deepcopy(snapshot["state"])


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting, or None for full fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise ConfigError(
                "precision='fp16' needs a CUDA device; use 'bf16' on CPU, or 'fp32'."
            )
        return torch.float16
    if precision == "auto":
        # bf16 pays off on GPUs with bf16 tensor cores, and on CPUs with native
        # bf16 instructions: on a Xeon with AMX, dense MNIST training ran 1.22x
        # faster per CPU second than fp32 with an equal test MSE
        # (bench/results/speed.md). Without them bf16 is emulated: fp32 there.
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
        if device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return None
    raise ConfigError(
        f"Unknown precision {precision!r}. Choose 'fp32', 'bf16', 'fp16' or 'auto'."
    )


class TensorSource:
    """Training data held as one tensor; ``take`` gathers a batch of rows."""

    def __init__(self, x: torch.Tensor):
        self.x = x

    def __len__(self) -> int:
        return self.x.shape[0]

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        return self.x.index_select(0, idx.to(self.x.device))


def as_source(data) -> Any:
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
    if isinstance(data, torch.Tensor):
        return TensorSource(data)
    return data  # anything with __len__ and take(idx)


def _make_optimizer(cfg: TrainerConfig, params, device: torch.device):
    kwargs: dict[str, Any] = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    if cfg.optimizer in ("adam", "adamw"):
        # The fused kernel does the whole update in one pass (CPU and CUDA).
        kwargs["fused"] = device.type in ("cpu", "cuda")
        cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
        return cls(params, **kwargs)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=0.9, nesterov=True, **kwargs)
    raise ConfigError(
        f"Unknown optimizer {cfg.optimizer!r}. Choose 'adam', 'adamw' or 'sgd'."
    )


# Optimizer state below this is zeroed every FLUSH_EVERY steps on the CPU.
FLUSH_BELOW = 1e-30
FLUSH_EVERY = 64


def flush_tiny_state(optimizer) -> None:
    """Zero the optimizer state's values of magnitude below ``FLUSH_BELOW``.

    A moment whose gradient is mostly zero (the weights of an input that is
    rarely non-zero, such as a pixel near an MNIST digit's border) decays
    geometrically through float32's subnormal range, where x86 CPUs are many
    times slower (a fused Adam step over 1,000,000 subnormal moments: 21.7
    ms, against 0.8 ms for normal ones, one thread of an Intel Xeon). In a
    1-epoch fit on 1,000,000 MNIST rows the Adam steps took a third of the
    CPU time (49 of 150 s; 6 s with flush-to-zero set before the threads
    started). Flush-to-zero mode is a per-thread setting, though, and
    ``torch.set_flush_denormal`` makes it on the calling thread only, not on
    the worker threads of an existing pool. A moment of 1e-30 or more that
    shrinks by a factor of 0.75 or more a step (Adam's beta1 = 0.9 and beta2
    = 0.999, SGD's momentum 0.9: the factors are 0.9 and above) stays normal
    for 63 steps, so zeroing what is below 1e-30 every 64 steps keeps the
    state free of subnormals. It changes no update that matters: Adam
    divides by sqrt(v) + 1e-8 and SGD multiplies by the lr.
    """
    for state in optimizer.state.values():
        for value in state.values():
            if torch.is_tensor(value) and value.is_floating_point() and value.dim():
                value.masked_fill_(value.abs() < FLUSH_BELOW, 0.0)


def _match_param_layout(optimizer) -> None:
    """Give restored optimizer state its parameter's memory layout.

    Checkpoints store contiguous tensors; a channels_last parameter's Adam
    moments must be channels_last too, since fused optimizer kernels walk
    parameter and state as flat memory side by side.
    """
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for k, v in state.items():
                if (
                    torch.is_tensor(v)
                    and v.shape == p.shape
                    and v.stride() != p.stride()
                ):
                    state[k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def lr_at(cfg: TrainerConfig, epoch: int) -> float:
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        t = epoch / max(cfg.epochs - 1, 1)
        return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t)))
    raise ConfigError(
        f"Unknown lr_schedule {cfg.lr_schedule!r}. Choose 'constant' or 'cosine'."
    )


class Trainer:
    """Fits an autoencoder module.

    Parameters
    ----------
    config : TrainerConfig
    callbacks : sequence of objects with ``on_epoch_start(model, epoch, n_epochs)``
        and optionally ``on_step_start(model, step, steps_per_epoch)`` and
        ``settled(epoch, steps_per_epoch)`` (False while the schedule changes the
        training loss:
        such epochs are never the best by training loss nor count as bad ones)
    checkpoint : path of a resumable checkpoint written after every epoch, or None
    validate : callable ``validate(model) -> dict`` or None
        Extra validation metrics, computed after every epoch in eval mode under
        ``no_grad`` and logged with the row (e.g. ``{"val_ndcg@100": 0.41}``).
    monitor : str or None
        The history key that early stopping and best-weights restore follow.
        None: ``val_loss`` when there is validation data, else ``train_loss``.
    mode : {"min", "max"}
        Whether a lower or a higher ``monitor`` is better.

    Attributes
    ----------
    history : list of dict
        Per epoch: ``epoch``, ``lr``, ``train_<term>`` and ``val_<term>`` for every
        loss term, ``seconds``.
    best_epoch : int
    stopped_early : bool
    """

    def __init__(
        self,
        config: TrainerConfig,
        *,
        callbacks: Sequence[Any] = (),
        checkpoint: str | Path | None = None,
        on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
        validate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
        monitor: str | None = None,
        mode: str = "min",
    ):
        if mode not in ("min", "max"):
            raise ConfigError(f"mode must be 'min' or 'max'. Got {mode!r}.")
        self.validate, self.monitor, self.mode = validate, monitor, mode
        self.config = config
        self.callbacks = list(callbacks)
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.on_epoch_end = on_epoch_end
        self.device = resolve_device(config.device)
        self.history: list[dict[str, Any]] = []
        self.best_epoch = -1
        self.stopped_early = False

    # -- evaluation ---------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model, source, batch_size: int = 1024) -> dict[str, float]:
        """Mean of every loss term over ``source`` (eval mode; all ranks agree)."""
        ctx = DistributedContext.from_env()
        dtype = autocast_dtype(self.config.precision, self.device)
        was_training = model.training
        model.eval()
        names, acc = None, None
        n = len(source)
        # Each rank scores its share of the rows; sums are all-reduced.
        rows = torch.arange(ctx.rank, n, ctx.world_size)
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            xb = source.take(idx).to(self.device, non_blocking=True)
            with torch.autocast(
                self.device.type, dtype=dtype, enabled=dtype is not None
            ):
                terms = model.loss(xb)
            vals = torch.stack([v.detach().float() for v in terms.values()]) * len(idx)
            if acc is None:
                names, acc = list(terms), vals
            else:
                acc += vals
        model.train(was_training)
        if acc is None:  # this rank had no rows
            names = list(model.loss(source.take(torch.arange(1)).to(self.device)))
            acc = torch.zeros(len(names), device=self.device)
        acc = ctx.all_reduce_sum(acc)
        return {k: v / n for k, v in zip(names, acc.tolist(), strict=True)}

    def _monitor_key(self, row: dict[str, Any]) -> str:
        return self.monitor or ("val_loss" if "val_loss" in row else "train_loss")

    def _comparable(self, row: dict[str, Any], epoch: int, steps: int) -> bool:
        """Whether ``epoch`` may be the best: a training loss counts only once
        every loss-changing schedule (a KL warm-up) has settled, since a loss
        with the KL term weighed down is lower than the objective's. The
        validation loss always uses the full weight."""
        if not self._monitor_key(row).startswith("train_"):
            return True
        return all(
            cb.settled(epoch, steps) for cb in self.callbacks if hasattr(cb, "settled")
        )

    def _monitored(self, row: dict[str, Any]) -> float:
        """The monitored value of an epoch's row, as lower-is-better."""
        key = self._monitor_key(row)
        if key not in row:
            raise ConfigError(
                f"monitor={key!r} is not among the logged values "
                f"({', '.join(k for k in row if k != 'epoch')})."
            )
        value = float(row[key])
        return -value if self.mode == "max" else value

    # -- training -----------------------------------------------------------
    def fit(self, model: torch.nn.Module, train, val=None, *, resume: bool = False):
        cfg = self.config
        if cfg.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1. Got {cfg.batch_size}.")
        if cfg.epochs < 1:
            raise ConfigError(f"epochs must be >= 1. Got {cfg.epochs}.")
        train, val = as_source(train), (as_source(val) if val is not None else None)
        device = self.device
        ctx = DistributedContext.from_env()
        ctx.init(device)
        dtype = autocast_dtype(cfg.precision, device)
        model.to(device)
        optimizer = _make_optimizer(cfg, model.parameters(), device)
        scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
        flush = device.type == "cpu"  # GPUs handle subnormals at full speed
        loss_fn = wrap(model, ctx, device)  # forward(x) -> loss terms; DDP if needed
        if cfg.compile:
            loss_fn = torch.compile(loss_fn)
        # Every rank draws the same permutation; noise and dropout differ by rank.
        perm_gen = torch.Generator().manual_seed(cfg.seed)
        torch.manual_seed(cfg.seed + ctx.rank)

        start_epoch, best_loss, bad_epochs, best_state = 0, math.inf, 0, None
        # After a divergence the lr is scaled down; saved_epoch: the checkpoint's.
        lr_scale, retries, saved_epoch = 1.0, 0, None
        if resume:
            ckpt = load_checkpoint(self.checkpoint)
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            _match_param_layout(optimizer)
            perm_gen.set_state(ckpt["rng"]["perm"])
            torch.set_rng_state(ckpt["rng"]["torch"])
            if device.type == "cuda" and "cuda" in ckpt["rng"]:
                torch.cuda.set_rng_state(ckpt["rng"]["cuda"], device)
            best_state = ckpt["best"]
            st = ckpt["state"]
            self.history = st["history"]
            start_epoch, best_loss = st["epoch"] + 1, st["best_loss"]
            bad_epochs, self.best_epoch = st["bad_epochs"], st["best_epoch"]
            lr_scale, retries = st.get("lr_scale", 1.0), st.get("retries", 0)
            saved_epoch = st["epoch"] + 1
            if st.get("stopped"):
                start_epoch = cfg.epochs  # finished already: just restore

        n = len(train)
        if ctx.active and n < ctx.world_size:
            raise ConfigError(
                f"{n} training samples cannot be shared by {ctx.world_size} processes."
            )
        bar = None
        if cfg.verbose and ctx.is_main:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.epochs, initial=start_epoch, unit="epoch", leave=True)
        # A retry after divergence starts this fit over: weights finite but
        # already damaged by a too-high lr cannot be rescued by rolling back
        # one epoch (seen with SGD at lr=40 on digits).
        snapshot = None
        if retries < cfg.divergence_retries:
            trainer_state = (start_epoch, best_loss, bad_epochs, best_state)
            trainer_state += (self.best_epoch, self.history)
            snapshot = _snapshot(model, optimizer, perm_gen, trainer_state)
        epoch = start_epoch
        try:
            while epoch < cfg.epochs:
                t0 = time.perf_counter()
                lr = lr_at(cfg, epoch) * lr_scale
                for group in optimizer.param_groups:
                    group["lr"] = lr
                for cb in self.callbacks:
                    cb.on_epoch_start(model, epoch, cfg.epochs)
                model.train()
                perm = torch.randperm(n, generator=perm_gen)
                names, acc, seen = None, None, 0
                bounds = [*range(0, n, cfg.batch_size), n]
                if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
                    del bounds[-2]  # no batch of one (batch norm cannot train on it)
                steps_per_epoch = len(bounds) - 1
                step_hooks = [
                    cb.on_step_start
                    for cb in self.callbacks
                    if hasattr(cb, "on_step_start")
                ]
                for i, (start, stop) in enumerate(
                    zip(bounds[:-1], bounds[1:], strict=True)
                ):
                    for hook in step_hooks:
                        hook(model, epoch * steps_per_epoch + i, steps_per_epoch)
                    idx = perm[start:stop]
                    if ctx.active:
                        if len(idx) < ctx.world_size:
                            continue  # a last batch too small to give every rank a row
                        idx = idx[ctx.rank :: ctx.world_size]  # this rank's shard
                    xb = train.take(idx).to(device, non_blocking=True)
                    with torch.autocast(
                        device.type, dtype=dtype, enabled=dtype is not None
                    ):
                        terms = loss_fn(xb)
                    optimizer.zero_grad(set_to_none=True)
                    if scaler is not None:
                        scaler.scale(terms["loss"]).backward()
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        terms["loss"].backward()
                        optimizer.step()
                    if flush and (epoch * steps_per_epoch + i) % FLUSH_EVERY == 0:
                        flush_tiny_state(optimizer)
                    # Accumulate on the device; read once per epoch (no sync here).
                    vals = torch.stack([v.detach().float() for v in terms.values()])
                    seen += len(idx)
                    if acc is None:
                        names, acc = list(terms), vals * len(idx)
                    else:
                        acc += vals * len(idx)
                if ctx.active:
                    acc = ctx.all_reduce_sum(torch.cat([acc, acc.new_tensor([seen])]))
                    acc, seen = acc[:-1], int(acc[-1].item())
                row: dict[str, Any] = {"epoch": epoch + 1, "lr": lr}
                row |= {
                    f"train_{k}": v / seen
                    for k, v in zip(names, acc.tolist(), strict=True)
                }
                if not math.isfinite(row["train_loss"]):
                    if retries < cfg.divergence_retries:
                        retries, lr_scale = retries + 1, lr_scale / 2
                        restored = _restore(snapshot, model, optimizer, perm_gen)
                        epoch, best_loss, bad_epochs, best_state = restored[:4]
                        self.best_epoch, self.history = restored[4:]
                        warnings.warn(
                            f"Training diverged at epoch {row['epoch']} (loss "
                            f"{row['train_loss']}); starting over from epoch "
                            f"{epoch + 1} with the learning rate halved (x"
                            f"{lr_scale:g}; retry {retries} of "
                            f"{cfg.divergence_retries}).",
                            UserWarning,
                            stacklevel=2,
                        )
                        continue
                    last = ""
                    if saved_epoch:
                        last = (
                            f" The last good checkpoint, after epoch {saved_epoch}, "
                            f"is kept at {self.checkpoint}."
                        )
                    elif self.checkpoint is not None:
                        last = " No epoch had completed: there is no checkpoint."
                    raise TrainingError(
                        f"Training diverged at epoch {epoch + 1}: the loss is "
                        f"{row['train_loss']}.{last} Try a lower learning rate "
                        f"(lr={cfg.lr * lr_scale:g} now), or let aekit retry at a "
                        "lower one (divergence_retries=1; CLI: --divergence-retries 1)."
                    )
                if val is not None and len(val):
                    row |= {f"val_{k}": v for k, v in self.evaluate(model, val).items()}
                if self.validate is not None:
                    model.eval()
                    with torch.no_grad():
                        row |= self.validate(model)
                monitored = self._monitored(row)
                row["seconds"] = time.perf_counter() - t0
                self.history.append(row)
                if not self._comparable(row, epoch, steps_per_epoch):
                    pass  # neither the best nor a bad epoch: still warming up
                elif monitored < best_loss - cfg.min_delta:
                    best_loss, bad_epochs, self.best_epoch = monitored, 0, epoch + 1
                    best_state = copy.deepcopy(model.state_dict())
                else:
                    bad_epochs += 1
                stop = cfg.patience is not None and bad_epochs >= cfg.patience
                if self.checkpoint is not None and ctx.is_main:
                    rng = {"perm": perm_gen.get_state(), "torch": torch.get_rng_state()}
                    if device.type == "cuda":
                        rng["cuda"] = torch.cuda.get_rng_state(device)
                    save_checkpoint(
                        self.checkpoint,
                        model=model,
                        optimizer=optimizer,
                        best_state=best_state,
                        rng=rng,
                        state={
                            "epoch": epoch,
                            "best_loss": best_loss,
                            "bad_epochs": bad_epochs,
                            "best_epoch": self.best_epoch,
                            "history": self.history,
                            "stopped": stop,
                            "lr_scale": lr_scale,
                            "retries": retries,
                        },
                    )
                    saved_epoch = epoch + 1
                if self.on_epoch_end is not None:
                    self.on_epoch_end(row)
                if bar is not None:
                    post = {"train": f"{row['train_loss']:.4g}"}
                    if "val_loss" in row:
                        post["val"] = f"{row['val_loss']:.4g}"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                epoch += 1
                if stop:
                    self.stopped_early = True
                    break
        finally:
            if bar is not None:
                bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        elif self.history:
            self.best_epoch = len(self.history)  # no comparable epoch: the last
        model.eval()
        return self.history
