from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given

from reelrec.rules.base import Candidates, RuleContext
from reelrec.rules.diversity import Constraint, Diversity, Spacing
from tests.rules.helpers import context, ranked, table
from tests.rules.strategies import cases

CREATOR = Spacing(
    name="creator_spacing", constraints=(Constraint(key="creator", note="creator_spacing", cap=2),)
)
DUPLICATE = Spacing(
    name="near_duplicate",
    constraints=(Constraint(key="near_duplicate", note="near_duplicate", cosine=0.9),),
)


@given(case=cases())
def test_creator_cap_is_never_exceeded_in_the_first_k(case: tuple[Candidates, RuleContext]) -> None:
    slate, ctx = case
    out = CREATOR.apply(slate, ctx)
    creators = ctx.videos.creator_idx[out.video_idx[: ctx.k]]
    counts = Counter(c for c in creators.tolist() if c >= 0)
    assert max(counts.values(), default=0) <= 2


@given(case=cases())
def test_same_creator_is_adjacent_only_when_nothing_else_fits(
    case: tuple[Candidates, RuleContext],
) -> None:
    slate, ctx = case
    out = CREATOR.apply(slate, ctx)
    creators = ctx.videos.creator_idx[out.video_idx].tolist()
    for p in range(1, min(ctx.k, len(out))):
        if creators[p] >= 0 and creators[p] == creators[p - 1]:
            # Every later item was the same creator again or over its cap at that point.
            before = Counter(creators[:p])
            for c in creators[p + 1 :]:
                assert c == creators[p - 1] or (c >= 0 and before[c] >= 2)


@given(case=cases())
def test_no_adjacent_near_duplicates_when_enough_distinct_items_exist(
    case: tuple[Candidates, RuleContext],
) -> None:
    slate, ctx = case
    out = DUPLICATE.apply(slate, ctx)
    groups = ctx.videos.duplicate_group[out.video_idx]
    assert np.unique(groups).size == groups.size  # re-uploads reduced to one per group
    v = ctx.videos.vectors[out.video_idx].astype(np.float64)
    for p in range(1, min(ctx.k, len(out))):
        if v[p] @ v[p - 1] > 0.9:
            # Allowed only as a fallback: every later item was a near-duplicate of p - 1.
            assert all(v[q] @ v[p - 1] > 0.9 for q in range(p + 1, len(out)))


def test_spacing_hand_example_defers_and_notes() -> None:
    videos = table(5, creator=[0, 0, 1, 0, 2])
    out = CREATOR.apply(ranked([0, 1, 2, 3, 4]), context(videos, k=5))
    # 0(c0) · 1(c0) would repeat → 2(c1), then 1(c0), then 3 is c0 again → 4(c2), then 3 is over
    # the cap of 2 → the feed ends and 3 is removed.
    assert out.video_idx.tolist() == [0, 2, 1, 4]
    assert out.removed_counts() == {"creator_spacing": 1}
    assert out.reasons[2] == ("ranked", "creator_spacing")  # video 1 was deferred
    assert out.reasons[1] == ("ranked",)


def test_near_duplicate_keeps_the_best_reupload_and_spaces_similar_vectors() -> None:
    vectors = np.array([[1, 0], [1, 0.01], [0, 1], [0.999, 0.04]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    videos = table(4, vectors=vectors, duplicate_of=[-1, 0, -1, -1])
    out = DUPLICATE.apply(ranked([1, 0, 3, 2], [4.0, 3.0, 2.0, 1.0]), context(videos, k=4))
    # 0 re-uploads as 1 and 1 scores higher: 0 goes. 3 is almost 1 → 2 comes between.
    assert out.video_idx.tolist() == [1, 2, 3]
    assert out.removed_counts() == {"near_duplicate": 1}


def test_mmr_with_lambda_one_is_relevance_order_and_lower_lambda_diversifies() -> None:
    vectors = np.array([[1, 0], [0.99, 0.141], [0, 1]], dtype=np.float32)
    videos = table(3, vectors=vectors)
    slate = ranked([0, 1, 2], [1.0, 0.9, 0.5])
    assert Diversity(lam=1.0).apply(slate, context(videos, k=3)) == slate
    out = Diversity(lam=0.5).apply(slate, context(videos, k=3))
    # Relevance scaled to [1, 0.8, 0]; after 0: MMR(1) = 0.5·0.8 − 0.5·0.99 < MMR(2) = 0 − 0.
    assert out.video_idx.tolist() == [0, 2, 1]
    assert out.reasons[1] == ("ranked", "diversity")
    assert out.scores.tolist() == [1.0, 0.5, 0.9]
