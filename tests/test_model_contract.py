"""The model contract, over every registered component combination."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from aekit.model import AutoencoderModule, default_spec
from aekit.registry import ARCHITECTURES, CORRUPTIONS, LATENTS, LIKELIHOODS

# Fields some components need to run on a tiny flat input.
SMALL = {
    "dense": {"hidden": (16, 8)},
    "conv": {"channels": (16,), "spatial_code": True},
    "sequence": {"hidden_size": 32, "horizon": 2},
}
# Summed (nats per window): with a mean over a few bits, a variational code is
# not worth its KL and the optimum is the prior (nothing left to overfit).
LIKELIHOOD_FIELDS = {"sequence": {"reduction": "sum"}}
INPUT_SHAPES = {"dense": (12,), "conv": (1, 3, 4), "sequence": (6, 2)}
# Image corruptions fold the flat (12,) samples into 3x4 images.
CORRUPTION_FIELDS = {"blur": {"image_shape": "3x4"}, "blocks": {"image_shape": "3x4"}}


def _spec(arch, latent, likelihood, corruption=None):
    return {
        **default_spec(),
        "corruption": (
            {"kind": corruption, **CORRUPTION_FIELDS.get(corruption, {})}
            if corruption and arch == "dense"
            else {"kind": corruption}
            if corruption
            else None
        ),
        "architecture": {"kind": arch, **SMALL.get(arch, {})},
        "latent": {"kind": latent, "code_size": 3},
        "likelihood": {"kind": likelihood, **LIKELIHOOD_FIELDS.get(arch, {})},
    }


COMBOS = list(
    itertools.product(ARCHITECTURES.names(), LATENTS.names(), LIKELIHOODS.names())
)


# Every corruption under the dense model (the image ones on flat samples
# folded into 3x4 images), and the image ones under the conv model too.
COMBOS += [("dense", "deterministic", "gaussian", c) for c in CORRUPTIONS.names()]
COMBOS += [("conv", "deterministic", "gaussian", c) for c in CORRUPTION_FIELDS]


@pytest.mark.parametrize(
    "arch,latent,likelihood,corruption",
    [(*c, None) if len(c) == 3 else c for c in COMBOS],
)
def test_contract(arch, latent, likelihood, corruption, tmp_path):
    torch.manual_seed(0)
    shape = INPUT_SHAPES.get(arch, (12,))
    model = AutoencoderModule(_spec(arch, latent, likelihood, corruption), shape)
    # Data every likelihood can reconstruct to a loss near 0: binary values, and
    # for the multinomial one item per row.
    x = (torch.rand(64, *shape) > 0.5).float()
    if arch == "sequence":
        # One random step repeated over time: 64 random 12-bit windows are too
        # much to memorise through a recurrent bottleneck in 100 steps.
        x = x[:, :1].expand_as(x).contiguous()
    if likelihood == "multinomial":
        x = (
            torch.nn.functional.one_hot(torch.arange(64) % 2, math.prod(shape))
            .float()
            .view(64, *shape)
        )

    # Shapes: code and reconstruction.
    model.eval()
    z = model.encode(x)
    assert z.shape == (64, *model.code_shape)
    assert model.decode(z).shape == x.shape
    assert model(x).shape == x.shape
    # encode is deterministic, and ignores any corruption, in either mode.
    assert torch.equal(model.encode(x), z)
    model.train()
    assert torch.equal(model.encode(x), z)
    model.eval()

    # loss: a dict with a finite scalar "loss" and "recon"; gradients everywhere.
    model.train()
    terms = model.loss(x)
    assert {"loss", "recon"} <= set(terms)
    assert terms["loss"].ndim == 0 and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"no gradient reaches {no_grad}"

    # Overfitting 64 samples makes the loss fall.
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model.loss(x)["loss"].item()
    for _ in range(100):
        opt.zero_grad()
        model.loss(x)["loss"].backward()
        opt.step()
    last = model.loss(x)["loss"].item()
    assert last < 0.8 * first, f"loss went {first:.4f} -> {last:.4f}"

    # Rebuilt from its spec with the same weights, it gives identical outputs.
    model.eval()
    twin = AutoencoderModule(model.spec(), shape)
    twin.load_state_dict(model.state_dict(), strict=True)
    twin.eval()
    assert torch.equal(twin(x), model(x))


def test_unknown_component_suggests_the_right_name():
    from aekit.exceptions import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'dense'"):
        AutoencoderModule({"architecture": {"kind": "dens"}}, (4,))
    with pytest.raises(ConfigError, match="no option 'widths'"):
        AutoencoderModule({"architecture": {"kind": "dense", "widths": (3,)}}, (4,))


def test_linear_mse_autoencoder_spans_pca_subspace():
    """A linear autoencoder trained with MSE learns PCA's principal subspace."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA

    X = load_digits().data / 16.0
    X = X - X.mean(0)
    xt = torch.tensor(X, dtype=torch.float32)
    spec = {
        **default_spec(),
        "architecture": {"kind": "dense", "hidden": (), "activation": "identity"},
        "latent": {"kind": "deterministic", "code_size": 4},
    }
    torch.manual_seed(0)
    model = AutoencoderModule(spec, (64,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(1500):
        opt.zero_grad()
        model.loss(xt)["loss"].backward()
        opt.step()
    W = model.architecture.decoder[-2].weight.detach().double().numpy()  # (64, 4)
    Q, _ = torch.linalg.qr(torch.from_numpy(W))
    P = PCA(4).fit(X).components_.T  # (64, 4)
    # Cosines of the principal angles between the two subspaces.
    cosines = torch.linalg.svdvals(Q.T @ torch.from_numpy(P))
    assert cosines.min() > 0.98, f"principal-angle cosines {cosines}"
