"""build_index / make_index / load_index: config → index kind, manifest → loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from reelrec.config import IndexConfig
from reelrec.errors import ArtifactError, ConfigError
from reelrec.index import (
    INDEX_MANIFEST,
    ExactIndex,
    FaissIndex,
    build_index,
    ivf_nlist,
    load_index,
    make_index,
)

N, DIM = 400, 8


@pytest.fixture(scope="module")
def data() -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, DIM))
    return np.arange(N, dtype=np.int64), (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(
        np.float32
    )


def test_auto_is_exact_up_to_exact_max(data) -> None:
    # Exact search through faiss Flat (installed here); numpy's ExactIndex without faiss.
    index = build_index(IndexConfig(), *data, model_version="v7")
    assert isinstance(index, FaissIndex)
    assert index.built_factory == "Flat"
    assert (index.size, index.model_version) == (N, "v7")
    oracle = ExactIndex().build(*data)
    queries = np.asarray(data[1][:5])
    assert np.array_equal(index.search(queries, 10)[0], oracle.search(queries, 10)[0])


def test_auto_is_hnsw_above_exact_max(data) -> None:
    cfg = IndexConfig(exact_max=N - 1, hnsw_m=16, ef_search=40, ef_construction=50)
    index = build_index(cfg, *data)
    assert isinstance(index, FaissIndex)
    assert (index.built_factory, index.ef_search, index.ef_construction) == ("HNSW16", 40, 50)


@pytest.mark.parametrize(
    ("kind", "nlist", "factory"),
    [
        ("flat", 0, "Flat"),
        ("hnsw", 0, "HNSW32"),
        ("ivf", 0, f"IVF{ivf_nlist(N)},Flat"),
        ("ivf", 3, "IVF3,Flat"),
    ],
)
def test_explicit_kinds(data, kind: str, nlist: int, factory: str) -> None:
    index = build_index(IndexConfig(kind=kind, ivf_nlist=nlist, nprobe=2), *data)
    assert isinstance(index, FaissIndex)
    assert index.built_factory == factory
    assert index.search(data[1][:3], 1)[0][:, 0].tolist() == [0, 1, 2]


def test_make_index_is_empty(data) -> None:
    index = make_index(IndexConfig(kind="exact"), N)
    assert index.size == 0


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf"])
def test_load_index_dispatches_on_the_manifest(data, kind: str, tmp_path: Path) -> None:
    built = build_index(IndexConfig(kind=kind), *data, model_version="v1")
    built.save(tmp_path)
    manifest = json.loads((tmp_path / INDEX_MANIFEST).read_text())
    assert manifest["kind"] == ("exact" if kind == "exact" else "faiss")
    assert {k: manifest[k] for k in ("metric", "normalised", "dim", "size", "model_version")} == {
        "metric": "ip",
        "normalised": True,
        "dim": DIM,
        "size": N,
        "model_version": "v1",
    }
    assert type(load_index(tmp_path)) is type(built)


def test_loading_the_wrong_class_or_kind_fails(data, tmp_path: Path) -> None:
    ExactIndex().build(*data).save(tmp_path)
    with pytest.raises(ArtifactError, match="load_index"):
        FaissIndex.load(tmp_path)
    manifest = json.loads((tmp_path / INDEX_MANIFEST).read_text())
    (tmp_path / INDEX_MANIFEST).write_text(json.dumps({**manifest, "kind": "annoy"}))
    with pytest.raises(ArtifactError, match="unknown index kind 'annoy'"):
        load_index(tmp_path)


def test_bad_manifests_are_artifact_errors(data, tmp_path: Path) -> None:
    ExactIndex().build(*data).save(tmp_path)
    manifest = json.loads((tmp_path / INDEX_MANIFEST).read_text())
    (tmp_path / INDEX_MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ArtifactError, match="format 99"):
        load_index(tmp_path)
    (tmp_path / INDEX_MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        load_index(tmp_path)
    (tmp_path / INDEX_MANIFEST).write_text(json.dumps({**manifest, "size": N + 1}))
    with pytest.raises(ArtifactError, match="manifest says"):
        load_index(tmp_path)


def test_corrupt_faiss_file_is_an_artifact_error(data, tmp_path: Path) -> None:
    FaissIndex("Flat").build(*data).save(tmp_path)
    (tmp_path / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="faiss cannot read"):
        load_index(tmp_path)


def test_unknown_expect_key_is_a_config_error(data, tmp_path: Path) -> None:
    ExactIndex().build(*data).save(tmp_path)
    with pytest.raises(ConfigError, match="model_versoin"):
        load_index(tmp_path, expect={"model_versoin": "x"})


def test_failed_save_leaves_no_loadable_stale_index(
    data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = ExactIndex(model_version="old").build(*data)
    index.save(tmp_path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", boom)
    index.model_version = "new"
    with pytest.raises(OSError, match="disk full"):
        index.save(tmp_path)
    with pytest.raises(ArtifactError, match=r"no index_manifest\.json"):
        load_index(tmp_path)
