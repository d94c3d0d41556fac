"""Bounds on the log-likelihood of a variational autoencoder, in nats.

- The evidence lower bound (ELBO, Kingma & Welling 2014,
  https://arxiv.org/abs/1312.6114):
  ``log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z))``, with the KL exact for a
  Gaussian posterior and prior.
- The importance-weighted bound (IWAE, Burda et al. 2015,
  https://arxiv.org/abs/1509.00519):
  ``log p(x) >= E[log (1/k) sum_i p(x, z_i) / q(z_i|x)]``, ``z_i ~ q(z|x)``. It
  equals the (single-sample) ELBO at ``k = 1``, does not decrease with ``k`` and
  tends to ``log p(x)``; with ``k = 1000`` it is the standard estimate of the
  test log-likelihood.

The math is in pure functions over tensors (:func:`log_mean_exp`,
:func:`iwae_from_log_weights`); :func:`log_weights` and :func:`elbo_terms` run a
model with a variational latent through them, in batches, so that memory stays
bounded for any ``k``.
"""

from __future__ import annotations

import math

import torch

from aekit.exceptions import ConfigError


def log_mean_exp(a: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """``log(mean(exp(a)))`` along ``dim``, computed stably (log-sum-exp)."""
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def iwae_from_log_weights(log_w: torch.Tensor) -> torch.Tensor:
    """IWAE bound per sample from log importance weights of shape (k, B)."""
    return log_mean_exp(log_w, dim=0)


def check_model(model) -> None:
    """Raise a clear error unless ``model`` can be scored in nats."""
    latent = getattr(model, "latent", None)
    if latent is None or not hasattr(latent, "posterior"):
        raise ConfigError(
            "The ELBO and log-likelihood need a variational latent; this model's "
            f"latent is {getattr(latent, 'kind', '?')!r}. Fit with "
            "latent='variational'."
        )
    if not getattr(model.likelihood, "normalised", True):
        raise ConfigError(
            f"The {model.likelihood.kind!r} likelihood with "
            f"{model.likelihood.config} is plain squared error, not a density: it "
            "has no log-likelihood in nats. Fit with loss='gaussian:variance=1' "
            "(or another variance, or 'learned')."
        )


def _recon_log_prob(model, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) per sample, summed over elements (nats), whatever the
    likelihood's training ``reduction``."""
    return -model.likelihood.nll(out, x).flatten(1).sum(1)


@torch.no_grad()
def log_weights(model, x: torch.Tensor, k: int, *, chunk: int = 10_000) -> torch.Tensor:
    """Log importance weights ``log p(x, z_i) - log q(z_i|x)``: shape (k, B).

    ``chunk`` caps how many (sample, datum) pairs go through the decoder at once.
    Draws from torch's global generator; the model should be in eval mode.
    """
    check_model(model)
    if k < 1:
        raise ConfigError(f"The number of importance samples must be >= 1. Got {k}.")
    q = model.latent.posterior(model.architecture.encoder(x))  # (B, *code)
    # The VampPrior's components: encoded once, not once per chunk.
    prior = None if model.latent.exact_kl else model.latent.prior_components()
    B = x.shape[0]
    per_pass = max(1, chunk // B)
    out = []
    for start in range(0, k, per_pass):
        n = min(per_pass, k - start)
        z = q.rsample(n)  # (n, B, *code)
        logits = model.decoder_output(z.flatten(0, 1), x)  # (n*B, [P,] *x)
        xs = x.expand(n, *x.shape).flatten(0, 1)  # (n*B, *x)
        log_px = _recon_log_prob(model, logits, xs).view(n, B)
        log_pz = model.latent.prior_log_prob(z, components=prior)  # (n, B)
        log_qz = q.log_prob(z)  # (n, B)
        out.append(log_px + log_pz - log_qz)
    return torch.cat(out, 0)


@torch.no_grad()
def elbo_terms(
    model, x: torch.Tensor, *, n_samples: int = 1
) -> dict[str, torch.Tensor]:
    """Per-sample ELBO terms in nats, each of shape (B,).

    ``recon`` is ``-E_q[log p(x|z)]`` (Monte Carlo over ``n_samples`` draws),
    ``kl`` is ``KL(q(z|x) || p(z))``, exact for the normal prior and over the same
    draws for the VampPrior; ``elbo = -(recon + kl)``.
    """
    check_model(model)
    q = model.latent.posterior(model.architecture.encoder(x))
    z = q.rsample(n_samples)  # (n, B, *code)
    logits = model.decoder_output(z.flatten(0, 1), x)
    xs = x.expand(n_samples, *x.shape).flatten(0, 1)
    recon = -_recon_log_prob(model, logits, xs).view(n_samples, -1).mean(0)
    kl = model.latent.kl(q, z)
    return {"elbo": -(recon + kl), "recon": recon, "kl": kl}


def active_units(means: torch.Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies with x: Cov_x(E_q[z]) > 0.01.

    Burda et al. 2015's measure of how many dimensions the model uses; the
    others have collapsed to the prior. ``means`` is (n, code_size).
    """
    return int((means.flatten(1).var(0) > threshold).sum())
