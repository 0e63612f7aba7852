from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reelrec.rules.base import Candidates, RuleContext
from reelrec.rules.filters import SafetyFilter, SeenFilter, best_of_groups, is_member
from tests.rules.helpers import NOW, context, ranked, table
from tests.rules.strategies import cases


@given(case=cases())
def test_seen_ids_are_never_returned(case: tuple[Candidates, RuleContext]) -> None:
    slate, ctx = case
    out = SeenFilter().apply(slate, ctx)
    assert not set(out.video_idx.tolist()) & set(ctx.seen.tolist())
    assert set(out.video_idx.tolist()) == set(slate.video_idx.tolist()) - set(ctx.seen.tolist())


def test_seen_window_hides_only_recent_views() -> None:
    ctx = context(
        table(4),
        seen=np.array([0, 1, 2]),
        seen_seconds=np.array([NOW - 3600.0, NOW - 48 * 3600.0, np.nan]),
    )
    out = SeenFilter(window_hours=24.0).apply(ranked([0, 1, 2, 3]), ctx)
    # 0 seen an hour ago and 2 at an unknown time stay hidden; 1 (two days ago) may return.
    assert out.video_idx.tolist() == [1, 3]
    assert out.removed_counts() == {"seen": 2}
    assert SeenFilter().apply(ranked([0, 1, 2, 3]), ctx).video_idx.tolist() == [3]


@given(case=cases())
def test_unsafe_and_blocklisted_are_never_returned(case: tuple[Candidates, RuleContext]) -> None:
    slate, ctx = case
    out = SafetyFilter().apply(slate, ctx)
    for v in out.video_idx.tolist():
        assert not ctx.videos.unsafe[v]
        assert v not in ctx.blocklist
    expected = [
        v for v in slate.video_idx.tolist() if not ctx.videos.unsafe[v] and v not in ctx.blocklist
    ]
    assert out.video_idx.tolist() == expected


def test_best_of_groups_keeps_the_best_score_and_the_earliest_on_ties() -> None:
    slate = ranked([0, 1, 2, 3, 4], scores=[1.0, 3.0, 3.0, 2.0, 0.5])
    group = np.array([7, 7, 9, 9, 5])
    # group 7: position 1 (3.0) beats 0; group 9: tie at 3.0 vs 2.0 → position 2; group 5 alone.
    assert best_of_groups(slate, group).tolist() == [False, True, True, False, True]


@given(
    scores=st.lists(st.integers(0, 4), min_size=1, max_size=40),
    groups=st.lists(st.integers(-2, 6), min_size=40, max_size=40),
)
def test_best_of_groups_follows_its_definition(scores: list[int], groups: list[int]) -> None:
    n = len(scores)
    slate = ranked(list(range(n)), scores=[s / 4 for s in scores])
    group = np.asarray(groups[:n])
    # Per group: the highest score, the earliest position among equals.
    best = {g: min(range(n), key=lambda i, g=g: (group[i] != g, -scores[i], i)) for g in groups[:n]}
    assert best_of_groups(slate, group).tolist() == [best[g] == i for i, g in enumerate(group)]


@given(
    values=st.lists(st.integers(-3, 50), max_size=30),
    pool=st.lists(st.integers(-3, 50), max_size=30),
)
def test_is_member_equals_numpy_isin(values: list[int], pool: list[int]) -> None:
    a, b = np.asarray(values, dtype=np.int64), np.asarray(pool, dtype=np.int64)
    assert is_member(a, b).tolist() == np.isin(a, b).tolist()
