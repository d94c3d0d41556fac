"""Sample quality of generative models: the Fréchet distance in a classifier's
feature space.

The Fréchet distance between two Gaussians fitted to features,
``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` (Dowson & Landau 1982),
is the statistic behind FID (Heusel et al. 2017,
https://arxiv.org/abs/1706.08500). FID uses an ImageNet Inception network,
which means nothing on 28x28 digits; here the features are the penultimate
layer of a small MNIST classifier (:class:`MnistClassifier`), so the number is
called FD-MNIST and is comparable only between runs that use the same trained
classifier. Lower is better; report it next to reference points (the training
set against the test set; samples of a simple baseline) for scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from aekit.exceptions import DataError, ModelFileError


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of feature rows.

    Parameters
    ----------
    feats_a, feats_b : ndarray of shape (n_a, d) and (n_b, d)

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(2000, 4))
    >>> round(frechet_distance(a, a), 6)
    0.0
    """
    a = np.asarray(feats_a, np.float64)
    b = np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DataError(
            f"Feature arrays must be (n, d) with the same d; got {a.shape} and "
            f"{b.shape}."
        )
    if min(len(a), len(b)) < 2:
        raise DataError("The Fréchet distance needs at least 2 rows in each set.")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a
    # symmetric PSD matrix: stable where dead ReLU features make S singular
    # (scipy's sqrtm of the non-symmetric product then warns and loses accuracy).
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    tr_covmean = np.sqrt(np.clip(inner, 0, None)).sum()
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * tr_covmean
    return float(max(value, 0.0))


class MnistClassifier(nn.Module):
    """A small fully connected MNIST classifier: 784-512-256-10 with dropout.

    ``features`` returns the 256 penultimate activations (the FD-MNIST space).
    About 98 % test accuracy after a few CPU-seconds per epoch.
    """

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 512),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(512, 256),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(256, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))  # (B, 10) logits

    @torch.no_grad()
    def features(self, X: np.ndarray, batch_size: int = 2000) -> np.ndarray:
        """Penultimate activations of images in [0, 1]: (n, 256)."""
        return self._apply(self.body, X, batch_size)

    @torch.no_grad()
    def predict(self, X: np.ndarray, batch_size: int = 2000) -> np.ndarray:
        return self._apply(self, X, batch_size).argmax(1)

    def _apply(self, fn, X, batch_size):
        self.eval()
        X = np.asarray(X, np.float32).reshape(len(X), -1)
        if X.shape[1] != 784:
            raise DataError(
                f"The MNIST classifier takes 28x28 images (784 values); got "
                f"{X.shape[1]} values per sample."
            )
        out = [
            fn(torch.from_numpy(X[i : i + batch_size])).numpy()
            for i in range(0, len(X), batch_size)
        ]
        return np.concatenate(out)


def train_mnist_classifier(
    X: np.ndarray, y: np.ndarray, *, epochs: int = 6, seed: int = 0
) -> MnistClassifier:
    """Train :class:`MnistClassifier` on images in [0, 1] and labels 0-9."""
    torch.manual_seed(seed)
    model = MnistClassifier()
    Xt = torch.from_numpy(np.asarray(X, np.float32).reshape(len(X), -1))
    yt = torch.from_numpy(np.asarray(y, np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=gen)
        for i in range(0, len(Xt), 128):
            idx = perm[i : i + 128]
            loss = nn.functional.cross_entropy(model(Xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def cached_mnist_classifier(
    cache: str | Path, X: np.ndarray, y: np.ndarray, **train_kwargs
) -> MnistClassifier:
    """Load the classifier from ``cache`` (safetensors), training it once if absent."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, save

    from aekit.io import atomic_write_bytes

    cache = Path(cache)
    model = MnistClassifier()
    if cache.exists():
        try:
            model.load_state_dict(load_file(str(cache)), strict=True)
            return model.eval()
        except (SafetensorError, OSError, RuntimeError) as exc:
            raise ModelFileError(
                f"{cache} is not a valid MNIST classifier cache ({exc}); delete it "
                "to retrain."
            ) from None
    model = train_mnist_classifier(X, y, **train_kwargs)
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(
        cache, save({k: v.contiguous() for k, v in model.state_dict().items()})
    )
    return model
