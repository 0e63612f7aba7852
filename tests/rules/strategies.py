"""Hypothesis strategies for rule tests: small catalogues, ranked slates and user contexts."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from reelrec.rules.base import Candidates, RuleContext, VideoTable

NOW = 1_700_000_000.0
HOUR = 3600.0


@st.composite
def tables(draw: st.DrawFn, min_videos: int = 1, max_videos: int = 40) -> VideoTable:
    """A catalogue with few creators and tags, some fresh, unsafe and near-duplicate videos."""
    n = draw(st.integers(min_videos, max_videos))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n_creators = draw(st.integers(1, 6))
    vectors = rng.standard_normal((n, 4)).astype(np.float32)
    # Copy some rows (with a little noise) to plant near-duplicates of earlier videos.
    dup_of = np.full(n, -1, dtype=np.int64)
    for i in range(1, n):
        if rng.random() < 0.2:
            dup_of[i] = rng.integers(0, i)
            vectors[i] = vectors[dup_of[i]] + 0.01 * rng.standard_normal(4)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return VideoTable.from_arrays(
        creator_idx=rng.integers(-1, n_creators, n),
        tag_idx=rng.integers(-1, 4, (n, 3)),
        upload_seconds=np.where(rng.random(n) < 0.1, np.nan, NOW - rng.exponential(48 * HOUR, n)),
        unsafe=rng.random(n) < 0.1,
        vectors=vectors,
        popularity=np.floor(rng.pareto(1.0, n) * 5),
        duplicate_of=np.where(dup_of >= 0, dup_of, -1),
    )


@st.composite
def cases(
    draw: st.DrawFn, sorted_scores: bool = True, min_size: int = 0
) -> tuple[Candidates, RuleContext]:
    """(slate, context): distinct videos of a drawn table, scores descending by default."""
    table = draw(tables(min_videos=max(1, min_size)))
    n = len(table)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    size = draw(st.integers(min_size, n))
    video_idx = rng.permutation(n)[:size].astype(np.int64)
    # Coarse scores so ties happen (ties must be broken by position).
    scores = rng.integers(0, 6, size).astype(np.float64) / 4
    if sorted_scores:
        scores = np.sort(scores)[::-1].copy()
    seen = rng.choice(n, size=draw(st.integers(0, n)), replace=False).astype(np.int64)
    seen_seconds = NOW - rng.exponential(48 * HOUR, seen.size)
    blocklist = frozenset(int(v) for v in rng.choice(n, size=min(n, 2), replace=False))
    ctx = RuleContext(
        videos=table,
        seen=seen,
        seen_seconds=seen_seconds if draw(st.booleans()) else None,
        now_seconds=NOW,
        blocklist=blocklist if draw(st.booleans()) else frozenset(),
        k=draw(st.integers(1, 12)),
    )
    slate = Candidates(
        video_idx=video_idx, scores=scores, reasons=tuple(("ranked",) for _ in range(size))
    )
    return slate, ctx
