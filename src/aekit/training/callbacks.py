"""Schedules that set a field on the model as training goes.

The trainer calls ``on_epoch_start(model, epoch, n_epochs)`` before each epoch
and ``on_step_start(model, step, steps_per_epoch)`` before each optimizer step;
nothing else passes training state into the model. A schedule that changes
the training loss itself (a KL weight) also has
``settled(epoch, steps_per_epoch)``: whether
the epoch ran wholly at the end value, so that its training loss is the
objective and comparable with later epochs'. The trainer picks the best epoch
by training loss among settled epochs only.
"""

from __future__ import annotations

from torch import nn

from aekit.exceptions import ConfigError


class KLWarmup:
    """Linear KL warm-up (annealing) from 0 to 1 over ``epochs`` epochs.

    Sets ``kl_weight`` on every submodule that has one (the variational
    latent), before every optimizer step: the weight after ``s`` steps is
    ``min(1, (s + 1) / (epochs * steps_per_epoch))``, so fractional epochs work.
    The KL term is then ``beta * kl_weight * KL``. Bowman et al. 2016
    (https://arxiv.org/abs/1511.06349) and Sønderby et al. 2016
    (https://arxiv.org/abs/1602.02282) use it against posterior collapse early
    in training.

    Parameters
    ----------
    epochs : float
        Length of the ramp in epochs; 0 turns the warm-up off (weight 1).

    Example
    -------
    >>> from aekit.training.trainer import Trainer, TrainerConfig
    >>> trainer = Trainer(TrainerConfig(epochs=20), callbacks=[KLWarmup(epochs=10)])
    """

    def __init__(self, epochs: float):
        if epochs < 0:
            raise ConfigError(f"kl_warmup must be >= 0 epochs. Got {epochs!r}.")
        self.epochs = float(epochs)

    @staticmethod
    def _targets(model: nn.Module) -> list[nn.Module]:
        targets = [m for m in model.modules() if hasattr(m, "kl_weight")]
        if not targets:
            raise ConfigError(
                "KL warm-up was asked for, but the model has no KL term: use a "
                "variational latent (latent='variational') or set kl_warmup=0."
            )
        return targets

    def weight(self, step: int, steps_per_epoch: int) -> float:
        if self.epochs <= 0:
            return 1.0
        return min(1.0, (step + 1) / (self.epochs * steps_per_epoch))

    def on_epoch_start(self, model: nn.Module, epoch: int, n_epochs: int) -> None:
        self._targets(model)  # fail before the first step, with a clear message

    def settled(self, epoch: int, steps_per_epoch: int) -> bool:
        """Whether every step of ``epoch`` (0-based) runs at weight 1."""
        return self.weight(epoch * steps_per_epoch, steps_per_epoch) >= 1

    def on_step_start(self, model: nn.Module, step: int, steps_per_epoch: int) -> None:
        w = self.weight(step, steps_per_epoch)
        for m in self._targets(model):
            m.kl_weight = w
