"""scikit-learn estimators over the composed autoencoder."""

from aekit.estimators.anomaly import AnomalyDetector
from aekit.estimators.autoencoder import Autoencoder

__all__ = ["AnomalyDetector", "Autoencoder"]
