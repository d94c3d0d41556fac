"""What a fitted variational autoencoder adds to the ``Autoencoder`` estimator.

Sampling new data from the prior, the posterior's mean and variance, posterior
samples, the ELBO and the importance-weighted log-likelihood (in nats, per
sample, in the model's scaled units), interpolation between two inputs and the
"manifold" grid of a 2-D latent. Each method raises a clear error on a model
whose latent is not variational.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import numpy as np
import torch

from aekit import bounds
from aekit.estimators.base import seed_from
from aekit.exceptions import ConfigError


class GenerativeMixin:
    """Methods of a fitted autoencoder with a variational latent."""

    # -- helpers -------------------------------------------------------------
    def _variational(self) -> Any:
        self._check_fitted()
        latent = self.module_.latent
        if not hasattr(latent, "posterior"):
            raise ConfigError(
                f"This {type(self).__name__} has a {latent.kind!r} latent, which "
                "defines no distribution over codes; fit with latent='variational' "
                "to sample, score likelihoods or draw posterior samples."
            )
        return self.module_

    @contextlib.contextmanager
    def _seeded(self, random_state):
        """Run with torch's global generator seeded, then restore it."""
        devices = [self._device] if self._device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed_from(random_state))
            yield

    def _scaled_batches(self, X, batch_size: int):
        X = self._prepare(X)
        for start in range(0, len(X), batch_size):
            chunk = self.scaler_.transform(X[start : start + batch_size])
            yield torch.from_numpy(np.ascontiguousarray(chunk)).to(self._device)

    def _decode_mean(self, z: torch.Tensor, draw: bool = False) -> np.ndarray:
        module = self.module_
        with torch.no_grad():
            out = module.architecture.decoder(z.to(self._device))
            lik = module.likelihood
            xs = lik.draw(out) if draw and hasattr(lik, "draw") else lik.mean(out)
        return self.scaler_.inverse_transform(xs.float().cpu().numpy())

    def _warn_if_not_binary(self, X) -> None:
        if getattr(self, "binarize", None) is None:
            return
        Xs = self.scaler_.transform(np.asarray(X[: min(len(X), 1000)]))
        if not np.all((Xs == 0) | (Xs == 1)):
            warnings.warn(
                "X is not binary, but this model was trained on binarized data, so "
                "its Bernoulli scores are not log-likelihoods of X. Binarize X once "
                "with aekit.data.binarize(X, random_state=0) first.",
                UserWarning,
                stacklevel=3,
            )

    # -- the latent space ----------------------------------------------------
    def posterior(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of q(z|x) for each sample of ``X``.

        Returns
        -------
        mean, variance : ndarray of shape (n_samples, *code_shape)
        """
        module = self._variational()
        module.eval()
        means, variances = [], []
        with torch.no_grad():
            for xb in self._scaled_batches(X, 1024):
                q = module.latent.posterior(module.architecture.encoder(xb))
                means.append(q.mean.float().cpu().numpy())
                variances.append(q.var.float().cpu().numpy())
        return np.concatenate(means), np.concatenate(variances)

    def sample_posterior(
        self, X, n_samples: int | None = None, *, random_state=None
    ) -> np.ndarray:
        """Draws from q(z|x): (n, *code) or, with ``n_samples``, (n, n_samples, *code).

        ``transform(X, sample=True)`` is the same as ``sample_posterior(X)``.
        """
        mean, var = self.posterior(X)
        rng = np.random.default_rng(seed_from(random_state))
        k = 1 if n_samples is None else int(n_samples)
        eps = rng.standard_normal((len(mean), k, *mean.shape[1:]), dtype=np.float32)
        z = mean[:, None] + np.sqrt(var)[:, None] * eps
        return z[:, 0] if n_samples is None else z

    def sample(
        self, n_samples: int = 1, *, random_state=None, draw: bool = False
    ) -> np.ndarray:
        """New data: codes drawn from the prior N(0, I), decoded.

        Parameters
        ----------
        n_samples : int
        random_state : int, RandomState, Generator or None
            The same seed gives the same samples.
        draw : bool, default=False
            False returns the decoder's mean (pixel probabilities for a
            Bernoulli likelihood, the usual way to show samples); True draws
            from p(x|z) as well.

        Returns
        -------
        ndarray of shape (n_samples, *input_shape), in the training data's units

        Example
        -------
        >>> from aekit import Autoencoder
        >>> from sklearn.datasets import load_digits
        >>> X = load_digits().data
        >>> vae = Autoencoder(code_size=2, hidden=(32,), latent="variational",
        ...                   epochs=2, random_state=0).fit(X)
        >>> vae.sample(16, random_state=0).shape
        (16, 64)
        """
        module = self._variational()
        module.eval()
        if not isinstance(n_samples, int | np.integer) or n_samples < 1:
            raise ConfigError(
                f"n_samples must be an int >= 1. Got {n_samples!r} instead."
            )
        seed = seed_from(random_state)
        gen = torch.Generator().manual_seed(seed)
        z = module.latent.sample_prior(int(n_samples), generator=gen)
        with self._seeded(seed + 1):
            return self._decode_mean(z, draw=draw)

    def interpolate(
        self, x_from, x_to, steps: int = 10, *, spherical: bool = False
    ) -> np.ndarray:
        """Decode ``steps`` codes on the path between two inputs' posterior means.

        ``spherical=True`` follows a great circle (slerp), which keeps the
        codes at the norm typical of the Gaussian prior.

        Returns
        -------
        ndarray of shape (steps, *input_shape); the first and last rows are the
        reconstructions of ``x_from`` and ``x_to``.
        """
        self._variational()
        if not isinstance(steps, int | np.integer) or steps < 2:
            raise ConfigError(f"steps must be an int >= 2. Got {steps!r} instead.")
        X = np.stack([np.asarray(x_from), np.asarray(x_to)])
        mean, _ = self.posterior(X)
        a, b = mean[0].ravel(), mean[1].ravel()
        t = np.linspace(0.0, 1.0, int(steps), dtype=np.float64)[:, None]
        if spherical:
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            cos = np.clip(a @ b / max(na * nb, 1e-12), -1.0, 1.0)
            omega = np.arccos(cos)
            if omega < 1e-6:
                path = (1 - t) * a + t * b
            else:
                path = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(
                    omega
                )
        else:
            path = (1 - t) * a + t * b
        z = torch.from_numpy(path.astype(np.float32).reshape(-1, *mean.shape[1:]))
        return self._decode_mean(z)

    def latent_grid(self, n: int = 20, *, quantile: float = 0.95) -> np.ndarray:
        """Decode an ``n`` x ``n`` grid over a 2-D latent space (the "manifold").

        The grid is evenly spaced in probability under the prior: each axis
        runs over the normal quantiles from ``(1 - quantile) / 2`` to
        ``(1 + quantile) / 2``, as in Kingma & Welling 2014, figure 4. Row ``i``
        varies the second code dimension, column ``j`` the first.

        Returns
        -------
        ndarray of shape (n * n, *input_shape), row-major
        """
        from scipy.stats import norm

        module = self._variational()
        if module.code_shape != (2,):
            raise ConfigError(
                "latent_grid needs a 2-D latent space; this model's codes have shape "
                f"{module.code_shape}. Fit with code_size=2, or use sample()."
            )
        if not isinstance(n, int | np.integer) or n < 2:
            raise ConfigError(f"n must be an int >= 2. Got {n!r} instead.")
        if not 0 < quantile < 1:
            raise ConfigError(f"quantile must be in (0, 1). Got {quantile!r}.")
        ticks = norm.ppf(np.linspace((1 - quantile) / 2, (1 + quantile) / 2, int(n)))
        z1, z2 = np.meshgrid(ticks, ticks[::-1])  # top row: largest z2
        z = np.stack([z1.ravel(), z2.ravel()], axis=1).astype(np.float32)
        return self._decode_mean(torch.from_numpy(z))

    # -- likelihood ----------------------------------------------------------
    def elbo(
        self, X, *, n_samples: int = 1, random_state=0, batch_size: int = 500
    ) -> dict[str, float]:
        """The evidence lower bound on ``X``, in nats per sample (means).

        Returns ``{"elbo", "recon", "kl", "n", "active_units"}``: ``recon`` is
        ``-E_q[log p(x|z)]`` (``n_samples`` Monte Carlo draws per sample),
        ``kl`` ``KL(q(z|x) || p(z))`` (exact for the normal prior, a Monte Carlo
        estimate over the same draws for the VampPrior), ``elbo = -(recon + kl)``;
        ``active_units`` counts code dimensions whose posterior mean varies
        over ``X`` (variance > 0.01). Scaled units (pixels in [0, 1]).
        """
        module = self._variational()
        bounds.check_model(module)
        module.eval()
        self._warn_if_not_binary(np.asarray(self._prepare(X)))
        sums = {"elbo": 0.0, "recon": 0.0, "kl": 0.0}
        means, n = [], 0
        with self._seeded(random_state):
            for xb in self._scaled_batches(X, batch_size):
                terms = bounds.elbo_terms(module, xb, n_samples=int(n_samples))
                for k in sums:
                    sums[k] += float(terms[k].double().sum())
                means.append(
                    module.latent.posterior(module.architecture.encoder(xb))
                    .mean.detach()
                    .flatten(1)
                    .cpu()
                )
                n += len(xb)
        out = {k: v / n for k, v in sums.items()}
        out["n"] = n
        out["active_units"] = bounds.active_units(torch.cat(means))
        return out

    def log_likelihood(
        self,
        X,
        *,
        iw_samples: int = 1000,
        random_state=0,
        batch_size: int = 100,
    ) -> np.ndarray:
        """Per-sample estimates of log p(x) in nats: the IWAE bound with k samples.

        The importance-weighted bound of Burda et al. 2015
        (https://arxiv.org/abs/1509.00519), computed with log-sum-exp in batches
        of ``batch_size`` samples; ``iw_samples=1`` is a one-sample ELBO
        estimate, and the bound tightens as ``iw_samples`` grows (1000 is the
        usual test protocol). The negative mean is the test NLL papers report.

        Returns
        -------
        ndarray of shape (n_samples,), float64
        """
        module = self._variational()
        bounds.check_model(module)
        if not isinstance(iw_samples, int | np.integer) or iw_samples < 1:
            raise ConfigError(
                f"iw_samples must be an int >= 1. Got {iw_samples!r} instead."
            )
        module.eval()
        Xp = self._prepare(X)
        self._warn_if_not_binary(Xp)
        out = []
        with self._seeded(random_state):
            for xb in self._scaled_batches(Xp, batch_size):
                log_w = bounds.log_weights(module, xb, int(iw_samples))
                out.append(bounds.iwae_from_log_weights(log_w.double()).cpu().numpy())
        return np.concatenate(out)
