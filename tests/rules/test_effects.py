from __future__ import annotations

import numpy as np
import pytest

from reelrec.errors import ConfigError
from reelrec.rules.effects import (
    creator_coverage,
    exposure_gini,
    fresh_share,
    gini,
    intra_list_diversity,
)
from tests.rules.helpers import NOW, table


def test_intra_list_diversity_is_mean_pairwise_cosine_distance() -> None:
    v = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32)
    t = table(3, vectors=v)
    # pairs: (0,1) cos 1, (0,2) 0, (1,2) 0 → mean cos 1/3 → diversity 2/3.
    assert intra_list_diversity(np.array([0, 1, 2]), t) == pytest.approx(2 / 3)
    assert intra_list_diversity(np.array([0, -1]), t) == 0.0


def test_fresh_share_counts_uploads_within_the_age() -> None:
    t = table(4, age_hours=[1, 30, 5, 100])
    assert fresh_share(np.array([0, 1, 2, 3]), t, NOW, 24.0) == 0.5
    assert fresh_share(np.array([], dtype=np.int64), t, NOW, 24.0) == 0.0


def test_creator_coverage_is_share_of_known_creators_shown() -> None:
    t = table(5, creator=[0, 0, 1, 2, -1])
    assert creator_coverage(np.array([0, 1, 4]), t) == pytest.approx(1 / 3)
    assert creator_coverage(np.array([[0, 2], [3, -1]]), t) == 1.0


def test_gini_hand_values() -> None:
    assert gini(np.array([1, 1, 1, 1])) == 0.0
    # x = (0, 0, 0, 4): 2·(4·4)/(4·4) − 5/4 = 0.75 (the maximum for n = 4 is 1 − 1/n).
    assert gini(np.array([4, 0, 0, 0])) == pytest.approx(0.75)
    # x = (1, 3): 2·(1 + 6)/(2·4) − 3/2 = 0.25.
    assert gini(np.array([3, 1])) == pytest.approx(0.25)


def test_exposure_gini_over_creators_and_videos() -> None:
    t = table(4, creator=[0, 0, 1, -1])
    shown = np.array([0, 1, 1, 2, 3])  # creator 0: 3 impressions, creator 1: 1
    assert exposure_gini(shown, t) == pytest.approx(0.25)
    # videos: counts (1, 2, 1, 1) → sorted (1,1,1,2): 2·(1+2+3+8)/(4·5) − 5/4 = 0.15.
    assert exposure_gini(shown, t, by="video") == pytest.approx(0.15)
    with pytest.raises(ConfigError):
        exposure_gini(shown, t, by="tag")


def test_default_chain_on_the_tiny_world_spreads_creators_and_adds_fresh_videos(tiny_rec) -> None:  # type: ignore[no-untyped-def]
    """Before/after the default rules on real retrieval candidates, measured in one test."""
    from reelrec.config import RulesConfig
    from reelrec.rules.base import Candidates, RuleContext
    from reelrec.rules.chain import build_chain
    from reelrec.rules.videos import video_table

    rec, k = tiny_rec, 20
    n = len(rec.catalog_)
    table = video_table(rec.catalog_, rec.index_.get_vectors(np.arange(n)), rec.popularity_)
    users = np.arange(200, dtype=np.int64)
    now = rec.space_.reference_seconds
    videos, scores = rec.retrieve(users, 300)
    chain = build_chain(RulesConfig())
    before, after = [], []
    for row, user in enumerate(users.tolist()):
        slate = Candidates.from_ranked(videos[row], scores[row])
        ctx = RuleContext(videos=table, seen=rec.seen_row(user), now_seconds=now, k=k)
        before.append(slate.video_idx[:k])
        after.append(chain.apply(slate, ctx).video_idx[:k])
    b, a = np.concatenate(before), np.concatenate(after)
    assert creator_coverage(a, table) > creator_coverage(b, table)
    assert exposure_gini(a, table) < exposure_gini(b, table)
    assert fresh_share(a, table, now, 24.0) > fresh_share(b, table, now, 24.0)
    assert not table.unsafe[a].any()
    for feed in after:
        creators = table.creator_idx[feed]
        assert np.bincount(creators[creators >= 0]).max() <= RulesConfig().creator_cap
