"""Hand-built catalogues and slates for rule unit tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reelrec.rules.base import Candidates, RuleContext, VideoTable

NOW = 1_700_000_000.0


def table(
    n: int,
    *,
    creator: Sequence[int] | None = None,
    tag: Sequence[int] | None = None,
    age_hours: Sequence[float] | None = None,
    unsafe: Sequence[int] | None = None,
    popularity: Sequence[float] | None = None,
    vectors: np.ndarray | None = None,
    duplicate_of: Sequence[int] | None = None,
) -> VideoTable:
    """A catalogue of ``n`` videos; unspecified columns are neutral (distinct, old, safe)."""
    if vectors is None:
        vectors = np.eye(max(n, 1), dtype=np.float32)[:n]
    return VideoTable.from_arrays(
        creator_idx=np.asarray(creator if creator is not None else range(n)),
        tag_idx=np.asarray(tag if tag is not None else [-1] * n).reshape(n, 1),
        upload_seconds=NOW - 3600.0 * np.asarray(age_hours if age_hours else [1000.0] * n),
        unsafe=np.asarray(unsafe if unsafe is not None else [0] * n, dtype=bool),
        vectors=vectors,
        popularity=np.asarray(popularity if popularity is not None else [0.0] * n),
        duplicate_of=np.asarray(duplicate_of) if duplicate_of is not None else None,
    )


def ranked(video_idx: Sequence[int], scores: Sequence[float] | None = None) -> Candidates:
    """A slate in the given order with descending scores (n, n-1, …) unless given."""
    n = len(video_idx)
    return Candidates.from_ranked(
        np.asarray(video_idx, dtype=np.int64),
        np.asarray(scores if scores is not None else np.arange(n, 0, -1), dtype=np.float64),
        ("ranked",),
    )


def context(videos: VideoTable, **kwargs: object) -> RuleContext:
    return RuleContext(videos=videos, now_seconds=NOW, **kwargs)  # type: ignore[arg-type]
