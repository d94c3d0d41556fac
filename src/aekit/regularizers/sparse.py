"""Sparse codes: few active units per sample, even in an overcomplete code.

Three ways to ask for sparsity, each a registered regularizer:

- ``"l1"``: ``weight * sum_j |z_j|`` per sample, the L1 penalty on the code's
  activations (Lee et al. 2007, https://papers.nips.cc/paper/2979; Goodfellow
  et al., *Deep Learning* 14.2.1);
- ``"kl"``: ``weight * sum_j KL(rho || rho_hat_j)``, where ``rho_hat_j`` is unit
  ``j``'s mean activation over the batch, the classic sparse autoencoder (Ng,
  *CS294A Lecture notes: Sparse autoencoder*, 2011,
  https://web.stanford.edu/class/cs294a/sparseAutoencoder.pdf). It needs a code
  in (0, 1): a sigmoid code;
- ``"topk"``: the k-sparse autoencoder (Makhzani & Frey 2013,
  https://arxiv.org/abs/1312.5663): keep the ``k`` largest activations of each
  sample and zero the rest, in training and in ``encode``/``transform``.

Each also logs two measurements (``stat_*`` terms: not minimised): the code's
mean activation and the fraction of active units (``|z| > active_threshold``).

The reconstruction loss is a mean over input elements, so ``weight`` is
relative to one element's loss; the penalties sum over code units, the way the
papers write them.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from aekit.exceptions import ConfigError
from aekit.registry import REGULARIZERS, Component


def code_statistics(z: torch.Tensor, threshold: float) -> dict[str, torch.Tensor]:
    """Mean activation and fraction of active units of a batch of codes.

    Both are detached measurements, returned under ``stat_*`` names so the
    trainer logs them (``train_stat_*`` / ``val_stat_*`` in ``history_``) and
    leaves them out of the loss.
    """
    z = z.detach().flatten(1)  # (B, units)
    return {
        "stat_mean_activation": z.mean(),
        "stat_active_fraction": (z.abs() > threshold).float().mean(),
    }


def _check_weight(weight: float, kind: str) -> None:
    if not isinstance(weight, int | float) or not weight >= 0:
        raise ConfigError(
            f"The 'weight' of regularizer {kind!r} must be a number >= 0. "
            f"Got {weight!r} instead."
        )


@REGULARIZERS.register("l1")
class L1Sparsity(Component):
    """L1 penalty on the code: ``weight * sum_j |z_j|`` per sample.

    Pairs best with a non-negative code (``code_activation="relu"``), where the
    penalty drives units to exactly zero.
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        weight: float = 1e-3  # lambda, per code unit, relative to the mean recon
        active_threshold: float = 1e-3  # |z| above this counts as active

    def __init__(self, config: Config, *, code_shape: tuple[int, ...]):
        super().__init__(config)
        _check_weight(config.weight, "l1")
        if config.active_threshold < 0:
            raise self.invalid("active_threshold", ">= 0")

    def forward(self, *, x, h, z, model) -> dict[str, torch.Tensor]:
        terms = {"sparsity": self.config.weight * z.flatten(1).abs().sum(1)}  # (B,)
        return terms | code_statistics(z, self.config.active_threshold)


@REGULARIZERS.register("kl")
class KLSparsity(Component):
    """KL divergence between a target mean activation and each unit's measured one.

    ``rho_hat_j`` is the mean of unit ``j`` over the batch (for a spatial code,
    each channel at each position is a unit), so the penalty is a property of
    the batch, not of one sample. Batches of a few dozen samples or more give a
    usable estimate.
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        target: float = 0.05  # rho: the mean activation each unit should have
        weight: float = 1e-2  # beta: weight of the summed KL divergences
        active_threshold: float = 0.1  # z above this counts as active

    def __init__(self, config: Config, *, code_shape: tuple[int, ...]):
        super().__init__(config)
        _check_weight(config.weight, "kl")
        if not 0 < config.target < 1:
            raise ConfigError(
                "The 'target' of the kl sparsity regularizer is a mean activation "
                f"in (0, 1), e.g. 0.05. Got {config.target!r} instead."
            )
        if not 0 <= config.active_threshold < 1:
            raise self.invalid("active_threshold", "in [0, 1) (the code is in (0, 1))")

    @staticmethod
    def _check_code(z: torch.Tensor, model) -> None:
        # A sigmoid code is in (0, 1) by construction: skip the (syncing) check.
        if isinstance(getattr(model.latent, "activation", None), nn.Sigmoid):
            return
        lo, hi = float(z.detach().min()), float(z.detach().max())
        if lo < 0 or hi > 1:
            raise ConfigError(
                "The kl sparsity regularizer needs a code in (0, 1), but the code "
                f"ranges over [{lo:.3g}, {hi:.3g}]. Use code_activation='sigmoid', "
                "or the 'l1' or 'topk' sparsity, which work on any code."
            )

    def forward(self, *, x, h, z, model) -> dict[str, torch.Tensor]:
        self._check_code(z, model)
        rho = self.config.target
        # Clamp so a saturated unit gives a large, finite penalty, not inf.
        rho_hat = z.flatten(1).mean(0).clamp(1e-6, 1 - 1e-6)  # (units,)
        kl = rho * (math.log(rho) - rho_hat.log()) + (1 - rho) * (
            math.log1p(-rho) - torch.log1p(-rho_hat)
        )
        terms = {"sparsity": self.config.weight * kl.sum()}
        return terms | code_statistics(z, self.config.active_threshold)


@REGULARIZERS.register("topk")
class TopKSparsity(Component):
    """k-sparse code: the ``k`` largest activations of each sample, the rest 0.

    The constraint is applied by ``transform_code`` on every path (training,
    ``encode``, ``transform``), so no sample ever has more than ``k`` non-zero
    code units. Gradients flow through the kept units only, as in the paper.
    """

    @dataclasses.dataclass(frozen=True)
    class Config:
        k: int = 32  # non-zero code units kept per sample
        active_threshold: float = 0.0  # |z| above this counts as active

    def __init__(self, config: Config, *, code_shape: tuple[int, ...]):
        super().__init__(config)
        units = math.prod(code_shape)
        if not isinstance(config.k, int) or not 1 <= config.k <= units:
            raise ConfigError(
                f"The 'k' of the topk regularizer must be an int in [1, {units}] "
                f"(the code has {units} units). Got {config.k!r} instead."
            )
        if config.active_threshold < 0:
            raise self.invalid("active_threshold", ">= 0")

    def transform_code(self, z: torch.Tensor) -> torch.Tensor:
        flat = z.flatten(1)  # (B, units)
        values, idx = flat.topk(self.config.k, dim=1)  # (B, k)
        return torch.zeros_like(flat).scatter(1, idx, values).view_as(z)

    def forward(self, *, x, h, z, model) -> dict[str, torch.Tensor]:
        return code_statistics(z, self.config.active_threshold)
