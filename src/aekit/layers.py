"""Small building blocks shared by the architectures."""

from __future__ import annotations

import difflib

from torch import nn

from aekit.exceptions import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "selu": nn.SELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
    "linear": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """An activation module by name, with a "did you mean" on a typo."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        close = difflib.get_close_matches(str(name), ACTIVATIONS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown activation {name!r}.{hint} "
            f"Choose one of: {', '.join(sorted(ACTIVATIONS))}."
        ) from None
