"""Linear annealing of a model field over epochs: a trainer callback.

The KL annealing of Liang et al. 2018 (https://arxiv.org/abs/1802.05814,
section 2.2.2) raises the weight of the KL term from 0 while training and
stops at a cap beta below 1: the variational latent's ``beta`` is the cap and
this callback ramps its ``kl_weight`` from ``start`` to ``end`` (0 -> 1, so
the weight seen by the loss goes 0 -> beta). Nothing here is specific to the
KL term: any module field (a noise level, a penalty weight) can be annealed.
"""

from __future__ import annotations

from torch import nn

from aekit.exceptions import ConfigError


class LinearAnneal:
    """Set ``field`` on every submodule that has it, linearly over epochs.

    Parameters
    ----------
    field : str, default="kl_weight"
        Attribute to set (the variational latent's KL multiplier).
    epochs : int, default=20
        Epochs to go from ``start`` to ``end``; the value stays at ``end`` after.
        0 sets ``end`` from the first epoch.
    start, end : float, default=0.0, 1.0

    Example
    -------
    >>> from aekit.training import Trainer, TrainerConfig
    >>> trainer = Trainer(TrainerConfig(), callbacks=[LinearAnneal(epochs=50)])
    """

    def __init__(
        self,
        field: str = "kl_weight",
        *,
        epochs: int = 20,
        start: float = 0.0,
        end: float = 1.0,
    ):
        if epochs < 0:
            raise ConfigError(f"Anneal epochs must be >= 0. Got {epochs!r}.")
        self.field = field
        self.epochs = int(epochs)
        self.start = float(start)
        self.end = float(end)

    def value(self, epoch: int) -> float:
        if self.epochs == 0:
            return self.end
        t = min(epoch / self.epochs, 1.0)
        return self.start + t * (self.end - self.start)

    def settled(self, epoch: int, steps_per_epoch: int = 0) -> bool:
        """Whether ``epoch`` (0-based) runs at the end value."""
        return epoch >= self.epochs

    def on_epoch_start(self, model: nn.Module, epoch: int, n_epochs: int) -> None:
        value = self.value(epoch)
        for module in model.modules():
            if hasattr(module, self.field):
                setattr(module, self.field, value)
