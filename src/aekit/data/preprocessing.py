"""Scaling between the user's units and the model's.

The model works on ``(x - offset) / scale``. The offset and scale are stored
with the model, so ``decode`` and ``reconstruct`` return the user's units.
"""

from __future__ import annotations

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
        mode = self.mode
        shape = X.shape[1:]
        if mode == "auto":
            if value_range is not None:
                mode = "range"
            elif X.dtype.kind in "ui":
                info = np.iinfo(X.dtype)
                mode, value_range = "range", (min(info.min, 0), info.max)
            else:
                lo, hi = float(np.min(X)), float(np.max(X))
                mode = "none" if (lo >= 0 and hi <= 1) else "standard"
        if mode == "range" and value_range is None:
            mode = "minmax"
        self.fitted_mode = mode
        if mode == "none":
            offset, scale = np.zeros(shape), np.ones(shape)
        elif mode == "range":
            lo, hi = value_range
            offset, scale = np.full(shape, lo), np.full(shape, hi - lo)
        elif mode == "minmax":
            offset = X.min(axis=0).astype(np.float64)
            scale = X.max(axis=0).astype(np.float64) - offset
        else:  # standard
            offset = X.mean(axis=0, dtype=np.float64)
            scale = X.std(axis=0, dtype=np.float64)
        # A spread too small for float32 (it would become 0 and divide by
        # zero) counts as none: that feature is only shifted.
        tiny = np.finfo(np.float32).tiny
        scale = np.where(np.abs(scale) >= tiny, scale, 1.0)
        self.offset = offset.astype(np.float32)
        self.scale = scale.astype(np.float32)
        return self

    @property
    def unit_interval(self) -> bool:
        """Whether scaled training data lies in [0, 1] by construction."""
        return self.fitted_mode in ("range", "minmax")

    def transform(self, X) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float32) - self.offset) / self.scale).astype(
            np.float32, copy=False
        )

    def inverse_transform(self, Xs) -> np.ndarray:
        return np.asarray(Xs, dtype=np.float32) * self.scale + self.offset

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
