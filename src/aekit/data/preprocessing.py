"""Scaling between the user's units and the model's.

The model works on ``(x - offset) / scale``. The offset and scale are stored
with the model, so ``decode`` and ``reconstruct`` return the user's units.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from aekit.exceptions import ConfigError

MODES = ("auto", "none", "range", "minmax", "standard")


class Scaler:
    """Per-feature affine scaling.

    Modes: ``"none"``; ``"range"`` (a known value range, e.g. 0-255 pixels, to
    [0, 1]); ``"minmax"`` (each feature's observed min-max to [0, 1]);
    ``"standard"`` (zero mean, unit variance per feature); ``"auto"`` picks
    ``range`` for integer data with a known range, ``none`` for data already in
    [0, 1], else ``standard``.
    """

    def __init__(self, mode: str = "auto"):
        if mode not in MODES:
            raise ConfigError(
                f"scaling must be one of {', '.join(MODES)}. Got {mode!r}."
            )
        self.mode = mode
        self.offset: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, X: np.ndarray, value_range=None) -> Scaler:
        return self.fit_chunks([X], value_range, X.dtype)

    def fit_chunks(self, chunks, value_range=None, dtype=np.float32) -> Scaler:
        """Fit from an iterable of row blocks: data larger than memory in one pass."""
        mode = self.mode
        dtype = np.dtype(dtype)
        if mode == "auto" and value_range is None and dtype.kind in "ui":
            info = np.iinfo(dtype)
            value_range = (min(info.min, 0), info.max)
        if mode == "auto" and value_range is not None:
            mode = "range"
        need_stats = not (mode == "none" or (mode == "range" and value_range))
        n, lo, hi, total, total_sq = 0, None, None, None, None
        for chunk in chunks if need_stats else []:
            c = np.asarray(chunk, dtype=np.float64)
            cmin, cmax = c.min(axis=0), c.max(axis=0)
            lo = cmin if lo is None else np.minimum(lo, cmin)
            hi = cmax if hi is None else np.maximum(hi, cmax)
            s1, s2 = c.sum(axis=0), np.square(c).sum(axis=0)
            total = s1 if total is None else total + s1
            total_sq = s2 if total_sq is None else total_sq + s2
            n += len(c)
        if mode == "auto":
            mode = "none" if (lo.min() >= 0 and hi.max() <= 1) else "standard"
        if mode == "range" and value_range is None:
            mode = "minmax"
        self.fitted_mode = mode
        if mode == "none":
            offset, scale = np.zeros(1), np.ones(1)
        elif mode == "range":
            lo_v, hi_v = value_range
            offset, scale = np.array([lo_v], float), np.array([hi_v - lo_v], float)
        elif mode == "minmax":
            offset, scale = lo, hi - lo
        else:  # standard
            offset = total / n
            scale = np.sqrt(np.maximum(total_sq / n - offset**2, 0.0))
        # A spread too small for float32 (it would become 0 and divide by
        # zero) counts as none: that feature is only shifted.
        tiny = np.finfo(np.float32).tiny
        scale = np.where(np.abs(scale) >= tiny, scale, 1.0)
        self.offset = np.asarray(offset, np.float32)
        self.scale = np.asarray(scale, np.float32)
        return self

    @property
    def unit_interval(self) -> bool:
        """Whether scaled training data lies in [0, 1] by construction."""
        return self.fitted_mode in ("range", "minmax")

    def transform(self, X) -> np.ndarray:
        # One float32 copy, updated in place: no temporaries as large as X. An
        # offset of 0 or a scale of 1 is skipped, exactly (x - 0 and x / 1 are
        # x): training scales every batch as it is drawn (RowSource).
        out = np.array(X, dtype=np.float32, copy=True)
        if self.offset.any():
            np.subtract(out, self.offset, out=out)
        if (self.scale != 1).any():
            np.divide(out, self.scale, out=out)
        return out

    def transform_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`transform` of a batch already on its device: the same float32
        operations, bit for bit, without a numpy copy of the batch; never
        writes to ``x``, and returns ``x`` itself when it is float32 and the
        scaling is the identity (a copy would cost some 1% of ``transform``:
        callers only read the batch). For many batches, see
        :meth:`tensor_transform`."""
        return self.tensor_transform(x.device)(x)

    def tensor_transform(self, device) -> Callable[[torch.Tensor], torch.Tensor]:
        """:meth:`transform_tensor` for batches on ``device``, with the offset
        and scale put there once rather than per batch."""
        offset = _unless_identity(self.offset, 0, device)
        scale = _unless_identity(self.scale, 1, device)

        def apply(x: torch.Tensor) -> torch.Tensor:
            if x.dtype != torch.float32:
                # A fresh float32 copy (rounded as numpy's astype rounds), then
                # in place: a cast and same-dtype passes beat a mixed-dtype
                # subtraction.
                out = x.to(torch.float32)
                out = out if offset is None else out.sub_(offset)
            elif offset is not None:
                out = torch.sub(x, offset)
            elif scale is not None:
                return torch.div(x, scale)
            else:
                return x
            return out if scale is None else out.div_(scale)

        return apply

    def inverse_transform(self, Xs) -> np.ndarray:
        out = np.array(Xs, dtype=np.float32, copy=True)
        np.multiply(out, self.scale, out=out)
        np.add(out, self.offset, out=out)
        return out

    def state(self) -> dict[str, torch.Tensor]:
        return {
            "offset": torch.from_numpy(self.offset),
            "scale": torch.from_numpy(self.scale),
        }

    @classmethod
    def from_state(cls, mode: str, fitted_mode: str, tensors) -> Scaler:
        s = cls(mode)
        s.fitted_mode = fitted_mode
        s.offset = tensors["offset"].numpy()
        s.scale = tensors["scale"].numpy()
        return s


def _unless_identity(a: np.ndarray, identity: float, device) -> torch.Tensor | None:
    """``a`` as a tensor on ``device``, or None when every entry is ``identity``
    (an offset of 0, a scale of 1): skipping it is exact, and a pass fewer."""
    return None if (a == identity).all() else torch.from_numpy(a).to(device)
