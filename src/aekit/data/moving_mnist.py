"""Moving MNIST: digits bouncing inside a square canvas.

The recipe of Srivastava et al. 2015 (https://arxiv.org/abs/1502.04681): each
digit starts at a uniform random position with a uniform random direction,
moves ``step_length`` of the free range per frame, bounces off the edges, and
overlapping digits combine by their maximum. Deterministic given ``seed``; the
digits are an input, so any set of glyphs (MNIST train or test, letters, ...)
makes its own data set.
"""

from __future__ import annotations

import numpy as np

from aekit.exceptions import DataError


def moving_mnist(
    digits: np.ndarray,
    n_sequences: int,
    *,
    n_frames: int = 20,
    size: int = 64,
    n_digits: int = 2,
    step_length: float = 0.1,
    seed: int = 0,
) -> np.ndarray:
    """Generate ``n_sequences`` videos of ``n_digits`` moving digits.

    Parameters
    ----------
    digits : ndarray of shape (n, h, w) or (n, 1, h, w), uint8 or float
        The glyphs to move (e.g. MNIST images); drawn uniformly at random.
    n_sequences : int
    n_frames : int, default=20
    size : int, default=64
        Side of the square canvas in pixels.
    n_digits : int, default=2
    step_length : float, default=0.1
        Motion per frame as a fraction of the free range ``size - h``.
    seed : int, default=0

    Returns
    -------
    ndarray of shape (n_sequences, n_frames, 1, size, size), dtype of ``digits``

    Example
    -------
    >>> glyphs = np.full((3, 28, 28), 255, np.uint8)
    >>> moving_mnist(glyphs, 2, n_frames=5).shape
    (2, 5, 1, 64, 64)
    """
    digits = np.asarray(digits)
    if digits.ndim == 4 and digits.shape[1] == 1:
        digits = digits[:, 0]
    if digits.ndim != 3 or len(digits) == 0:
        raise DataError(
            "digits must be an array of shape (n, height, width) with n >= 1. Got "
            f"shape {digits.shape}."
        )
    h, w = digits.shape[1:]
    if h > size or w > size:
        raise DataError(f"Digits of {h}x{w} do not fit a {size}x{size} canvas.")
    rng = np.random.default_rng(seed)
    n, T, K = int(n_sequences), int(n_frames), int(n_digits)
    # Trajectories in [0, 1]^2, as Srivastava's generator: step, then bounce.
    y, x = rng.random((n, K)), rng.random((n, K))
    theta = rng.random((n, K)) * 2 * np.pi
    vy, vx = np.sin(theta), np.cos(theta)
    ys, xs = np.empty((T, n, K)), np.empty((T, n, K))
    for t in range(T):
        y, x = y + vy * step_length, x + vx * step_length
        for pos, vel in ((y, vy), (x, vx)):
            low, high = pos <= 0, pos >= 1
            vel[low | high] *= -1
            pos[low], pos[high] = 0.0, 1.0
        ys[t], xs[t] = y, x
    top = (ys * (size - h)).astype(np.int64)  # (T, n, K)
    left = (xs * (size - w)).astype(np.int64)
    which = rng.integers(0, len(digits), size=(n, K))
    out = np.zeros((n, T, 1, size, size), digits.dtype)
    for i in range(n):
        for k in range(K):
            glyph = digits[which[i, k]]
            for t in range(T):
                r, c = top[t, i, k], left[t, i, k]
                patch = out[i, t, 0, r : r + h, c : c + w]
                np.maximum(patch, glyph, out=patch)
    return out
