"""The composed autoencoder: architecture x latent x regularizers x corruption
x likelihood, behind one contract.

``encode`` and ``decode`` are inference paths (deterministic in eval mode);
``loss`` is the training path, the only place where corruption, sampling and
penalties happen. Generic code (trainer, estimators, CLI) never asks which
variant it holds.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from aekit import (  # noqa: F401  (registries)
    architectures,
    corruption,
    latents,
    regularizers,
)
from aekit.bounds import iwae_from_log_weights
from aekit.data.sources import allocatable_memory, format_bytes
from aekit.exceptions import ConfigError
from aekit.registry import (
    ARCHITECTURES,
    CORRUPTIONS,
    LATENTS,
    LIKELIHOODS,
    REGULARIZERS,
    Component,
)


def default_spec() -> dict[str, Any]:
    return {
        "architecture": {"kind": "dense"},
        "latent": {"kind": "deterministic"},
        "regularizers": [],
        "corruption": None,
        "likelihood": {"kind": "gaussian"},
    }


def check_memory(model: nn.Module, *, training: bool = False) -> None:
    """Raise a ConfigError when ``model`` would not fit in the memory available
    now: its weights (parameters and buffers; on the meta device, where it is
    built to be measured, they take none) or, with ``training``, what training
    on the CPU adds to the weights already held: the gradients and Adam's two
    moments, three copies of the parameters."""
    parts = {}
    for name, child in model.named_children():
        tensors = [*child.parameters()]
        if not training:
            tensors += [*child.buffers()]
        part = f"{child.axis} {child.kind!r}" if isinstance(child, Component) else name
        size = sum(t.numel() * t.element_size() for t in tensors)
        parts[part] = 3 * size if training else size
    need, free = sum(parts.values()), allocatable_memory()
    if need <= free:
        return
    n = sum(p.numel() for p in model.parameters())
    shares = ", ".join(
        f"{part} {size / need:.0%}"
        for part, size in sorted(parts.items(), key=lambda kv: -kv[1])
        if size >= need / 100
    )
    what = (
        f"Training this model on the CPU needs {format_bytes(need)} for the "
        f"gradients and Adam's two moments of its {n:,} parameters"
        if training
        else f"This model needs {format_bytes(need)} for its {n:,} parameters"
    )
    raise ConfigError(
        f"{what}, more than the {format_bytes(free)} of memory available (by part: "
        f"{shares}). Use a smaller code_size, smaller layer widths or smaller inputs."
    )


class AutoencoderModule(nn.Module):
    """An autoencoder built from a spec of registered components.

    Parameters
    ----------
    spec : dict
        ``{"architecture": {"kind": ..., **fields}, "latent": {...},
        "regularizers": [{...}, ...], "corruption": {...} or None,
        "likelihood": {...}}``, as ``config.json`` stores it.
    input_shape : tuple of int
        Shape of one sample, e.g. ``(784,)`` or ``(1, 28, 28)``.

    Example
    -------
    >>> m = AutoencoderModule({**default_spec(),
    ...     "latent": {"kind": "deterministic", "code_size": 8}}, (64,))
    >>> m.encode(torch.zeros(5, 64)).shape
    torch.Size([5, 8])
    """

    def __init__(self, spec: dict[str, Any], input_shape: tuple[int, ...]):
        super().__init__()
        spec = {**default_spec(), **copy.deepcopy(spec)}
        unknown = set(spec) - set(default_spec())
        if unknown:
            raise ConfigError(
                f"Unknown model component(s): {', '.join(sorted(unknown))}."
            )
        self.input_shape = tuple(int(s) for s in input_shape)
        if torch.empty(0).device.type != "meta":  # not the probe itself
            # Built first without memory, so that a model too large for this
            # machine is refused before it is allocated, not killed by the
            # kernel while its weights are initialised.
            with torch.device("meta"):
                check_memory(AutoencoderModule(spec, self.input_shape))
        try:
            self._build(spec)
        except RuntimeError as exc:  # torch.OutOfMemoryError included
            if "alloc" not in str(exc) and "out of memory" not in str(exc):
                raise
            raise ConfigError(
                f"Could not allocate the model's weights ({str(exc).splitlines()[0]}"
                "); use a smaller code_size, smaller layer widths or smaller inputs."
            ) from None

    def _build(self, spec: dict[str, Any]) -> None:
        cls, cfg = ARCHITECTURES.config(spec["architecture"])
        self.architecture = cls(cfg, input_shape=self.input_shape)
        cls, cfg = LATENTS.config(spec["latent"])
        self.latent = cls(cfg, feature_shape=self.architecture.feature_shape)
        if hasattr(self.latent, "attach"):  # e.g. the VampPrior encodes with it
            self.latent.attach(
                self.architecture.encoder,
                self.input_shape,
                discrete=getattr(self.architecture, "discrete_input", False),
            )
        cls, cfg = LIKELIHOODS.config(spec["likelihood"])
        self.likelihood = cls(cfg)
        self.architecture.build_decoder(
            self.latent.code_shape, n_params=self.likelihood.n_params
        )
        regs = []
        for reg_spec in spec["regularizers"] or []:
            cls, cfg = REGULARIZERS.config(reg_spec)
            regs.append(cls(cfg, code_shape=self.latent.code_shape))
        self.regularizers = nn.ModuleList(regs)
        # Importance samples of the training bound (1: the ELBO).
        self.iw_samples = getattr(self.latent.config, "iw_samples", 1)
        if regs and self.iw_samples > 1:
            raise ConfigError(
                "The importance-weighted bound (iw_samples > 1) does not compose "
                "with regularizers; use iw_samples=1 or drop the regularizers."
            )
        output_terms = getattr(self.architecture, "has_output_terms", False)
        if self.iw_samples > 1 and output_terms:
            raise ConfigError(
                "The importance-weighted bound (iw_samples > 1) does not compose "
                "with loss terms on the output (e.g. ssim_weight); use iw_samples=1 "
                "or drop those terms."
            )
        self.corruption = None
        if spec["corruption"]:
            cls, cfg = CORRUPTIONS.config(spec["corruption"])
            self.corruption = cls(cfg)
            check = getattr(self.corruption, "check_input_shape", None)
            if check is not None:  # e.g. blur needs images: say so before training
                check(self.input_shape)

    @property
    def code_shape(self) -> tuple[int, ...]:
        return tuple(self.latent.code_shape)

    def spec(self) -> dict[str, Any]:
        """The JSON-able description that rebuilds this model."""
        return {
            "architecture": self.architecture.to_dict(),
            "latent": self.latent.to_dict(),
            "regularizers": [r.to_dict() for r in self.regularizers],
            "corruption": self.corruption.to_dict() if self.corruption else None,
            "likelihood": self.likelihood.to_dict(),
        }

    def _transform_code(self, z: torch.Tensor) -> torch.Tensor:
        for reg in self.regularizers:
            if hasattr(reg, "transform_code"):
                z = reg.transform_code(z)
        return z

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.architecture.encoder(x)  # (B, *feature_shape)
        return self._transform_code(self.latent.mean(h))  # (B, *code_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.architecture.decoder(z))  # (B, *input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.decoder_output(self.encode(x), x))

    def decoder_output(
        self,
        z: torch.Tensor,
        x: torch.Tensor | None = None,
        clean: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The decoder's raw output for codes ``z`` (B, [n_params,] *input_shape).

        Given the encoder's input ``x`` too, adds the architecture's input skip
        if it has one (a term that bypasses the code, e.g. the sequence
        architecture's item transitions; ``clean``, the uncorrupted ``x``, lets
        it leave a training window's own answer out); ``z`` may hold k
        draws per row of ``x``, stacked draw-major as ``z.flatten(0, 1)``
        makes them.
        """
        out = self.architecture.decoder(z)
        skip_fn = getattr(self.architecture, "input_skip", None)
        if x is None or skip_fn is None:
            return out
        skip = skip_fn(x, clean)
        if skip is None:
            return out
        k = out.shape[0] // skip.shape[0]
        return out + (skip.repeat(k, *[1] * (skip.dim() - 1)) if k > 1 else skip)

    def loss(
        self, x: torch.Tensor, *, mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Named loss terms of a batch; ``"loss"`` is what the trainer minimises.

        Terms named ``stat_*`` are measurements to log (e.g. the code's mean
        activation), detached and left out of the sum.
        """
        recon, terms = self.per_sample_terms(x, mask=mask)
        out = {k: v.mean() for k, v in terms.items()}
        out["recon"] = recon.mean()
        out["loss"] = sum(v for k, v in out.items() if not k.startswith("stat_"))
        return out

    def per_sample_terms(
        self, x: torch.Tensor, *, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(reconstruction loss per sample (B,), other terms per sample or scalar).

        With an importance-weighted latent (``iw_samples > 1``) the first is the
        negative bound itself, and the KL appears only as ``stat_kl``.
        """
        if self.iw_samples > 1:
            return self._importance_weighted_terms(x, mask=mask)
        x_in, target, mask = self._input_and_target(x, mask)
        h = self.architecture.encoder(x_in)  # (B, *feature_shape)
        z, terms = self.latent(h)  # (B, *code_shape)
        z = self._transform_code(z)
        for reg in self.regularizers:
            terms |= reg(x=x_in, h=h, z=z, model=self)
        out = self.decoder_output(z, x_in, x)  # (B, [n_params,] *input_shape)
        recon = self.likelihood.reduce(self.likelihood.nll(out, target), mask)  # (B,)
        if getattr(self.architecture, "has_output_terms", False):
            # Architectures may score the reconstruction beyond the likelihood
            # (e.g. SSIM of predicted frames).
            mean = self.likelihood.mean(out)
            terms |= self.architecture.output_terms(mean, target, mask)
        return recon, terms

    def _input_and_target(self, x: torch.Tensor, mask: torch.Tensor | None):
        """(encoder input: corrupted in training, target, mask of scored elements)."""
        x_in = self.corruption(x) if (self.training and self.corruption) else x
        if mask is None and hasattr(self.architecture, "loss_target"):
            # Architectures with padded or partial targets (sequences) say what
            # the decoder's output is scored against.
            target, mask = self.architecture.loss_target(x)
            return x_in, target, mask
        return x_in, x, mask

    def _importance_weighted_terms(
        self, x: torch.Tensor, *, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``-log mean_i w_i`` per sample with ``log w_i = log p(x|z_i) +
        s (log p(z_i) - log q(z_i|x))``, ``z_i ~ q(z|x)``, ``i = 1..k``, computed
        with log-sum-exp; ``s`` is the latent's warm-up-scaled beta (1: the IWAE
        bound of Burda et al. 2015, which is the ELBO at ``k = 1``)."""
        k = self.iw_samples
        x_in, target, mask = self._input_and_target(x, mask)
        q = self.latent.posterior(self.architecture.encoder(x_in))  # (B, *code)
        z = q.rsample(k)  # (k, B, *code)
        out = self.decoder_output(z.flatten(0, 1), x_in, x)  # (k*B, [P,] *x)
        target = target.expand(k, *target.shape).flatten(0, 1)
        if mask is not None:
            mask = mask.expand(k, *mask.shape).flatten(0, 1)
        B = x.shape[0]
        nll = self.likelihood.nll(out.float(), target)  # float32 under autocast too
        log_px = -self.likelihood.reduce(nll, mask)
        log_ratio = self.latent.prior_log_prob(z) - q.log_prob(z)  # (k, B)
        log_w = log_px.view(k, B) + self.latent.log_weight_scale * log_ratio
        kl = q.kl() if self.latent.exact_kl else -log_ratio.mean(0)
        return -iwae_from_log_weights(log_w), {"stat_kl": kl.detach()}
