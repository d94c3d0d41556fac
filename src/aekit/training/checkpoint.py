"""Resumable checkpoints in one safetensors file.

Tensors (weights, optimizer moments, RNG states) are safetensors entries; the
rest of the training state is JSON in the file's metadata. Nothing is ever
unpickled, and the file is replaced atomically, so a crash at any moment leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from aekit.exceptions import ModelFileError
from aekit.io import atomic_write_bytes

CHECKPOINT_FORMAT = 1


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, plain = {}, {}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                plain.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "plain": plain}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for idx, entries in meta["plain"].items():
        state.setdefault(int(idx), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    path: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    best_state: dict[str, torch.Tensor] | None,
    rng: dict[str, torch.Tensor],
    state: dict[str, Any],
) -> None:
    """Write everything needed to continue training bit for bit."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if best_state is not None:
        tensors |= {f"best.{k}": v for k, v in best_state.items()}
    opt_tensors, opt_meta = _flatten_optimizer(optimizer.state_dict())
    tensors |= opt_tensors
    tensors |= {f"rng.{k}": v for k, v in rng.items()}
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {"format": CHECKPOINT_FORMAT, "optimizer": opt_meta, "state": state}
    atomic_write_bytes(path, save(tensors, metadata={"aekit": json.dumps(meta)}))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    try:
        tensors = load_file(str(path))
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
        meta = json.loads(header["__metadata__"]["aekit"])
    except FileNotFoundError:
        raise ModelFileError(
            f"No checkpoint at {path}: nothing to resume. Run without --resume."
        ) from None
    except (SafetensorError, OSError, ValueError, KeyError) as exc:
        raise ModelFileError(
            f"The checkpoint {path} is unreadable ({exc}); delete it to start over."
        ) from None
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(
            f"The checkpoint {path} has format {meta.get('format')!r}; this aekit "
            f"reads format {CHECKPOINT_FORMAT}."
        )

    def strip(prefix):
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    best = strip("best.")
    return {
        "model": strip("model."),
        "best": best or None,
        "optimizer": _unflatten_optimizer(tensors, meta["optimizer"]),
        "rng": strip("rng."),
        "state": meta["state"],
    }
