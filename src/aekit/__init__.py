"""aekit: autoencoders made practical."""

__version__ = "0.1.0"

from aekit.estimators import (  # noqa: E402
    AnomalyDetector,
    Autoencoder,
)
from aekit.estimators.recommender import Recommender  # noqa: E402
from aekit.estimators.sequence import SequenceAutoencoder  # noqa: E402
from aekit.exceptions import (  # noqa: E402
    AekitError,
    ConfigError,
    DataError,
    ModelFileError,
    NotFittedError,
    TrainingError,
    WriteError,
)
from aekit.report.html import write_report  # noqa: E402
from aekit.runs import load  # noqa: E402

__all__ = [
    "AekitError",
    "AnomalyDetector",
    "Autoencoder",
    "ConfigError",
    "DataError",
    "ModelFileError",
    "NotFittedError",
    "Recommender",
    "SequenceAutoencoder",
    "TrainingError",
    "WriteError",
    "__version__",
    "load",
    "write_report",
]
