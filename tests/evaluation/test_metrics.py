from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reelrec.errors import ConfigError, DataError
from reelrec.evaluation import metrics as m

PER_USER = [m.recall_at_k, m.precision_at_k, m.hit_rate_at_k, m.ndcg_at_k, m.mrr_at_k]


def _arr(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.int64)


def _rel(*rows: list[int]) -> list[np.ndarray]:
    return [np.array(r, dtype=np.int64) for r in rows]


@st.composite
def rankings(draw: st.DrawFn) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Random top-K lists (unique per row, -1 padded at the end) and non-empty relevant sets."""
    n_items = draw(st.integers(1, 25))
    n_users = draw(st.integers(1, 6))
    width = draw(st.integers(1, 10))
    perm = st.permutations(list(range(n_items)))
    recs, rels = [], []
    for _ in range(n_users):
        row = draw(perm)[: draw(st.integers(0, min(width, n_items)))]
        recs.append(row + [-1] * (width - len(row)))
        rels.append(sorted(draw(st.sets(st.integers(0, n_items - 1), min_size=1))))
    return _arr(recs), _rel(*rels), n_items


@settings(max_examples=60, deadline=None)
@given(rankings())
def test_recall_bounded_by_hit_rate_and_monotone_in_k(case) -> None:
    recs, rels, _ = case
    previous = np.zeros(len(rels))
    for k in range(1, recs.shape[1] + 1):
        recall, hit = m.recall_at_k(recs, rels, k), m.hit_rate_at_k(recs, rels, k)
        assert np.all(recall >= 0)
        assert np.all(recall <= hit)
        assert np.all(hit <= 1)
        assert np.all(recall >= previous)
        for fn in (m.precision_at_k, m.ndcg_at_k, m.mrr_at_k):
            assert np.all((fn(recs, rels, k) >= 0) & (fn(recs, rels, k) <= 1 + 1e-12))
        previous = recall


@settings(max_examples=60, deadline=None)
@given(rankings())
def test_ndcg_is_one_for_an_ideal_ranking(case) -> None:
    recs, rels, n_items = case
    ideal = []
    for rel in rels:
        rest = [i for i in range(n_items) if i not in set(rel.tolist())]
        ideal.append((rel.tolist() + rest + [-1] * recs.shape[1])[: recs.shape[1]])
    for k in range(1, recs.shape[1] + 1):
        np.testing.assert_allclose(m.ndcg_at_k(_arr(ideal), rels, k), 1.0)


@settings(max_examples=60, deadline=None)
@given(rankings(), st.randoms(use_true_random=False))
def test_invariant_to_the_order_of_users(case, rnd) -> None:
    recs, rels, n_items = case
    order = list(range(len(rels)))
    rnd.shuffle(order)
    shuffled_recs, shuffled_rels = recs[order], [rels[i] for i in order]
    k = recs.shape[1]
    for fn in PER_USER:
        np.testing.assert_allclose(fn(shuffled_recs, shuffled_rels, k), fn(recs, rels, k)[order])
    assert m.coverage_at_k(shuffled_recs, k, n_items) == m.coverage_at_k(recs, k, n_items)
    assert m.gini_of_exposure(shuffled_recs, k, n_items) == pytest.approx(
        m.gini_of_exposure(recs, k, n_items)
    )


@settings(max_examples=60, deadline=None)
@given(rankings())
def test_gini_in_unit_interval(case) -> None:
    recs, _, n_items = case
    assert 0.0 <= m.gini_of_exposure(recs, recs.shape[1], n_items) <= 1.0


@pytest.mark.parametrize(("n_items", "k"), [(1, 1), (5, 2), (7, 7)])
def test_gini_zero_for_uniform_exposure(n_items: int, k: int) -> None:
    recs = _arr([[(u + j) % n_items for j in range(k)] for u in range(n_items)])
    assert m.gini_of_exposure(recs, k, n_items) == pytest.approx(0.0)


def test_gini_hand_cases() -> None:
    # all exposure on one of 4 items: (n-1)/n
    assert m.gini_of_exposure(_arr([[3], [3], [3], [3]]), 1, 4) == pytest.approx(0.75)
    # counts [1, 3]: sum|xi-xj| over ordered pairs = 4, / (2 * n^2 * mean = 2*4*2) = 0.25
    assert m.gini_of_exposure(_arr([[0, 1], [1, -1], [1, -1]]), 2, 2) == pytest.approx(0.25)
    assert m.gini_of_exposure(_arr([[-1]]), 1, 3) == 0.0


def test_hand_cases_recall_precision_ndcg_mrr() -> None:
    recs, rels = _arr([[1, 2, 3, -1]]), _rel([2, 3, 4, 5, 6])
    assert m.recall_at_k(recs, rels, 4) == pytest.approx(2 / 5)  # hits / |rel|, not / min(|rel|,k)
    assert m.precision_at_k(recs, rels, 4) == pytest.approx(2 / 4)
    # one hit at rank 2: DCG = 1/log2(3); ideal has 2 hits: 1 + 1/log2(3)
    ndcg = m.ndcg_at_k(_arr([[5, 1, 7]]), _rel([1, 9]), 3)
    assert ndcg == pytest.approx((1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    mrr = m.mrr_at_k(_arr([[3, 4, 5], [1, 2, 3], [7, 8, 9]]), _rel([5], [1], [0]), 3)
    np.testing.assert_allclose(mrr, [1 / 3, 1.0, 0.0])
    np.testing.assert_allclose(m.mrr_at_k(_arr([[3, 4, 5]]), _rel([5]), 2), [0.0])


def test_catalogue_hand_cases() -> None:
    recs = _arr([[0, 1, -1], [1, 2, 3]])
    assert m.coverage_at_k(recs, 2, 8) == pytest.approx(3 / 8)
    popularity = np.array([10.0, 20.0, 30.0, 40.0])
    np.testing.assert_allclose(m.average_popularity(recs, popularity, 3), [15.0, 30.0])
    # p = pop / n_users = [0.25, 0.5, ...]: -log2 -> [2, 1]
    np.testing.assert_allclose(m.novelty(recs[:1], popularity, 40, 2), [1.5])


def test_binary_auc_hand_case_counts_ties_half() -> None:
    # pos .9 beats both negatives, pos .4 loses to .8 and ties .4: (2 + 0 + 0.5) / 4
    labels = np.array([True, False, True, False])
    assert m.binary_auc(labels, np.array([0.9, 0.8, 0.4, 0.4])) == pytest.approx(0.625)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 4)), min_size=2, max_size=30))
def test_binary_auc_matches_pair_counting(pairs) -> None:
    labels = np.array([p[0] for p in pairs])
    scores = np.array([p[1] for p in pairs], dtype=np.float64)
    pos, neg = scores[labels], scores[~labels]
    if len(pos) == 0 or len(neg) == 0:
        with pytest.raises(DataError):
            m.binary_auc(labels, scores)
        return
    expected = (
        ((pos[:, None] > neg).sum() + 0.5 * (pos[:, None] == neg).sum()) / pos.size / neg.size
    )
    auc = m.binary_auc(labels, scores)
    assert auc == pytest.approx(expected)
    assert 0.0 <= auc <= 1.0


def test_full_auc_hand_case_and_perfect_ranking() -> None:
    # ranks 0 and 2 among 5: the first beats 3 negatives, the second 2 of 3 -> 5/6
    np.testing.assert_allclose(m.full_auc([np.array([0.0, 2.0])], 5), [5 / 6])
    np.testing.assert_allclose(m.full_auc([np.array([0.0, 1.0, 2.0]), np.array([0.0])], 9), 1.0)
    np.testing.assert_allclose(m.full_auc([np.array([8.0])], np.array([9])), [0.0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=2, max_size=25), st.data())
def test_full_auc_from_average_ranks_equals_binary_auc(scores, data) -> None:
    scores = np.array(scores, dtype=np.float64)
    labels = np.array(
        data.draw(st.lists(st.booleans(), min_size=len(scores), max_size=len(scores)))
    )
    if labels.all() or not labels.any():
        return
    descending = np.array([(scores > s).sum() + ((scores == s).sum() - 1) / 2 for s in scores])
    auc = m.full_auc([descending[labels]], len(scores))[0]
    assert auc == pytest.approx(m.binary_auc(labels, scores))
    assert 0.0 <= auc <= 1.0


def test_xauc_hand_cases() -> None:
    assert m.xauc(np.array([1.0, 2.0, 3.0]), np.array([1.0, 3.0, 2.0])) == pytest.approx(2 / 3)
    # pairs with equal true time are skipped; a tie in the prediction counts half
    assert m.xauc(np.array([1.0, 2.0, 2.0]), np.array([0.0, 0.0, 1.0])) == pytest.approx(0.75)
    assert m.xauc(np.arange(5.0), np.arange(5.0) * 3) == 1.0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=40))
def test_xauc_matches_brute_force(pairs) -> None:
    true = np.array([p[0] for p in pairs], dtype=np.float64)
    pred = np.array([p[1] for p in pairs], dtype=np.float64)
    good = total = 0.0
    for i, j in itertools.combinations(range(len(pairs)), 2):
        if true[i] != true[j]:
            total += 1
            agree = (true[i] - true[j]) * (pred[i] - pred[j])
            good += 1.0 if agree > 0 else 0.5 if agree == 0 else 0.0
    if total == 0:
        with pytest.raises(DataError):
            m.xauc(true, pred)
        return
    assert m.xauc(true, pred) == pytest.approx(good / total)


def test_xauc_large_input_is_fast_and_sane() -> None:
    rng = np.random.default_rng(0)
    true = rng.exponential(size=50_000)
    assert m.xauc(true, true + rng.normal(scale=1e-9, size=true.size)) > 0.99
    assert m.xauc(true, rng.random(true.size)) == pytest.approx(0.5, abs=0.01)


def test_bad_inputs_raise() -> None:
    recs = _arr([[1, 2]])
    with pytest.raises(ConfigError, match="k must be"):
        m.recall_at_k(recs, _rel([1]), 3)
    with pytest.raises(DataError, match="≥1 relevant"):
        m.recall_at_k(recs, _rel([]), 1)
    with pytest.raises(DataError, match="repeats"):
        m.recall_at_k(_arr([[1, 1]]), _rel([1]), 2)
    with pytest.raises(DataError, match="relevant has"):
        m.ndcg_at_k(recs, _rel([1], [2]), 1)
    with pytest.raises(DataError, match="non-relevant"):
        m.full_auc([np.array([0.0, 1.0])], 2)
