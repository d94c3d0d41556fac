"""Reconstruction likelihoods.

A likelihood turns the decoder's raw output into data space (``mean``) and
scores a reconstruction (``nll``: elementwise negative log-likelihood, up to a
constant for the plain losses). ``reduction`` says how elements combine into
one number per sample: ``"mean"`` (the familiar MSE/BCE losses) or ``"sum"``
(nats per sample, for likelihood-based models).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from aekit.exceptions import ConfigError
from aekit.registry import LIKELIHOODS, Component


class Likelihood(Component):
    n_params = 1  # decoder outputs per data element
    # Whether ``nll`` summed over elements is an exact negative log-likelihood
    # in nats (what the ELBO and IWAE bounds need); squared error is not.
    normalised = True

    def __init__(self, config):
        super().__init__(config)
        if config.reduction not in ("mean", "sum"):
            raise ConfigError(
                f"reduction must be 'mean' or 'sum'. Got {config.reduction!r}."
            )

    def reduce(self, elementwise: torch.Tensor, mask: torch.Tensor | None = None):
        """Per-sample loss (B,) from elementwise values (B, ...)."""
        flat = elementwise.flatten(1)
        if mask is not None:
            m = mask.expand_as(elementwise).flatten(1).to(flat.dtype)
            total = (flat * m).sum(1)
            if self.config.reduction == "mean":
                return total / m.sum(1).clamp_min(1)
            return total
        if self.config.reduction == "mean":
            return flat.mean(1)
        return flat.sum(1)


@LIKELIHOODS.register("bernoulli")
class Bernoulli(Likelihood):
    """Binary cross-entropy, computed from logits (stable); data in [0, 1]."""

    needs_unit_interval = True

    @dataclasses.dataclass(frozen=True)
    class Config:
        reduction: str = "mean"  # "mean" over elements (BCE) or "sum" (nats)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(out, x, reduction="none")

    def draw(self, out: torch.Tensor) -> torch.Tensor:
        """Binary values drawn from p(x|z), from torch's global generator."""
        return torch.bernoulli(torch.sigmoid(out))


@LIKELIHOODS.register("gaussian")
class Gaussian(Likelihood):
    """Gaussian likelihood: squared error, or a normalised density in nats.

    ``variance=None`` (the default) is the plain squared error, the familiar MSE
    loss (a Gaussian log-likelihood up to scale and constant). A number fixes
    the variance and scores the exact negative log-density
    ``0.5 * ((x - mu)**2 / var + log(2 pi var))``, the form a variational
    autoencoder needs. ``"learned"`` makes the decoder output a log-variance per
    element next to the mean (``n_params = 2``), as in Kingma & Welling 2014
    (https://arxiv.org/abs/1312.6114, appendix C.2); ``min_variance`` floors it,
    because a variance free to shrink to 0 on a constant pixel drives the
    log-likelihood to infinity.
    """

    needs_unit_interval = False

    @dataclasses.dataclass(frozen=True)
    class Config:
        reduction: str = "mean"  # "mean" over elements (MSE) or "sum" (nats)
        variance: float | str | None = None  # None: squared error; float; "learned"
        min_variance: float = 1e-3  # floor of a learned variance (scaled units)

    def __init__(self, config):
        super().__init__(config)
        v = config.variance
        if v == "learned":
            self.n_params = 2
        elif v is not None and (
            isinstance(v, bool) or not isinstance(v, int | float) or v <= 0
        ):
            raise ConfigError(
                "The Gaussian likelihood's 'variance' must be None (squared error), "
                f"a positive number or 'learned'. Got {v!r}."
            )
        if config.min_variance <= 0:
            raise ConfigError(f"min_variance must be > 0. Got {config.min_variance!r}.")

    @property
    def normalised(self) -> bool:
        return self.config.variance is not None

    def _split(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.n_params == 1:
            return out, None
        # (B, 2, *shape): mean, then a log-variance floored smoothly.
        floor = math.log(self.config.min_variance)
        logvar = floor + F.softplus(out[:, 1] - floor)
        return out[:, 0], logvar

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return self._split(out)[0]

    def variance(self, out: torch.Tensor) -> torch.Tensor:
        """Per-element variance of p(x|z) (scaled units); 1 for squared error."""
        mu, logvar = self._split(out)
        if logvar is not None:
            return logvar.exp()
        return torch.full_like(mu, float(self.config.variance or 1.0))

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mu, logvar = self._split(out)
        sq = (mu - x).square()
        if self.config.variance is None:
            return sq
        if logvar is None:
            var = float(self.config.variance)
            return 0.5 * (sq / var + math.log(2 * math.pi * var))
        return 0.5 * (sq * torch.exp(-logvar) + logvar + math.log(2 * math.pi))

    def draw(self, out: torch.Tensor) -> torch.Tensor:
        """A sample of p(x|z), from torch's global generator."""
        mu = self.mean(out)
        return mu + self.variance(out).sqrt() * torch.randn_like(mu)


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of each pair of images (N, H, W) -> (N,), differentiable.

    The same numbers as scikit-image's ``structural_similarity`` with its
    defaults (Wang et al. 2004: a 7x7 uniform window, sample covariances,
    K1 = 0.01, K2 = 0.03, the mean over windows that lie inside the image), so
    a model can be trained on the score that evaluates it. Computed in
    float32 even under autocast: the variances are differences of squares.
    """
    win = 7
    x, y = x.float().unsqueeze(1), y.float().unsqueeze(1)  # (N, 1, H, W)
    if min(x.shape[-2:]) < win:
        raise ConfigError(f"SSIM needs images of at least {win}x{win} pixels.")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    with torch.autocast(x.device.type, enabled=False):
        mean = lambda t: F.avg_pool2d(t, win, stride=1)  # noqa: E731
        ux, uy = mean(x), mean(y)
        cov = win * win / (win * win - 1)  # sample, not population, covariance
        vx = cov * (mean(x * x) - ux * ux)
        vy = cov * (mean(y * y) - uy * uy)
        vxy = cov * (mean(x * y) - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / (
            (ux * ux + uy * uy + c1) * (vx + vy + c2)
        )
    return s.flatten(1).mean(1)


# The loss names users type, mapped to likelihoods.
LOSS_ALIASES = {"bce": "bernoulli", "mse": "gaussian"}


@LIKELIHOODS.register("multinomial")
class Multinomial(Likelihood):
    """Multinomial over a vector of counts (Liang et al. 2018): -sum x log softmax.

    ``mean`` returns the softmax probabilities; ``nll`` is elementwise, so with
    ``reduction="sum"`` it is the per-sample negative log-likelihood (up to the
    multinomial coefficient).
    """

    needs_unit_interval = False

    @dataclasses.dataclass(frozen=True)
    class Config:
        reduction: str = "sum"  # "sum" over items: the multinomial log-likelihood

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.softmax(out.flatten(1), dim=1).view_as(out)

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(out.flatten(1), dim=1).view_as(out)
        return -(x * logp)


@LIKELIHOODS.register("categorical")
class Categorical(Likelihood):
    """One class out of ``n_classes`` per element (softmax cross-entropy).

    For sequences of item ids: the decoder gives ``n_classes`` logits per step
    (shape ``(B, n_classes, *input_shape)``) and the data hold class indices.
    ``mean`` returns the most probable class (the mode), so ``decode`` stays in
    data space; ``log_probs`` gives the whole distribution, for ranking.
    """

    needs_unit_interval = False

    @dataclasses.dataclass(frozen=True)
    class Config:
        n_classes: int = 2  # classes (items + 1 for the padding id 0)
        reduction: str = "mean"  # "mean" over scored elements or "sum"

    def __init__(self, config):
        super().__init__(config)
        if not isinstance(config.n_classes, int) or config.n_classes < 2:
            raise ConfigError(
                f"n_classes must be an int >= 2. Got {config.n_classes!r}."
            )
        self.n_params = config.n_classes

    def log_probs(self, out: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(out, dim=1)  # (B, K, ...)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return out.argmax(1).to(out.dtype)  # (B, *input_shape)

    def nll(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        target = x.long().clamp(0, self.n_params - 1)
        return F.cross_entropy(out, target, reduction="none")  # (B, *input_shape)
