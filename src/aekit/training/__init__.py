"""Training: device, optimizer, epochs, early stopping, checkpoints, seeds."""

from aekit.training.trainer import Trainer, TrainerConfig

__all__ = ["Trainer", "TrainerConfig"]
