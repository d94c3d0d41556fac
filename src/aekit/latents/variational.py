"""Variational latent: a diagonal Gaussian posterior, standard normal prior.

Kingma & Welling 2014 (https://arxiv.org/abs/1312.6114), with the beta weight
of Higgins et al. 2017 and the free bits of Kingma et al. 2016
(https://arxiv.org/abs/1606.04934). ``kl_weight`` is a field that a warm-up
schedule (:class:`aekit.training.callbacks.KLWarmup`) sets; ``beta`` is the
target weight.

The warm-up weight and free bits are training devices: in eval mode the
``"kl"`` term is ``beta`` times the exact KL, so the validation loss that early
stopping watches is the objective itself (the negative ELBO when ``beta=1``),
not a value that rises as the warm-up ends. ``stat_kl`` logs the unweighted KL
in nats per sample.

``iw_samples = k > 1`` trains the importance-weighted bound of Burda et al.
2015 (https://arxiv.org/abs/1509.00519) instead of the ELBO: k posterior samples
per datum, the loss ``-log mean_i p(x, z_i) / q(z_i|x)``; the model computes it
(:meth:`aekit.model.AutoencoderModule.per_sample_terms`), since it needs the
decoder for each sample. The warm-up weight multiplies ``log p(z_i) -
log q(z_i|x)`` inside the bound, so it reaches the IWAE bound when it reaches 1.

``prior="vamp"`` replaces N(0, I) by the VampPrior of Tomczak & Welling 2018
(https://arxiv.org/abs/1705.07120): the mixture ``(1/K) sum_k q(z|u_k)`` of the
posteriors of ``K = pseudo_inputs`` learned pseudo-inputs ``u_k``, points in
the model's input space trained with the rest. Its KL has no closed form: the
ELBO uses the one-sample estimate ``log q(z|x) - log p(z)``, and the report's
KL per dimension is not defined. The pseudo-inputs go through the encoder, which
the model lends the latent with :meth:`Variational.attach` (the encoder stays
the architecture's module; the latent keeps a plain reference).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from aekit.exceptions import ConfigError
from aekit.latents.deterministic import projection
from aekit.registry import LATENTS, Component


class DiagonalGaussian:
    """A batch of diagonal Gaussians; ``kl()`` is against N(0, I)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        self.logvar = logvar.clamp(-30.0, 20.0)

    @property
    def var(self) -> torch.Tensor:
        return self.logvar.exp()

    def sample(self) -> torch.Tensor:
        return self.mean + (0.5 * self.logvar).exp() * torch.randn_like(self.mean)

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl_per_dim(self) -> torch.Tensor:
        """KL(q || N(0, I)) per sample and dimension, in nats: (B, *code_shape)."""
        return 0.5 * (self.mean.square() + self.var - 1.0 - self.logvar)

    def kl(self) -> torch.Tensor:
        """KL per sample (B,), summed over code dimensions."""
        return self.kl_per_dim().flatten(1).sum(1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z) per sample, summed over code dimensions: ``z.shape[:-n]``.

        ``z`` may carry extra leading sample dimensions, e.g. (K, B, *code_shape)
        for K importance samples; the parameters broadcast over them.
        """
        lp = -0.5 * (
            (z - self.mean).square() / self.var + self.logvar + math.log(2 * math.pi)
        )
        return lp.flatten(lp.ndim - self.mean.ndim + 1).sum(-1)

    def rsample(self, n: int) -> torch.Tensor:
        """``n`` reparameterized samples: (n, B, *code_shape)."""
        eps = torch.randn(
            (n, *self.mean.shape), dtype=self.mean.dtype, device=self.mean.device
        )
        return self.mean + (0.5 * self.logvar).exp() * eps


def standard_normal_log_prob(z: torch.Tensor, event_dims: int) -> torch.Tensor:
    """log N(z; 0, I), summed over the last ``event_dims`` dimensions."""
    lp = -0.5 * (z.square() + math.log(2 * math.pi))
    return lp.flatten(lp.ndim - event_dims).sum(-1)


def mixture_log_prob(z: torch.Tensor, components: DiagonalGaussian) -> torch.Tensor:
    """log of the equal-weight mixture ``(1/K) sum_k N(z; m_k, diag(v_k))``.

    ``components`` holds K Gaussians, (K, *code_shape); ``z`` is (..., *code_shape)
    and the result ``z.shape[:-n]``. The squared distances of all N points to all
    K means come from two matrix products, (N, K) and never (N, K, D); they are
    formed in float64, since they are differences of sums of large terms when a
    component is narrow.
    """
    event = components.mean.ndim - 1
    lead = z.shape[: z.ndim - event]
    zf = z.reshape(-1, math.prod(components.mean.shape[1:])).double()  # (N, D)
    mean = components.mean.flatten(1).double()  # (K, D)
    logvar = components.logvar.flatten(1).double()
    prec = (-logvar).exp()
    quad = (
        zf.square() @ prec.T
        - 2.0 * zf @ (mean * prec).T
        + (mean.square() * prec).sum(1)
    )  # (N, K): sum_d (z_d - m_kd)^2 / v_kd
    log_n = -0.5 * (quad + logvar.sum(1) + mean.shape[1] * math.log(2 * math.pi))
    log_p = torch.logsumexp(log_n, dim=1) - math.log(mean.shape[0])
    return log_p.to(z.dtype).view(lead)


@LATENTS.register("variational")
class Variational(Component):
    """Gaussian posterior q(z|x) with the reparameterization trick."""

    @dataclasses.dataclass(frozen=True)
    class Config:
        code_size: int = 32  # latent dimensions (channels for spatial features)
        beta: float = 1.0  # weight of the KL term (beta-VAE)
        free_bits: float = 0.0  # nats per dimension below which KL is not penalised
        iw_samples: int = 1  # importance samples in the training bound (1: ELBO)
        prior: str = "normal"  # "normal": N(0, I); "vamp": the VampPrior
        pseudo_inputs: int = 500  # the VampPrior's components (prior="vamp")

    def __init__(self, config: Config, *, feature_shape: tuple[int, ...]):
        super().__init__(config)
        if config.code_size < 1:
            raise self.invalid("code_size", "an int >= 1")
        for name in ("beta", "free_bits"):
            if getattr(config, name) < 0:
                raise self.invalid(name, ">= 0")
        if config.iw_samples < 1:
            raise self.invalid("iw_samples", "an int >= 1")
        if config.prior not in ("normal", "vamp"):
            raise self.invalid("prior", "'normal' or 'vamp'")
        if config.pseudo_inputs < 1:
            raise self.invalid("pseudo_inputs", "an int >= 1")
        if config.iw_samples > 1 and config.free_bits > 0:
            raise ConfigError(
                "free_bits applies to the ELBO's KL term, which the importance-"
                "weighted bound (iw_samples > 1) does not have; set one of them."
            )
        if config.prior == "vamp" and config.free_bits > 0:
            raise ConfigError(
                "free_bits needs the KL per code dimension, which the VampPrior "
                "does not have; use prior='normal' or free_bits=0."
            )
        self.project = projection(feature_shape, 2 * config.code_size)
        self.code_shape = (config.code_size, *feature_shape[1:])
        self.kl_weight = 1.0  # set by a warm-up schedule; multiplies beta
        self.pseudo_inputs = None  # (K, *input_shape) once attached, VampPrior only

    def attach(
        self, encoder: nn.Module, input_shape: tuple[int, ...], discrete: bool = False
    ) -> None:
        """Lend the latent the model's encoder (the VampPrior encodes its
        pseudo-inputs with it) and make the pseudo-inputs for ``input_shape``.

        Initialised as Tomczak & Welling's are, N(0.05, 0.01^2) per element; they
        are parameters of the latent, saved with the model. ``discrete``: the
        encoder reads ids (item sequences), which no learned pseudo-input can be.
        """
        if self.config.prior == "vamp" and discrete:
            raise ConfigError(
                "prior='vamp' learns continuous pseudo-inputs, but this encoder "
                "reads item ids; use prior='normal' for item sequences."
            )
        # A plain attribute: registering the encoder here as well would save
        # its weights twice.
        self.__dict__["_encoder"] = encoder
        if self.config.prior == "vamp":
            shape = (self.config.pseudo_inputs, *input_shape)
            self.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(shape))

    @property
    def exact_kl(self) -> bool:
        """Whether KL(q || p) has a closed form (the normal prior)."""
        return self.config.prior == "normal"

    def prior_components(self) -> DiagonalGaussian:
        """The VampPrior's K Gaussians, q(z|u_k): (K, *code_shape)."""
        return self.posterior(self.__dict__["_encoder"](self.pseudo_inputs))

    def posterior(self, h: torch.Tensor) -> DiagonalGaussian:
        # float32 even under bf16 autocast: the KL and log densities are sums
        # over code dimensions that bf16's 8 bits of mantissa would blur.
        mean, logvar = self.project(h).float().chunk(2, dim=1)  # (B, *code) each
        return DiagonalGaussian(mean, logvar)

    def mean(self, h: torch.Tensor) -> torch.Tensor:
        return self.posterior(h).mean

    def prior_log_prob(
        self, z: torch.Tensor, *, components: DiagonalGaussian | None = None
    ) -> torch.Tensor:
        """log p(z) under the prior, per sample: ``z.shape[:-len(code_shape)]``.

        ``components``: the VampPrior's :meth:`prior_components`, when the
        caller has them already (an evaluation scoring many chunks of samples).
        """
        if self.exact_kl:
            return standard_normal_log_prob(z, len(self.code_shape))
        if components is None:
            components = self.prior_components()
        return mixture_log_prob(z, components)

    def kl(self, q: DiagonalGaussian, z: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per sample (B,): exact for the normal prior; for
        the VampPrior the mean of ``log q(z|x) - log p(z)`` over the samples
        ``z``, (n, B, *code_shape) or (B, *code_shape)."""
        if self.exact_kl:
            return q.kl()
        diff = q.log_prob(z) - self.prior_log_prob(z)
        return diff.mean(0) if diff.ndim > 1 else diff

    def sample_prior(
        self, n: int, *, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` codes drawn from the prior, on the CPU: (n, *code_shape)."""
        eps = torch.randn((n, *self.code_shape), generator=generator)
        if self.exact_kl:
            return eps
        with torch.no_grad():
            comp = self.prior_components()
        pick = torch.randint(len(comp.mean), (n,), generator=generator)
        mean, logvar = comp.mean.float().cpu()[pick], comp.logvar.float().cpu()[pick]
        return mean + (0.5 * logvar).exp() * eps

    @property
    def log_weight_scale(self) -> float:
        """Weight of ``log p(z) - log q(z|x)`` in the importance-weighted bound:
        ``beta`` times the warm-up weight in training, ``beta`` in eval mode."""
        return self.config.beta * (self.kl_weight if self.training else 1.0)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        q = self.posterior(h)
        z = q.sample()  # (B, *code_shape)
        kl = self.kl(q, z)  # (B,) nats
        terms = {"stat_kl": kl.detach()}
        if not self.training:
            terms["kl"] = self.config.beta * kl
            return z, terms
        weight = self.config.beta * self.kl_weight
        if self.config.free_bits > 0:
            per_dim = q.kl_per_dim().flatten(1).mean(0)  # (D,) batch mean
            terms["kl"] = weight * per_dim.clamp_min(self.config.free_bits).sum()
        else:
            terms["kl"] = weight * kl
        return z, terms
