from __future__ import annotations

import numpy as np
from hypothesis import given

from reelrec.rules.base import Candidates, RuleContext
from reelrec.rules.boosts import FreshnessBoost, PopularityDamping
from tests.rules.helpers import context, ranked, table
from tests.rules.strategies import cases


@given(case=cases())
def test_freshness_fills_its_slots_when_fresh_candidates_exist(
    case: tuple[Candidates, RuleContext],
) -> None:
    slate, ctx = case
    rule = FreshnessBoost(max_age_hours=24.0, slots=2)
    fresh_in = int(rule.fresh(slate, ctx).sum())
    out = rule.apply(slate, ctx)
    k = min(ctx.k, len(out))
    fresh_head = int(rule.fresh(out, ctx)[:k].sum())
    assert fresh_head >= min(2, fresh_in, k)
    assert fresh_head >= int(rule.fresh(slate, ctx)[:k].sum())


def test_freshness_picks_by_score_plus_uncertainty_bonus_into_spaced_slots() -> None:
    # 0-5 old; 6 and 7 fresh with equal scores, 7 has fewer views → bigger bonus.
    videos = table(8, age_hours=[500] * 6 + [2, 3], popularity=[0] * 6 + [99, 0])
    slate = ranked(list(range(8)), [8, 7, 6, 5, 4, 3, 1, 1])
    out = FreshnessBoost(slots=1, bonus=0.1).apply(slate, context(videos, k=4))
    # One slot at position 4 // 2 = 2; the last old item of the first 4 (3) makes room.
    assert out.video_idx.tolist() == [0, 1, 7, 2, 3, 4, 5, 6]
    assert out.reasons[2] == ("ranked", "freshness")
    assert out.reasons[4] == ("ranked", "freshness:deferred")
    assert FreshnessBoost.positions(20, 2) == [6, 13]


def test_popularity_damping_hand_example_and_once_per_slate() -> None:
    videos = table(3, popularity=[np.e**2 - 1, 0.0, np.e - 1])  # log1p = 2, 0, 1
    slate = ranked([0, 1, 2], [1.0, 0.95, 0.5])
    out = PopularityDamping(alpha=1.0).apply(slate, context(videos))
    # σ = std(1, 0.95, 0.5) = sqrt(0.15167 / 3) = 0.22485; penalties σ·(2/2, 0/2, 1/2)
    # = 0.22485, 0, 0.11243 → scores 0.77515, 0.95, 0.38757 → 1 moves up.
    assert out.video_idx.tolist() == [1, 0, 2]
    np.testing.assert_allclose(out.scores, [0.95, 0.77515, 0.38757], atol=1e-5)
    assert out.reasons[0] == ("ranked", "popularity_damping")
    assert out.applied == ("popularity_damping",)
    assert PopularityDamping(alpha=1.0).apply(out, context(videos)) == out
