"""Corruptions for denoising: properties of each, and where they apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aekit import ConfigError
from aekit.corruption import corrupt
from aekit.model import AutoencoderModule, default_spec
from aekit.registry import CORRUPTIONS

# The setting of each corruption that must leave the input as it is.
ZERO = {
    "gaussian": {"sigma": 0.0},
    "masking": {"fraction": 0.0},
    "salt_pepper": {"fraction": 0.0},
    "blur": {"sigma": 0.0},
    "blocks": {"n_blocks": 0},
}
# A setting that must change it.
SOME = {
    "gaussian": {"sigma": 0.3},
    "masking": {"fraction": 0.3},
    "salt_pepper": {"fraction": 0.3},
    "blur": {"sigma": 1.5},
    "blocks": {"n_blocks": 2},
}


def _images(n=6, c=1, h=12, w=10, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def _build(kind, fields):
    cls, cfg = CORRUPTIONS.config({"kind": kind, **fields})
    return cls(cfg)


def test_every_corruption_is_covered_here():
    assert set(ZERO) == set(SOME) == set(CORRUPTIONS.names())


@pytest.mark.parametrize("kind", sorted(ZERO))
def test_zero_noise_equals_no_corruption(kind):
    x = _images()
    assert torch.equal(_build(kind, ZERO[kind])(x), x)


@pytest.mark.parametrize("kind", sorted(SOME))
def test_corruption_is_drawn_afresh_and_keeps_shape(kind):
    x = _images(c=3)
    c = _build(kind, SOME[kind])
    a, b = c(x), c(x)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert not torch.equal(a, x), f"{kind} left the input unchanged"
    if kind != "blur":  # a fixed blur is deterministic by design
        assert not torch.equal(a, b), f"{kind} drew the same corruption twice"


@pytest.mark.parametrize("kind", sorted(SOME))
def test_corruption_applies_in_training_only(kind):
    spec = {
        **default_spec(),
        "architecture": {"kind": "dense", "hidden": (8,)},
        "latent": {"kind": "deterministic", "code_size": 3},
        "corruption": {"kind": kind, **SOME[kind]},
    }
    model = AutoencoderModule(spec, (1, 12, 10))
    x = _images()
    model.eval()
    with torch.no_grad():
        # Evaluation: the same loss every time, equal to the clean model's.
        assert torch.equal(model.loss(x)["loss"], model.loss(x)["loss"])
        clean = AutoencoderModule({**spec, "corruption": None}, (1, 12, 10))
        clean.load_state_dict(model.state_dict())
        clean.eval()
        assert torch.equal(model.loss(x)["loss"], clean.loss(x)["loss"])
        model.train()
        assert not torch.equal(model.loss(x)["recon"], clean.loss(x)["recon"])


def test_salt_pepper_hits_the_asked_fraction():
    x = torch.full((200, 500), 0.5)
    y = _build("salt_pepper", {"fraction": 0.2, "salt": 0.25})(x)
    hit = y != 0.5
    assert abs(hit.float().mean().item() - 0.2) < 0.005
    assert set(y[hit].unique().tolist()) == {0.0, 1.0}
    assert abs((y[hit] == 1).float().mean().item() - 0.25) < 0.01


def test_blur_matches_scipy_and_keeps_the_mean():
    from scipy.ndimage import gaussian_filter

    x = _images(n=2, c=3, h=20, w=16)
    y = _build("blur", {"sigma": 1.5})(x)
    # scipy's 'mirror' mode is torch's 'reflect' padding; truncate at 3 sigma.
    want = gaussian_filter(
        x.numpy(), sigma=(0, 0, 1.5, 1.5), mode="mirror", truncate=3.0
    )
    assert np.allclose(y.numpy(), want, atol=1e-5), np.abs(y.numpy() - want).max()
    # A blurred point keeps its mass (away from the borders).
    point = torch.zeros(1, 1, 21, 21)
    point[0, 0, 10, 10] = 1
    assert abs(_build("blur", {"sigma": 2.0})(point).sum().item() - 1) < 1e-5
    # Per-sample sigmas: a range of blurs in one batch.
    varied = _build("blur", {"sigma": 3.0, "sigma_min": 0.0})(point.repeat(8, 1, 1, 1))
    peaks = varied.flatten(1).max(1).values
    assert peaks.max() - peaks.min() > 0.05


def test_blocks_cut_rectangles_of_the_asked_size():
    x = torch.ones(4000, 2, 20, 30)
    y = _build("blocks", {"n_blocks": 1, "min_size": 0.2, "max_size": 0.4})(x)
    assert torch.equal(y[:, 0] == 0, y[:, 1] == 0), "channels cut differently"
    hole = y[:, 0] == 0  # (B, H, W)
    rows, cols = hole.any(2).sum(1), hole.any(1).sum(1)
    assert rows.min() >= 4 and rows.max() <= 8, (rows.min(), rows.max())
    assert cols.min() >= 6 and cols.max() <= 12, (cols.min(), cols.max())
    # One rectangle: its area is rows x cols.
    assert torch.equal(hole.sum((1, 2)), rows * cols)
    # Positions cover the whole image (corners too: p ~ 1/315 a sample each).
    assert hole.any(0).all()


@pytest.mark.parametrize("kind", ["blur", "blocks"])
def test_image_corruptions_need_an_image_shape(kind):
    flat = torch.rand(4, 120)
    with pytest.raises(
        ConfigError,
        match=f"'{kind}' corruption works on images.*'{kind}:image_shape=28x28'",
    ):
        _build(kind, SOME[kind])(flat)
    with pytest.raises(ConfigError, match="works on images, but the samples have"):
        AutoencoderModule({**default_spec(), "corruption": {"kind": kind}}, (120,))
    # Folded with image_shape, flat samples work, and equal the image result.
    folded = _build(kind, {**SOME[kind], "image_shape": "10x12"})
    torch.manual_seed(0)
    a = folded(flat)
    torch.manual_seed(0)
    b = _build(kind, SOME[kind])(flat.view(4, 1, 10, 12)).view(4, 120)
    assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="has 100 values, but the samples have 120"):
        _build(kind, {"image_shape": "10x10"})(flat)
    with pytest.raises(ConfigError, match="image_shape is HxW or CxHxW"):
        _build(kind, {"image_shape": "ten"})


def test_corrupt_is_seeded_and_leaves_the_global_generator_alone():
    x = np.random.default_rng(0).random((5, 1, 8, 8)).astype(np.float32)
    state = torch.get_rng_state()
    a = corrupt(x, "gaussian:0.3", random_state=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert np.array_equal(a, corrupt(x, "gaussian:0.3", random_state=3))
    assert not np.array_equal(a, corrupt(x, "gaussian:0.3", random_state=4))
    assert abs(float((a - x).std()) - 0.3) < 0.03
    with pytest.raises(ConfigError, match="works on images"):
        corrupt(x.reshape(5, -1), "blocks:1")
