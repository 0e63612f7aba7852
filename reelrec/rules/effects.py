"""What rules do to feeds, as numbers: diversity, freshness, creator coverage, exposure Gini.

Pure numpy over dense video idx and the ``VideoTable``; ``-1`` entries (padding) are ignored.
"""

from __future__ import annotations

import numpy as np

from reelrec.errors import ConfigError
from reelrec.rules.base import VideoTable
from reelrec.rules.filters import HOUR
from reelrec.types import Idx


def _valid(video_idx: Idx) -> Idx:
    flat = np.asarray(video_idx, dtype=np.int64).ravel()
    out: Idx = flat[flat >= 0]
    return out


def intra_list_diversity(video_idx: Idx, table: VideoTable) -> float:
    """Mean ``1 − cosine`` over the pairs of one feed's videos (0 for fewer than two)."""
    rows = _valid(video_idx)
    n = rows.size
    if n < 2:
        return 0.0
    v = table.vectors[rows].astype(np.float64)
    sims = v @ v.T
    mean_sim = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    return float(1.0 - mean_sim)


def fresh_share(
    video_idx: Idx, table: VideoTable, now_seconds: float, max_age_hours: float
) -> float:
    """Share of the videos uploaded at most ``max_age_hours`` before ``now_seconds``."""
    rows = _valid(video_idx)
    if rows.size == 0:
        return 0.0
    age_hours = (now_seconds - table.upload_seconds[rows]) / HOUR
    return float(np.mean(age_hours <= max_age_hours))


def creator_coverage(video_idx: Idx, table: VideoTable) -> float:
    """Distinct creators among the shown videos (all feeds) / known creators in the catalogue."""
    known = np.unique(table.creator_idx[table.creator_idx >= 0])
    if known.size == 0:
        return 0.0
    shown = table.creator_idx[_valid(video_idx)]
    return float(np.unique(shown[shown >= 0]).size / known.size)


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative ``counts`` (0 = equal, → 1 = all on one)."""
    x = np.sort(np.asarray(counts, dtype=np.float64).ravel())
    n, total = x.size, x.sum()
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(2.0 * np.sum(ranks * x) / (n * total) - (n + 1) / n)


def exposure_gini(video_idx: Idx, table: VideoTable, by: str = "creator") -> float:
    """Gini of impressions (all feeds' ``video_idx``) over every catalogue video or creator.

    Args:
        by: ``"creator"`` (known creators) or ``"video"`` (every catalogue row).

    Raises:
        ConfigError: ``by`` is neither.
    """
    rows = _valid(video_idx)
    if by == "video":
        return gini(np.bincount(rows, minlength=len(table)))
    if by != "creator":
        raise ConfigError(f"exposure_gini: by must be 'creator' or 'video'; got {by!r}")
    creators = table.creator_idx
    size = int(creators.max(initial=-1)) + 1
    shown = creators[rows]
    counts = np.bincount(shown[shown >= 0], minlength=size)
    known = np.zeros(size, dtype=bool)
    known[creators[creators >= 0]] = True
    return gini(counts[known])
