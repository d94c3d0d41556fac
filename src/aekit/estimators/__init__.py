"""scikit-learn estimators over the composed autoencoder."""

from aekit.estimators.autoencoder import Autoencoder

__all__ = ["Autoencoder"]
