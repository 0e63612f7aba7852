"""Huge pages for an index read into memory: same contents and results; mapped files skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reelrec.index.faiss_index import FaissIndex
from reelrec.index.memory import HUGE_PAGE, collapse


def _supported() -> bool:
    probe = np.ones(4 * HUGE_PAGE // 8)
    return collapse([probe]) > 0


needs_thp = pytest.mark.skipif(not _supported(), reason="no transparent huge pages here")


@needs_thp
def test_collapse_covers_the_whole_huge_pages_and_keeps_the_contents() -> None:
    values = np.random.default_rng(0).normal(size=3 * HUGE_PAGE // 8)
    before = values.copy()
    done = collapse([values])
    start = -(-values.ctypes.data // HUGE_PAGE) * HUGE_PAGE
    end = (values.ctypes.data + values.nbytes) // HUGE_PAGE * HUGE_PAGE
    assert done == end - start > 0
    np.testing.assert_array_equal(values, before)
    assert collapse([np.ones(10)]) == 0  # smaller than one huge page: nothing to do


@needs_thp
def test_an_index_read_into_memory_moves_to_huge_pages_and_answers_the_same(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(40_000, 32)).astype(np.float32)  # 5 MiB: whole huge pages
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    FaissIndex("HNSW16", ef_search=64).build(np.arange(40_000), vectors).save(tmp_path)
    queries = vectors[:50] + 0.1 * rng.normal(size=(50, 32)).astype(np.float32)
    index = FaissIndex.load(tmp_path, mmap=False)
    want = index.search(queries, 20)
    assert index.huge_pages() >= HUGE_PAGE
    got = index.search(queries, 20)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    mapped = FaissIndex.load(tmp_path)  # file-backed pages cannot be collapsed: a no-op
    assert mapped.huge_pages() == 0
    np.testing.assert_array_equal(mapped.search(queries, 20)[0], want[0])
