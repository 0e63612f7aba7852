from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

from reelrec.errors import ConfigError, DataError, NotFittedError
from reelrec.evaluation import metrics
from reelrec.evaluation.baselines import ALS, EASE, MostPopular

FACTORIES = {
    "popular": MostPopular,
    "ease": lambda: EASE(l2=50.0),
    "als": lambda: ALS(factors=16, iterations=10),
}


@pytest.fixture(scope="module")
def planted() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """300 users × 200 items in 5 taste clusters (p=0.3 inside, 0.02 noise); 20 % held out."""
    rng = np.random.default_rng(7)
    n_users, n_items, n_clusters = 300, 200, 5
    inside = (np.arange(n_users) % n_clusters)[:, None] == (np.arange(n_items) % n_clusters)
    seen = rng.random((n_users, n_items)) < np.where(inside, 0.3, 0.02)
    held_out = seen & (rng.random(seen.shape) < 0.2)
    return sp.csr_matrix(seen & ~held_out, dtype=np.float32), sp.csr_matrix(
        held_out, dtype=np.float32
    )


@pytest.fixture(scope="module")
def fitted(planted) -> dict[str, object]:
    train, _ = planted
    return {name: factory().fit(train) for name, factory in FACTORIES.items()}


def _recall_at_10(model, train: sp.csr_matrix, test: sp.csr_matrix) -> float:
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    ids, _ = model.recommend(users, 10, exclude=train[users])
    relevant = [test[u].indices.astype(np.int64) for u in users]
    return float(metrics.recall_at_k(ids, relevant, 10).mean())


@pytest.mark.parametrize("name", ["ease", "als"])
def test_personalised_baselines_beat_most_popular(planted, fitted, name: str) -> None:
    train, test = planted
    popular = _recall_at_10(fitted["popular"], train, test)
    model = _recall_at_10(fitted[name], train, test)
    assert model > 2.0 * popular + 0.05, (name, model, popular)


@pytest.mark.parametrize("name", list(FACTORIES))
def test_excluded_items_are_never_returned(fitted, name: str) -> None:
    model = fitted[name]
    users = np.arange(0, 300, 7, dtype=np.int64)
    exclude = sp.csr_matrix(np.random.default_rng(1).random((len(users), 200)) < 0.5)
    ids, scores = model.recommend(users, 50, exclude=exclude)
    assert ids.shape == scores.shape == (len(users), 50)
    assert ids.dtype == np.int64
    assert scores.dtype == np.float32
    for row, user_ids in enumerate(ids):
        assert not set(user_ids.tolist()) & set(exclude[row].indices.tolist())
    assert np.all(np.diff(scores, axis=1) <= 0)
    np.testing.assert_allclose(scores, np.take_along_axis(model.score(users), ids, axis=1))


@pytest.mark.parametrize("name", list(FACTORIES))
def test_rows_are_padded_when_k_exceeds_what_is_left(name: str) -> None:
    train = sp.csr_matrix(np.array([[1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 0, 0]], np.float32))
    model = FACTORIES[name]().fit(train)
    ids, scores = model.recommend(np.array([0, 1, 2]), 6, exclude=train)
    for row in range(3):
        allowed = set(range(4)) - set(train[row].indices.tolist())
        assert set(ids[row, : len(allowed)].tolist()) == allowed
        assert np.all(ids[row, len(allowed) :] == -1)
        assert np.all(scores[row, len(allowed) :] == -np.inf)
        assert np.all(np.isfinite(scores[row, : len(allowed)]))


def test_most_popular_ranks_by_train_counts() -> None:
    counts = np.array([3, 0, 5, 1, 4, 2])
    dense = np.zeros((6, 6), np.float32)
    for item, count in enumerate(counts):
        dense[:count, item] = 7.0  # values do not matter, only interactions
    model = MostPopular().fit(sp.csr_matrix(dense))
    ids, scores = model.recommend(np.array([5, 0]), 6)
    np.testing.assert_array_equal(ids, [[2, 4, 0, 5, 3, 1]] * 2)
    np.testing.assert_array_equal(scores[0], [5, 4, 3, 2, 1, 0])
    ids, _ = model.recommend(np.array([0]), 2, exclude=sp.csr_matrix(([1.0], ([0], [2])), (1, 6)))
    np.testing.assert_array_equal(ids, [[4, 0]])


def test_ease_columns_equal_per_item_ridge_regressions() -> None:
    """EASE's zero-diagonal solution is, column by column, ridge of x_j on the other items."""
    rng = np.random.default_rng(3)
    X = (rng.random((40, 6)) < 0.4).astype(np.float64)
    l2 = 2.5
    B = EASE(l2=l2).fit(sp.csr_matrix(X)).B
    for j in range(6):
        others = np.delete(np.arange(6), j)
        Xo = X[:, others]
        ridge = np.linalg.solve(Xo.T @ Xo + l2 * np.eye(5), Xo.T @ X[:, j])
        np.testing.assert_allclose(B[others, j], ridge, rtol=1e-4, atol=1e-6)
        assert B[j, j] == 0.0


def test_als_is_deterministic_given_a_seed(planted) -> None:
    train, _ = planted
    first = ALS(factors=8, iterations=3, random_state=5).fit(train)
    second = ALS(factors=8, iterations=3, random_state=5, num_threads=1).fit(train)
    np.testing.assert_array_equal(first.item_factors, second.item_factors)
    np.testing.assert_array_equal(first.user_factors, second.user_factors)


def test_als_without_implicit_says_how_to_install(monkeypatch, planted) -> None:
    monkeypatch.setitem(sys.modules, "implicit.cpu.als", None)
    with pytest.raises(ConfigError, match=r"pip install 'reelrec\[baselines\]'"):
        ALS().fit(planted[0])


def test_batching_does_not_change_results(planted, fitted) -> None:
    train, _ = planted
    model = fitted["ease"]
    users = np.arange(300, dtype=np.int64)
    expected = model.recommend(users, 10, exclude=train)
    model.batch_size = 17
    try:
        got = model.recommend(users, 10, exclude=train)
    finally:
        del model.batch_size
    np.testing.assert_array_equal(got[0], expected[0])


@pytest.mark.parametrize("name", list(FACTORIES))
def test_misuse_raises_helpful_errors(planted, fitted, name: str) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        FACTORIES[name]().recommend(np.array([0]), 5)
    model = fitted[name]
    with pytest.raises(DataError, match="user_idx"):
        model.score(np.array([300]))
    with pytest.raises(ConfigError, match="k must be"):
        model.recommend(np.array([0]), 0)
    with pytest.raises(DataError, match="exclude must be"):
        model.recommend(np.array([0, 1]), 5, exclude=planted[0][:1])
    with pytest.raises(DataError, match=r"scipy\.sparse"):
        model.fit(np.ones((3, 3)))


def test_bad_hyperparameters_raise() -> None:
    with pytest.raises(ConfigError):
        EASE(l2=0.0)
    with pytest.raises(ConfigError):
        ALS(factors=0)
