"""ExactIndex: the oracle, checked against a plain sort and by properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from reelrec.errors import DataError, UnknownIdError
from reelrec.index import ExactIndex, exact


def unit(x: NDArray[np.floating]) -> NDArray[np.float32]:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@st.composite
def corpora(draw: st.DrawFn) -> NDArray[np.float32]:
    """Distinct unit vectors ``[n, dim]``: no two closer than cosine 1 - 1e-3."""
    n = draw(st.integers(1, 40))
    dim = draw(st.integers(2, 8))
    elements = st.integers(-9, 9)
    raw = draw(arrays(np.int64, (n, dim), elements=elements, fill=st.nothing()))
    raw = raw[np.abs(raw).sum(axis=1) > 0]
    assume(len(raw) > 0)
    kept: list[NDArray[np.float32]] = []
    for v in unit(raw.astype(np.float64)):  # keep the first of each near-duplicate direction
        if all(float(v @ w) < 1 - 1e-3 for w in kept):
            kept.append(v)
    return np.stack(kept)


@settings(max_examples=60, deadline=None)
@given(vectors=corpora(), offset=st.integers(0, 10**9))
def test_top1_of_a_stored_vector_is_itself(vectors: NDArray[np.float32], offset: int) -> None:
    ids = np.arange(len(vectors), dtype=np.int64)[::-1] + offset
    got, scores = ExactIndex().build(ids, vectors).search(vectors, 1)
    np.testing.assert_array_equal(got[:, 0], ids)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(vectors=corpora(), k=st.integers(0, 50), data=st.data())
def test_matches_a_full_sort_with_exclusions(vectors: NDArray[np.float32], k: int, data) -> None:
    n = len(vectors)
    skip = data.draw(st.lists(st.integers(0, n + 3), max_size=n + 2))
    index = ExactIndex().build(np.arange(n), vectors)
    got, scores = index.search(
        vectors[:3], k, exclude=[np.array(skip, np.int64)] * len(vectors[:3])
    )
    for q, (row, row_scores) in enumerate(zip(got, scores, strict=True)):
        allowed = np.setdiff1d(np.arange(n), skip)
        ref = np.sort(vectors[allowed] @ vectors[q])[::-1][:k]
        m = len(ref)
        np.testing.assert_allclose(row_scores[:m], ref, atol=1e-6)
        assert (row[m:] == -1).all()
        assert not np.isin(row[:m], skip).any()


def test_query_chunking_gives_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vectors, queries = unit(rng.standard_normal((300, 8))), unit(rng.standard_normal((40, 8)))
    index = ExactIndex().build(np.arange(300), vectors)
    exclude = [np.arange(i) for i in range(40)]
    whole = index.search(queries, 7, exclude=exclude)
    monkeypatch.setattr(exact, "_SCORE_BUDGET", 1000)  # 3 queries per chunk
    chunked = index.search(queries, 7, exclude=exclude)
    np.testing.assert_array_equal(whole[0], chunked[0])
    np.testing.assert_allclose(whole[1], chunked[1], atol=1e-6)  # BLAS rounding varies by shape


def test_many_small_adds_grow_the_buffer() -> None:
    rng = np.random.default_rng(0)
    vectors = unit(rng.standard_normal((100, 4)))
    index = ExactIndex().build(np.arange(10), vectors[:10])
    for i in range(10, 100):
        index.add(np.array([i]), vectors[i : i + 1])
    assert index.size == 100
    np.testing.assert_array_equal(index.vectors, vectors)
    np.testing.assert_array_equal(index.search(vectors, 1)[0][:, 0], np.arange(100))
    with pytest.raises(ValueError, match="read-only"):
        index.vectors[0, 0] = 1.0


def test_unnormalised_vectors_are_recorded() -> None:
    index = ExactIndex().build(np.arange(2), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert index.normalised
    index.add(np.array([2]), np.array([[3.0, 0.0]]))
    assert not index.normalised
    assert index.search(np.array([[1.0, 0.0]]), 1)[0][0, 0] == 2  # inner product, not cosine


def test_empty_index_pads_everything() -> None:
    index = ExactIndex().build(np.empty(0, np.int64), np.empty((0, 4), np.float32))
    got, scores = index.search(np.ones((2, 4), np.float32), 3)
    assert (got == -1).all()
    assert np.isneginf(scores).all()


def test_get_vectors_unknown_id_raises() -> None:
    index = ExactIndex().build(np.array([5, 9]), np.eye(2))
    np.testing.assert_array_equal(index.get_vectors([9, 5]), np.eye(2)[::-1])
    assert index.get_vectors([]).shape == (0, 2)
    with pytest.raises(UnknownIdError, match=r"\[7\]"):
        index.get_vectors([5, 7])


@pytest.mark.parametrize(
    ("ids", "vectors", "match"),
    [
        (np.array([0, 0]), np.eye(2), "duplicates"),
        (np.array([0, -3]), np.eye(2), "non-negative"),
        (np.array([0.0, 1.0]), np.eye(2), "integer"),
        (np.array([0, 1, 2]), np.eye(2), "one vector per id"),
        (np.array([0, 1]), np.array([[np.nan, 0.0], [0.0, 1.0]]), "NaN"),
        (np.array([0, 1]), np.arange(4), "2-D"),
        (np.array([0, 1]), np.eye(2, dtype=np.int64), "float"),
    ],
)
def test_bad_input_raises_data_error(ids, vectors, match: str) -> None:
    with pytest.raises(DataError, match=match):
        ExactIndex().build(ids, vectors)


def test_bad_search_arguments_raise_data_error() -> None:
    index = ExactIndex().build(np.arange(2), np.eye(2))
    with pytest.raises(DataError, match=r"x\[None, :\]"):
        index.search(np.ones(2), 1)
    with pytest.raises(DataError, match="k must be"):
        index.search(np.ones((1, 2)), -1)
    with pytest.raises(DataError, match="exclude has 2 entries"):
        index.search(np.ones((1, 2)), 1, exclude=[[0], [1]])
