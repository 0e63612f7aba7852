"""The catalogue table rules read, built from fitted catalogue arrays; near-duplicate groups."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from reelrec.features.definitions import VideoArrays
from reelrec.rules.base import VideoTable
from reelrec.types import Idx

EXACT_MAX = 20_000
"""Up to this many videos, pairs are found by exact blocked matmul; above, by faiss IVF."""
_BLOCK = 2048


def duplicate_groups(vectors: np.ndarray, threshold: float, *, nprobe: int = 8) -> Idx:
    """[V] near-duplicate group of each video: the smallest idx of its connected component.

    Two videos are linked when the cosine of their unit vectors exceeds ``threshold``; groups
    are the connected components of those links (so a chain of re-uploads is one group).
    Exact up to ``EXACT_MAX`` videos; above it, an IVF range search (cells ≈ 4·sqrt(V), probing
    ``nprobe``) finds the links — near-duplicates are close enough to share a cell, so the
    approximation misses only links between vectors on cell borders.

    Args:
        vectors: [V, d] float32 unit vectors.
        threshold: cosine above which two videos are near-duplicates, in (0, 1].
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = x.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    rows, cols = _links_exact(x, threshold) if n <= EXACT_MAX else _links_ivf(x, threshold, nprobe)
    graph = sp.csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(int(labels.max()) + 1, n, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n, dtype=np.int64))
    out: Idx = smallest[labels]
    return out


def _links_exact(x: np.ndarray, threshold: float) -> tuple[Idx, Idx]:
    rows, cols = [], []
    for start in range(0, x.shape[0], _BLOCK):
        sims = x[start : start + _BLOCK] @ x.T  # [block, V]
        r, c = np.nonzero(sims > threshold)
        r = r + start
        keep = c > r
        rows.append(r[keep])
        cols.append(c[keep])
    return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)


def _links_ivf(x: np.ndarray, threshold: float, nprobe: int) -> tuple[Idx, Idx]:
    import faiss  # lazy: `import reelrec` must not import faiss

    n, d = x.shape
    nlist = max(1, min(int(4 * np.sqrt(n)), n // 39))  # faiss wants ≥ 39 points per list
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(0)
    sample = x[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
    index.train(sample)
    index.add(x)
    index.nprobe = min(nprobe, nlist)
    lims, _, labels = index.range_search(x, float(threshold))
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(lims).astype(np.int64))
    cols = labels.astype(np.int64)
    keep = cols > rows
    return rows[keep], cols[keep]


def content_groups(keys: Idx, has_key: np.ndarray | None = None) -> Idx:
    """[V] group of each video: the smallest idx with an identical content key row.

    A re-upload copies its original's title and tags, so ``keys`` = sorted tags ⊕ title tokens
    finds re-uploads exactly (the synthetic world: all 75 of the tiny world's re-uploads, no
    false group). Rows where ``has_key`` is false (e.g. no title) stay in their own group.

    Args:
        keys: [V, w] int content key per video.
        has_key: [V] bool, which rows have a meaningful key (default: all).
    """
    n = int(keys.shape[0])
    out: Idx = np.arange(n, dtype=np.int64)
    rows = out if has_key is None else np.flatnonzero(has_key)
    if rows.size == 0:
        return out
    sub = np.ascontiguousarray(keys[rows], dtype=np.int64)
    # One 64-bit hash per row makes this a 1-D unique (``axis=0`` sorts rows: ~30 s at 1M);
    # every row is then checked against its group's first row, so a collision cannot merge.
    mult = np.random.default_rng(0).integers(1, 2**63, sub.shape[1], dtype=np.uint64) | 1
    with np.errstate(over="ignore"):
        hashed = (sub.view(np.uint64) * mult).sum(axis=1, dtype=np.uint64)
    _, first, inverse = np.unique(hashed, return_index=True, return_inverse=True)
    firsts = first[np.asarray(inverse).ravel()]
    if not (sub == sub[firsts]).all():
        _, first, inverse = np.unique(sub, axis=0, return_index=True, return_inverse=True)
        firsts = first[np.asarray(inverse).ravel()]
    out[rows] = rows[firsts]
    return out


def video_table(
    catalog: VideoArrays,
    vectors: np.ndarray,
    popularity: np.ndarray,
    *,
    duplicate_cosine: float | None = None,
    duplicate_of: Idx | None = None,
) -> VideoTable:
    """The rules' catalogue table from a fitted model's parts.

    Args:
        catalog: item-tower inputs in dense video order (``Recommender.catalog_``).
        vectors: [V, d] unit item vectors (the index's vectors).
        popularity: [V] interaction counts (``Recommender.popularity_``).
        duplicate_cosine: when given (and ``duplicate_of`` is not), re-uploads are grouped by
            ``duplicate_groups(vectors, duplicate_cosine)`` instead of by content. Use it only
            with a threshold above the model's typical nearest-neighbour cosine: linked pairs
            chain into groups.
        duplicate_of: [V] explicit original of each re-upload (-1 for originals).

    Without either, re-uploads are grouped by content (``content_groups`` of sorted tags and
    title tokens; videos without a title are never grouped).
    """
    group = None
    if duplicate_of is None and duplicate_cosine is not None:
        group = duplicate_groups(vectors, duplicate_cosine)
    elif duplicate_of is None:
        keys = np.concatenate([np.sort(catalog.tags, axis=1), catalog.title], axis=1)
        group = content_groups(keys, has_key=np.asarray((catalog.title > 0).any(axis=1)))
    return VideoTable.from_arrays(
        creator_idx=catalog.creator_idx,
        tag_idx=catalog.tags.astype(np.int64) - 1,  # VideoArrays: 0 = pad, tag idx + 1
        upload_seconds=catalog.upload_seconds,
        unsafe=catalog.unsafe,
        vectors=vectors,
        popularity=popularity,
        duplicate_of=duplicate_of,
        duplicate_group=group,
    )
