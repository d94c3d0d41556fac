"""Errors that aekit raises for problems a user can fix.

Each subclasses the builtin that scikit-learn users already catch, so
``except ValueError`` keeps working. The CLI prints one line and exits with 2.
"""


class AekitError(Exception):
    """Base class of every error aekit raises for a user's mistake."""


class DataError(AekitError, ValueError):
    """The data is unusable: empty, NaN, wrong shape, unknown format..."""


class ConfigError(AekitError, ValueError):
    """An option is invalid or contradicts another one."""


class NotFittedError(AekitError, ValueError, AttributeError):
    """A method needs a fitted model."""


class ModelFileError(AekitError, OSError):
    """A run folder is missing, truncated, tampered with or too new."""


class TrainingError(AekitError, RuntimeError):
    """Training could not continue (for example the loss diverged)."""


class DataTypeError(DataError, TypeError):
    """The data holds values of a type that cannot become numbers."""


class WriteError(AekitError, OSError):
    """A file could not be written (full disk, no permission); the previous
    version of the file is intact."""
