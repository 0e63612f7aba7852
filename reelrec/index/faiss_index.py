"""``FaissIndex``: Flat, HNSW or IVF-Flat faiss indexes behind the ``VectorIndex`` contract.

This module is the one place that imports faiss (lazily, so ``import reelrec`` never does),
turns faiss's ``(D, I)`` results into our ``(ids, scores)`` convention, and translates
faiss exceptions into reelrec errors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reelrec.errors import ArtifactError, ConfigError, DataError, IndexStateError
from reelrec.index.base import (
    IdTable,
    IndexBase,
    as_ids,
    as_matrix,
    check_k,
    check_pairs,
    exclude_rows,
    is_normalised,
    need_file,
)
from reelrec.index.exact import top_k
from reelrec.index.locality import locality_order

KIND = "faiss"
_INDEX_FILE = "index.faiss"
_FACTORY = re.compile(r"^(?:(Flat)|HNSW(\d+)(?:,Flat)?|IVF(\d+),Flat)$")
_MIN_POINTS_PER_LIST = 39  # faiss warns when k-means gets fewer training points per centroid
_CHUNK = 1 << 16  # vectors reconstructed at a time by the exact fallback


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as e:
        raise ImportError(
            "this index needs faiss, which is not installed: pip install 'reelrec[faiss]' "
            "(or set index.kind = 'exact')."
        ) from e
    return faiss


def set_faiss_threads(n: int) -> None:
    """Set faiss's OpenMP thread count (1 suits one single-threaded serving worker)."""
    if n < 1:
        raise ConfigError(f"faiss threads must be ≥ 1; got {n}")
    _faiss().omp_set_num_threads(int(n))


def ivf_nlist(n: int, requested: int = 0) -> int:
    """IVF list count for ``n`` training vectors: ``requested`` (0 → 4·√n), capped at n // 39."""
    want = requested if requested > 0 else round(4 * math.sqrt(n))
    return max(1, min(want, n // _MIN_POINTS_PER_LIST))


class FaissIndex(IndexBase):
    """A faiss index wrapped in ``IndexIDMap2`` so results and ``add`` use the caller's ids.

    Args:
        factory: ``"Flat"``, ``"HNSW{m}"`` or ``"IVF{nlist},Flat"`` (nlist 0 = 4·√n); IVF is
            trained on the build vectors with nlist capped so each list gets ≥ 39 of them.
        ef_search: HNSW search beam width.
        nprobe: IVF lists probed per query.
        ef_construction: HNSW build beam width.
        model_version: the embedding model's version, recorded in the manifest.

    Exclusions are exact: a row whose allowed candidates number at most ``brute_force_max`` is
    scored exactly; one excluding at most ``max_overfetch`` stored ids over-fetches and filters;
    one excluding more searches with a faiss ``IDSelector``. Any row the ANN search leaves short
    of ``min(k, allowed)`` results is then filled by exact scoring, so padding only ever means
    that fewer than ``k`` candidates exist. Both thresholds may be set per instance.
    """

    kind = KIND
    brute_force_max: int = 2048
    max_overfetch: int = 1024

    def __init__(
        self,
        factory: str = "HNSW32",
        *,
        ef_search: int = 128,
        nprobe: int = 32,
        ef_construction: int = 80,
        model_version: str = "",
    ) -> None:
        match = _FACTORY.match(factory)
        if match is None:
            raise ConfigError(f"faiss factory {factory!r}: use 'Flat', 'HNSW32' or 'IVF1024,Flat'")
        if min(ef_search, nprobe, ef_construction) < 1:
            raise ConfigError("ef_search, nprobe and ef_construction must all be ≥ 1")
        self._faiss = _faiss()
        self.factory = factory
        self.family = "flat" if match[1] else "hnsw" if match[2] else "ivf"
        self.ef_search, self.nprobe, self.ef_construction = ef_search, nprobe, ef_construction
        super().__init__(model_version)
        self._index: Any = None
        self._inner: Any = None
        self._mapped = False  # vectors memory-mapped from the index file (read-only)
        self.built_factory = factory  # what was built: IVF's nlist after capping

    def __repr__(self) -> str:
        return f"FaissIndex({self.built_factory!r}, size={self.size}, v={self.model_version!r})"

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._built().d)

    def _built(self) -> Any:
        if self._index is None:
            raise IndexStateError("FaissIndex is empty: call build(ids, vectors) or load() first.")
        return self._index

    def _adopt(self, index: Any, factory: str) -> None:
        faiss = self._faiss
        self._index, self._inner = index, faiss.downcast_index(index.index)
        self.built_factory = factory
        self._table = IdTable(faiss.vector_to_array(index.id_map).astype(np.int64))
        if self.family == "ivf":  # reconstruct (get_vectors, exact fallback) needs a direct map
            faiss.extract_index_ivf(index).make_direct_map(True)

    def build(
        self, ids: ArrayLike, vectors: ArrayLike, *, model_version: str | None = None
    ) -> Self:
        """Replace the contents with ``ids [n]``, ``vectors [n, dim] float32``; IVF trains here."""
        faiss = self._faiss
        id_arr = as_ids(ids)
        vecs = as_matrix(vectors, "vectors")
        check_pairs(id_arr, vecs)
        n, dim = vecs.shape
        factory = self.factory
        if self.family == "ivf":
            if n == 0:
                raise DataError("an IVF index is trained at build and needs ≥ 1 vector; got none")
            nlist = ivf_nlist(n, int(_FACTORY.match(factory)[3]))  # type: ignore[index]
            factory = f"IVF{nlist},Flat"
        try:
            inner = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
            if self.family == "hnsw":
                inner.hnsw.efConstruction = self.ef_construction
            if self.family == "ivf":
                inner.cp.min_points_per_centroid = min(_MIN_POINTS_PER_LIST, n // nlist)
                inner.train(vecs)
            index = faiss.IndexIDMap2(inner)
            index.add_with_ids(vecs, id_arr)
            if self.family == "hnsw" and n > 1:  # neighbours close in memory (index.locality)
                perm = locality_order(inner.hnsw, n)
                inner.permute_entries(perm)
                faiss.copy_array_to_vector(id_arr[perm], index.id_map)
                index.construct_rev_map()
        except RuntimeError as e:
            raise IndexStateError(f"faiss could not build {factory!r} on {vecs.shape}: {e}") from e
        self._adopt(index, factory)
        self._normalised = is_normalised(vecs)
        if model_version is not None:
            self.model_version = model_version
        return self

    def add(self, ids: ArrayLike, vectors: ArrayLike) -> None:
        """Add new ``ids [m]`` / ``vectors [m, dim]``; a stored id raises ``IndexStateError``."""
        index = self._built()
        id_arr = as_ids(ids)
        vecs = as_matrix(vectors, "vectors", self.dim)
        check_pairs(id_arr, vecs)
        self._table.check_new(id_arr)
        if self._mapped:  # faiss aborts on a resize of mapped storage: take an owned copy once
            index = self._faiss.deserialize_index(self._faiss.serialize_index(index))
            self._adopt(index, self.built_factory)
            self._mapped = False
        try:
            index.add_with_ids(vecs, id_arr)
        except RuntimeError as e:
            raise IndexStateError(f"faiss could not add {len(id_arr)} vectors: {e}") from e
        self._table.extend(id_arr)
        self._normalised = self._normalised and is_normalised(vecs)

    def _raw_search(
        self, x: NDArray[np.float32], k: int, skip_ids: NDArray[np.int64] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """faiss search → ``(ids [q, k], scores [q, k])`` with ``-1`` / ``-inf`` for empty slots."""
        faiss = self._faiss
        kwargs: dict[str, Any] = {}
        if skip_ids is not None:
            kwargs["sel"] = faiss.IDSelectorNot(faiss.IDSelectorBatch(skip_ids))
        if self.family == "hnsw":
            # faiss keeps only efSearch candidates, so a beam narrower than k truncates recall.
            # Its bounded candidate queue finds each next node by a linear scan, O(ef) per
            # step: at the feed's beam of 500 the heap-based unbounded search is ~10% faster
            # with the same results (ADR-0009). faiss ignores a selector there: keep it bounded.
            params = faiss.SearchParametersHNSW(
                efSearch=max(self.ef_search, k), bounded_queue=skip_ids is not None, **kwargs
            )
        elif self.family == "ivf":
            params = faiss.SearchParametersIVF(nprobe=self.nprobe, **kwargs)
        else:
            params = faiss.SearchParameters(**kwargs) if kwargs else None
        try:
            dist, rows = self._index.search(x, k, params=params)
        except RuntimeError as e:
            raise IndexStateError(f"faiss search failed ({self.built_factory}): {e}") from e
        ids = rows.astype(np.int64, copy=False)  # IndexIDMap2 already maps rows to our ids
        return ids, np.where(ids >= 0, dist, -np.inf).astype(np.float32)

    def _exact_row(
        self, query: NDArray[np.float32], k: int, skip: NDArray[np.int64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Exact top-``k`` of one query over every stored row not in ``skip``."""
        allowed = np.ones(self.size, bool)
        allowed[skip] = False
        rows = np.flatnonzero(allowed)
        best_rows, best = np.empty(0, np.int64), np.empty(0, np.float32)
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            scores = self._inner.reconstruct_batch(chunk) @ query
            cand_rows = np.concatenate([best_rows, chunk])
            cols, vals = top_k(np.concatenate([best, scores])[None, :], k)
            kept = cols[0] >= 0
            best_rows, best = cand_rows[cols[0][kept]], vals[0][kept]
        ids = np.full(k, -1, np.int64)
        scores_out = np.full(k, -np.inf, np.float32)
        ids[: len(best)], scores_out[: len(best)] = self._table.ids[best_rows], best
        return ids, scores_out

    def search(
        self, queries: ArrayLike, k: int, exclude: Sequence[ArrayLike] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Approximate (exact for Flat) top-``k`` of ``queries [q, dim]``, see ``VectorIndex``.

        Returns:
            ``(ids [q, k] int64, scores [q, k] float32)``, descending, padded ``-1`` / ``-inf``.
        """
        q = as_matrix(queries, "queries", self.dim)
        k = check_k(k)
        skip = exclude_rows(exclude, len(q), self._table)
        n = self.size
        ids = np.full((len(q), k), -1, np.int64)
        scores = np.full((len(q), k), -np.inf, np.float32)
        if k == 0 or n == 0 or len(q) == 0:
            return ids, scores
        n_skip = np.array([len(s) for s in skip], np.int64)
        want = np.minimum(k, n - n_skip)
        brute = (n_skip > 0) & (n - n_skip <= self.brute_force_max)
        select = ~brute & (n_skip > self.max_overfetch)
        fetch = np.flatnonzero(~brute & ~select)
        if len(fetch):
            got_ids, got = self._raw_search(q[fetch], min(n, k + int(n_skip[fetch].max())))
            for j, r in enumerate(fetch.tolist()):
                keep = got_ids[j] >= 0
                if n_skip[r]:  # binary search: np.isin would build an id-range-sized table
                    banned = np.sort(self._table.ids[skip[r]])
                    at = np.minimum(np.searchsorted(banned, got_ids[j]), banned.size - 1)
                    keep &= banned[at] != got_ids[j]
                kept_ids = got_ids[j][keep][:k]
                ids[r, : kept_ids.size] = kept_ids
                scores[r, : kept_ids.size] = got[j][keep][:k]
        for row in np.flatnonzero(select):
            skip_ids = self._table.ids[skip[row]]
            ids[row], scores[row] = self._raw_search(q[row : row + 1], k, skip_ids)
        short = brute | ((ids >= 0).sum(axis=1) < want)
        for row in np.flatnonzero(short):
            ids[row], scores[row] = self._exact_row(q[row], k, skip[row])
        return ids, scores

    def get_vectors(self, ids: ArrayLike) -> NDArray[np.float32]:
        """Stored vectors of ``ids``, ``[len(ids), dim] float32``; unknown ids raise."""
        self._built()
        rows = self._table.strict_rows(np.asarray(ids, dtype=np.int64).ravel())
        if len(rows) == 0:
            return np.empty((0, self.dim), np.float32)
        return np.asarray(self._inner.reconstruct_batch(rows), dtype=np.float32)

    def save(self, path: str | Path) -> None:
        """Write ``index.faiss`` and (last) ``index_manifest.json`` into the directory ``path``."""
        index = self._built()

        def write(tmp: Path) -> None:
            try:
                self._faiss.write_index(index, str(tmp / _INDEX_FILE))
            except RuntimeError as e:
                raise ArtifactError(f"faiss could not write {_INDEX_FILE} in {path}: {e}") from e

        params = {"ef_search": self.ef_search, "nprobe": self.nprobe}
        params |= {"ef_construction": self.ef_construction}
        fields = {"factory": self.built_factory, "params": params, "files": [_INDEX_FILE]}
        self._save(Path(path), self.dim, write, **fields)

    @property
    def mapped(self) -> bool:
        """Whether the vectors and graph are memory-mapped from the index file."""
        return self._mapped

    def huge_pages(self) -> int:
        """Back the index's vectors and graph with transparent huge pages (see
        ``index.memory``); bytes collapsed, 0 for a memory-mapped index or without support."""
        if self._index is None or self._mapped:
            return 0
        from reelrec.index.memory import collapse

        faiss, inner = self._faiss, self._inner
        buffers = []
        storage = faiss.downcast_index(inner.storage) if self.family == "hnsw" else inner
        if hasattr(storage, "codes"):
            buffers.append(storage.codes)
        if self.family == "hnsw":
            buffers.append(inner.hnsw.neighbors)
        arrays = [faiss.rev_swig_ptr(b.data(), b.size()) for b in buffers if b.size()]
        return collapse(arrays)

    @classmethod
    def load(
        cls, path: str | Path, expect: Mapping[str, Any] | None = None, *, mmap: bool = True
    ) -> Self:
        """Read an index written by ``save``; Flat and HNSW are memory-mapped unless ``mmap``
        is false (read into memory: slower to open, but ``huge_pages`` can then apply).

        Raises:
            ArtifactError: the manifest or index file is missing, unreadable or inconsistent.
            IndexStateError: the manifest contradicts ``expect``.
        """
        path = Path(path)
        manifest = cls._open(path, expect)
        out = cls(manifest["factory"], **manifest.get("params", {}))
        out.model_version = str(manifest.get("model_version", ""))
        faiss, file = out._faiss, path / _INDEX_FILE
        # Flat and HNSW vectors are memory-mapped (start-up at 1M: 0.3 s instead of 4-5 s)
        flags = getattr(faiss, "IO_FLAG_MMAP_IFC", 0) if mmap and out.family != "ivf" else 0
        try:
            raw = faiss.read_index(str(need_file(file)), flags)
        except RuntimeError as e:
            raise ArtifactError(f"{file}: faiss cannot read it ({e}); rebuild the index.") from e
        shape = (manifest["dim"], manifest["size"])
        if not isinstance(raw, faiss.IndexIDMap2) or (raw.d, raw.ntotal) != shape:
            raise ArtifactError(
                f"{file} does not match its manifest (dim, size = {shape}); "
                "re-run `reelrec index RUN_DIR`."
            )
        out._adopt(raw, manifest["factory"])
        out._mapped = bool(flags)
        out._normalised = bool(manifest.get("normalised", False))
        return out
