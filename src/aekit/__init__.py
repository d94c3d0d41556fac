"""aekit: autoencoders made practical."""

__version__ = "0.1.0"

from aekit.estimators import (  # noqa: E402
    AnomalyDetector,
    Autoencoder,
)
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
    "TrainingError",
    "WriteError",
    "__version__",
    "load",
    "write_report",
]
