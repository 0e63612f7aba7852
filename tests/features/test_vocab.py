"""Vocabulary: dense indices, OOV buckets, round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reelrec.errors import UnknownIdError
from reelrec.features.vocab import Vocabulary, stable_hash

ids = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=40, unique=True)


@given(ids, st.integers(0, 16))
def test_decode_encode_round_trip_and_dense(values: list[str], buckets: int) -> None:
    vocab = Vocabulary.fit(values, buckets)
    idx = vocab.encode(values)
    assert idx.tolist() == list(range(len(values)))
    assert vocab.decode(idx) == values
    assert vocab.size == len(values) + buckets


@given(ids, st.text(min_size=1, max_size=8), st.integers(1, 16))
def test_unseen_ids_map_to_their_bucket(values: list[str], unseen: str, buckets: int) -> None:
    vocab = Vocabulary.fit(values, buckets)
    if unseen in values:
        return
    idx = int(vocab.encode([unseen])[0])
    assert vocab.n_known <= idx < vocab.size
    assert idx == vocab.n_known + stable_hash(unseen) % buckets
    assert vocab.decode(np.array([idx])) == [None]


def test_strict_lookup_raises_and_no_buckets_gives_minus_one() -> None:
    vocab = Vocabulary.fit(["a", "b"])
    assert vocab.encode(["b", "zz"]).tolist() == [1, -1]
    with pytest.raises(UnknownIdError, match="'zz'"):
        vocab.encode(["zz"], strict=True)


def test_save_load(tmp_path: Path) -> None:
    vocab = Vocabulary.fit(["1", "1193", "007"], 4)
    vocab.save(tmp_path / "v.json")
    loaded = Vocabulary.load(tmp_path / "v.json")
    assert loaded.ids == ["1", "1193", "007"]
    assert loaded.encode(["new"]).tolist() == vocab.encode(["new"]).tolist()


def test_stable_hash_is_fixed() -> None:
    # CRC-32 of "reelrec": the same in every process, unlike Python's salted hash().
    assert stable_hash("abc") == 891568578
    assert stable_hash("reelrec") == 0x5C4232D


def test_short_and_long_inputs_encode_alike() -> None:
    """Up to 64 ids take dict lookups, more take the polars join: same indices, same buckets."""
    vocab = Vocabulary([f"k{i}" for i in range(50)], oov_buckets=7)
    values = [f"k{i}" for i in range(0, 100, 3)] + ["new", "k7", "other"]
    short = np.concatenate([vocab.encode(values[i : i + 10]) for i in range(0, len(values), 10)])
    np.testing.assert_array_equal(short, vocab.encode(values * 3)[: len(values)])
    with pytest.raises(UnknownIdError):
        vocab.encode(["k1", "nope"], strict=True)
