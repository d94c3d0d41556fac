"""Contractive penalty: a code that resists small changes of the input.

The contractive autoencoder (Rifai et al. 2011,
https://icml.cc/2011/papers/455_icmlpaper.pdf) adds
``weight * ||dz/dx||_F^2``, the squared Frobenius norm of the encoder's
Jacobian at each training input, to the reconstruction loss. Three ways to
compute it, chosen by ``method``:

``"closed_form"``
    For a single layer ``z = s(W x + b)`` with an elementwise ``s`` (sigmoid,
    tanh, relu or none): ``sum_j s'(a_j)^2 * sum_i W_ji^2``. Exact, and costs
    one pass over ``W`` per batch: O(code x inputs), no extra backward pass.
``"exact"``
    Any encoder: the full Jacobian by ``torch.func.jacrev``, one vector-
    Jacobian product per code unit (vectorised), so about ``code_units``
    encoder backward passes and ``batch x code_units x inputs`` floats of
    memory, then a double backward in training. For small codes and inputs.
``"hutchinson"``
    Any encoder: an unbiased random-projection estimate
    ``E_v ||J^T v||^2 = ||J||_F^2`` with Rademacher ``v`` in code space
    (Hutchinson 1990, https://doi.org/10.1080/03610919008812866). Each of
    ``n_projections`` costs one encoder backward pass (plus its double backward
    in training); the variance falls as ``1 / n_projections``. For large
    models.
``"auto"``
    ``closed_form`` when the model is one such layer, else ``exact`` while
    ``code_units x inputs <= exact_limit``, else ``hutchinson``.

With batch normalisation in training mode, samples share batch statistics; the
exact and random-projection methods then differentiate each sample's code
through its own input only, which is the Jacobian of the evaluation-mode
encoder up to the batch statistics' own (small) dependence on that sample.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
from torch import nn

from aekit.exceptions import ConfigError
from aekit.registry import REGULARIZERS, Component

METHODS = ("auto", "closed_form", "exact", "hutchinson")

# Derivative of an elementwise activation, from its output z.
_DERIVATIVE_FROM_OUTPUT: dict[
    type[nn.Module], Callable[[torch.Tensor], torch.Tensor]
] = {
    nn.Sigmoid: lambda z: z * (1 - z),
    nn.Tanh: lambda z: 1 - z * z,
    nn.ReLU: lambda z: (z > 0).to(z.dtype),
    nn.Identity: lambda z: torch.ones_like(z),
}


def jacobian_frobenius_sq(
    encode: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    method: str = "exact",
    n_projections: int = 1,
) -> torch.Tensor:
    """``||dz/dx||_F^2`` of each sample, for any encoder; shape ``(B,)``.

    Parameters
    ----------
    encode : callable
        Maps a batch ``(B, *input_shape)`` to codes ``(B, *code_shape)``, each
        code depending on its own sample only (e.g. ``model.encode`` in eval
        mode).
    x : Tensor of shape (B, *input_shape)
    method : {"exact", "hutchinson"}
        The full Jacobian, or the unbiased random-projection estimate.
    n_projections : int
        Rademacher projections averaged by ``"hutchinson"``.

    The result keeps the autograd graph to the parameters ``encode`` uses, so
    it can be minimised. Works under ``torch.no_grad`` as well.

    Example
    -------
    >>> enc = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid())
    >>> jacobian_frobenius_sq(enc, torch.zeros(2, 4)).shape
    torch.Size([2])
    """
    if method == "exact":
        # The sum over the batch has, for sample b, the gradient of z_b alone.
        jac = torch.func.jacrev(lambda x_: encode(x_).sum(0))(x)  # (*code, B, *in)
        n_code = jac.ndim - x.ndim
        return jac.movedim(n_code, 0).flatten(1).square().sum(1)  # (B,)
    if method == "hutchinson":
        if not isinstance(n_projections, int) or n_projections < 1:
            raise ConfigError(
                f"n_projections must be an int >= 1. Got {n_projections!r} instead."
            )
        z, pullback = torch.func.vjp(encode, x)  # z: (B, *code)
        total = x.new_zeros(x.shape[0])
        for _ in range(n_projections):
            v = torch.randint_like(z, 0, 2).mul_(2).sub_(1)  # Rademacher (B, *code)
            (g,) = pullback(v)  # J^T v: (B, *in)
            total = total + g.flatten(1).square().sum(1)
        return total / n_projections
    raise ConfigError(
        f"Unknown Jacobian method {method!r}. Choose 'exact' or 'hutchinson'."
    )


@REGULARIZERS.register("contractive")
class Contractive(Component):
    """``weight * ||dz/dx||_F^2`` per sample (Rifai et al. 2011).

    Logs ``stat_jacobian_frobenius_sq``, the unweighted squared norm (an
    estimate with ``"hutchinson"``).
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        weight: float = 1e-3  # lambda, relative to the mean reconstruction loss
        method: str = "auto"  # "auto", "closed_form", "exact" or "hutchinson"
        n_projections: int = 1  # random projections per sample ("hutchinson")
        exact_limit: int = 2**17  # "auto": exact while code units x inputs <= this

    def __init__(self, config: Config, *, code_shape: tuple[int, ...]):
        super().__init__(config)
        w = config.weight
        if not isinstance(w, int | float) or not w >= 0:
            raise ConfigError(
                "The 'weight' of the contractive regularizer must be a number >= 0. "
                f"Got {w!r} instead."
            )
        if config.method not in METHODS:
            raise ConfigError(
                f"The contractive 'method' must be one of {', '.join(METHODS)}. "
                f"Got {config.method!r} instead."
            )
        if not isinstance(config.n_projections, int) or config.n_projections < 1:
            raise ConfigError(
                "The contractive 'n_projections' must be an int >= 1. Got "
                f"{config.n_projections!r} instead."
            )
        if config.exact_limit < 0:
            raise self.invalid("exact_limit", "an int >= 0")
        self.code_units = math.prod(code_shape)

    @staticmethod
    def closed_form_layer(model) -> tuple[nn.Linear, type[nn.Module]] | None:
        """The (linear layer, activation type) of a one-layer encoder, or None."""
        encoder = model.architecture.encoder
        if any(p.numel() for p in encoder.parameters()) or not all(
            isinstance(m, nn.Flatten | nn.Identity) for m in encoder.children()
        ):
            return None
        project = getattr(model.latent, "project", None)
        act = getattr(model.latent, "activation", None)
        if (
            not isinstance(project, nn.Linear)
            or type(act) not in _DERIVATIVE_FROM_OUTPUT
        ):
            return None
        if any(hasattr(r, "transform_code") for r in model.regularizers):
            return None  # e.g. top-k zeroes units after the activation
        return project, type(act)

    def resolve_method(self, model) -> str:
        method = self.config.method
        if method == "closed_form" and self.closed_form_layer(model) is None:
            raise ConfigError(
                "The contractive 'closed_form' method needs a single-layer encoder "
                "(hidden=()) with a sigmoid, tanh, relu or linear code and no top-k; "
                "use method='exact' or 'hutchinson' for this model."
            )
        if method != "auto":
            return method
        if self.closed_form_layer(model) is not None:
            return "closed_form"
        n_in = math.prod(model.input_shape)
        return (
            "exact"
            if self.code_units * n_in <= self.config.exact_limit
            else ("hutchinson")
        )

    def forward(self, *, x, h, z, model) -> dict[str, torch.Tensor]:
        method = self.resolve_method(model)
        if method == "closed_form":
            layer, act = self.closed_form_layer(model)
            d = _DERIVATIVE_FROM_OUTPUT[act](z.flatten(1))  # (B, code)
            w2 = layer.weight.square().sum(1)  # (code,): sum_i W_ji^2
            jf2 = d.square() @ w2  # (B,)
        else:
            jf2 = jacobian_frobenius_sq(
                model.encode, x, method=method, n_projections=self.config.n_projections
            )
        return {
            "contractive": self.config.weight * jf2,
            "stat_jacobian_frobenius_sq": jf2.detach().mean(),
        }
