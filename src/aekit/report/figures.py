"""Single figures, written atomically as PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from aekit.io import atomic_write_bytes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def to_display(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(C, H, W) or (H, W) to something imshow takes, with its colour map."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim == 3:
        return np.clip(img.transpose(1, 2, 0), 0, 1), None
    return np.clip(img, 0, 1), "gray"


def figure_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def reconstruction_grid(
    originals: np.ndarray,
    reconstructions: np.ndarray,
    *,
    title: str = "",
    labels=("original", "reconstruction"),
):
    """Two rows of images: originals above, reconstructions below ([0, 1] units)."""
    plt = _pyplot()
    n = len(originals)
    fig, axes = plt.subplots(2, n, figsize=(1.1 * n, 2.6), squeeze=False)
    for j in range(n):
        for i, imgs in enumerate((originals, reconstructions)):
            img, cmap = to_display(imgs[j])
            ax = axes[i, j]
            ax.imshow(img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        if j == 0:
            axes[0, 0].set_ylabel(labels[0], fontsize=9)
            axes[1, 0].set_ylabel(labels[1], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def save_png(fig, path: str | Path) -> Path:
    atomic_write_bytes(path, figure_png(fig))
    return Path(path)
