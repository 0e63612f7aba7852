"""The one exception tree of reelrec.

Each class also inherits the builtin a caller would naturally catch::

    ReelrecError
    ├── ConfigError(ValueError)          unknown key, out-of-range value, incompatible choices
    ├── DataError(ValueError)            schema mismatch, bad row, empty split, time leakage
    ├── UnknownIdError(KeyError)         strict lookups only; serving uses cold start instead
    ├── NotFittedError(RuntimeError)     recommend/save before fit
    ├── TrainingError(RuntimeError)      non-finite loss / divergence (with remedy)
    ├── IndexStateError(RuntimeError)    search before build, dim mismatch, manifest mismatch
    ├── StoreError(RuntimeError)         online store unavailable or failing
    └── ArtifactError(OSError)           missing / partial / version-incompatible run directory

Messages say what was wrong, where, what was expected, what we got, and how to fix it.
"""

from __future__ import annotations


class ReelrecError(Exception):
    """Base class of every error reelrec raises on purpose."""

    def __str__(self) -> str:
        # KeyError's str() adds quotes around the message; keep one shape for every class.
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(ReelrecError, ValueError):
    """A configuration key is unknown, a value is out of range, or choices conflict."""


class DataError(ReelrecError, ValueError):
    """Input data does not match the schema, or a split/transform cannot be made."""


class UnknownIdError(ReelrecError, KeyError):
    """A strict lookup met an id that is not in the vocabulary."""


class NotFittedError(ReelrecError, RuntimeError):
    """A model or recommender was used before it was fitted."""


class TrainingError(ReelrecError, RuntimeError):
    """Training diverged or produced non-finite values."""


class IndexStateError(ReelrecError, RuntimeError):
    """A vector index was used in a state that does not allow the call."""


class StoreError(ReelrecError, RuntimeError):
    """An online store could not be reached or failed an operation."""


class ArtifactError(ReelrecError, OSError):
    """A run directory or artifact is missing, partial or incompatible."""


class ReelrecWarning(UserWarning):
    """Base class of reelrec's warnings."""


class ColdStartWarning(ReelrecWarning):
    """A fallback path was used for an unknown user or video."""


__all__ = [
    "ArtifactError",
    "ColdStartWarning",
    "ConfigError",
    "DataError",
    "IndexStateError",
    "NotFittedError",
    "ReelrecError",
    "ReelrecWarning",
    "StoreError",
    "TrainingError",
    "UnknownIdError",
]
