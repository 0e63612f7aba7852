"""The ``VectorIndex`` contract, checked on every implementation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from reelrec.errors import ArtifactError, IndexStateError
from reelrec.index import (
    INDEX_MANIFEST,
    ExactIndex,
    FaissIndex,
    VectorIndex,
    load_index,
)

N, DIM, K = 600, 16, 10


@pytest.fixture(autouse=True, scope="module")
def _faiss_single_thread(one_faiss_thread: None) -> None:
    """Every test here runs faiss on one thread (fixture in tests/conftest.py)."""


MAKERS: dict[str, Callable[[], VectorIndex]] = {
    "exact": lambda: ExactIndex(model_version="m1"),
    "flat": lambda: FaissIndex("Flat", model_version="m1"),
    "hnsw": lambda: FaissIndex("HNSW32", ef_search=64, model_version="m1"),
    "ivf": lambda: FaissIndex("IVF16,Flat", nprobe=4, model_version="m1"),
}


def unit(x: NDArray[np.float64]) -> NDArray[np.float32]:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.float32]]:
    """Non-contiguous shuffled ids, clustered unit vectors, and queries."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((12, DIM))
    vectors = unit(centres[rng.integers(0, 12, N)] + 0.5 * rng.standard_normal((N, DIM)))
    queries = unit(centres[rng.integers(0, 12, 25)] + 0.5 * rng.standard_normal((25, DIM)))
    ids = (rng.permutation(N) * 7 + 1000).astype(np.int64)
    return ids, vectors, queries


@pytest.fixture(params=sorted(MAKERS))
def make(request: pytest.FixtureRequest) -> Callable[[], VectorIndex]:
    return MAKERS[request.param]


@pytest.fixture
def built(make: Callable[[], VectorIndex], data) -> VectorIndex:
    ids, vectors, _ = data
    return make().build(ids, vectors)


def check_rows(index: VectorIndex, got: NDArray[np.int64], scores: NDArray[np.float32]) -> None:
    """Descending scores, -1 exactly where -inf, no duplicates, scores are true inner products."""
    assert got.dtype == np.int64
    assert scores.dtype == np.float32
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    assert ((got == -1) == np.isneginf(scores)).all()
    for row in got:
        real = row[row >= 0]
        assert len(np.unique(real)) == len(real)
        assert (row[len(real) :] == -1).all()
        assert np.isin(real, index.ids).all()


def test_is_a_vector_index(built: VectorIndex) -> None:
    assert isinstance(built, VectorIndex)
    assert (built.size, built.dim, built.metric, built.normalised) == (N, DIM, "ip", True)


def test_results_sorted_and_scores_are_inner_products(built: VectorIndex, data) -> None:
    _, _, queries = data
    got, scores = built.search(queries, K)
    assert got.shape == scores.shape == (len(queries), K)
    check_rows(built, got, scores)
    assert (got >= 0).all()
    expected = np.einsum(
        "qd,qkd->qk", queries, built.get_vectors(got.ravel()).reshape(*got.shape, DIM)
    )
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)


def test_top1_of_a_stored_vector_is_itself(built: VectorIndex, data) -> None:
    ids, vectors, _ = data
    got, scores = built.search(vectors[:50], 1)
    np.testing.assert_array_equal(got[:, 0], ids[:50])
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_pads_when_k_exceeds_size(make: Callable[[], VectorIndex], data, capfd) -> None:
    ids, vectors, queries = data
    index = make().build(ids[:5], vectors[:5])
    got, scores = index.search(queries[:3], 8)
    assert got.shape == (3, 8)
    check_rows(index, got, scores)
    assert (got[:, :5] >= 0).all()
    assert (got[:, 5:] == -1).all()
    assert np.isneginf(scores[:, 5:]).all()
    assert "WARNING" not in capfd.readouterr().err  # e.g. faiss k-means on too few points


def test_k_zero_gives_empty_rows(built: VectorIndex, data) -> None:
    got, scores = built.search(data[2], 0)
    assert got.shape == scores.shape == (len(data[2]), 0)


def test_excluded_ids_never_returned(built: VectorIndex, data) -> None:
    ids, _, queries = data
    first, _ = built.search(queries, K)
    rng = np.random.default_rng(1)
    exclude = [np.concatenate([row[:3], rng.choice(ids, 40), [-5, 10**12]]) for row in first]
    got, scores = built.search(queries, K, exclude=exclude)
    check_rows(built, got, scores)
    for row, skip in zip(got, exclude, strict=True):
        assert not np.isin(row, skip).any()
        assert (row >= 0).all()


def test_excluding_most_of_the_corpus(built: VectorIndex, data) -> None:
    ids, vectors, queries = data
    keep = ids[:7]
    exclude = [ids[7:], ids, np.empty(0, np.int64), ids[: N - 30]]
    got, scores = built.search(queries[:4], K, exclude=exclude)
    check_rows(built, got, scores)
    assert set(got[0, :7]) == set(keep)
    assert (got[0, 7:] == -1).all()
    np.testing.assert_allclose(scores[0, :7], np.sort(vectors[:7] @ queries[0])[::-1], atol=1e-5)
    assert (got[1] == -1).all()
    assert (got[2] >= 0).all()
    assert np.isin(got[3], ids[N - 30 :]).all()


def test_added_vector_is_its_own_nearest_neighbour(built: VectorIndex, data) -> None:
    rng = np.random.default_rng(2)
    new = unit(rng.standard_normal((5, DIM)))
    new_ids = np.arange(5, dtype=np.int64) + 50_000
    built.add(new_ids, new)
    assert built.size == N + 5
    got, scores = built.search(new, 1)
    np.testing.assert_array_equal(got[:, 0], new_ids)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    np.testing.assert_allclose(built.get_vectors(new_ids), new, atol=1e-6)


def test_adding_a_stored_id_is_rejected(built: VectorIndex, data) -> None:
    ids, vectors, _ = data
    with pytest.raises(IndexStateError, match="already in the index"):
        built.add(np.array([99_999, ids[3]]), vectors[:2])
    assert built.size == N


def test_save_load_gives_identical_answers(built: VectorIndex, data, tmp_path: Path) -> None:
    _, _, queries = data
    built.add(np.array([77_777]), queries[:1])
    exclude = [np.array([77_777])] + [np.empty(0, np.int64)] * (len(queries) - 1)
    before = built.search(queries, K, exclude=exclude)
    built.save(tmp_path / "idx")
    for loaded in (load_index(tmp_path / "idx"), type(built).load(tmp_path / "idx")):
        assert type(loaded) is type(built)
        assert (loaded.size, loaded.dim, loaded.model_version) == (N + 1, DIM, "m1")
        assert loaded.normalised
        after = loaded.search(queries, K, exclude=exclude)
        np.testing.assert_array_equal(after[0], before[0])
        np.testing.assert_array_equal(after[1], before[1])


def test_save_overwrites_and_manifest_is_complete(built: VectorIndex, tmp_path: Path) -> None:
    built.save(tmp_path)
    built.model_version = "m2"
    built.save(tmp_path)
    loaded = load_index(tmp_path, expect={"model_version": "m2", "dim": DIM})
    assert loaded.model_version == "m2"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_missing_files_raise_artifact_error(built: VectorIndex, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="reelrec index"):
        load_index(tmp_path)
    built.save(tmp_path)
    data_file = next(p for p in tmp_path.iterdir() if p.name != INDEX_MANIFEST)
    data_file.unlink()
    with pytest.raises(ArtifactError, match=r"missing|cannot read"):
        load_index(tmp_path)


def test_search_before_build_raises(make: Callable[[], VectorIndex], data, tmp_path) -> None:
    index = make()
    assert index.size == 0
    with pytest.raises(IndexStateError, match="build"):
        index.search(data[2], K)
    with pytest.raises(IndexStateError):
        index.add(data[0][:1], data[1][:1])
    with pytest.raises(IndexStateError):
        index.save(tmp_path)
    with pytest.raises(IndexStateError):
        _ = index.dim


def test_dim_mismatch_raises(built: VectorIndex, data) -> None:
    wide = np.ones((2, DIM + 1), np.float32)
    with pytest.raises(IndexStateError, match=f"dim {DIM}"):
        built.search(wide, K)
    with pytest.raises(IndexStateError, match=f"dim {DIM}"):
        built.add(np.array([123_456, 123_457]), wide)
    assert built.size == N


def test_load_refuses_mismatched_expect(built: VectorIndex, tmp_path: Path) -> None:
    built.save(tmp_path)
    with pytest.raises(IndexStateError, match=r"model_version: index has 'm1', expected 'm2'") as e:
        load_index(tmp_path, expect={"model_version": "m2", "dim": DIM})
    assert "reelrec index RUN_DIR" in str(e.value)
    with pytest.raises(IndexStateError, match=f"dim: index has {DIM}, expected 64"):
        type(built).load(tmp_path, expect={"dim": 64})
    with pytest.raises(IndexStateError, match="normalised"):
        load_index(tmp_path, expect={"normalised": False})
    ok = {"dim": DIM, "metric": "ip", "normalised": True, "model_version": "m1"}
    assert load_index(tmp_path, expect=ok).size == N


def test_flat_equals_exact(data) -> None:
    ids, vectors, queries = data
    exact = ExactIndex().build(ids, vectors)
    flat = FaissIndex("Flat").build(ids, vectors)
    exclude = [ids[i : i + 3 * i] for i in range(len(queries))]
    for k, excl in [(K, None), (K, exclude), (N + 5, None), (1, exclude)]:
        e_ids, e_scores = exact.search(queries, k, exclude=excl)
        f_ids, f_scores = flat.search(queries, k, exclude=excl)
        np.testing.assert_array_equal(f_ids, e_ids)
        np.testing.assert_allclose(f_scores, e_scores, rtol=1e-5, atol=1e-6)
