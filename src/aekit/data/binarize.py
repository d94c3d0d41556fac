"""Binarizing data whose values are probabilities of a binary event (pixels).

Dynamic binarization (Salakhutdinov & Murray 2008,
https://doi.org/10.1145/1390156.1390266; used by Burda et al. 2015,
https://arxiv.org/abs/1509.00519) draws a fresh ``x ~ Bernoulli(pixels)`` for
every batch, so a Bernoulli likelihood models truly binary data while the model
sees many binarizations of each image (a regulariser). The binary draw is the
input *and* the target. Test data is binarized once with a fixed seed
(:func:`binarize`), so that every model is scored on the same digits.
"""

from __future__ import annotations

import numpy as np
import torch

from aekit.exceptions import ConfigError, DataError

MODES = (None, "dynamic", "static")


def check_mode(mode) -> None:
    if mode not in MODES:
        raise ConfigError(
            "The 'binarize' parameter must be None, 'dynamic' (a fresh Bernoulli "
            "draw every batch) or 'static' (one draw before training). "
            f"Got {mode!r} instead."
        )


def check_unit_interval(X, what: str = "X") -> None:
    lo, hi = float(np.min(X)), float(np.max(X))
    if lo < 0 or hi > 1:
        raise DataError(
            f"Binarization needs values in [0, 1] (probabilities), but the scaled "
            f"{what} ranges over [{lo:.4g}, {hi:.4g}]. Use scaling='range' or "
            "'minmax', or binarize=None."
        )


def binarize(X, random_state: int | None = 0) -> np.ndarray:
    """One Bernoulli draw of ``X`` (values in [0, 1]) as float32 0/1 values.

    Parameters
    ----------
    X : array-like of values in [0, 1]
    random_state : int or None
        Seed of the draw; the same seed gives the same binary data.

    Example
    -------
    >>> binarize(np.array([[0.0, 1.0, 0.5]]), random_state=0).shape
    (1, 3)
    """
    X = np.asarray(X, dtype=np.float32)
    check_unit_interval(X)
    rng = np.random.default_rng(random_state)
    return (rng.random(X.shape, dtype=np.float32) < X).astype(np.float32)


class DynamicBinarization:
    """A training source whose batches are fresh Bernoulli draws of ``x``.

    Wraps any source with ``__len__`` and ``take(idx)``; draws from torch's
    global generator, which the trainer seeds and checkpoints, so runs are
    reproducible and resumable.
    """

    def __init__(self, source):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(self.source.take(idx))
