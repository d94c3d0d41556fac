"""The data-specific guard: warn when input does not look like the training data.

An autoencoder reconstructs well only what resembles its training data
(Goodfellow, Bengio & Courville, *Deep Learning*, ch. 14,
https://www.deeplearningbook.org/contents/autoencoders.html). Every fitted
model keeps the distribution of its held-out per-sample reconstruction errors
(``error_quantiles_``: 201 quantiles, scaled units). When a batch given to
``transform``, ``reconstruct``, ``denoise``, ... has errors far outside that
distribution, its codes and reconstructions are extrapolations, and the guard
says so with a :class:`DataGuardWarning`.

The test, per call (the whole ``X`` is one batch):

- a sample is *above* when its error exceeds the reference's 99th percentile,
  and *far* when it exceeds both the largest held-out error and
  ``FAR_FACTOR`` times the 99th percentile;
- in-distribution samples are above at most ``ABOVE_RATE`` of the time (the
  nominal 1%, doubled), or more when the reference is small: the 99th
  percentile of ``n`` held-out errors is an order statistic whose true
  exceedance rate can be far above 1%, and the guard uses the upper 99.9%
  bound of that rate (a Beta distribution), so a model validated on 30
  samples can hardly warn at all; far at most ``FAR_RATE`` of the time, or
  the upper 99.9% bound of the chance to exceed the largest held-out error
  (about 6.9 / n), whichever is more;
- the guard fires for a tier (above or far) when the binomial tail
  probability of seeing that many samples in it by chance is at most
  ``ALPHA`` *and* their fraction is at least ``EFFECT`` times the assumed
  rate (or half the batch, whichever is less): significance alone would flag
  a mild shift in a batch of millions.

So a batch of held-out data (where about 1% exceed the 99th percentile)
stays quiet, a batch where many samples exceed it fires (two or three
samples can be enough), a large batch with a few percent of far samples mixed
in fires, and a single sample fires only when it is far and the model was
validated on about 7,000 samples or more. For large inputs the errors of an
evenly spaced subset are measured: ``CHECKED_FRACTION`` of the samples, but
at least ``MIN_CHECKED`` and at most ``MAX_CHECKED`` (all of a batch of up to
``MIN_CHECKED``). So the guard costs at most ``MAX_CHECKED`` extra decoder
passes in ``transform``, and past ``MIN_CHECKED / CHECKED_FRACTION`` samples
at most 1% more decoder work than encoder work.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.special import bdtrc
from scipy.stats import beta

from aekit.data.validation import check_finite

QUANTILE = 0.99  # the reference quantile a sample's error is compared with
ABOVE_RATE = 0.02  # assumed most rate of in-distribution errors above it
FAR_FACTOR = 4.0  # "far": above this multiple of the 99th percentile and the max
FAR_RATE = 1e-3  # assumed most rate of in-distribution errors that far out
ALPHA = 1e-3  # fire when the chance of so many exceedances is at most this
EFFECT = 5.0  # ... and they are at least this many times the assumed rate
MIN_CHECKED = 256  # errors measured on at least this many samples per call
CHECKED_FRACTION = 0.01  # ... or this fraction of them, whichever is more
MAX_CHECKED = 512  # ... but at most this many
REFERENCE_SIZE = 200  # held-out samples assumed when a model does not say


class DataGuardWarning(UserWarning):
    """Input to a fitted model does not look like its training data."""


@dataclasses.dataclass(frozen=True)
class GuardReport:
    """What the guard measured on one batch.

    Attributes
    ----------
    n_samples : int
        Samples in the call.
    n_checked : int
        Samples whose reconstruction error was measured.
    n_above : int
        Checked samples above the reference's 99th percentile.
    n_far : int
        Checked samples above the far threshold (see :func:`thresholds`).
    median_quantile : float
        Where the batch's median error falls in the reference distribution
        (0-1; 1 means above every held-out error).
    median_ratio : float
        The batch's median error over the reference's 99th percentile.
    p_value : float
        Chance of at least as many above/far samples from training-like data.
    fired : bool
    """

    n_samples: int
    n_checked: int
    n_above: int
    n_far: int
    median_quantile: float
    median_ratio: float
    p_value: float
    fired: bool

    def message(self, method: str) -> str:
        checked = (
            ""
            if self.n_checked == self.n_samples
            else f" (errors measured on {self.n_checked:,} evenly spaced samples)"
        )
        pct = 100 * self.n_above / max(self.n_checked, 1)
        return (
            f"{self.n_above:,} of {self.n_checked:,} samples given to {method} "
            f"({pct:.0f}%) have reconstruction errors above the 99th percentile of "
            "this model's held-out training errors; the median sample lies at the "
            f"{100 * self.median_quantile:.1f}th percentile "
            f"({self.median_ratio:.3g}x that 99th-percentile error){checked}. "
            "This input does not look like the training data, so its codes and "
            "reconstructions may be meaningless. Pass guard=False (CLI: --no-guard) "
            "to silence this."
        )


def thresholds(quantiles: np.ndarray) -> tuple[float, float]:
    """(the 99th-percentile threshold, the far threshold) of a reference."""
    q = np.asarray(quantiles, np.float64)
    threshold = _quantile(q, QUANTILE)
    return threshold, max(float(q[-1]), FAR_FACTOR * threshold)


@functools.lru_cache(maxsize=64)
def rates(n_reference: int) -> tuple[float, float]:
    """(above, far): the most rates at which in-distribution samples exceed
    the two thresholds of a reference of ``n_reference`` held-out errors."""
    n = max(int(n_reference), 1)
    k = min(n, max(1, math.ceil(QUANTILE * n)))  # order statistic of the quantile
    # The k-th of n uniform order statistics is Beta(k, n + 1 - k); its
    # exceedance rate is Beta(n + 1 - k, k). Take the upper 99.9% bound.
    above = max(ABOVE_RATE, float(beta.ppf(0.999, n + 1 - k, k)))
    # A fresh sample exceeds the largest of n errors with chance Beta(1, n);
    # the far threshold is at least that largest error.
    far = max(FAR_RATE, float(beta.ppf(0.999, 1, n)))
    return above, far


def reference_size(estimator) -> int:
    """How many held-out errors the estimator's ``error_quantiles_`` summarise."""
    stats = getattr(estimator, "reconstruction_error_", None) or {}
    for part in ("validation", "train"):
        n = stats.get(part, {}).get("n")
        if n:
            return int(n)
    return REFERENCE_SIZE


def reference_summary(quantiles: np.ndarray, n_reference: int) -> dict[str, float]:
    """The guard's thresholds, as ``summary.json`` reports them."""
    threshold, far = thresholds(quantiles)
    above_rate, far_rate = rates(n_reference)
    return {
        "quantile": QUANTILE,
        "reference_samples": int(n_reference),
        "threshold": threshold,
        "far_threshold": far,
        "above_rate": above_rate,
        "far_rate": far_rate,
        "alpha": ALPHA,
        "effect": EFFECT,
        "min_checked": MIN_CHECKED,
        "checked_fraction": CHECKED_FRACTION,
        "max_checked": MAX_CHECKED,
    }


def _levels(q: np.ndarray) -> np.ndarray:
    return np.linspace(0.0, 1.0, len(q))


def _quantile(q: np.ndarray, level: float) -> float:
    return float(np.interp(level, _levels(q), q))


def assess(
    errors: np.ndarray,
    quantiles: np.ndarray,
    n_samples: int,
    n_reference: int = REFERENCE_SIZE,
) -> GuardReport:
    """Compare a batch's per-sample errors with the reference quantiles
    (``n_reference``: how many held-out errors they summarise)."""
    errors = np.asarray(errors, np.float64)
    q = np.asarray(quantiles, np.float64)
    n = len(errors)
    threshold, far = thresholds(q)
    n_above = int(np.sum(errors > threshold))
    n_far = int(np.sum(errors > far))
    if n == 0:
        return GuardReport(n_samples, 0, 0, 0, 0.0, 0.0, 1.0, False)
    median = float(np.median(errors))
    # np.interp is flat outside the reference, so above the maximum gives 1.0.
    median_quantile = float(np.interp(median, q, _levels(q))) if q[-1] > q[0] else 0.5
    median_ratio = median / threshold if threshold > 0 else float("inf")
    fired, p = False, 1.0
    for k, rate in zip((n_above, n_far), rates(n_reference), strict=True):
        p_tier = float(bdtrc(k - 1, n, rate)) if k else 1.0  # P(K >= k)
        p = min(p, p_tier)
        fired |= p_tier <= ALPHA and k >= min(EFFECT * rate, 0.5) * n
    return GuardReport(
        n_samples, n, n_above, n_far, median_quantile, median_ratio, p, fired
    )


def check(
    estimator,
    errors: np.ndarray | None,
    n_samples: int,
    method: str,
    *,
    stacklevel: int = 2,
) -> GuardReport | None:
    """Warn (:class:`DataGuardWarning`) when ``errors`` lie far outside the
    ``estimator``'s reference; return the report (None when the guard is off).

    ``stacklevel`` counts from the caller of ``check``, as ``warnings.warn``
    does, so the warning can point at the user's line.
    """
    quantiles = getattr(estimator, "error_quantiles_", None)
    if errors is None or quantiles is None or not getattr(estimator, "guard", True):
        return None
    report = assess(errors, quantiles, n_samples, reference_size(estimator))
    if report.fired:
        warnings.warn(
            report.message(method), DataGuardWarning, stacklevel=stacklevel + 1
        )
    return report


def n_checked(n: int) -> int:
    """How many of ``n`` samples the guard measures (see the module's doc)."""
    wanted = min(max(math.ceil(CHECKED_FRACTION * n), MIN_CHECKED), MAX_CHECKED)
    return min(n, wanted)


def checked_rows(n: int, enabled: bool = True) -> np.ndarray | None:
    """Boolean mask of the samples whose error the guard measures (None: none):
    :func:`n_checked` of them, evenly spaced, the first and the last included."""
    if not enabled or n == 0:
        return None
    mask = np.zeros(n, bool)
    mask[np.linspace(0, n - 1, n_checked(n)).round().astype(int)] = True
    return mask


@torch.inference_mode()  # no autograd bookkeeping: the outputs become numpy
def batched_with_errors(
    fn: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    X: np.ndarray,
    *,
    device: torch.device,
    rows: np.ndarray | None,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 1024,
    finite: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply ``fn`` to ``X`` in batches, measuring reconstruction errors on the way.

    ``fn(xb, idx)`` returns ``(output, reconstruction of xb[idx])``, where
    ``xb`` is the prepared batch and ``idx`` the indices (an int64 tensor, or
    None) of its rows to check, the rows of ``rows`` that fall in it; it runs
    once per batch, so a method that reconstructs anyway gets the errors for
    free. A ``fn`` with a ``decode`` attribute (:func:`encoding`) gets
    ``idx=None`` and returns codes: the codes of the checked rows are taken
    from the result and decoded in one call at the end, their inputs read
    again (a batch of a few hundred rows runs faster than many of a few
    dozen, and no batch is sliced on the way). ``prepare`` (e.g.
    ``Scaler.transform_tensor``) takes each batch on the device in its own
    dtype and returns it scaled, in float32; without it the batch is cast to
    float32. ``finite=True`` checks a float ``X`` for NaN and inf on the way
    (the check that ``check_array(finite=False)`` leaves out), batch by batch
    as the model reads it (:class:`FiniteCheck`), and sends ``X`` to the
    exact check, which raises a :class:`DataError` with counts and places,
    when a batch may hold any. Returns the outputs (float32, written batch by
    batch into one array) and the per-sample mean squared errors of the
    checked rows (None when ``rows`` is None).
    """
    decode = getattr(fn, "decode", None)
    check = None
    if finite and np.dtype(X.dtype).kind == "f":
        check = FiniteCheck(getattr(fn, "module", None))
    result, errs = None, []
    try:
        for start in range(0, len(X), batch_size):
            xb = _batch(X, start, batch_size, device, prepare)
            idx = None
            if rows is not None and decode is None:
                picked = np.flatnonzero(rows[start : start + len(xb)])
                idx = torch.from_numpy(picked).to(device) if len(picked) else None
            if check is not None:
                check.expect(xb)
            out, part = fn(xb, idx)
            if check is not None:
                check.settle(xb)
            out = out.float().cpu().numpy()
            if result is None:
                result = np.empty((len(X), *out.shape[1:]), np.float32)
            result[start : start + len(out)] = out
            if idx is not None and part is not None:
                errs.append(sample_errors(xb.index_select(0, idx), part))
    finally:
        if check is not None:
            check.close()
    if check is not None and not check.passed():
        check_finite(X)  # raises, unless only a sum overflowed
    if rows is not None and decode is not None and len(X):
        # The codes of the checked rows are in the result already: gather them
        # and their inputs once and decode them all in one call.
        picked = np.flatnonzero(rows)
        xs = _batch(X[picked], 0, len(picked), device, prepare)
        errs.append(
            sample_errors(xs, decode(torch.from_numpy(result[picked]).to(device)))
        )
    errors = None
    if rows is not None:
        errors = np.concatenate(errs) if errs else np.zeros(0)
    return result, errors


def batch_rows(X: np.ndarray, budget: int = 9 << 19) -> int:
    """Rows per inference batch: about ``budget`` bytes (4.5 MiB) of float32
    input, between 256 and 2,048 rows. Fewer, larger batches leave fewer
    gaps between the matmuls, but a batch that no longer fits the cache
    slows them: for MNIST's 784 pixels, 1,536 rows beat 1,024 by about 2%
    at 2 threads and matched it at 1, while 2,048 were slower on uint8 input
    (one-off interleaved checks against the bare module's encode). Large
    samples (images) get fewer rows, so a batch's activations stay small."""
    row = 4 * max(1, int(np.prod(X.shape[1:])))
    return int(min(2048, max(256, budget // row)))


class FiniteCheck:
    """The NaN and inf check of the batches a model reads, at almost no cost.

    A batch's sum is NaN or inf when the batch holds NaN or inf (and, rarely,
    when the sum overflows: the caller then runs the exact check). Where the
    model gives the batch, as it is, to a dense layer first (the dense
    architecture, unless it normalizes its input), that layer's first output
    unit is such a sum already, weighted: under IEEE arithmetic w * inf is
    +-inf and 0 * inf, w * NaN and inf - inf are NaN, so every row that holds
    NaN or inf gives a non-finite unit, whatever the weights. A forward hook
    adds up that column, one number per row; a batch that did not reach such
    a layer unchanged (convolutional and sequence models, input
    normalization) is summed instead. That sum, a second pass over memory,
    costs about 3% of the encode of the dense 784-512-256-32 model on MNIST
    rows; the column is one value per row (with the hooks, about 0.5%: 28 us
    on a 5.1 ms batch of 1,504 rows at 2 threads, one-off timing).
    """

    def __init__(self, module: torch.nn.Module | None):
        self.total: torch.Tensor | None = None
        self.by_layer = self.by_sum = 0  # batches checked each way
        self._batch: torch.Tensor | None = None
        self._covered = self._seen = False
        layer = None
        if module is not None:
            layers = (m for m in module.modules() if isinstance(m, torch.nn.Linear))
            layer = next(layers, None)
        self._hooks = []
        if layer is not None:
            self._hooks = [
                layer.register_forward_pre_hook(self._before),
                layer.register_forward_hook(self._after),
            ]

    def _add(self, value: torch.Tensor) -> None:
        self.total = value if self.total is None else self.total.add_(value)

    def _before(self, layer, args) -> None:
        x, b = args[0], self._batch
        # The same memory, all of it: every element of the batch goes in.
        self._covered = (
            b is not None
            and x.dtype == b.dtype
            and x.data_ptr() == b.data_ptr()
            and x.numel() == b.numel()
            and x.is_contiguous()
        )

    def _after(self, layer, args, out) -> None:
        if self._covered:
            self._add(out[..., 0].sum(dtype=torch.float32))
            self._covered, self._seen = False, True
            self.by_layer += 1

    def expect(self, xb: torch.Tensor) -> None:
        """Say that the model is about to read ``xb``."""
        self._batch = xb if xb.is_contiguous() else None
        self._seen = False

    def settle(self, xb: torch.Tensor) -> None:
        """After the model has read ``xb``: sum it unless the layer did."""
        if not self._seen:
            self._add(xb.sum(dtype=torch.float32))
            self.by_sum += 1
        self._batch = None

    def passed(self) -> bool:
        """True when no batch can hold NaN or inf (one device sync)."""
        return self.total is None or math.isfinite(self.total.item())

    def close(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks = []


def _batch(X, start, size, device, prepare) -> torch.Tensor:
    """Rows ``start:start + size`` of ``X`` on ``device``, prepared."""
    chunk = np.asarray(X[start : start + size])
    # torch takes native byte order only (a big-endian .npy is not).
    chunk = np.ascontiguousarray(chunk, dtype=chunk.dtype.newbyteorder("="))
    xb = _read_only_tensor(chunk).to(device)
    return prepare(xb) if prepare is not None else xb.to(torch.float32)


def _read_only_tensor(chunk: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy`` without a copy, also of a read-only array (a slice
    of a memory-mapped .npy), which torch shares but warns about: the batch is
    only read here (``prepare`` returns a new tensor, eval-mode models do not
    write their input)."""
    if chunk.flags.writeable:
        return torch.from_numpy(chunk)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not")
        return torch.from_numpy(chunk)


def sample_errors(x: torch.Tensor, recon: torch.Tensor) -> np.ndarray:
    """Per-sample mean squared error in the model's float32: within about
    1e-6 (relative) of a float64 computation, far finer than the quantiles it
    is compared with, and half the time of a float64 sum (casting both to
    float64 first took a third of the guard's cost in ``transform``)."""
    diff = torch.sub(x, recon).flatten(1)
    return diff.square_().sum(1).double().div_(diff.shape[1]).cpu().numpy()


def encoding(module) -> Callable:
    """``fn`` for :func:`batched_with_errors` returning codes; only the checked
    rows are decoded, all in one call (``fn.decode``)."""

    def fn(xb, idx):
        return module.encode(xb), None  # (B, *code_shape); idx is None

    fn.decode, fn.module = module.decode, module
    return fn


def reconstruction(module) -> Callable:
    """``fn`` for :func:`batched_with_errors` returning reconstructions: the
    errors come from the same pass, at no extra model cost."""

    def fn(xb, idx):
        x_hat = module(xb)  # (B, *input_shape)
        return x_hat, (x_hat.index_select(0, idx) if idx is not None else None)

    fn.module = module
    return fn
