"""Sparse and contractive regularizers: contract, properties, and MNIST results."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from aekit import Autoencoder, ConfigError
from aekit.metrics import psnr
from aekit.model import AutoencoderModule, default_spec
from aekit.registry import REGULARIZERS
from aekit.regularizers import from_options
from aekit.regularizers.contractive import jacobian_frobenius_sq

# A short spec per regularizer that works on the small model below.
SPECS = {
    "l1": "l1:1e-2",
    "kl": "kl:target=0.1,weight=1e-2",
    "topk": "topk:3",
    "contractive": "contractive:1e-2",
}


def _module(reg: str | None, *, hidden=(16,), code=6, activation="sigmoid", n_in=12):
    spec = {
        **default_spec(),
        "architecture": {"kind": "dense", "hidden": hidden},
        "latent": {
            "kind": "deterministic",
            "code_size": code,
            "activation": activation,
        },
        "regularizers": [REGULARIZERS.parse(reg)] if reg else [],
    }
    return AutoencoderModule(spec, (n_in,))


def test_every_regularizer_has_a_spec_here():
    assert set(SPECS) == set(REGULARIZERS.names())


@pytest.mark.parametrize("name", sorted(SPECS))
def test_regularizer_contract(name):
    """Loss dict, stat_* terms left out of the loss, gradients, encode, rebuild."""
    torch.manual_seed(0)
    model = _module(SPECS[name])
    x = torch.rand(32, 12)
    model.train()
    terms = model.loss(x)
    assert torch.isfinite(terms["loss"]) and terms["loss"].ndim == 0
    stats = {k for k in terms if k.startswith("stat_")}
    assert stats, f"{name} logs no measurement"
    penalty = sum(v for k, v in terms.items() if k not in stats | {"loss"})
    assert torch.allclose(terms["loss"], penalty), "stat_* terms leaked into the loss"
    terms["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reaches {missing}"
    model.eval()
    assert torch.equal(model.encode(x), model.encode(x))
    twin = AutoencoderModule(model.spec(), (12,))
    twin.load_state_dict(model.state_dict(), strict=True)
    twin.eval()
    assert torch.equal(twin(x), model(x))
    with torch.no_grad():  # validation runs the penalties under no_grad
        assert torch.isfinite(model.loss(x)["loss"])


def test_topk_keeps_at_most_k_nonzeros_everywhere():
    torch.manual_seed(0)
    model = _module("topk:3", activation=None, code=10)
    x = torch.rand(50, 12)
    model.train()
    _, terms = model.per_sample_terms(x)
    z_train = model.latent.mean(model.architecture.encoder(x))
    z_train = model._transform_code(z_train)
    model.eval()
    z = model.encode(x)
    for codes in (z, z_train):
        nnz = (codes != 0).sum(1)
        assert nnz.max() <= 3, f"up to {nnz.max()} non-zeros"
    # The kept units are the 3 largest activations of each sample.
    raw = model.latent.mean(model.architecture.encoder(x))
    kept = raw.topk(3, dim=1).values
    assert torch.allclose(z.topk(3, dim=1).values, kept)
    assert terms["stat_active_fraction"] <= 3 / 10 + 1e-6
    with pytest.raises(ConfigError, match=r"'k' of the topk regularizer .* \[1, 10\]"):
        _module("topk:11", code=10)


def test_kl_needs_a_code_in_unit_interval():
    model = _module("kl:0.05", activation=None)
    model.train()
    with pytest.raises(
        ConfigError, match="code in \\(0, 1\\).*code_activation='sigmoid'"
    ):
        model.loss(torch.rand(16, 12) * 10)
    with pytest.raises(ConfigError, match="'target' of the kl sparsity .* Got 1.5"):
        _module("kl:1.5")


def test_kl_is_zero_at_the_target_and_positive_elsewhere():
    from aekit.regularizers.sparse import KLSparsity

    reg = KLSparsity(KLSparsity.Config(target=0.2, weight=1.0), code_shape=(4,))
    model = _module(None)
    at_target = torch.full((8, 4), 0.2)
    assert reg(x=None, h=None, z=at_target, model=model)["sparsity"].abs() < 1e-6
    off = torch.full((8, 4), 0.5)
    # KL(0.2 || 0.5) per unit, times 4 units.
    expected = 4 * (0.2 * np.log(0.2 / 0.5) + 0.8 * np.log(0.8 / 0.5))
    got = reg(x=None, h=None, z=off, model=model)["sparsity"].item()
    assert abs(got - expected) < 1e-5, f"{got} vs {expected}"


def test_convenience_options_translate_to_registry_specs():
    assert from_options("kl:0.05", 1e-3) == [
        {"kind": "kl", "target": 0.05},
        {"kind": "contractive", "weight": 1e-3},
    ]
    assert from_options(None, "1e-2,method=hutchinson") == [
        {"kind": "contractive", "weight": 0.01, "method": "hutchinson"}
    ]
    assert from_options(None, "0.5") == [{"kind": "contractive", "weight": 0.5}]
    with pytest.raises(ConfigError, match="sparsity takes one of the sparse"):
        from_options("contractive:1e-3")
    with pytest.raises(ConfigError, match="Did you mean 'topk'"):
        from_options("top_k:5")
    with pytest.raises(ConfigError, match="'method' must be one of"):
        _module("contractive:1e-3,method=magic")


# -- contractive: properties -------------------------------------------------
@pytest.mark.parametrize("method", ["closed_form", "exact", "hutchinson"])
def test_contractive_penalty_is_zero_for_a_constant_encoder(method):
    model = _module(f"contractive:weight=1,method={method}", hidden=())
    with torch.no_grad():
        model.latent.project.weight.zero_()  # the code no longer depends on x
    model.train()
    terms = model.loss(torch.rand(16, 12))
    assert terms["contractive"].abs().max() == 0, terms["contractive"]
    assert terms["stat_jacobian_frobenius_sq"] == 0


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", None])
def test_closed_form_equals_the_exact_jacobian(activation):
    torch.manual_seed(0)
    model = _module(
        "contractive:weight=1,method=closed_form",
        hidden=(),
        code=7,
        activation=activation,
    )
    x = torch.randn(20, 12)
    model.train()
    closed = model.loss(x)["stat_jacobian_frobenius_sq"]
    model.eval()
    exact = jacobian_frobenius_sq(model.encode, x, method="exact").mean()
    assert torch.allclose(closed, exact, rtol=1e-5), f"{closed} vs {exact}"


def test_exact_jacobian_matches_autograd_per_sample():
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(9, 8), nn.Tanh(), nn.Linear(8, 3))
    x = torch.randn(5, 9)
    got = jacobian_frobenius_sq(enc, x, method="exact")
    want = torch.stack(
        [torch.autograd.functional.jacobian(enc, xi).square().sum() for xi in x]
    )
    assert torch.allclose(got, want, rtol=1e-5), f"max diff {(got - want).abs().max()}"


def test_hutchinson_estimate_agrees_with_exact_within_sampling_error():
    torch.manual_seed(0)
    enc = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 6), nn.Sigmoid())
    x = torch.randn(8, 20)
    exact = jacobian_frobenius_sq(enc, x, method="exact")  # (8,)
    torch.manual_seed(1)
    draws = torch.stack(
        [jacobian_frobenius_sq(enc, x, method="hutchinson") for _ in range(400)]
    )  # (400, 8): single-projection estimates
    mean, se = draws.mean(0), draws.std(0) / 400**0.5
    z = ((mean - exact) / se).abs()
    assert z.max() < 4, f"estimate off by {z.max():.2f} standard errors"
    # More projections: the same expectation, a smaller spread.
    many = torch.stack(
        [
            jacobian_frobenius_sq(enc, x, method="hutchinson", n_projections=16)
            for _ in range(100)
        ]
    )
    assert (many.std(0) < draws.std(0) / 2).all()


def test_contractive_method_choice_and_errors():
    from aekit.regularizers.contractive import Contractive

    reg = Contractive(Contractive.Config(), code_shape=(6,))
    assert reg.resolve_method(_module(None, hidden=())) == "closed_form"
    assert reg.resolve_method(_module(None, hidden=(16,))) == "exact"
    big = Contractive(Contractive.Config(exact_limit=10), code_shape=(6,))
    assert big.resolve_method(_module(None, hidden=(16,))) == "hutchinson"
    with pytest.raises(ConfigError, match="'closed_form' method needs a single-layer"):
        _module("contractive:method=closed_form", hidden=(16,)).loss(torch.rand(4, 12))


# -- estimator and MNIST -----------------------------------------------------
def test_overcomplete_warning_only_without_a_regularizer(mnist_train):
    X = mnist_train.X[:64]
    assert X.shape[1:] == (1, 28, 28)
    with pytest.warns(
        UserWarning, match="1024 values are not fewer than the 784 input"
    ):
        Autoencoder(code_size=1024, hidden=(), epochs=1, random_state=0).fit(X)
    for kw in (
        {"sparsity": "topk:20"},
        {"contractive": 1e-3},
        {"noise": "masking:0.2"},
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            Autoencoder(code_size=1024, hidden=(), epochs=1, random_state=0, **kw).fit(
                X
            )


def test_kl_sparsity_reaches_its_target_on_mnist(mnist_train, mnist_test, tmp_path):
    rho = 0.05
    ae = Autoencoder(
        code_size=64,
        hidden=(256,),
        sparsity=f"kl:target={rho},weight=0.03",
        lr=3e-3,
        batch_size=64,
        epochs=8,
        random_state=0,
    ).fit(mnist_train.X[:4000])
    # The estimator made the code a sigmoid, as KL needs.
    assert ae.module_.spec()["latent"]["activation"] == "sigmoid"
    codes = ae.transform(mnist_test.X[:1000])
    measured = float(codes.mean())
    assert 0.5 * rho <= measured <= 1.5 * rho, f"mean activation {measured:.4f}"
    # history_ logs both measurements per epoch; summary.json the final ones.
    last = ae.history_[-1]
    assert {"val_stat_mean_activation", "val_stat_active_fraction"} <= set(last)
    stats = ae.code_statistics_
    assert 0.5 * rho <= stats["mean_activation"] <= 1.5 * rho, stats
    assert 0 < stats["active_fraction"] < 0.5, stats
    import json

    import aekit

    run = ae.save(tmp_path / "run")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["code_statistics"] == pytest.approx(stats)
    assert aekit.load(run).code_statistics_ == pytest.approx(stats)


def _jacobian_norm(ae, X) -> float:
    xs = torch.from_numpy(ae.scaler_.transform(X))
    with torch.no_grad():
        jf2 = jacobian_frobenius_sq(ae.module_.encode, xs, method="exact")
    return float(jf2.sqrt().mean())


def test_contractive_code_is_flatter_on_mnist(mnist_train, mnist_test):
    """Rifai et al.'s claim, measured: smaller Jacobian, codes that move less."""
    X, Xt = mnist_train.X[:3000], mnist_test.X[:1000]
    common = dict(
        code_size=64,
        hidden=(),
        code_activation="sigmoid",
        lr=1e-2,
        lr_schedule="constant",
        batch_size=64,
        epochs=30,
        random_state=0,
    )
    plain = Autoencoder(**common).fit(X)
    cae = Autoencoder(contractive=1e-3, **common).fit(X)
    assert cae.module_.regularizers[0].resolve_method(cae.module_) == "closed_form"
    j_plain, j_cae = _jacobian_norm(plain, Xt), _jacobian_norm(cae, Xt)
    assert j_cae * 2 <= j_plain, f"Jacobian norm {j_cae:.3f} vs plain {j_plain:.3f}"
    # Small input perturbations (sigma = 0.05 of the pixel range) move codes less.
    rng = np.random.default_rng(0)
    Xp = Xt + 0.05 * 255 * rng.standard_normal(Xt.shape)

    def moved(ae):
        return np.linalg.norm(ae.transform(Xp) - ae.transform(Xt), axis=1).mean()

    m_plain, m_cae = moved(plain), moved(cae)
    assert m_cae * 2 <= m_plain, f"codes moved {m_cae:.4f} vs plain {m_plain:.4f}"
    # ... and it still reconstructs unseen digits nearly as well.
    p_plain = psnr(Xt / 255, plain.reconstruct(Xt) / 255)
    p_cae = psnr(Xt / 255, cae.reconstruct(Xt) / 255)
    assert p_cae > p_plain - 1.5, f"PSNR {p_cae:.2f} dB vs plain {p_plain:.2f} dB"
    assert "val_stat_jacobian_frobenius_sq" in cae.history_[-1]


@pytest.mark.slow
def test_deep_contractive_with_exact_and_random_projections(mnist_train, mnist_test):
    """Three encoder layers: both Jacobian methods flatten the code >= 2x."""
    X, Xt = mnist_train.X[:5000], mnist_test.X[:500]
    common = dict(
        code_size=16,
        hidden=(128, 64),
        lr=3e-3,
        batch_size=64,
        epochs=10,
        random_state=0,
    )
    j_plain = _jacobian_norm(Autoencoder(**common).fit(X), Xt)
    for method in ("exact", "hutchinson"):
        cae = Autoencoder(contractive=f"1e-2,method={method}", **common).fit(X)
        j = _jacobian_norm(cae, Xt)
        assert j * 2 <= j_plain, f"{method}: {j:.3f} vs plain {j_plain:.3f}"


@pytest.mark.slow
def test_overcomplete_sparse_code_reconstructs_and_helps_a_linear_probe(
    mnist_train, mnist_test
):
    from sklearn.linear_model import LogisticRegression

    X = mnist_train.X[:20000]
    Xl, yl = mnist_train.X[:1000], mnist_train.y[:1000]
    Xt, yt = mnist_test.X[:2000], mnist_test.y[:2000]
    ae = Autoencoder(
        code_size=1024,
        hidden=(),
        code_activation="relu",
        sparsity="topk:25",
        lr=3e-3,
        batch_size=64,
        epochs=15,
        random_state=0,
    ).fit(X)
    codes = ae.transform(Xt)
    assert ((codes != 0).sum(1) <= 25).all()
    assert psnr(Xt / 255, ae.reconstruct(Xt) / 255) > 18

    def probe(f):
        clf = LogisticRegression(max_iter=3000).fit(f(Xl), yl)
        return clf.score(f(Xt), yt)

    acc_raw = probe(lambda A: A.reshape(len(A), -1) / 255.0)
    acc_code = probe(ae.transform)
    assert acc_code >= acc_raw, f"probe on codes {acc_code:.4f} vs pixels {acc_raw:.4f}"
