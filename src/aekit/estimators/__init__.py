"""scikit-learn estimators over the composed autoencoder."""

from aekit.estimators.anomaly import AnomalyDetector
from aekit.estimators.autoencoder import Autoencoder
from aekit.estimators.recommender import Recommender
from aekit.estimators.sequence import SequenceAutoencoder

__all__ = ["AnomalyDetector", "Autoencoder", "Recommender", "SequenceAutoencoder"]
