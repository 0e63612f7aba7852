"""reelrec: a short-video recommender built on two towers.

The public API is listed in ``__all__``; heavy parts (torch, faiss) load on first use, so
``import reelrec`` stays light and never imports faiss, fastapi or redis.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ArtifactError": "reelrec.errors",
    "Config": "reelrec.config",
    "ConfigError": "reelrec.errors",
    "DataError": "reelrec.errors",
    "Dataset": "reelrec.data.readers",
    "ExactIndex": "reelrec.index.exact",
    "FaissIndex": "reelrec.index.faiss_index",
    "IndexStateError": "reelrec.errors",
    "NotFittedError": "reelrec.errors",
    "Recommender": "reelrec.recommender",
    "ReelrecError": "reelrec.errors",
    "Slate": "reelrec.recommender",
    "TrainingError": "reelrec.errors",
    "TwoTower": "reelrec.models.two_tower",
    "UnknownIdError": "reelrec.errors",
    "evaluate": "reelrec.comparison",
    "info_nce": "reelrec.training.losses",
    "leave_last_out": "reelrec.data.splits",
    "load_config": "reelrec.config",
    "make_world": "reelrec.data.synthetic",
    "prepare": "reelrec.data.public",
    "read_dataset": "reelrec.data.readers",
    "read_interactions": "reelrec.data.readers",
    "split_by_time": "reelrec.data.splits",
    "split_random": "reelrec.data.splits",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import public names lazily (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reelrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
