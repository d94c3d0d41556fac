"""Latents: map the encoder's features to the code.

A latent is built with ``feature_shape`` (the encoder's output per sample) and
sets ``code_shape``. It has two paths:

- ``forward(h) -> (z, terms)``: the training path; may sample, and returns
  named loss terms (e.g. ``{"kl": ...}``), already weighted;
- ``mean(h) -> z``: the deterministic code that ``encode`` returns.
"""

from aekit.latents import deterministic, variational  # noqa: F401  (register)
