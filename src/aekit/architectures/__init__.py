"""Architectures: each file builds an encoder/decoder pair.

An architecture is built in two steps, because the latent between encoder and
decoder decides the code's shape:

1. ``Arch(config, input_shape=...)`` builds ``self.encoder`` (x -> features)
   and sets ``self.feature_shape`` (per sample, without the batch dimension);
2. ``build_decoder(code_shape, n_params)`` builds ``self.decoder``
   (code -> ``n_params`` values per input element, before the likelihood's
   link function): shape ``(B, *input_shape)`` when ``n_params == 1``, else
   ``(B, n_params, *input_shape)``.
"""

from aekit.architectures import conv, dense, sequence  # noqa: F401  (register)
