"""The plain bottleneck: a learned projection of the features to the code.

Flat features go through a linear layer to ``code_size`` units; spatial
features (channels first) through a 1x1 convolution to ``code_size`` channels,
so convolutional models can keep a spatial code.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from aekit.layers import make_activation
from aekit.registry import LATENTS, Component


def projection(feature_shape: tuple[int, ...], out: int) -> nn.Module:
    """Linear map of flat features, 1x1 convolution of spatial ones (dim 1)."""
    if len(feature_shape) == 1:
        return nn.Linear(feature_shape[0], out)
    conv = {2: nn.Conv1d, 3: nn.Conv2d, 4: nn.Conv3d}[len(feature_shape)]
    return conv(feature_shape[0], out, kernel_size=1)


@LATENTS.register("deterministic")
class Deterministic(Component):
    """A point code: ``z = activation(W h + b)``."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        code_size: int = 32  # units (flat) or channels (spatial) of the code
        activation: str | None = None  # None: linear code; "sigmoid" for (0, 1)

    def __init__(self, config: Config, *, feature_shape: tuple[int, ...]):
        super().__init__(config)
        if config.code_size < 1:
            raise self.invalid("code_size", "an int >= 1")
        self.project = projection(feature_shape, config.code_size)
        self.activation = (
            make_activation(config.activation) if config.activation else nn.Identity()
        )
        self.code_shape = (config.code_size, *feature_shape[1:])

    def mean(self, h: torch.Tensor) -> torch.Tensor:
        return self.activation(self.project(h))  # (B, *code_shape)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.mean(h), {}
