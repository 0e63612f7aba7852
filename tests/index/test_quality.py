"""Recall of the ANN indexes against the exact oracle on clustered unit vectors.

Corpus: 20k unit vectors (dim 32) around 100 cluster centres. Queries: 200 unit vectors around
100 *other* centres, so they fall between the corpus clusters (queries drawn from the corpus
clusters are easy: recall 1.0 at ef_search=64 / nprobe=16). Measured recall@10, one thread:
HNSW32 (ef_construction=80) 0.86 / 0.95 / 0.985 at ef_search 64 / 128 / 256; IVF512,Flat
0.945 / 0.987 / 0.995 at nprobe 16 / 32 / 48. The test asserts ≥ 0.95 with ef_search=256 and
nprobe=48.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from reelrec.index import ExactIndex, FaissIndex, VectorIndex, recall_vs_exact

N, DIM, K, THRESHOLD = 20_000, 32, 10, 0.95


@pytest.fixture(autouse=True, scope="module")
def _faiss_single_thread(one_faiss_thread: None) -> None:
    """Every test here runs faiss on one thread (fixture in tests/conftest.py)."""


def clustered(
    n: int, rng: np.random.Generator, centres: NDArray[np.float64]
) -> NDArray[np.float32]:
    x = centres[rng.integers(0, len(centres), n)] + 0.5 * rng.standard_normal((n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus() -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.float32], ExactIndex]:
    rng = np.random.default_rng(0)
    vectors = clustered(N, rng, rng.standard_normal((100, DIM)))
    queries = clustered(200, rng, rng.standard_normal((100, DIM)))
    ids = rng.permutation(N).astype(np.int64)
    return ids, vectors, queries, ExactIndex().build(ids, vectors)


@pytest.mark.parametrize(
    "index",
    [
        FaissIndex("HNSW32", ef_construction=80, ef_search=256),
        FaissIndex("IVF0,Flat", nprobe=48),
    ],
    ids=["hnsw", "ivf"],
)
def test_recall_at_10_vs_exact(corpus, index: FaissIndex) -> None:
    ids, vectors, queries, oracle = corpus
    index.build(ids, vectors)
    assert recall_vs_exact(index, oracle, queries, K) >= THRESHOLD


def test_recall_of_the_oracle_is_one(corpus) -> None:
    _, _, queries, oracle = corpus
    assert recall_vs_exact(oracle, oracle, queries, K) == 1.0


class _Nothing:
    """An index that never finds anything (recall 0)."""

    def search(self, queries, k, exclude=None):
        shape = (len(queries), k)
        return np.full(shape, -1, np.int64), np.full(shape, -np.inf, np.float32)


def test_recall_counts_missing_results(corpus) -> None:
    _, _, queries, oracle = corpus
    nothing: VectorIndex = _Nothing()  # type: ignore[assignment]
    assert recall_vs_exact(nothing, oracle, queries, K) == 0.0
    assert recall_vs_exact(oracle, nothing, queries, K) == 1.0
