"""scikit-learn estimators over the composed autoencoder."""

from aekit.estimators.autoencoder import Autoencoder
from aekit.estimators.sequence import SequenceAutoencoder

__all__ = ["Autoencoder", "SequenceAutoencoder"]
