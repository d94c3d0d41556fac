"""Dense (fully connected) encoder and mirrored decoder.

The classic deep, undercomplete autoencoder (Hinton & Salakhutdinov 2006,
https://doi.org/10.1126/science.1127647): layers narrow toward the code and the
decoder mirrors them. Inputs of any shape are flattened; the output takes the
input's shape again, so images go in and come out as images.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from aekit.layers import make_activation
from aekit.registry import ARCHITECTURES, Component


def _mlp(widths: list[int], activation: str, dropout: float, batch_norm: bool):
    layers: list[nn.Module] = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        layers.append(nn.Linear(n_in, n_out))
        if batch_norm:
            layers.append(nn.BatchNorm1d(n_out))
        layers.append(make_activation(activation))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return layers


class InputNorm(nn.Module):
    """Scale each sample by its size, so that short and long inputs (e.g. user
    histories) reach the first layer at the same scale.

    ``"l2"`` divides by the L2 norm. ``"sqrt_sum"`` divides by the square root
    of the sum of absolute values: the L2 norm of the clean input when it is
    binary (an implicit-feedback history), and, unlike the L2 norm, unbiased
    under rescaled masking (dropout keeps the sum in expectation). Mult-VAE
    (Liang et al. 2018, https://arxiv.org/abs/1802.05814) L2-normalises the
    clean history *before* its input dropout, so training inputs keep the
    scale 1/(1 - p) of dropout; ``"sqrt_sum"`` after the corruption gives that
    same input. All-zero samples stay zero.
    """

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "l2":
            return nn.functional.normalize(x, p=2.0, dim=1)
        return x / x.abs().sum(1, keepdim=True).sqrt().clamp_min(1e-12)

    def extra_repr(self) -> str:
        return repr(self.kind)


@ARCHITECTURES.register("dense")
class Dense(Component):
    """Fully connected encoder ``in -> hidden[0] -> ... -> hidden[-1]``."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        hidden: tuple[int, ...] = (512, 256)  # encoder widths, narrowing to the code
        decoder_hidden: tuple[int, ...] | None = None  # None: mirror `hidden`
        activation: str = "relu"  # after every hidden layer
        dropout: float = 0.0  # dropout after every hidden layer
        batch_norm: bool = False  # BatchNorm1d before every activation
        input_norm: str | None = None  # None, "l2" or "sqrt_sum" (see InputNorm)

    def __init__(self, config: Config, *, input_shape: tuple[int, ...]):
        super().__init__(config)
        for name in ("hidden", "decoder_hidden"):
            if any(w < 1 for w in getattr(config, name) or ()):
                raise self.invalid(name, "a tuple of ints >= 1 (layer widths)")
        if not 0 <= config.dropout < 1:
            raise self.invalid("dropout", "in [0, 1)")
        make_activation(config.activation)  # fail early on a typo
        if config.input_norm not in (None, "l2", "sqrt_sum"):
            raise self.invalid("input_norm", "None, 'l2' or 'sqrt_sum'")
        self.input_shape = tuple(input_shape)
        self.n_inputs = math.prod(self.input_shape)
        widths = [self.n_inputs, *config.hidden]
        norm = [InputNorm(config.input_norm)] if config.input_norm else []
        self.encoder = nn.Sequential(
            nn.Flatten(),
            *norm,
            *_mlp(widths, config.activation, config.dropout, config.batch_norm),
        )
        self.feature_shape = (widths[-1],)

    def build_decoder(self, code_shape: tuple[int, ...], n_params: int = 1) -> None:
        cfg = self.config
        hidden = (
            cfg.decoder_hidden
            if cfg.decoder_hidden is not None
            else tuple(reversed(cfg.hidden))
        )
        widths = [math.prod(code_shape), *hidden]
        out_shape = self.input_shape if n_params == 1 else (n_params, *self.input_shape)
        self.decoder = nn.Sequential(
            nn.Flatten(),
            *_mlp(widths, cfg.activation, cfg.dropout, cfg.batch_norm),
            nn.Linear(widths[-1], self.n_inputs * n_params),
            nn.Unflatten(1, out_shape),
        )
