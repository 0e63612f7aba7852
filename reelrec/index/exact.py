"""``ExactIndex``: brute-force inner product in numpy, the oracle for every ANN index."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reelrec.errors import ArtifactError, IndexStateError
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

KIND = "exact"
_IDS_FILE = "ids.npy"
_VECTORS_FILE = "vectors.npy"
_SCORE_BUDGET = 1 << 24  # floats in one [chunk, n] score block (64 MiB)


def top_k(scores: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Columns and values of each row's ``k`` largest scores, descending (ties by column).

    Args:
        scores: ``[q, n] float32``; ``-inf`` marks columns that must not be returned.
        k: results per row.

    Returns:
        ``(cols [q, k] int64, values [q, k] float32)``, padded with ``-1`` / ``-inf``.
    """
    q, n = scores.shape
    cols = np.full((q, k), -1, np.int64)
    vals = np.full((q, k), -np.inf, np.float32)
    kk = min(k, n)
    if kk == 0 or q == 0:
        return cols, vals
    if kk < n:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n, dtype=np.int64), (q, n))
    got = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -got), axis=-1)
    got = np.take_along_axis(got, order, axis=1)
    part = np.take_along_axis(part, order, axis=1)
    keep = got > -np.inf
    cols[:, :kk] = np.where(keep, part, -1)
    vals[:, :kk] = np.where(keep, got, -np.inf)
    return cols, vals


class ExactIndex(IndexBase):
    """Exact top-k by ``queries @ vectors.T`` and ``argpartition``, chunked over queries.

    Args:
        model_version: the embedding model's version, recorded in the manifest.
    """

    kind = KIND

    def __init__(self, *, model_version: str = "") -> None:
        super().__init__(model_version)
        self._buf: NDArray[np.float32] | None = None  # [capacity, dim], rows [:size] in use

    def __repr__(self) -> str:
        dim = None if self._buf is None else self._buf.shape[1]
        return f"ExactIndex(size={self.size}, dim={dim}, model_version={self.model_version!r})"

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._built().shape[1])

    @property
    def vectors(self) -> NDArray[np.float32]:
        """Stored vectors in insertion order, ``[size, dim] float32`` (a read-only view)."""
        view = self._built()[: self.size]
        view.flags.writeable = False
        return view

    def _built(self) -> NDArray[np.float32]:
        if self._buf is None:
            raise IndexStateError("ExactIndex is empty: call build(ids, vectors) or load() first.")
        return self._buf

    def build(
        self, ids: ArrayLike, vectors: ArrayLike, *, model_version: str | None = None
    ) -> Self:
        """Replace the contents with ``ids [n]`` and ``vectors [n, dim] float32``."""
        id_arr = as_ids(ids)
        vecs = as_matrix(vectors, "vectors")
        check_pairs(id_arr, vecs)
        self._table = IdTable(id_arr)
        self._buf = vecs.copy()
        self._normalised = is_normalised(vecs)
        if model_version is not None:
            self.model_version = model_version
        return self

    def add(self, ids: ArrayLike, vectors: ArrayLike) -> None:
        """Append new ``ids [m]`` / ``vectors [m, dim]``; a stored id raises ``IndexStateError``."""
        buf = self._built()
        id_arr = as_ids(ids)
        vecs = as_matrix(vectors, "vectors", buf.shape[1])
        check_pairs(id_arr, vecs)
        self._table.check_new(id_arr)
        n, m = self.size, len(id_arr)
        if n + m > len(buf):  # grow geometrically so repeated small adds stay cheap
            grown = np.empty((max(n + m, 2 * len(buf), 16), buf.shape[1]), np.float32)
            grown[:n] = buf[:n]
            buf = self._buf = grown
        buf[n : n + m] = vecs
        self._table.extend(id_arr)
        self._normalised = self._normalised and is_normalised(vecs)

    def search(
        self, queries: ArrayLike, k: int, exclude: Sequence[ArrayLike] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Exact top-``k`` per query row.

        Args:
            queries: ``[q, dim] float32``.
            k: results per row.
            exclude: per row, ids that must not be returned in that row.

        Returns:
            ``(ids [q, k] int64, scores [q, k] float32)``, descending, padded ``-1`` / ``-inf``.
        """
        vectors = self.vectors
        q = as_matrix(queries, "queries", vectors.shape[1])
        k = check_k(k)
        skip = exclude_rows(exclude, len(q), self._table)
        ids = np.full((len(q), k), -1, np.int64)
        scores = np.full((len(q), k), -np.inf, np.float32)
        if k == 0 or self.size == 0:
            return ids, scores
        step = max(1, _SCORE_BUDGET // self.size)
        for start in range(0, len(q), step):
            block = q[start : start + step] @ vectors.T
            for i, rows in enumerate(skip[start : start + step]):
                block[i, rows] = -np.inf
            cols, vals = top_k(block, k)
            ids[start : start + step] = np.where(cols >= 0, self._table.ids[cols], -1)
            scores[start : start + step] = vals
        return ids, scores

    def get_vectors(self, ids: ArrayLike) -> NDArray[np.float32]:
        """Stored vectors of ``ids``, ``[len(ids), dim] float32``; unknown ids raise."""
        vectors = self.vectors
        rows = self._table.strict_rows(np.asarray(ids, dtype=np.int64).ravel())
        return vectors[rows].copy()

    def save(self, path: str | Path) -> None:
        """Write ``ids.npy``, ``vectors.npy`` and (last) ``index_manifest.json`` into ``path``."""
        vectors = self.vectors

        def write(tmp: Path) -> None:
            np.save(tmp / _IDS_FILE, self._table.ids)
            np.save(tmp / _VECTORS_FILE, vectors)

        self._save(Path(path), self.dim, write, factory=None, files=[_IDS_FILE, _VECTORS_FILE])

    @classmethod
    def load(cls, path: str | Path, expect: Mapping[str, Any] | None = None) -> Self:
        """Read an index written by ``save``.

        Raises:
            ArtifactError: the manifest or a data file is missing, unreadable or inconsistent.
            IndexStateError: the manifest contradicts ``expect``.
        """
        path = Path(path)
        manifest = cls._open(path, expect)
        try:
            ids = np.load(need_file(path / _IDS_FILE), allow_pickle=False)
            vectors = np.load(need_file(path / _VECTORS_FILE), allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ArtifactError(f"{path}: cannot read index arrays ({e}); rebuild it.") from e
        if vectors.shape != (manifest["size"], manifest["dim"]) or len(ids) != len(vectors):
            raise ArtifactError(
                f"{path}: arrays hold {vectors.shape} / {ids.shape} but the manifest says "
                f"size={manifest['size']} dim={manifest['dim']}; re-run `reelrec index RUN_DIR`."
            )
        index = cls(model_version=str(manifest.get("model_version", "")))
        return index.build(ids, vectors)
