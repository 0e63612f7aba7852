from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from reelrec.errors import ConfigError, DataError
from reelrec.evaluation import metrics
from reelrec.evaluation.baselines import EASE
from reelrec.evaluation.ranking_eval import evaluate_topk

N_USERS, N_ITEMS = 60, 40


@pytest.fixture(scope="module")
def data() -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Random train/test, a few test items repeated from train, integer scores with ties."""
    rng = np.random.default_rng(11)
    train = rng.random((N_USERS, N_ITEMS)) < 0.2
    test = (rng.random((N_USERS, N_ITEMS)) < 0.1) & ~train
    test[:5] |= train[:5]  # repeats of train items: never relevant
    test[50:] = False  # users without held-out items are skipped
    scores = rng.integers(0, 6, size=(N_USERS, N_ITEMS)).astype(np.float32)
    return sp.csr_matrix(train, dtype=np.float32), sp.csr_matrix(test, dtype=np.float32), scores


class FixedScores:
    """Recommends from a fixed score table; optionally ignores ``exclude``."""

    def __init__(self, scores: np.ndarray, honour_exclude: bool = True) -> None:
        self.scores, self.honour_exclude, self.calls = scores, honour_exclude, []

    def recommend(self, users, k, exclude):
        self.calls.append((users.copy(), exclude.copy()))
        block = self.scores[users].astype(np.float64)
        if self.honour_exclude:
            block[exclude.toarray() > 0] = -np.inf
        ids = np.argsort(-block, axis=1, kind="stable")[:, :k]
        ids = np.where(np.take_along_axis(block, ids, 1) == -np.inf, -1, ids)
        ids = np.pad(ids, ((0, 0), (0, k - ids.shape[1])), constant_values=-1)
        return ids.astype(np.int64), np.zeros(ids.shape, np.float32)

    def score(self, users):
        return self.scores[users]


def test_result_keys_and_types(data) -> None:
    train, test, scores = data
    model = FixedScores(scores)
    out = evaluate_topk(model.recommend, train, test, ks=(5, 10), auc_score_fn=model.score)
    names = ["recall", "precision", "ndcg", "hit_rate", "mrr", "coverage", "gini"]
    names += ["avg_popularity", "novelty"]
    assert {f"{n}@{k}" for n in names for k in (5, 10)} | {"auc", "n_users"} == set(out)
    assert all(type(value) is float for value in out.values())
    relevant = (test - test.multiply(train)).tocsr()
    relevant.eliminate_zeros()
    assert out["n_users"] == float(np.sum(np.diff(relevant.indptr) > 0))
    assert 0 < out["n_users"] < 50  # repeats-only users and users 50+ are skipped
    assert 0.0 <= out["recall@5"] <= out["recall@10"] <= 1.0


def test_train_items_are_passed_as_exclude_and_filtered(data) -> None:
    train, test, scores = data
    honest = FixedScores(scores)
    leaky = FixedScores(scores, honour_exclude=False)
    # a model ignoring exclude puts train items in its lists; they are dropped, never hits
    good = evaluate_topk(honest.recommend, train, test, ks=(40,))
    bad = evaluate_topk(leaky.recommend, train, test, ks=(40,))
    assert good["recall@40"] == pytest.approx(1.0)  # k = n_items: every relevant item appears
    assert bad["recall@40"] == pytest.approx(1.0)  # train items filtered, the rest still found
    assert evaluate_topk(leaky.recommend, train, test, ks=(5,))["precision@5"] <= 1.0
    users, exclude = honest.calls[0]
    assert (exclude != train[users]).nnz == 0


def test_a_leaky_model_loses_the_slots_it_spent_on_train_items() -> None:
    train = sp.csr_matrix(np.array([[1, 1, 0, 0, 0]], np.float32))
    test = sp.csr_matrix(np.array([[0, 0, 1, 1, 0]], np.float32))

    def recommend(users, k, exclude):
        return np.array([[0, 2, 1, 4]]), np.zeros((1, k), np.float32)

    out = evaluate_topk(recommend, train, test, ks=(1, 4))
    # train items 0 and 1 are dropped: the list becomes [2, 4, -1, -1]
    assert out["recall@4"] == pytest.approx(0.5)
    assert out["precision@4"] == pytest.approx(0.25)
    assert out["mrr@1"] == pytest.approx(1.0)  # ranks close up after filtering


def test_user_slice_equals_evaluating_only_those_users(data) -> None:
    train, test, scores = data
    model = FixedScores(scores)
    cold = np.zeros(N_USERS, bool)
    cold[::3] = True
    out = evaluate_topk(
        model.recommend,
        train,
        test,
        ks=(10,),
        user_slices={"cold_users": cold},
        auc_score_fn=model.score,
    )
    only = evaluate_topk(
        model.recommend,
        train,
        sp.csr_matrix(test.multiply(cold[:, None])),
        ks=(10,),
        auc_score_fn=model.score,
    )
    for key, value in only.items():
        assert out[f"cold_users/{key}"] == pytest.approx(value), key


def test_item_slice_restricts_relevance_but_ranks_all_items(data) -> None:
    train, test, scores = data
    model = FixedScores(scores)
    cold = np.zeros(N_ITEMS, bool)
    cold[:12] = True
    out = evaluate_topk(model.recommend, train, test, ks=(10,), item_slices={"cold_videos": cold})
    only = evaluate_topk(model.recommend, train, sp.csr_matrix(test.multiply(cold)), ks=(10,))
    for key in ["n_users", "recall@10", "ndcg@10", "hit_rate@10", "mrr@10", "precision@10"]:
        assert out[f"cold_videos/{key}"] == pytest.approx(only[key]), key
    assert "cold_videos/coverage@10" not in out


def test_auc_matches_per_user_binary_auc_over_non_train_items(data) -> None:
    train, test, scores = data
    model = FixedScores(scores)
    cold = np.zeros(N_ITEMS, bool)
    cold[:20] = True
    out = evaluate_topk(
        model.recommend,
        train,
        test,
        ks=(10,),
        auc_score_fn=model.score,
        batch_size=7,
        item_slices={"cold": cold},
    )
    rel = (test - test.multiply(train)).toarray() > 0
    expected, expected_cold = [], []
    for user in range(N_USERS):
        keep = train[user].toarray().ravel() == 0
        if rel[user].any():
            expected.append(metrics.binary_auc(rel[user][keep], scores[user][keep]))
        cold_pos = rel[user] & cold
        keep_cold = keep & (cold_pos | ~rel[user])  # other relevant items are left out
        if cold_pos.any():
            expected_cold.append(metrics.binary_auc(cold_pos[keep_cold], scores[user][keep_cold]))
    assert out["auc"] == pytest.approx(np.mean(expected))
    assert out["cold/auc"] == pytest.approx(np.mean(expected_cold))


def test_works_with_a_baseline_and_is_deterministic(data) -> None:
    train, test, _ = data
    model = EASE(l2=10.0).fit(train)
    first = evaluate_topk(model.recommend, train, test, auc_score_fn=model.score)
    second = evaluate_topk(model.recommend, train, test, auc_score_fn=model.score, batch_size=9)
    assert first == pytest.approx(second)
    assert first["coverage@50"] <= 1.0
    assert 0.0 <= first["gini@50"] <= 1.0


def test_empty_slice_gives_nan(data) -> None:
    train, test, scores = data
    nobody = np.zeros(N_USERS, bool)
    nobody[55:] = True  # only users without held-out items
    out = evaluate_topk(
        FixedScores(scores).recommend, train, test, ks=(10,), user_slices={"none": nobody}
    )
    assert out["none/n_users"] == 0.0
    assert math.isnan(out["none/recall@10"])


def test_bad_inputs_raise(data) -> None:
    train, test, scores = data
    fn = FixedScores(scores).recommend
    with pytest.raises(DataError, match="shapes differ"):
        evaluate_topk(fn, train, test[:10])
    with pytest.raises(ConfigError, match="ks"):
        evaluate_topk(fn, train, test, ks=(0,))
    with pytest.raises(DataError, match="bool array"):
        evaluate_topk(fn, train, test, user_slices={"x": np.ones(N_USERS, int)})
    with pytest.raises(DataError, match="item_popularity"):
        evaluate_topk(fn, train, test, item_popularity=np.ones(3))
    with pytest.raises(DataError, match="recommend_fn must return"):
        evaluate_topk(lambda u, k, e: fn(u, k - 1, e), train, test)


def test_auc_on_a_user_sample_estimates_the_full_mean() -> None:
    rng = np.random.default_rng(1)
    train = sp.random(400, 60, density=0.1, format="csr", random_state=2)
    test = sp.random(400, 60, density=0.05, format="csr", random_state=3)
    scores = rng.normal(size=(400, 60))

    def recommend(users, k, exclude):  # type: ignore[no-untyped-def]
        top = np.argsort(-scores[users], axis=1)[:, :k]
        return top.astype(np.int64), np.take_along_axis(scores[users], top, 1)

    full = evaluate_topk(recommend, train, test, ks=(5,), auc_score_fn=lambda u: scores[u])
    sampled = evaluate_topk(
        recommend, train, test, ks=(5,), auc_score_fn=lambda u: scores[u], auc_max_users=150
    )
    assert sampled["recall@5"] == full["recall@5"]
    assert abs(sampled["auc"] - full["auc"]) < 0.05
