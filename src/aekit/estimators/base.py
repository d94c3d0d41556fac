"""Pieces shared by aekit's estimators."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable

import numpy as np
import torch

from aekit.exceptions import ConfigError
from aekit.registry import allows, describe

ESTIMATORS: dict[str, type] = {}


# Model names a user types (``aekit fit --model multvae``) -> estimator class.
MODELS: dict[str, type] = {}


def register_estimator(cls: type) -> type:
    ESTIMATORS[cls.__name__] = cls
    return cls


def register_model(*names: str) -> Callable[[type], type]:
    """Make ``names`` select ``cls`` in ``estimator_for_model`` (and the CLI)."""

    def decorator(cls: type) -> type:
        for name in names:
            MODELS[name] = cls
        return cls

    return decorator


def estimator_for_model(name: str) -> type:
    """The estimator class that a model name (e.g. "multvae") belongs to."""
    import difflib

    if name not in MODELS:
        close = difflib.get_close_matches(str(name), MODELS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"Unknown model {name!r}.{hint} Choose one of: {', '.join(sorted(MODELS))}."
        )
    return MODELS[name]


def check_params(estimator) -> None:
    """Raise a ConfigError on a parameter whose value is not of the type its
    ``__init__`` declares, such as ``guard="no"`` from a TOML file (a string is
    true). Parameters declared as bool, int, float, str, None, dict or unions of
    them are checked here; the rest (layer widths, seeds) where they are used.
    numpy's scalars count as Python's, as ``GridSearchCV`` grids give them."""
    hints = typing.get_type_hints(type(estimator).__init__)
    for name, value in estimator.get_params(deep=False).items():
        hint = hints.get(name)
        if hint is None or not _plain(hint):
            continue
        if not allows(hint, value, numpy=True):
            raise ConfigError(
                f"The {name!r} parameter of {type(estimator).__name__} must be "
                f"{describe(hint)}. Got {value!r} instead."
            )


def _plain(hint) -> bool:
    """Whether ``hint`` is one of the types :func:`check_params` checks."""
    members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return all(m in (bool, int, float, str, dict, type(None)) for m in members)


def seed_from(random_state) -> int:
    """An int seed from scikit-learn's ``random_state`` (None, int or Generator)."""
    if random_state is None:
        return int(np.random.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    return int(random_state)


@torch.no_grad()
def batched(
    fn: Callable[[torch.Tensor], torch.Tensor],
    X: np.ndarray,
    *,
    device: torch.device,
    batch_size: int = 1024,
    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Apply ``fn`` to ``X`` in batches; return a float32 numpy array."""
    outs = []
    for start in range(0, len(X), batch_size):
        chunk = X[start : start + batch_size]
        if prepare is not None:
            chunk = prepare(chunk)
        xb = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32)).to(device)
        outs.append(fn(xb).float().cpu().numpy())
    return np.concatenate(outs, axis=0)
