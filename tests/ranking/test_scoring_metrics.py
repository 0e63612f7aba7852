"""Feed-score weights and the ranking metrics on hand-derived examples."""

from __future__ import annotations

import numpy as np
import pytest

from reelrec.config import RankingConfig
from reelrec.ranking.metrics import auc, ndcg_at_k, xauc
from reelrec.ranking.scoring import feed_score, head_weights


def test_feed_score_weights_and_unavailable_heads() -> None:
    heads = np.array([[1.5, 0.2, 0.4, 0.1], [3.0, 0.0, 1.0, 0.0]], np.float32)
    weights = head_weights(RankingConfig(weight_watch=2.0, weight_like=1.0, weight_complete=0.5))
    available = np.array([True, True, True, False])
    # row 0: 2·(1.5/3) + 1·0.2 + 0.5·0.4 (+ share/follow unavailable) = 1.4
    np.testing.assert_allclose(feed_score(heads, weights, available, 3.0), [1.4, 2.5], rtol=1e-6)
    only_like = feed_score(heads, weights, np.array([False, True, False, False]), 3.0)
    np.testing.assert_allclose(only_like, [0.2, 0.0], rtol=1e-6)


def test_xauc_three_items_by_hand() -> None:
    # Pairs with different true watch: (a,b), (a,c), (b,c). Predicted order a>c>b:
    # (a,b) true a<b, pred a>b → wrong; (a,c) true a<c, pred a>c → wrong; (b,c) true b<c,
    # pred b<c → right. XAUC = 1/3.
    true = np.array([1.0, 2.0, 3.0])
    pred = np.array([0.9, 0.1, 0.5])
    assert xauc(true, pred) == pytest.approx(1 / 3)
    assert xauc(true, np.array([0.5, 0.5, 0.9])) == pytest.approx((0.5 + 1 + 1) / 3)
    assert xauc(true, true * 2) == 1.0


def test_xauc_sampled_is_seeded_and_close() -> None:
    rng = np.random.default_rng(0)
    true = rng.exponential(size=3000)
    pred = true + rng.normal(size=3000)
    a, b = xauc(true, pred, n_pairs=50_000, seed=1), xauc(true, pred, n_pairs=50_000, seed=1)
    assert a == b
    assert abs(a - xauc(true, pred, n_pairs=10**8)) < 0.01


def test_auc_by_hand() -> None:
    assert auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.5, 0.5])) == pytest.approx(0.875)
    assert np.isnan(auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_ndcg_of_an_order_on_candidates() -> None:
    gains = np.array([[0.0, 1.0, 0.0, 1.0]])
    best = np.array([[0.1, 0.9, 0.2, 0.8]])
    worst = np.array([[0.9, 0.1, 0.8, 0.2]])
    assert ndcg_at_k(best, gains, 2)[0] == pytest.approx(1.0)
    # worst order puts the hits at ranks 3 and 4: DCG = 1/log2(4) + 1/log2(5).
    ideal = 1 + 1 / np.log2(3)
    assert ndcg_at_k(worst, gains, 4)[0] == pytest.approx((1 / 2 + 1 / np.log2(5)) / ideal)
