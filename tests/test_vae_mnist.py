"""A dense VAE on dynamically binarized MNIST (slow: about 2 CPU-minutes)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from aekit import Autoencoder
from aekit.data.binarize import binarize

pytestmark = pytest.mark.slow

CACHE = Path(__file__).resolve().parents[1] / "bench" / "results" / "cache"


@pytest.fixture(scope="module")
def trained(mnist_train):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    X = mnist_train.X.reshape(len(mnist_train.X), -1).astype(np.float32) / 255.0
    t0 = time.process_time()
    vae = Autoencoder(
        code_size=32,
        hidden=(512, 256),
        latent="variational",
        binarize="dynamic",
        epochs=10,
        batch_size=64,
        lr=2e-3,
        validation_fraction=0.0,
        patience=None,
        random_state=0,
        device="cpu",
    ).fit(X)
    cpu = time.process_time() - t0
    yield vae, cpu
    torch.set_num_threads(before)


def test_dense_vae_reaches_under_100_nats(trained, mnist_test):
    vae, cpu = trained
    X = mnist_test.X[:1000].reshape(1000, -1).astype(np.float32) / 255.0
    Xb = binarize(X, random_state=1234)
    ll = vae.log_likelihood(Xb, iw_samples=1000, random_state=0)
    nll, se = -ll.mean(), ll.std() / np.sqrt(len(ll))
    elbo = vae.elbo(Xb)["elbo"]
    print(f"IWAE(1000) NLL {nll:.2f} ± {se:.2f}, ELBO {elbo:.2f}, fit {cpu:.0f} CPU-s")
    assert nll < 100, f"test IWAE NLL {nll:.2f} ± {se:.2f} nats after {cpu:.0f} CPU-s"
    assert nll < -elbo, f"IWAE NLL {nll:.2f} is not below the ELBO's {-elbo:.2f}"


def test_samples_cover_all_ten_digits(trained, mnist_train):
    from aekit.sample_quality import cached_mnist_classifier

    vae, _ = trained
    X = mnist_train.X.reshape(len(mnist_train.X), -1).astype(np.float32) / 255.0
    clf = cached_mnist_classifier(CACHE / "mnist_mlp.safetensors", X, mnist_train.y)
    counts = np.bincount(clf.predict(vae.sample(2000, random_state=0)), minlength=10)
    assert counts.min() >= 20, f"samples per predicted digit: {counts.tolist()}"
