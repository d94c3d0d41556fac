"""Gaussian blur as a training corruption, for deblurring autoencoders.

A model trained to rebuild sharp images from blurred ones (the denoising
criterion of Vincent et al. 2008, https://doi.org/10.1145/1390156.1390294,
with blur as the corruption) removes that blur from new images: ``aekit
deblur``. Registered as ``"blur"``; merge note: issue 3 adds image corruptions
to ``corruption.py`` too; keep one of the two.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from aekit.exceptions import ConfigError
from aekit.registry import CORRUPTIONS, Component


def gaussian_kernel(sigma: float, dtype=torch.float32) -> torch.Tensor:
    """A normalised 1-D Gaussian kernel reaching 3 sigma each side."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur images ``(B, C, H, W)`` or ``(B, H, W)`` (separable, reflected edges)."""
    if sigma <= 0:
        return x
    squeeze = x.ndim == 3
    img = x.unsqueeze(1) if squeeze else x  # (B, C, H, W)
    c = img.shape[1]
    k = gaussian_kernel(sigma, img.dtype).to(img.device)
    r = len(k) // 2
    # Reflection needs the image to be larger than the kernel's radius.
    mode = "reflect" if min(img.shape[-2:]) > r else "replicate"
    out = F.pad(img, (r, r, 0, 0), mode=mode)
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.pad(out, (0, 0, r, r), mode=mode)
    out = F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return out.squeeze(1) if squeeze else out


@CORRUPTIONS.register("blur")
class GaussianBlur(Component):
    """Gaussian blur of standard deviation ``sigma`` pixels, then optional noise.

    ``jitter`` draws each batch's sigma uniformly from
    ``sigma * [1 - jitter, 1 + jitter]``, so the model tolerates a blur it has
    not measured exactly.
    """

    needs_images = True  # (B, C, H, W) or (B, H, W) batches only

    @dataclasses.dataclass(frozen=True)
    class Config:
        sigma: float = 1.5  # blur standard deviation, in pixels
        jitter: float = 0.0  # relative spread of sigma across batches, in [0, 1)
        noise: float = 0.0  # std of Gaussian noise added after the blur

    def __init__(self, config: Config):
        super().__init__(config)
        if config.sigma < 0 or config.noise < 0:
            raise ConfigError(
                f"blur needs sigma >= 0 and noise >= 0. Got sigma={config.sigma!r}, "
                f"noise={config.noise!r}."
            )
        if not 0 <= config.jitter < 1:
            raise ConfigError(f"jitter must be in [0, 1). Got {config.jitter!r}.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim not in (3, 4):
            raise ConfigError(
                "The blur corruption needs images (B, C, H, W) or (B, H, W); got a "
                f"batch of shape {tuple(x.shape)}."
            )
        sigma = self.config.sigma
        if self.config.jitter:
            u = float(torch.rand(()))
            sigma *= 1 + self.config.jitter * (2 * u - 1)
        out = gaussian_blur(x, sigma)
        if self.config.noise:
            out = out + self.config.noise * torch.randn_like(out)
        return out
