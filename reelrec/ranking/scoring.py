"""One feed score from the heads: a weighted sum with weights from ``RankingConfig``."""

from __future__ import annotations

import numpy as np

from reelrec.config import RankingConfig
from reelrec.ranking.model import HEADS


def head_weights(cfg: RankingConfig) -> np.ndarray:
    """``[len(HEADS)]`` weights in ``HEADS`` order."""
    return np.array(
        [cfg.weight_watch, cfg.weight_like, cfg.weight_complete, cfg.weight_share_follow],
        dtype=np.float32,
    )


def feed_score(
    heads: np.ndarray, weights: np.ndarray, available: np.ndarray, watch_cap: float
) -> np.ndarray:
    """``[n]`` score = Σ weight · prediction over available heads; the watch head counts as
    ``watch / watch_cap`` so that every term lies in [0, 1]. Unavailable heads count 0."""
    scaled = heads.astype(np.float32, copy=True)
    scaled[:, 0] /= watch_cap
    used = np.where(available, weights, 0.0).astype(np.float32)
    return np.asarray(scaled @ used, dtype=np.float32)


__all__ = ["HEADS", "feed_score", "head_weights"]
