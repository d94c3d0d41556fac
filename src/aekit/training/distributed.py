"""Multi-process training through PyTorch's own engine (torch.distributed).

Launch with ``torchrun --nproc-per-node N -m aekit fit ...`` (or run your own
script under torchrun): the trainer finds the process group's settings in the
environment torchrun sets (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``), joins the
group (NCCL on CUDA, gloo on CPU), wraps the model in DistributedDataParallel,
and gives each rank its shard of every global batch. Losses and validation
metrics are all-reduced, so every rank takes the same early-stopping decision;
only rank 0 writes files.
"""

from __future__ import annotations

import atexit
import dataclasses
import os

import torch
import torch.distributed as dist
from torch import nn


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistributedContext:
        if dist.is_available() and dist.is_initialized():
            return cls(
                dist.get_world_size(),
                dist.get_rank(),
                int(os.environ.get("LOCAL_RANK", 0)),
            )
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(world, int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)))

    def init(self, device: torch.device) -> None:
        """Join the process group torchrun described, once. A group joined
        here is destroyed at exit (one the caller made is the caller's)."""
        if self.active and not dist.is_initialized():
            # DistributedDataParallel imports torch.distributed.nn, whose
            # functions take ``group=group.WORLD`` as a default argument: imported
            # after the group exists, they hold it for the life of the process,
            # so destroy_process_group cannot free it and gloo's threads stay
            # up into the interpreter's teardown. Imported first, the defaults
            # are None.
            import torch.distributed.nn  # noqa: F401

            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend)
            atexit.register(_destroy_process_group)

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.active:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t


def _destroy_process_group() -> None:
    """Leave the process group while the interpreter is whole: left to the
    interpreter's teardown, gloo's worker threads can outlive the objects
    they hold and abort the process ("terminate called without an active
    exception", SIGABRT, twice in this project's CI; the cause as described
    in pytorch/pytorch#179291). The group's threads end here, unless
    something else still holds it (see :meth:`DistributedContext.init`)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """True outside torchrun and on rank 0 inside it: the rank that writes files."""
    return DistributedContext.from_env().is_main


class LossModule(nn.Module):
    """``forward`` = the model's ``loss``, so DistributedDataParallel can wrap it
    (DDP synchronises gradients only for calls that go through ``forward``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model.loss(x)


def wrap(model: nn.Module, ctx: DistributedContext, device: torch.device) -> nn.Module:
    """The module whose ``forward(x)`` returns the loss terms, DDP-wrapped if needed."""
    loss_module = LossModule(model)
    if not ctx.active:
        return loss_module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(loss_module, device_ids=device_ids)
