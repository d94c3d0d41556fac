"""Image grids and strips as PNG files, without matplotlib (fast, exact pixels)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from aekit.exceptions import DataError
from aekit.io import atomic_write_bytes


def as_images(X: np.ndarray, sample_shape: tuple[int, ...]) -> np.ndarray:
    """Samples as images: (n, H, W) grey or (n, H, W, 3) colour.

    Accepts samples of shape (C, H, W) with C in {1, 3}, (H, W), or a flat
    vector whose length is a square (e.g. 784 = 28 x 28, 64 = 8 x 8).
    """
    X = np.asarray(X)
    shape = tuple(sample_shape)
    if len(shape) == 3 and shape[0] in (1, 3):
        X = X.reshape(len(X), *shape)
        return X[:, 0] if shape[0] == 1 else X.transpose(0, 2, 3, 1)
    if len(shape) == 3 and shape[-1] in (1, 3):
        X = X.reshape(len(X), *shape)
        return X[..., 0] if shape[-1] == 1 else X
    if len(shape) == 2:
        return X.reshape(len(X), *shape)
    if len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side == shape[0]:
            return X.reshape(len(X), side, side)
    raise DataError(
        f"Samples of shape {shape} are not images, so they cannot be drawn as a "
        "picture; write them to a .npy or .csv file instead."
    )


def tile(
    images: np.ndarray, ncols: int, *, pad: int = 2, min_size: int = 28
) -> np.ndarray:
    """Tile images with values in [0, 1] into one uint8 picture.

    Images smaller than ``min_size`` pixels are enlarged by an integer factor
    (nearest neighbour) so that 8x8 digits stay visible.
    """
    images = np.clip(np.asarray(images, np.float32), 0, 1)
    n, h, w = images.shape[:3]
    factor = max(1, -(-min_size // max(h, w)))
    if factor > 1:
        images = images.repeat(factor, axis=1).repeat(factor, axis=2)
        h, w = h * factor, w * factor
    ncols = max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    extra = images.shape[3:]
    canvas = np.ones(
        (nrows * h + (nrows + 1) * pad, ncols * w + (ncols + 1) * pad, *extra),
        np.float32,
    )
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y : y + h, x : x + w] = images[i]
    return (canvas * 255 + 0.5).astype(np.uint8)


def save_picture(path: str | Path, picture: np.ndarray) -> Path:
    """Write a uint8 (H, W) or (H, W, 3) array as PNG, atomically."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
