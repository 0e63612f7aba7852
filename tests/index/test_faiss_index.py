"""FaissIndex specifics: exclusion strategies, IVF list sizing, lazy faiss import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from numpy.typing import NDArray

from reelrec.errors import ConfigError, DataError
from reelrec.index import ExactIndex, FaissIndex, ivf_nlist, set_faiss_threads

N, DIM = 3000, 16


@pytest.fixture(autouse=True, scope="module")
def _faiss_single_thread(one_faiss_thread: None) -> None:
    """Every test here runs faiss on one thread (fixture in tests/conftest.py)."""


def unit(x: NDArray[np.floating]) -> NDArray[np.float32]:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.float32]]:
    rng = np.random.default_rng(0)
    return (
        rng.permutation(N).astype(np.int64) * 2,
        unit(rng.standard_normal((N, DIM))),
        unit(rng.standard_normal((12, DIM))),
    )


@pytest.fixture(scope="module")
def built(data) -> dict[str, FaissIndex]:
    ids, vectors, _ = data
    factories = ("Flat", "HNSW32", "IVF20,Flat")
    return {f: FaissIndex(f, ef_search=64, nprobe=8).build(ids, vectors) for f in factories}


def exclusions(ids: NDArray[np.int64], sizes: list[int]) -> list[NDArray[np.int64]]:
    rng = np.random.default_rng(1)
    return [rng.choice(ids, size, replace=False) for size in sizes]


# Row sizes chosen to hit every path: none, over-fetch (≤ max_overfetch), IDSelector
# (> max_overfetch), and brute force (≤ brute_force_max candidates left).
SIZES = [0, 5, 40, 200, 900, 1500, 2500, 2990, N, 0, 60, 2000]


@pytest.mark.parametrize("factory", ["Flat", "HNSW32", "IVF20,Flat"])
@pytest.mark.parametrize(
    ("brute_max", "overfetch_max", "paths"),
    [(0, 100, (1, 6, 1)), (1000, 100, (1, 3, 4)), (0, 10**6, (1, 0, 1))],
)
def test_every_exclusion_path_is_exact_about_exclusions(
    data,
    factory: str,
    built: dict[str, FaissIndex],
    brute_max: int,
    overfetch_max: int,
    paths: tuple[int, int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids, vectors, queries = data
    index = built[factory]
    monkeypatch.setattr(index, "brute_force_max", brute_max)
    monkeypatch.setattr(index, "max_overfetch", overfetch_max)
    calls = {"fetch": 0, "select": 0, "exact": 0}
    raw_search, exact_row = index._raw_search, index._exact_row

    def spy_search(x, k, skip_ids=None):
        calls["fetch" if skip_ids is None else "select"] += 1
        return raw_search(x, k, skip_ids)

    def spy_exact(query, k, skip):
        calls["exact"] += 1
        return exact_row(query, k, skip)

    monkeypatch.setattr(index, "_raw_search", spy_search)
    monkeypatch.setattr(index, "_exact_row", spy_exact)
    exclude = exclusions(ids, SIZES)
    got, scores = index.search(queries, 10, exclude=exclude)
    if factory == "Flat":  # an ANN index may add exact fills for rows it left short
        assert (calls["fetch"], calls["select"], calls["exact"]) == paths
    exp_ids, exp_scores = ExactIndex().build(ids, vectors).search(queries, 10, exclude=exclude)
    for row, skip, size in zip(got, exclude, SIZES, strict=True):
        assert not np.isin(row, skip).any()
        assert (row >= 0).sum() == min(10, N - size)  # never short unless candidates run out
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    if factory == "Flat":
        np.testing.assert_array_equal(got, exp_ids)
        np.testing.assert_allclose(scores, exp_scores, atol=1e-6)
    else:
        pairs = zip(got, exp_ids, strict=True)
        assert np.mean([np.isin(e[e >= 0], g).mean() for g, e in pairs if e[0] >= 0]) >= 0.8


def test_ann_rows_left_short_are_filled_exactly(data) -> None:
    ids, vectors, queries = data
    ivf = FaissIndex("IVF64,Flat", nprobe=1).build(ids[:200], vectors[:200])
    assert ivf.built_factory == "IVF5,Flat"  # 200 // 39
    got, _ = ivf.search(queries, 150)  # one probed list holds far fewer than 150
    assert (got >= 0).all()


def test_hnsw_beam_is_at_least_k(data) -> None:
    """faiss keeps only efSearch candidates: a k=500 search with a 16-wide beam lost ~40%.

    Checked on the faiss search itself, since ``search`` fills rows left short exactly.
    """
    ids, vectors, queries = data
    hnsw = FaissIndex("HNSW32", ef_search=16).build(ids, vectors)
    flat = FaissIndex("Flat").build(ids, vectors)
    got, _ = hnsw._raw_search(queries, 500)
    assert (got >= 0).all()
    want, _ = flat.search(queries, 500)
    recall = np.mean([np.isin(w, g).mean() for g, w in zip(got, want, strict=True)])
    assert recall >= 0.99
    assert hnsw.ef_search == 16  # the beam is widened per search, not stored


@pytest.mark.parametrize("factory", ["Flat", "HNSW32"])
def test_loaded_index_is_mapped_and_still_takes_adds(data, factory: str, tmp_path) -> None:
    """A loaded index maps the file's vectors; ``add`` copies them first (faiss would abort)."""
    ids, vectors, queries = data
    FaissIndex(factory).build(ids[:-10], vectors[:-10]).save(tmp_path)
    before = (tmp_path / "index.faiss").read_bytes()
    loaded = FaissIndex.load(tmp_path)
    assert loaded._mapped == hasattr(loaded._faiss, "IO_FLAG_MMAP_IFC")
    want, _ = FaissIndex(factory).build(ids[:-10], vectors[:-10]).search(queries, 20)
    np.testing.assert_array_equal(loaded.search(queries, 20)[0], want)
    loaded.add(ids[-10:], vectors[-10:])
    assert not loaded._mapped
    assert loaded.size == N
    got, _ = loaded.search(vectors[-10:], 1)
    np.testing.assert_array_equal(got[:, 0], ids[-10:])
    assert (tmp_path / "index.faiss").read_bytes() == before


@pytest.mark.parametrize(
    ("n", "requested", "expected"),
    [
        (0, 0, 1),
        (10, 0, 1),
        (39, 0, 1),
        (78, 0, 2),
        (10_000, 0, 256),
        (20_000, 0, 512),
        (1_000_000, 0, 4000),
        (1_000_000, 100, 100),
        (1000, 100, 25),
    ],
)
def test_ivf_nlist(n: int, requested: int, expected: int) -> None:
    assert ivf_nlist(n, requested) == expected


@pytest.mark.parametrize("n", [1, 3, 38, 39, 500])
def test_ivf_builds_without_faiss_warnings(data, n: int, capfd: pytest.CaptureFixture[str]) -> None:
    ids, vectors, queries = data
    index = FaissIndex("IVF0,Flat").build(ids[:n], vectors[:n])
    assert index.search(queries, 3)[0].shape == (12, 3)
    assert capfd.readouterr().err == ""


def test_ivf_needs_training_vectors() -> None:
    with pytest.raises(DataError, match="IVF"):
        FaissIndex("IVF8,Flat").build(np.empty(0, np.int64), np.empty((0, 4), np.float32))


def test_empty_flat_and_hnsw_pad_everything() -> None:
    for factory in ("Flat", "HNSW16"):
        index = FaissIndex(factory).build(np.empty(0, np.int64), np.empty((0, 4), np.float32))
        got, scores = index.search(np.ones((2, 4), np.float32), 3, exclude=[[1], []])
        assert (got == -1).all()
        assert np.isneginf(scores).all()


@pytest.mark.parametrize("factory", ["PQ8", "HNSW", "IVF,Flat", "IDMap,Flat", "flat"])
def test_unsupported_factory_is_a_config_error(factory: str) -> None:
    with pytest.raises(ConfigError, match="factory"):
        FaissIndex(factory)


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="nprobe"):
        FaissIndex("IVF8,Flat", nprobe=0)
    with pytest.raises(ConfigError, match="threads"):
        set_faiss_threads(0)


def test_set_faiss_threads() -> None:
    import faiss

    before = faiss.omp_get_max_threads()
    try:
        set_faiss_threads(1)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)


def test_importing_reelrec_does_not_import_faiss() -> None:
    code = "import sys, reelrec, reelrec.index; sys.exit('faiss' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_missing_faiss_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"pip install 'reelrec\[faiss\]'"):
        FaissIndex("Flat")


def test_id_table_dense_and_sparse_lookups_agree() -> None:
    from reelrec.index.base import IdTable

    table = IdTable(np.arange(5, dtype=np.int64))
    probe = np.array([4, 0, 7, -1, 2], np.int64)
    assert table.rows(probe).tolist() == [4, 0, -1, -1, 2]
    table.extend(np.array([9, 5], np.int64))  # no longer ids == rows: the sorted search takes over
    assert table.rows(np.array([9, 5, 6, 4], np.int64)).tolist() == [5, 6, -1, 4]


def test_id_table_permuted_lookups_agree_with_the_sorted_search() -> None:
    from reelrec.index.base import IdTable

    ids = np.random.default_rng(0).permutation(50).astype(np.int64)
    table = IdTable(ids)
    probe = np.array([*range(-2, 53)], np.int64)
    want = [int(np.flatnonzero(ids == i)[0]) if 0 <= i < 50 else -1 for i in probe]
    assert table.rows(probe).tolist() == want
    table.extend(np.array([70], np.int64))  # no longer 0..n-1: the sorted search again
    assert table.rows(np.array([70, 3, 50], np.int64)).tolist() == [50, want[5], -1]


def test_hnsw_nodes_are_reordered_without_changing_any_result(data, tmp_path) -> None:
    import faiss

    ids, vectors, queries = data
    index = FaissIndex("HNSW16", ef_search=64, ef_construction=40).build(ids, vectors)
    # The same graph without the locality order (one faiss thread: a deterministic build).
    plain = faiss.IndexHNSWFlat(DIM, 16, faiss.METRIC_INNER_PRODUCT)
    plain.hnsw.efConstruction = 40
    plain.add(vectors)
    stored = faiss.vector_to_array(index._index.id_map)
    assert not np.array_equal(stored, ids)  # the nodes were renumbered …
    assert sorted(stored.tolist()) == sorted(ids.tolist())
    got_ids, got = index.search(queries, 30)
    params = faiss.SearchParametersHNSW(efSearch=64, bounded_queue=False)
    want, rows = plain.search(queries, 30, params=params)
    np.testing.assert_array_equal(got_ids, ids[rows])  # … and every result stayed the same
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_array_equal(index.get_vectors(ids[:40]), vectors[:40])
    index.save(tmp_path / "ix")
    loaded = FaissIndex.load(tmp_path / "ix")
    np.testing.assert_array_equal(loaded.search(queries, 30)[0], got_ids)
    new = unit(np.random.default_rng(5).standard_normal((3, DIM)))
    loaded.add(np.array([10**6, 10**6 + 1, 10**6 + 2]), new)
    assert loaded.search(new[:1], 1)[0][0, 0] == 10**6
