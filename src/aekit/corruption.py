"""Input corruption for denoising autoencoders (Vincent et al. 2008,
https://doi.org/10.1145/1390156.1390294).

A corruption is applied to the input on the training path only, drawn afresh
for every batch; the reconstruction is always scored against the clean input.
Call signature: ``corruption(x) -> x_tilde``, drawing from torch's global
generator, which the trainer seeds and checkpoints.
"""

from __future__ import annotations

import dataclasses

import torch

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
            raise ConfigError(f"sigma must be >= 0. Got {config.sigma!r}.")

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
            raise ConfigError(f"fraction must be in [0, 1). Got {config.fraction!r}.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.fraction == 0:
            return x
        keep = torch.rand_like(x) >= self.config.fraction
        out = x * keep
        return out / (1 - self.config.fraction) if self.config.rescale else out
