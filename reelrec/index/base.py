"""The ``VectorIndex`` contract and the pieces every implementation shares.

Adding an id that is already stored is rejected with ``IndexStateError`` rather than replacing
it: an HNSW graph cannot delete, so not every index could offer "replace"; rebuild instead.
``save`` writes the data files first and ``index_manifest.json`` last, so a directory with a
manifest is complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, Self, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from reelrec.artifacts import atomic_write_json, environment, staged_dir
from reelrec.errors import ArtifactError, ConfigError, DataError, IndexStateError, UnknownIdError

INDEX_MANIFEST = "index_manifest.json"
FORMAT_VERSION = 1
Metric = Literal["ip"]
EXPECT_KEYS = ("dim", "metric", "normalised", "model_version", "kind", "factory")
_NORM_TOL = 1e-3


@runtime_checkable
class VectorIndex(Protocol):
    """A top-k inner-product index over ``[n, dim] float32`` vectors keyed by int64 ids.

    ids are the caller's non-negative int64 ids (dense video indices), never row numbers; the
    metric is ``"ip"``, inner product on L2-normalised vectors (higher is closer); ``search``
    pads with id ``-1`` / score ``-inf`` only when fewer than ``k`` candidates exist.

    Members: ``dim`` (raises ``IndexStateError`` before ``build``), ``size`` (0 before),
    ``metric`` (``"ip"``), ``normalised`` (every stored vector has unit norm within 1e-3),
    ``ids`` (stored ids in insertion order), ``model_version`` (recorded in the manifest);
    ``build`` replaces the contents, ``add`` appends new ids (a stored id raises
    ``IndexStateError``), ``search`` returns ``(ids [q, k] int64, scores [q, k] float32)``
    with no ``exclude[i]`` id in row i, ``get_vectors`` returns stored vectors (an unknown id
    raises ``UnknownIdError``), ``save`` writes a directory, ``load`` reads one back and
    refuses a manifest that contradicts ``expect``.
    """

    model_version: str

    @property
    def dim(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def metric(self) -> Metric: ...
    @property
    def normalised(self) -> bool: ...
    @property
    def ids(self) -> NDArray[np.int64]: ...

    def build(
        self, ids: ArrayLike, vectors: ArrayLike, *, model_version: str | None = None
    ) -> Self: ...
    def add(self, ids: ArrayLike, vectors: ArrayLike) -> None: ...
    def search(
        self, queries: ArrayLike, k: int, exclude: Sequence[ArrayLike] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]: ...
    def get_vectors(self, ids: ArrayLike) -> NDArray[np.float32]: ...
    def save(self, path: str | Path) -> None: ...
    @classmethod
    def load(cls, path: str | Path, expect: Mapping[str, Any] | None = None) -> Self: ...


class IndexBase:
    """State and properties shared by every implementation: ids, flags, model version."""

    kind: str = ""

    def __init__(self, model_version: str = "") -> None:
        self.model_version = model_version
        self._table = IdTable()
        self._normalised = True

    @property
    def size(self) -> int:
        """Number of stored vectors."""
        return len(self._table)

    @property
    def metric(self) -> Metric:
        """Always ``"ip"``."""
        return "ip"

    @property
    def normalised(self) -> bool:
        """Whether every stored vector has unit L2 norm (within 1e-3)."""
        return self._normalised

    @property
    def ids(self) -> NDArray[np.int64]:
        """Stored ids in insertion order, ``[size] int64`` (a copy)."""
        return self._table.ids.copy()

    def _save(self, path: Path, dim: int, write: Callable[[Path], None], **fields: Any) -> None:
        """Drop any old manifest, stage the data files with ``write(dir)``, then the manifest."""
        (path / INDEX_MANIFEST).unlink(missing_ok=True)
        with staged_dir(path) as tmp:
            write(tmp)
        manifest = {
            "format_version": FORMAT_VERSION,
            "versions": environment(),
            "kind": self.kind,
            "metric": self.metric,
            "normalised": self.normalised,
            "dim": dim,
            "size": self.size,
            "model_version": self.model_version,
            **fields,
        }
        atomic_write_json(path / INDEX_MANIFEST, manifest)

    @classmethod
    def _open(cls, path: Path, expect: Mapping[str, Any] | None) -> dict[str, Any]:
        """Read ``path``'s manifest, check it is this kind and agrees with ``expect``."""
        manifest = read_index_manifest(path)
        if manifest.get("kind") != cls.kind:
            raise ArtifactError(
                f"{path}: holds a {manifest.get('kind')!r} index, not {cls.kind!r}; "
                "use load_index()."
            )
        check_expect(manifest, expect, path)
        return manifest


class IdTable:
    """Stored ids in row order plus a sorted view for O(log n) id → row lookups (O(1) when the
    ids are the rows 0..n-1, in order or permuted)."""

    def __init__(self, ids: NDArray[np.int64] | None = None) -> None:
        self.ids: NDArray[np.int64] = np.empty(0, np.int64)
        self._order: NDArray[np.int64] = np.empty(0, np.int64)
        self._sorted: NDArray[np.int64] = np.empty(0, np.int64)
        self._dense = True  # ids == rows (0..n-1 in order): lookups need no search
        self._permuted = False  # ids are 0..n-1 in another order: the row of id i is _order[i]
        if ids is not None:
            self.extend(ids)

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, ids: NDArray[np.int64]) -> None:
        """Append ids (already checked to be new and distinct)."""
        start = len(self.ids)
        self.ids = np.concatenate([self.ids, ids])
        self._dense = self._dense and bool((ids == np.arange(start, len(self.ids))).all())
        self._order = np.argsort(self.ids, kind="stable").astype(np.int64)
        self._sorted = self.ids[self._order]
        sorted_ids, n = self._sorted, len(self._sorted)
        self._permuted = not self._dense and bool((sorted_ids == np.arange(n)).all())

    def rows(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Row of each id, ``-1`` where the id is not stored; ``[len(ids)] int64``."""
        if len(self._sorted) == 0:
            return np.full(len(ids), -1, np.int64)
        inside = (ids >= 0) & (ids < len(self.ids))
        if self._dense:  # a binary search over 1M ids costs ~1 ms per 500 lookups (cache misses)
            return np.where(inside, ids, -1).astype(np.int64)
        if self._permuted:  # rows re-ordered for locality (FaissIndex.reorder): one gather
            return np.where(inside, self._order[np.where(inside, ids, 0)], -1)
        pos = np.minimum(np.searchsorted(self._sorted, ids), len(self._sorted) - 1)
        return np.where(self._sorted[pos] == ids, self._order[pos], -1)

    def check_new(self, ids: NDArray[np.int64]) -> None:
        """Raise ``IndexStateError`` if any of ``ids`` is already stored."""
        present = ids[self.rows(ids) >= 0]
        if len(present):
            raise IndexStateError(
                f"ids already in the index: {present[:5].tolist()} ({len(present)} in all); "
                "add() never replaces a vector: rebuild the index to change a stored one."
            )

    def strict_rows(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Rows of ``ids``; raise ``UnknownIdError`` if any is not stored."""
        rows = self.rows(ids)
        missing = ids[rows < 0]
        if len(missing):
            raise UnknownIdError(f"ids not in the index: {missing[:5].tolist()} ({len(missing)})")
        return rows


def as_ids(ids: ArrayLike, what: str = "ids") -> NDArray[np.int64]:
    """Validate ids: 1-D, integer, non-negative (``-1`` is the padding id), distinct."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise DataError(f"{what} must be a 1-D integer array; got shape {arr.shape} {arr.dtype}")
    out = arr.astype(np.int64, copy=False)
    if out.size and out.min() < 0:
        raise DataError(f"{what} must be non-negative (-1 marks padding); got {out.min()}")
    if len(np.unique(out)) != len(out):
        raise DataError(f"{what} contains duplicates; each id may appear once")
    return out


def as_matrix(x: ArrayLike, what: str, dim: int | None = None) -> NDArray[np.float32]:
    """Validate a ``[n, dim]`` finite float matrix and return it C-contiguous float32.

    Raises:
        DataError: not 2-D, not floating point, or not finite.
        IndexStateError: the width differs from ``dim``.
    """
    arr = np.asarray(x)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
        hint = " (pass one vector as x[None, :])" if arr.ndim == 1 else ""
        raise DataError(f"{what} must be a 2-D float array; got {arr.shape} {arr.dtype}{hint}")
    if dim is not None and arr.shape[1] != dim:
        raise IndexStateError(
            f"{what} have dim {arr.shape[1]} but the index was built with dim {dim}; "
            "use vectors from the model the index was built from, or rebuild the index."
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise DataError(f"{what} contain NaN or infinite values")
    return out


def check_pairs(ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
    """Raise ``DataError`` unless there is one vector per id."""
    if len(ids) != len(vectors):
        raise DataError(f"got {len(ids)} ids but {len(vectors)} vectors; need one vector per id")


def is_normalised(vectors: NDArray[np.float32]) -> bool:
    """True when every row has unit L2 norm within 1e-3 (vacuously true when empty)."""
    return bool(np.all(np.abs(np.linalg.norm(vectors, axis=1) - 1.0) <= _NORM_TOL))


def check_k(k: int) -> int:
    """Validate ``k`` (an int ≥ 0)."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise DataError(f"k must be a non-negative int; got {k!r}")
    return int(k)


def exclude_rows(
    exclude: Sequence[ArrayLike] | None, n_queries: int, table: IdTable
) -> list[NDArray[np.int64]]:
    """Per query, the distinct stored rows to exclude (ids not stored are ignored)."""
    if exclude is None:
        return [np.empty(0, np.int64)] * n_queries
    if len(exclude) != n_queries:
        raise DataError(f"exclude has {len(exclude)} entries but there are {n_queries} queries")
    out = []
    for item in exclude:
        ids = np.asarray(item if item is not None else [], dtype=np.int64).ravel()
        rows = table.rows(ids)
        out.append(np.unique(rows[rows >= 0]))
    return out


def read_index_manifest(path: str | Path) -> dict[str, Any]:
    """Read an index directory's manifest, or raise ``ArtifactError`` saying what to run."""
    file = Path(path) / INDEX_MANIFEST
    if not file.is_file():
        raise ArtifactError(
            f"{path}: no {INDEX_MANIFEST}; the index is missing or was not fully written "
            "(re-run `reelrec index RUN_DIR`)."
        )
    try:
        manifest: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"{file}: not valid JSON ({e}); re-run `reelrec index RUN_DIR`.") from e
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{file}: index format {manifest.get('format_version')!r}, this reelrec reads "
            f"{FORMAT_VERSION}; re-run `reelrec index RUN_DIR`."
        )
    return manifest


def check_expect(manifest: Mapping[str, Any], expect: Mapping[str, Any] | None, path: Path) -> None:
    """Raise ``IndexStateError`` naming every field where ``manifest`` contradicts ``expect``."""
    if not expect:
        return
    unknown = sorted(set(expect) - set(EXPECT_KEYS))
    if unknown:
        raise ConfigError(f"unknown expect keys {unknown}; valid: {', '.join(EXPECT_KEYS)}")
    diffs = [
        f"{key}: index has {manifest.get(key)!r}, expected {want!r}"
        for key, want in expect.items()
        if manifest.get(key) != want
    ]
    if diffs:
        raise IndexStateError(
            f"{path}: the index does not match what the caller expects ({'; '.join(diffs)}); "
            "it was built from other embeddings: re-run `reelrec index RUN_DIR` to rebuild it."
        )


def need_file(path: Path) -> Path:
    """Return ``path`` or raise ``ArtifactError`` when the file is missing."""
    if not path.is_file():
        raise ArtifactError(
            f"{path} is missing; the index directory is partial (re-run `reelrec index RUN_DIR`)."
        )
    return path
