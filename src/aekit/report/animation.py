"""Animated GIFs of video predictions: observed | true | predicted."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from aekit.exceptions import DataError
from aekit.io import atomic_write_bytes


def _gray(frames: np.ndarray) -> np.ndarray:
    """(T, [1,] H, W) in [0, 1] or uint8 -> (T, H, W) uint8."""
    f = np.asarray(frames)
    if f.ndim == 4:
        if f.shape[1] != 1:
            f = f.mean(1)  # colour video: shown in grayscale
        else:
            f = f[:, 0]
    if f.ndim != 3:
        raise DataError(f"Frames must be (T, H, W) or (T, C, H, W). Got {f.shape}.")
    if f.dtype != np.uint8:
        f = np.clip(np.nan_to_num(f.astype(np.float64)), 0, 1) * 255
    return f.astype(np.uint8)


def prediction_gif(
    path: str | Path,
    observed: np.ndarray,
    predicted: np.ndarray,
    true: np.ndarray | None = None,
    *,
    zoom: int = 3,
    duration_ms: int = 200,
) -> Path:
    """Write an animated GIF of three panels: observed | true | predicted.

    The observed frames play first in the left panel; then the left panel
    holds the last observed frame while the middle one plays the true future
    (black when unknown) and the right one the prediction.

    Parameters
    ----------
    path : output .gif
    observed : (T, [C,] H, W) frames, uint8 or in [0, 1]
    predicted : (H_frames, [C,] H, W)
    true : (H_frames, [C,] H, W) or None
    zoom : int, default=3
        Pixel repetition, so 64x64 frames are visible.
    duration_ms : int, default=200
    """
    from PIL import Image

    obs, pred = _gray(observed), _gray(predicted)
    tru = _gray(true) if true is not None else np.zeros_like(pred)
    if obs.shape[1:] != pred.shape[1:] or tru.shape != pred.shape:
        raise DataError("observed, true and predicted frames differ in size.")
    blank = np.zeros_like(obs[0])
    gap = np.full((obs.shape[1], 2), 128, np.uint8)
    panels = [(o, blank, blank) for o in obs]
    panels += [(obs[-1], t, p) for t, p in zip(tru, pred, strict=True)]
    images = []
    for a, b, c in panels:
        row = np.concatenate([a, gap, b, gap, c], axis=1)
        row = row.repeat(zoom, 0).repeat(zoom, 1)
        images.append(Image.fromarray(row, mode="L"))
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=duration_ms,
        loop=0,
    )
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path
