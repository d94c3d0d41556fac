"""Input corruption for denoising autoencoders.

A corruption is applied to the input on the training path only (drawn afresh
for every batch); the reconstruction is always scored against the clean input.
Call signature: ``corruption(x) -> x_tilde``, using torch's global generator,
which the trainer seeds and checkpoints.
"""

from aekit.registry import CORRUPTIONS  # noqa: F401
