"""Shared fixtures: small real data sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

# AEKIT_SHARED_DATA points a checkout outside the project folder at the data.
SHARED_DATA = Path(
    os.environ.get(
        "AEKIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)
MNIST_DIR = SHARED_DATA / "mnist"
ML100K = SHARED_DATA / "ml-100k" / "u.data"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(scope="session")
def digits():
    from aekit.data import load

    return load("digits")


def _mnist(split: str):
    from aekit.data.readers import read_idx

    path = MNIST_DIR / f"{split}-images-idx3-ubyte.gz"
    if not path.exists():
        pytest.skip(f"MNIST not found at {MNIST_DIR} (../shared/data is absent)")
    return read_idx(path)


@pytest.fixture(scope="session")
def mnist_train():
    return _mnist("train")


@pytest.fixture(scope="session")
def mnist_test():
    return _mnist("t10k")
