"""Input corruption for denoising autoencoders (Vincent et al. 2008,
https://doi.org/10.1145/1390156.1390294).

A corruption is applied to the input on the training path only, drawn afresh
for every batch; the reconstruction is always scored against the clean input.
Call signature: ``corruption(x) -> x_tilde``, drawing from torch's global
generator, which the trainer seeds and checkpoints. Amounts are in the model's
scaled units (pixels in [0, 1]). To corrupt data on purpose (to evaluate a
denoiser, say), call :func:`corrupt`.

Blur and missing blocks act on images: inputs of shape ``(B, C, H, W)``, or
flat inputs with an ``image_shape`` option that says how to fold them.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F

from aekit.exceptions import ConfigError
from aekit.registry import CORRUPTIONS, Component


@CORRUPTIONS.register("gaussian")
class GaussianNoise(Component):
    """Additive Gaussian noise of standard deviation ``sigma`` (scaled units)."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        sigma: float = 0.1  # noise standard deviation
        clip: bool = False  # clip the noisy input to [0, 1] (pixels)

    def __init__(self, config: Config):
        super().__init__(config)
        if config.sigma < 0:
            raise self.invalid("sigma", ">= 0")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.sigma == 0:
            return x
        noisy = x + self.config.sigma * torch.randn_like(x)
        return noisy.clamp(0, 1) if self.config.clip else noisy


@CORRUPTIONS.register("masking")
class Masking(Component):
    """Set a random ``fraction`` of the input elements to zero (dropout noise)."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        fraction: float = 0.25  # share of elements zeroed
        rescale: bool = False  # divide kept elements by (1 - fraction), as dropout

    def __init__(self, config: Config):
        super().__init__(config)
        if not 0 <= config.fraction < 1:
            raise self.invalid("fraction", "in [0, 1)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.fraction == 0:
            return x
        keep = torch.rand_like(x) >= self.config.fraction
        out = x * keep
        return out / (1 - self.config.fraction) if self.config.rescale else out


@CORRUPTIONS.register("salt_pepper")
class SaltPepper(Component):
    """Set a random ``fraction`` of elements to ``low`` or ``high`` (impulse noise).

    Vincent et al. (2010, https://jmlr.org/papers/v11/vincent10a.html) use it
    as one of their three corruptions; each hit element becomes ``high`` with
    probability ``salt``, else ``low``.
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        fraction: float = 0.1  # share of elements hit
        salt: float = 0.5  # share of the hits set to `high` (the rest to `low`)
        low: float = 0.0  # "pepper" value (black, in [0, 1] pixels)
        high: float = 1.0  # "salt" value (white)

    def __init__(self, config: Config):
        super().__init__(config)
        if not 0 <= config.fraction <= 1:
            raise self.invalid("fraction", "in [0, 1]")
        if not 0 <= config.salt <= 1:
            raise self.invalid("salt", "in [0, 1]")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.fraction == 0:
            return x
        hit = torch.rand_like(x) < self.config.fraction
        salt = torch.rand_like(x) < self.config.salt
        values = torch.where(salt, self.config.high, self.config.low).to(x.dtype)
        return torch.where(hit, values, x)


def _parse_image_shape(value, kind: str) -> tuple[int, int, int] | None:
    """``(C, H, W)`` from ``None``, ``(H, W)``, ``(C, H, W)``, "28x28", "3x32x32"."""
    if value is None:
        return None
    parts = value
    if isinstance(value, str):
        parts = [p for p in value.lower().replace(",", "x").split("x") if p.strip()]
    try:
        shape = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) not in (2, 3) or min(shape) < 1:
        raise ConfigError(
            f"The {kind} corruption's image_shape is HxW or CxHxW, such as '28x28' "
            f"or '3x32x32'. Got {value!r} instead."
        )
    return shape if len(shape) == 3 else (1, *shape)


class _ImageCorruption(Component):
    """A corruption that needs images: folds inputs to ``(B, C, H, W)``."""

    def image_shape(self, sample_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """The ``(C, H, W)`` each sample of shape ``sample_shape`` is seen as."""
        shape = _parse_image_shape(self.config.image_shape, self.kind)
        if shape is None:
            if len(sample_shape) == 3:
                return tuple(sample_shape)
            raise ConfigError(
                f"The {self.kind!r} corruption works on images, but the samples have "
                f"shape {tuple(sample_shape)}. Load images (a folder, or an array of "
                "shape (n, C, H, W)), or say how to fold flat samples, e.g. "
                f"'{self.kind}:image_shape=28x28'."
            )
        if math.prod(shape) != math.prod(sample_shape):
            raise ConfigError(
                f"image_shape {self.config.image_shape!r} has {math.prod(shape)} "
                f"values, but the samples have {math.prod(sample_shape)}; give the "
                "shape of one sample."
            )
        return shape

    def check_input_shape(self, sample_shape: tuple[int, ...]) -> None:
        """Fail early, when the model is built, on samples that are no images."""
        self.image_shape(sample_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_identity():
            return x
        shape = self.image_shape(tuple(x.shape[1:]))
        return self.corrupt_images(x.reshape(len(x), *shape)).reshape(x.shape)


@CORRUPTIONS.register("blur")
class GaussianBlur(_ImageCorruption):
    """Gaussian blur of standard deviation ``sigma`` pixels (blurry images).

    Separable, per channel, with reflected borders. With ``sigma_min`` each
    sample gets its own sigma drawn uniformly from ``[sigma_min, sigma]``, so a
    model learns to sharpen a range of blurs.
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        sigma: float = 1.0  # blur standard deviation, in pixels
        sigma_min: float | None = None  # None: always `sigma`; else per-sample U
        image_shape: tuple[int, ...] | str | None = None  # fold flat samples: HxW

    def __init__(self, config: Config):
        super().__init__(config)
        if config.sigma < 0:
            raise self.invalid("sigma", ">= 0")
        lo = config.sigma_min
        if lo is not None and not 0 <= lo <= config.sigma:
            raise self.invalid("sigma_min", f"None or in [0, sigma={config.sigma}]")
        _parse_image_shape(config.image_shape, self.kind)

    def is_identity(self) -> bool:
        return self.config.sigma == 0

    def corrupt_images(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        radius = max(1, math.ceil(3 * self.config.sigma))
        if self.config.sigma_min is None:
            sigma = x.new_full((b,), self.config.sigma)
        else:
            lo, hi = self.config.sigma_min, self.config.sigma
            sigma = lo + (hi - lo) * torch.rand(b, device=x.device, dtype=x.dtype)
        t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        # sigma 0 is the identity kernel: a 1 at the centre.
        kernel = torch.exp(-0.5 * (t / sigma.clamp_min(1e-6)[:, None]) ** 2)
        kernel = kernel / kernel.sum(1, keepdim=True)  # (B, K)
        kernel = kernel.repeat_interleave(c, 0)  # (B*C, K): one per image channel
        mode = "reflect" if radius < min(height, width) else "replicate"
        y = x.reshape(1, b * c, height, width)
        y = F.pad(y, (radius, radius, 0, 0), mode=mode)
        y = F.conv2d(y, kernel[:, None, None, :], groups=b * c)
        y = F.pad(y, (0, 0, radius, radius), mode=mode)
        y = F.conv2d(y, kernel[:, None, :, None], groups=b * c)
        return y.view(b, c, height, width)


@CORRUPTIONS.register("blocks")
class MissingBlocks(_ImageCorruption):
    """Random rectangles set to ``fill`` (images with missing parts).

    Each sample loses ``n_blocks`` rectangles (they may overlap) whose height
    and width are drawn uniformly between ``min_size`` and ``max_size`` of the
    image's height and width, at uniform positions; every channel is cut.
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        n_blocks: int = 1  # rectangles removed per sample
        min_size: float = 0.2  # smallest side, as a share of the image side
        max_size: float = 0.4  # largest side, as a share of the image side
        fill: float = 0.0  # value of the missing pixels
        image_shape: tuple[int, ...] | str | None = None  # fold flat samples: HxW

    def __init__(self, config: Config):
        super().__init__(config)
        if config.n_blocks < 0:
            raise self.invalid("n_blocks", "an int >= 0")
        if not 0 < config.min_size <= config.max_size <= 1:
            raise ConfigError(
                "The blocks corruption's sizes need 0 < min_size <= max_size <= 1 "
                f"(shares of the image side). Got min_size={config.min_size!r}, "
                f"max_size={config.max_size!r}."
            )
        _parse_image_shape(config.image_shape, self.kind)

    def is_identity(self) -> bool:
        return self.config.n_blocks == 0

    def corrupt_images(self, x: torch.Tensor) -> torch.Tensor:
        b, _, height, width = x.shape
        n, lo, hi = self.config.n_blocks, self.config.min_size, self.config.max_size

        def spans(side: int) -> torch.Tensor:
            """(B, n, side) booleans: which rows (or columns) each block covers."""
            size = (lo + (hi - lo) * torch.rand(b, n, device=x.device)) * side
            size = size.round().clamp(1, side)
            start = (torch.rand(b, n, device=x.device) * (side - size + 1)).floor()
            pos = torch.arange(side, device=x.device)
            return (pos >= start[..., None]) & (pos < (start + size)[..., None])

        rows, cols = spans(height), spans(width)
        hole = (rows[..., :, None] & cols[..., None, :]).any(1)  # (B, H, W)
        return x.masked_fill(hole[:, None], self.config.fill)


def corrupt(X, spec: str | dict, *, random_state=None) -> np.ndarray:
    """Corrupt ``X`` on purpose, e.g. to make noisy test data for a denoiser.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Values in the units the corruption expects (pixels in [0, 1]).
    spec : str or dict
        A corruption, e.g. ``"gaussian:0.3"``, ``"masking:0.25"``,
        ``"salt_pepper:0.1"``, ``"blur:1.5"`` or ``"blocks:2"``.
    random_state : int or None
        Seeds a local generator; torch's global one is left untouched.

    Returns
    -------
    ndarray of float32, the shape of ``X``.

    Example
    -------
    >>> corrupt(np.zeros((2, 4)), "salt_pepper:fraction=1,salt=1").tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    from aekit.estimators.base import seed_from

    cls, cfg = CORRUPTIONS.config(CORRUPTIONS.parse(spec))
    corruption = cls(cfg)
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    if hasattr(corruption, "check_input_shape"):
        corruption.check_input_shape(tuple(x.shape[1:]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed_from(random_state))
        return corruption(x).numpy()
