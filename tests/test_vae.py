"""Variational autoencoders: bounds, sampling, warm-up, binarization, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from aekit import Autoencoder, ConfigError, DataError
from aekit.bounds import elbo_terms, iwae_from_log_weights, log_mean_exp, log_weights
from aekit.data.binarize import DynamicBinarization, binarize
from aekit.latents.variational import DiagonalGaussian
from aekit.losses import Bernoulli, Gaussian
from aekit.model import AutoencoderModule, default_spec
from aekit.sample_quality import frechet_distance
from aekit.training.callbacks import KLWarmup
from aekit.training.trainer import TensorSource, Trainer, TrainerConfig


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # Small models: a second thread only adds synchronisation (and on a shared
    # machine spins); one thread is several times cheaper in CPU time.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits01():
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype(np.float32)


@pytest.fixture(scope="module")
def vae(digits01):
    torch.manual_seed(0)
    return Autoencoder(
        code_size=2,
        hidden=(64,),
        latent="variational",
        binarize="dynamic",
        kl_warmup=2,
        epochs=15,
        random_state=0,
        device="cpu",
    ).fit(digits01)


@pytest.fixture(scope="module")
def digits_bin(digits01):
    return binarize(digits01, random_state=1)


def _vae_module(seed=0, likelihood=None, code=3):
    torch.manual_seed(seed)
    spec = {
        **default_spec(),
        "architecture": {"kind": "dense", "hidden": (32,)},
        "latent": {"kind": "variational", "code_size": code},
        "likelihood": likelihood or {"kind": "bernoulli", "reduction": "sum"},
    }
    return AutoencoderModule(spec, (64,)).eval()


# -- distributions and likelihoods --------------------------------------------
def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    q = DiagonalGaussian(torch.zeros(4, 5), torch.zeros(4, 5))
    assert torch.allclose(q.kl(), torch.zeros(4)), f"KL {q.kl()}"
    q = DiagonalGaussian(torch.randn(100, 5), torch.randn(100, 5))
    assert (q.kl() > 0).all(), f"min KL {q.kl().min()}"


def test_analytic_kl_matches_monte_carlo():
    """KL = E_q[log q(z) - log p(z)]: ties kl(), log_prob() and the prior."""
    from aekit.latents.variational import standard_normal_log_prob

    torch.manual_seed(0)
    q = DiagonalGaussian(torch.randn(3, 4), 0.5 * torch.randn(3, 4))
    z = q.rsample(200_000)  # (n, 3, 4)
    mc = (q.log_prob(z) - standard_normal_log_prob(z, 1)).mean(0)
    assert torch.allclose(mc, q.kl(), atol=0.03), f"MC {mc} vs exact {q.kl()}"


def test_gaussian_likelihoods_are_normal_log_densities():
    torch.manual_seed(0)
    mu, x = torch.randn(5, 7), torch.randn(5, 7)
    fixed = Gaussian(Gaussian.Config(variance=0.3))
    ref = -torch.distributions.Normal(mu, math.sqrt(0.3)).log_prob(x)
    assert torch.allclose(fixed.nll(mu, x), ref, atol=1e-5)

    learned = Gaussian(Gaussian.Config(variance="learned", min_variance=1e-4))
    assert learned.n_params == 2
    out = torch.stack([mu, torch.randn(5, 7)], dim=1)  # (B, 2, D)
    var = learned.variance(out)
    assert (var >= 1e-4).all()
    ref = -torch.distributions.Normal(mu, var.sqrt()).log_prob(x)
    assert torch.allclose(learned.nll(out, x), ref, atol=1e-4)
    assert torch.equal(learned.mean(out), mu)
    with pytest.raises(ConfigError, match="variance"):
        Gaussian(Gaussian.Config(variance=-1.0))


def test_learned_variance_model_trains_and_decodes_to_data_shape():
    model = _vae_module(likelihood={"kind": "gaussian", "variance": "learned"})
    x = torch.randn(32, 64)
    model.train()
    terms = model.loss(x)
    terms["loss"].backward()
    assert torch.isfinite(terms["loss"])
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    assert model(x).shape == x.shape


def test_bernoulli_is_stable_at_extreme_logits():
    lik = Bernoulli(Bernoulli.Config(reduction="sum"))
    out = torch.tensor([[-200.0, 200.0, 0.0]])
    nll = lik.nll(out, torch.tensor([[0.0, 1.0, 1.0]]))
    assert torch.isfinite(nll).all()
    assert torch.allclose(nll, torch.tensor([[0.0, 0.0, math.log(2)]]), atol=1e-6)


# -- bounds ---------------------------------------------------------------------
def test_log_mean_exp_is_stable():
    a = torch.tensor([[1000.0], [1000.0]])
    assert torch.allclose(log_mean_exp(a, 0), torch.tensor([1000.0]))
    b = torch.randn(6, 3)
    assert torch.allclose(log_mean_exp(b, 0), b.exp().mean(0).log(), atol=1e-6)


def test_iwae_with_one_sample_equals_the_elbo_estimate(digits_bin):
    model = _vae_module()
    x = torch.from_numpy(digits_bin[:8])
    torch.manual_seed(1)
    log_w = log_weights(model, x, 1)
    # k = 1: the bound is the single log weight, an unbiased ELBO estimate ...
    assert torch.equal(iwae_from_log_weights(log_w), log_w[0])
    # ... whose mean over many draws is the ELBO with the exact KL.
    torch.manual_seed(2)
    draws = log_weights(model, x, 20_000)  # (k, B), each row a k=1 bound
    mc, se = draws.mean(0), draws.std(0) / math.sqrt(draws.shape[0])
    torch.manual_seed(3)
    exact = elbo_terms(model, x, n_samples=20_000)["elbo"]
    gap = (mc - exact).abs()
    assert (gap < 5 * se + 0.05).all(), f"gap {gap} vs standard error {se}"


def test_iwae_bound_does_not_decrease_with_k(vae, digits_bin):
    x = digits_bin[:200]
    means = {
        k: vae.log_likelihood(x, iw_samples=k, random_state=k).mean()
        for k in (1, 10, 100)
    }
    assert means[1] < means[10] < means[100], f"bounds by k: {means}"
    # The tightest bound also lies above the ELBO (exact KL, 10 draws).
    assert means[100] > vae.elbo(x, n_samples=10)["elbo"], means


def test_log_likelihood_is_reproducible_and_batch_independent(vae, digits_bin):
    x = digits_bin[:50]
    a = vae.log_likelihood(x, iw_samples=20, random_state=5)
    b = vae.log_likelihood(x, iw_samples=20, random_state=5)
    assert np.array_equal(a, b)
    c = vae.log_likelihood(x, iw_samples=20, random_state=6)
    assert not np.array_equal(a, c)
    # Different batch sizes draw differently but estimate the same quantity.
    d = vae.log_likelihood(x, iw_samples=200, random_state=0, batch_size=7)
    e = vae.log_likelihood(x, iw_samples=200, random_state=0, batch_size=50)
    assert abs(d.mean() - e.mean()) < 0.5, (d.mean(), e.mean())


# -- the estimator ------------------------------------------------------------
def test_vae_likelihood_is_summed_in_nats_unless_overridden(vae, digits01):
    lik = vae.module_.spec()["likelihood"]
    assert lik["kind"] == "bernoulli" and lik["reduction"] == "sum", lik
    other = Autoencoder(
        code_size=2,
        hidden=(8,),
        latent="variational",
        loss="bernoulli:reduction=mean",
        epochs=1,
        random_state=0,
    ).fit(digits01[:100])
    assert other.module_.spec()["likelihood"]["reduction"] == "mean"
    mse = Autoencoder(
        code_size=2, hidden=(8,), latent="variational", loss="mse", epochs=1
    ).fit(digits01[:100])
    assert mse.module_.spec()["likelihood"]["variance"] == 1.0
    # A deterministic autoencoder keeps the familiar per-element mean.
    ae = Autoencoder(code_size=2, hidden=(8,), epochs=1).fit(digits01[:100])
    assert ae.module_.spec()["likelihood"].get("reduction", "mean") == "mean"


def test_validation_loss_is_the_negative_elbo(vae):
    """Warm-up weights training only: val loss = recon + exact KL (nats)."""
    first, last = vae.history_[0], vae.history_[-1]
    assert first["train_kl"] < first["train_stat_kl"]  # epoch 1: in the warm-up
    for row in (first, last):
        assert math.isclose(row["val_kl"], row["val_stat_kl"], rel_tol=1e-6), row
        assert math.isclose(
            row["val_loss"], row["val_recon"] + row["val_kl"], rel_tol=1e-6
        ), row
    # About 64 binary pixels: the loss is in nats per sample, not per pixel.
    assert 5 < last["val_loss"] < 64 * math.log(2), last


def test_transform_is_the_posterior_mean_and_sampling_is_seeded(vae, digits01):
    X = digits01[:20]
    mean, var = vae.posterior(X)
    assert np.array_equal(vae.transform(X), mean)
    assert np.array_equal(vae.transform(X), vae.transform(X))
    assert (var > 0).all() and var.shape == mean.shape == (20, 2)
    s1 = vae.transform(X, sample=True, random_state=3)
    s2 = vae.transform(X, sample=True, random_state=3)
    assert np.array_equal(s1, s2) and not np.allclose(s1, mean)
    many = vae.sample_posterior(X, 4000, random_state=0)  # (20, 4000, 2)
    assert np.allclose(many.mean(1), mean, atol=4 * np.sqrt(var.max() / 4000) + 1e-3)
    assert np.allclose(many.var(1), var, rtol=0.15)


def test_same_seed_same_samples(vae):
    a = vae.sample(16, random_state=7)
    assert a.shape == (16, 64)
    assert np.array_equal(a, vae.sample(16, random_state=7))
    assert not np.allclose(a, vae.sample(16, random_state=8))
    d = vae.sample(16, random_state=7, draw=True)
    assert np.array_equal(d, vae.sample(16, random_state=7, draw=True))
    assert set(np.unique(d)) <= {0.0, 1.0}


def test_interpolation_and_latent_grid(vae, digits01):
    path = vae.interpolate(digits01[0], digits01[1], 7)
    assert path.shape == (7, 64)
    ends = vae.inverse_transform(vae.transform(digits01[:2]))
    assert np.allclose(path[[0, -1]], ends, atol=1e-5)
    slerp = vae.interpolate(digits01[0], digits01[1], 7, spherical=True)
    assert np.allclose(slerp[[0, -1]], ends, atol=1e-4)
    grid = vae.latent_grid(5)
    assert grid.shape == (25, 64)
    assert not np.allclose(grid[0], grid[-1])


def test_non_variational_models_say_what_to_do(digits01):
    ae = Autoencoder(code_size=2, hidden=(8,), epochs=1).fit(digits01[:100])
    for call in (
        lambda: ae.sample(3),
        lambda: ae.log_likelihood(digits01[:5]),
        lambda: ae.transform(digits01[:5], sample=True),
    ):
        with pytest.raises(ConfigError, match="latent='variational'"):
            call()
    sq = Autoencoder(
        code_size=3, hidden=(8,), latent="variational", loss="gaussian", epochs=1
    ).fit(digits01[:100])
    with pytest.raises(ConfigError, match="not a density"):
        sq.log_likelihood(digits01[:5])
    with pytest.raises(ConfigError, match="2-D latent"):
        sq.latent_grid(4)


def test_save_and_load_keep_samples_and_codes(vae, digits01, tmp_path):
    import aekit

    vae.save(tmp_path / "run")
    twin = aekit.load(tmp_path / "run")
    assert np.array_equal(twin.transform(digits01[:10]), vae.transform(digits01[:10]))
    assert np.array_equal(twin.sample(5, random_state=1), vae.sample(5, random_state=1))


# -- warm-up and binarization ---------------------------------------------------
def _iw_module(k, seed=0, **latent):
    torch.manual_seed(seed)
    spec = {
        **_vae_module().spec(),
        "latent": {"kind": "variational", "code_size": 3, "iw_samples": k, **latent},
    }
    return AutoencoderModule(spec, (64,)).eval()


def test_importance_weighted_training_loss_is_the_iwae_bound(digits_bin):
    x = torch.from_numpy(digits_bin[:16])
    model = _iw_module(5)
    torch.manual_seed(7)
    loss = model.per_sample_terms(x)[0]  # (B,)
    torch.manual_seed(7)  # the same draws: encoder once, then (k, B, code)
    bound = iwae_from_log_weights(log_weights(model, x, 5))
    assert torch.allclose(-loss, bound, atol=1e-4), (loss, bound)
    # The loss is differentiable through the k samples.
    model.train().loss(x)["loss"].backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_warmup_scales_the_prior_ratio_inside_the_bound(digits_bin):
    x = torch.from_numpy(digits_bin[:16])
    model = _iw_module(4).train()
    model.latent.kl_weight = 0.0  # start of the warm-up: only log p(x|z) counts
    torch.manual_seed(3)
    loss = model.per_sample_terms(x)[0]
    torch.manual_seed(3)
    q = model.latent.posterior(model.architecture.encoder(x))
    z = q.rsample(4)
    out = model.architecture.decoder(z.flatten(0, 1))
    log_px = -model.likelihood.nll(out, x.repeat(4, 1)).sum(1).view(4, -1)
    assert torch.allclose(-loss, log_mean_exp(log_px, 0), atol=1e-4)


def test_importance_weighted_training_beats_the_elbo_on_the_bound(digits_bin):
    """k = 5 training gives a better test bound than the ELBO (k = 1) at the
    same epochs: the point of Burda et al. 2015."""
    train, test = digits_bin[:1400], digits_bin[1400:]
    scores = {}
    for k in (1, 5):
        ae = Autoencoder(
            code_size=8,
            hidden=(64,),
            latent=f"variational:iw_samples={k}",
            epochs=40,
            batch_size=64,
            validation_fraction=0.0,
            patience=None,
            random_state=0,
            device="cpu",
        ).fit(train)
        scores[k] = ae.log_likelihood(test, iw_samples=100, random_state=0).mean()
    assert scores[5] > scores[1] + 0.1, scores


def test_importance_weighted_options_that_do_not_compose_say_so():
    with pytest.raises(ConfigError, match="free_bits"):
        _iw_module(5, free_bits=0.5)
    with pytest.raises(ConfigError, match="iw_samples must be an int >= 1"):
        _iw_module(0)
    with pytest.raises(ConfigError, match="regularizers"):
        AutoencoderModule(
            {**_iw_module(3).spec(), "regularizers": [{"kind": "l1", "weight": 0.1}]},
            (64,),
        )


def test_kl_warmup_ramps_per_step_and_free_bits_floor_the_kl(digits_bin):
    model = _vae_module()
    seen = []

    class Spy:
        def on_epoch_start(self, model, epoch, n_epochs):
            pass

        def on_step_start(self, model, step, steps_per_epoch):
            seen.append(model.latent.kl_weight)

    cfg = TrainerConfig(epochs=3, batch_size=600, patience=None, device="cpu")
    Trainer(cfg, callbacks=[KLWarmup(2), Spy()]).fit(model, digits_bin)
    # 1797 samples / 600 = 3 steps per epoch; 2 epochs of ramp = 6 steps.
    expected = [min(1.0, (s + 1) / 6) for s in range(9)]
    assert np.allclose(seen, expected), seen

    with pytest.raises(ConfigError, match="no KL term"):
        KLWarmup(1).on_epoch_start(torch.nn.Linear(2, 2), 0, 1)

    fb = AutoencoderModule(
        {
            **_vae_module().spec(),
            "latent": {"kind": "variational", "code_size": 3, "free_bits": 2.0},
        },
        (64,),
    ).train()
    terms = fb.loss(torch.from_numpy(digits_bin[:64]))
    assert terms["kl"] >= 3 * 2.0 - 1e-5, terms


@pytest.mark.parametrize("patience", [None, 1])
def test_without_validation_the_best_epoch_is_chosen_after_the_warm_up(
    digits_bin, patience
):
    """A training loss with the KL term weighed down is lower than the
    objective's; picking the best weights by it restored a warm-up epoch (an
    IWAE trained for 200 epochs on MNIST scored 102 nats; fixed, 86 after 105),
    and with patience it stopped training inside the warm-up."""
    ae = Autoencoder(
        code_size=8,
        hidden=(64,),
        latent="variational:iw_samples=5",
        kl_warmup=4,
        epochs=8,
        batch_size=32,
        lr=1e-2,  # fast enough to converge inside the warm-up
        validation_fraction=0.0,
        patience=patience,
        random_state=0,
        device="cpu",
    ).fit(digits_bin)
    losses = [row["train_loss"] for row in ae.history_]
    assert len(losses) == 8, losses
    settled = losses[4:]  # epochs 5-8 ran at the full weight
    assert min(losses[:4]) < min(settled), losses  # the trap is real here
    assert ae.best_epoch_ == 5 + int(np.argmin(settled)), (ae.best_epoch_, losses)


class _WeightedKL(torch.nn.Module):
    """A model whose loss is lowest while the KL weight is small: a slowly
    learnt term plus ``kl_weight`` times a constant KL of 10."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))
        self.kl_weight = 1.0

    def loss(self, x):
        recon = (self.p - 3.0) ** 2 + 0 * x.sum()
        kl = torch.tensor(10.0)
        return {"loss": recon + self.kl_weight * kl, "recon": recon, "kl": kl}


def test_warm_up_epochs_neither_stop_training_nor_count_as_best(digits_bin):
    model = _WeightedKL()
    warm = KLWarmup(3)
    # 1797 rows in batches of 256: 8 steps per epoch (the last one of 5 rows);
    # the ramp reaches 1 at the 24th step, the last of epoch 3; epoch 4 is the
    # first to run wholly at weight 1.
    cfg = TrainerConfig(epochs=6, batch_size=256, patience=1, device="cpu")
    trainer = Trainer(cfg, callbacks=[warm])
    trainer.fit(model, digits_bin)
    assert [warm.settled(e, 8) for e in range(6)] == [False] * 3 + [True] * 3
    losses = [row["train_loss"] for row in trainer.history]
    assert len(losses) == 6, losses  # patience 1 did not stop it in the warm-up
    assert min(losses[:3]) < min(losses[3:]), losses  # the trap is real here
    assert trainer.best_epoch == 6, (trainer.best_epoch, losses)


# -- the VampPrior ----------------------------------------------------------------
def test_mixture_log_prob_is_the_log_mean_of_its_component_densities():
    from aekit.latents.variational import mixture_log_prob

    torch.manual_seed(0)
    # Spatial codes (K, C, H, W) too; narrow components (variance e^-8) are
    # where the two-matmul form would lose digits in float32.
    comp = DiagonalGaussian(torch.randn(7, 3, 2, 2), torch.rand(7, 3, 2, 2) * 9 - 8)
    z = comp.mean[torch.tensor([0, 3, 5])] + 0.05 * torch.randn(4, 3, 3, 2, 2)
    flat = z.reshape(12, 3, 2, 2)
    direct = torch.stack(  # (K, 12): log N(z; m_k, v_k), component by component
        [
            DiagonalGaussian(comp.mean[k : k + 1], comp.logvar[k : k + 1]).log_prob(
                flat
            )
            for k in range(7)
        ]
    )
    expected = (torch.logsumexp(direct.double(), 0) - math.log(7)).view(4, 3)
    got = mixture_log_prob(z, comp)
    assert got.shape == (4, 3)
    assert torch.allclose(got.double(), expected, atol=1e-3), (got, expected)
    one = DiagonalGaussian(comp.mean[:1], comp.logvar[:1])  # K = 1: one Gaussian
    assert torch.allclose(mixture_log_prob(z, one), one.log_prob(z), atol=1e-3)


def _vamp_module(k=1, seed=0, pseudo=6):
    torch.manual_seed(seed)
    latent = {"kind": "variational", "code_size": 3, "iw_samples": k}
    latent |= {"prior": "vamp", "pseudo_inputs": pseudo}
    return AutoencoderModule({**_vae_module().spec(), "latent": latent}, (64,)).eval()


def test_vamp_prior_is_the_mixture_of_the_pseudo_inputs_posteriors(digits_bin):
    model = _vamp_module()
    u = model.latent.pseudo_inputs
    assert u.shape == (6, 64) and any(p is u for p in model.parameters())
    comp = model.latent.posterior(model.architecture.encoder(u))
    z = torch.randn(5, 3)
    by_hand = torch.logsumexp(comp.log_prob(z.unsqueeze(1)), 1) - math.log(6)  # (5,)
    assert torch.allclose(model.latent.prior_log_prob(z), by_hand, atol=1e-4)
    # The encoder is the architecture's, not a copy: its weights are saved once.
    assert not any(k.startswith("latent._encoder") for k in model.state_dict())
    # Draws come from the mixture: each lies near one component's mean.
    draws = model.latent.sample_prior(2000, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (2000, 3)
    d = (draws[:, None, :] - comp.mean.detach()[None]).square() / comp.var.detach()
    assert (d.sum(-1).min(1).values < 30).float().mean() > 0.99  # chi2(3) < 30


def test_vamp_bound_with_one_sample_equals_its_elbo_and_trains_the_pseudo_inputs(
    digits_bin,
):
    model = _vamp_module()
    x = torch.from_numpy(digits_bin[:8])
    torch.manual_seed(2)
    draws = log_weights(model, x, 20_000)  # each row a k = 1 bound
    mc, se = draws.mean(0), draws.std(0) / math.sqrt(draws.shape[0])
    torch.manual_seed(3)
    elbo = elbo_terms(model, x, n_samples=20_000)
    gap = (mc - elbo["elbo"]).abs()
    assert (gap < 5 * se + 0.05).all(), f"gap {gap} vs standard error {se}"
    assert (elbo["kl"] > 0).all()  # a KL, estimated from 20,000 draws
    for k in (1, 4):  # the ELBO and the importance-weighted bound
        model = _vamp_module(k).train()
        model.loss(x)["loss"].backward()
        g = model.latent.pseudo_inputs.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_vamp_model_fits_saves_and_samples(digits_bin, tmp_path):
    import aekit

    ae = Autoencoder(
        code_size=4,
        hidden=(32,),
        latent="variational:iw_samples=2,prior=vamp,pseudo_inputs=20",
        epochs=3,
        random_state=0,
        device="cpu",
    ).fit(digits_bin[:600])
    ae.save(tmp_path / "run")
    twin = aekit.load(tmp_path / "run")
    assert torch.equal(
        twin.module_.latent.pseudo_inputs, ae.module_.latent.pseudo_inputs
    )
    x = digits_bin[600:650]
    a = ae.log_likelihood(x, iw_samples=10, random_state=0)
    assert np.array_equal(a, twin.log_likelihood(x, iw_samples=10, random_state=0))
    assert np.array_equal(ae.sample(6, random_state=1), twin.sample(6, random_state=1))
    assert not np.allclose(ae.sample(6, random_state=1), ae.sample(6, random_state=2))


def test_vamp_options_that_do_not_compose_say_so():
    with pytest.raises(ConfigError, match="free_bits"):
        _iw_module(1, prior="vamp", free_bits=0.5)
    with pytest.raises(ConfigError, match="prior must be 'normal' or 'vamp'"):
        _iw_module(1, prior="vampire")
    with pytest.raises(ConfigError, match="pseudo_inputs must be an int >= 1"):
        _iw_module(1, prior="vamp", pseudo_inputs=0)
    items = {"kind": "sequence", "n_items": 50, "hidden_size": 8}
    latent = {"kind": "variational", "code_size": 3, "prior": "vamp"}
    with pytest.raises(ConfigError, match="reads item ids; use prior='normal'"):
        AutoencoderModule(
            {**default_spec(), "architecture": items, "latent": latent}, (6,)
        )
    # The same model with the normal prior builds.
    latent["prior"] = "normal"
    AutoencoderModule({**default_spec(), "architecture": items, "latent": latent}, (6,))


def test_dynamic_binarization_draws_fresh_binary_batches(digits01):
    src = DynamicBinarization(TensorSource(torch.from_numpy(digits01)))
    idx = torch.arange(200)
    a, b = src.take(idx), src.take(idx)
    assert set(torch.unique(a).tolist()) <= {0.0, 1.0}
    assert not torch.equal(a, b)
    draws = torch.stack([src.take(idx) for _ in range(400)]).mean(0)
    assert torch.allclose(draws, torch.from_numpy(digits01[:200]), atol=0.12)
    assert np.array_equal(binarize(digits01, 3), binarize(digits01, 3))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        binarize(digits01 * 2)
    with pytest.raises(ConfigError, match="binarize"):
        Autoencoder(latent="variational", binarize="yes", epochs=1).fit(digits01)


# -- sample quality -------------------------------------------------------------
def test_frechet_distance_properties():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 6))
    assert frechet_distance(a, a) < 1e-8
    shifted = frechet_distance(a, a + 2.0)
    assert abs(shifted - 6 * 4.0) < 1e-6, shifted
    b = rng.normal(size=(4000, 6)) * 3
    # Same means: |mu|^2 ~ 0, trace term 6 * (1 + 9 - 2 * 3) = 24.
    assert abs(frechet_distance(a, b) - 24) < 1.5
    with pytest.raises(DataError):
        frechet_distance(a, a[:, :3])


# -- the command line -----------------------------------------------------------
def test_cli_generate_interpolate_evaluate(tmp_path, digits01):
    from PIL import Image

    from aekit.cli import cli

    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    np.save(tmp_path / "d.npy", digits01[:300])
    out = tmp_path / "run"
    r = run(
        "fit",
        tmp_path / "d.npy",
        "--out",
        out,
        "--latent",
        "variational",
        "--code-size",
        2,
        "--hidden",
        32,
        "--epochs",
        3,
        "--kl-warmup",
        1,
        "--binarize",
        "dynamic",
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    r = run("generate", out, "--n", 12, "--out", tmp_path / "g.png", "--seed", 1)
    assert r.exit_code == 0, r.output
    img = np.asarray(Image.open(tmp_path / "g.png"))
    assert img.ndim == 2 and img.shape[0] > 28 * 3
    run("generate", out, "--n", 12, "--out", tmp_path / "g.npy", "--seed", 1)
    assert np.array_equal(
        np.load(tmp_path / "g.npy"), aekit_load(out).sample(12, random_state=1)
    )
    assert run("generate", out, "--grid", 4, "--out", tmp_path / "m.npy").exit_code == 0
    assert np.load(tmp_path / "m.npy").shape == (16, 64)
    r = run(
        "interpolate",
        out,
        "--data",
        tmp_path / "d.npy",
        "--from",
        0,
        "--to",
        5,
        "--steps",
        6,
        "--out",
        tmp_path / "s.npy",
    )
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "s.npy").shape == (6, 64)
    assert (
        run(
            "interpolate",
            out,
            "--data",
            tmp_path / "d.npy",
            "--from",
            0,
            "--to",
            3,
            "--out",
            tmp_path / "s.png",
        ).exit_code
        == 0
    )
    r = run("evaluate", out, tmp_path / "d.npy", "--iw-samples", 20)
    assert r.exit_code == 0, r.output
    lik = json.loads(r.output)["likelihood"]
    assert lik["binarized_with_seed"] == 0 and lik["iwae"]["k"] == 20
    assert math.isclose(lik["elbo"], -(lik["recon"] + lik["kl"]), rel_tol=1e-9)
    assert lik["iwae"]["log_likelihood"] > lik["elbo"] - 1.0

    # Mistakes: one line, exit code 2.
    r = runner.invoke(
        cli,
        [
            "interpolate",
            str(out),
            "--data",
            str(tmp_path / "d.npy"),
            "--from",
            "0",
            "--to",
            "999",
            "--out",
            "x.png",
        ],
    )
    assert r.exit_code == 2 and "out of range" in r.output
    det = tmp_path / "det"
    run(
        "fit",
        tmp_path / "d.npy",
        "--out",
        det,
        "--epochs",
        1,
        "--hidden",
        8,
        "--code-size",
        2,
        "--quiet",
    )
    r = runner.invoke(cli, ["generate", str(det), "--out", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "cannot generate" in r.output


def aekit_load(path):
    import aekit

    return aekit.load(path)


def test_likelihood_report_refuses_zero_importance_samples(vae, digits01):
    """iw_samples=0 was skipped without a word (no IWAE in the report)."""
    from aekit.generation import likelihood_report

    x = digits01[:50]
    with pytest.raises(ConfigError, match="iw_samples must be an int >= 1"):
        likelihood_report(vae, x, iw_samples=0, binarize_seed=0)
    assert "iwae" not in likelihood_report(vae, x, iw_samples=None, binarize_seed=0)
