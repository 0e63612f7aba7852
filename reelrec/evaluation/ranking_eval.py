"""Top-K evaluation of any recommender against a held-out interaction matrix.

Conventions: every nonzero entry of ``train`` / ``test`` is an interaction. A user's relevant
items are their test items that are not train items (train items are masked from the ranking,
so they could never be hit). Users with ≥1 relevant item are evaluated; the others are skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from reelrec.errors import ConfigError, DataError
from reelrec.evaluation import metrics

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
RecommendFn = Callable[[IntArray, int, sp.csr_matrix], tuple[IntArray, NDArray[np.floating]]]
ScoreFn = Callable[[IntArray], NDArray[np.floating]]

_ACCURACY = {
    "recall": metrics.recall_at_k,
    "precision": metrics.precision_at_k,
    "ndcg": metrics.ndcg_at_k,
    "hit_rate": metrics.hit_rate_at_k,
    "mrr": metrics.mrr_at_k,
}


def _structure(matrix: sp.spmatrix | sp.sparray, name: str) -> sp.csr_matrix:
    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise DataError(f"{name} must be a 2-D scipy.sparse matrix, got {type(matrix).__name__}")
    csr = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.data[:] = 1.0
    return csr


def _rows(csr: sp.csr_matrix, users: IntArray) -> list[IntArray]:
    sub = csr[users]
    return [sub.indices[a:b].astype(np.int64) for a, b in itertools.pairwise(sub.indptr)]


def _drop_excluded(ids: IntArray, exclude: sp.csr_matrix) -> IntArray:
    """Remove ids [b, k] found in ``exclude`` rows, shift the rest left and pad with -1."""
    n_items = exclude.shape[1]
    keys = np.repeat(np.arange(len(ids)), np.diff(exclude.indptr)) * n_items + exclude.indices
    bad = np.isin(np.arange(len(ids))[:, None] * n_items + ids, keys) & (ids >= 0)
    bad |= ids < 0
    order = np.argsort(bad, axis=1, kind="stable")
    return np.where(np.take_along_axis(bad, order, 1), -1, np.take_along_axis(ids, order, 1))


def _recommend_all(
    recommend_fn: RecommendFn, users: IntArray, k: int, train: sp.csr_matrix, batch_size: int
) -> IntArray:
    """Top-k ids [n_users, k] per evaluated user, train items masked and filtered out."""
    out = np.empty((len(users), k), dtype=np.int64)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        exclude = train[batch]
        ids = np.asarray(recommend_fn(batch, k, exclude)[0])
        if ids.shape != (len(batch), k) or (ids.size and not -1 <= ids.min() <= ids.max()):
            raise DataError(f"recommend_fn must return ids [{len(batch)}, {k}], got {ids.shape}")
        if ids.size and ids.max() >= train.shape[1]:
            raise DataError(f"recommend_fn returned item idx {ids.max()} ≥ {train.shape[1]}")
        out[start : start + len(batch)] = _drop_excluded(ids.astype(np.int64), exclude)
    return out


def _ranks_of(scores: FloatArray, rows: IntArray, cols: IntArray, chunk: int = 128) -> FloatArray:
    """0-based average ranks (descending) of ``scores[rows, cols]`` within their rows.

    Counting the higher and tied scores costs O(n_items) per relevant item, far less than
    ranking whole rows when each user has few relevant items (the usual case).
    """
    out = np.empty(len(rows), dtype=np.float64)
    for start in range(0, len(rows), chunk):
        r, c = rows[start : start + chunk], cols[start : start + chunk]
        block = scores[r]
        target = block[np.arange(len(r)), c][:, None]
        higher = (block > target).sum(axis=1)
        tied = (block == target).sum(axis=1)
        out[start : start + chunk] = higher + (tied - 1) / 2.0
    return out


def _auc_per_user(
    score_fn: ScoreFn,
    users: IntArray,
    masked: sp.csr_matrix,
    positives: sp.csr_matrix,
    batch_size: int,
) -> FloatArray:
    """Full-ranking AUC [n_users] over items not in ``masked``; NaN where no negative is left."""
    n_items = masked.shape[1]
    out = np.full(len(users), np.nan)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = np.array(score_fn(batch), dtype=np.float64)
        if scores.shape != (len(batch), n_items) or np.isnan(scores).any():
            raise DataError(f"auc_score_fn must return finite [{len(batch)}, {n_items}] scores")
        mask, pos = masked[batch], positives[batch]
        scores[np.repeat(np.arange(len(batch)), np.diff(mask.indptr)), mask.indices] = -np.inf
        pos_rows = np.repeat(np.arange(len(batch)), np.diff(pos.indptr))
        rank_lists = np.split(_ranks_of(scores, pos_rows, pos.indices), pos.indptr[1:-1])
        n_cand = n_items - np.diff(mask.indptr)
        ok = n_cand > np.diff(pos.indptr)
        if ok.any():
            ranked = [r for r, keep in zip(rank_lists, ok, strict=True) if keep]
            out[start + np.flatnonzero(ok)] = metrics.full_auc(ranked, n_cand[ok])
    return out


def _accuracy(recs: IntArray, relevant: list[IntArray], ks: Sequence[int]) -> dict[str, FloatArray]:
    return {f"{n}@{k}": fn(recs, relevant, k) for k in ks for n, fn in _ACCURACY.items()}


def _summarize(
    per_user: Mapping[str, FloatArray],
    recs: IntArray,
    ks: Sequence[int],
    popularity: FloatArray | None,
    n_users_train: int,
) -> dict[str, float]:
    """Means of per-user metrics plus catalogue metrics of ``recs`` (when popularity given)."""
    out = {"n_users": float(len(recs))}
    for key, values in per_user.items():
        finite = values[np.isfinite(values)]
        out[key] = float(finite.mean()) if len(finite) else float("nan")
    if popularity is None or len(recs) == 0:
        return out
    n_items = len(popularity)
    for k in ks:
        out[f"coverage@{k}"] = metrics.coverage_at_k(recs, k, n_items)
        out[f"gini@{k}"] = metrics.gini_of_exposure(recs, k, n_items)
        out[f"avg_popularity@{k}"] = float(metrics.average_popularity(recs, popularity, k).mean())
        out[f"novelty@{k}"] = float(metrics.novelty(recs, popularity, n_users_train, k).mean())
    return out


def _check_inputs(
    train: sp.spmatrix | sp.sparray, test: sp.spmatrix | sp.sparray, ks: Sequence[int]
) -> tuple[sp.csr_matrix, sp.csr_matrix, tuple[int, ...]]:
    train_csr, test_csr = _structure(train, "train"), _structure(test, "test")
    if train_csr.shape != test_csr.shape:
        raise DataError(f"train {train_csr.shape} and test {test_csr.shape} shapes differ")
    ks_t = tuple(sorted({int(k) for k in ks}))
    if not ks_t or ks_t[0] < 1:
        raise ConfigError(f"ks must be a non-empty sequence of ints ≥1, got {ks!r}")
    return train_csr, test_csr, ks_t


def evaluate_topk(
    recommend_fn: RecommendFn,
    train: sp.spmatrix | sp.sparray,
    test: sp.spmatrix | sp.sparray,
    ks: Sequence[int] = (10, 20, 50),
    *,
    item_popularity: FloatArray | None = None,
    user_slices: Mapping[str, NDArray[np.bool_]] | None = None,
    item_slices: Mapping[str, NDArray[np.bool_]] | None = None,
    auc_score_fn: ScoreFn | None = None,
    batch_size: int = 1024,
    auc_max_users: int | None = None,
) -> dict[str, float]:
    """Evaluate top-K recommendations of held-out items, overall and per slice.

    Args:
        recommend_fn: (user_idx [n], k, exclude csr [n, n_items]) -> (ids [n, k], scores).
            Items it returns despite ``exclude`` are dropped (counted as misses).
        train: [n_users, n_items] interactions; masked per user.
        test: [n_users, n_items] held-out interactions.
        ks: cut-offs.
        item_popularity: [n_items] popularity for avg_popularity/novelty; default train counts.
        user_slices: name -> bool [n_users]; metrics over that subset of users, all keys.
        item_slices: name -> bool [n_items]; relevance restricted to those items (users with
            ≥1 such item), ranking still over all items; accuracy metrics and auc only.
        auc_score_fn: user_idx [n] -> dense scores [n, n_items]; adds the mean full-ranking
            AUC over non-train items as "auc".
        batch_size: users per recommend_fn / auc_score_fn call.
        auc_max_users: compute "auc" on a seeded sample of at most this many users.

    Returns:
        Floats keyed "n_users", "recall@10", "ndcg@10", ..., "coverage@10", "gini@10",
        "avg_popularity@10", "novelty@10", "auc", and "<slice>/<key>" (NaN for empty slices).
    """
    train_csr, test_csr, ks_t = _check_inputs(train, test, ks)
    n_users, n_items = train_csr.shape
    popularity = np.asarray(
        train_csr.sum(axis=0) if item_popularity is None else item_popularity, np.float64
    ).reshape(-1)
    if popularity.shape != (n_items,):
        raise DataError(f"item_popularity must be [{n_items}], got {popularity.shape}")
    u_slices = {name: _slice_mask(m, n_users, name) for name, m in (user_slices or {}).items()}
    i_slices = {name: _slice_mask(m, n_items, name) for name, m in (item_slices or {}).items()}
    relevant = (test_csr - test_csr.multiply(train_csr)).tocsr()
    relevant.eliminate_zeros()
    users = np.flatnonzero(np.diff(relevant.indptr) > 0).astype(np.int64)
    if len(users) == 0:
        raise DataError("test holds no interaction outside train; there is nothing to evaluate")
    recs = _recommend_all(recommend_fn, users, ks_t[-1], train_csr, batch_size)
    per_user = _accuracy(recs, _rows(relevant, users), ks_t)
    if auc_score_fn is not None:
        per_user["auc"] = np.full(len(users), np.nan)
        sample = _auc_sample(len(users), auc_max_users)
        per_user["auc"][sample] = _auc_per_user(
            auc_score_fn, users[sample], train_csr, relevant, batch_size
        )
    results = _summarize(per_user, recs, ks_t, popularity, n_users)
    for name, mask in u_slices.items():
        keep = mask[users]
        sliced = {key: values[keep] for key, values in per_user.items()}
        part = _summarize(sliced, recs[keep], ks_t, popularity, n_users)
        results |= {f"{name}/{key}": value for key, value in part.items()}
    for name, mask in i_slices.items():
        part = _item_slice(recs, users, train_csr, relevant, mask, ks_t, auc_score_fn, batch_size)
        results |= {f"{name}/{key}": value for key, value in part.items()}
    return results


def _auc_sample(n: int, limit: int | None) -> IntArray:
    """All positions, or a seeded sorted sample of ``limit`` of them (AUC is a per-user mean,
    so a uniform sample of users estimates it without bias at a fraction of the cost)."""
    if limit is None or n <= limit:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False)).astype(np.int64)


def _slice_mask(mask: NDArray[np.bool_], size: int, name: str) -> NDArray[np.bool_]:
    arr = np.asarray(mask)
    if arr.dtype != np.bool_ or arr.shape != (size,):
        raise DataError(
            f"slice {name!r} must be a bool array [{size}], got {arr.dtype} {arr.shape}"
        )
    return arr


def _item_slice(
    recs: IntArray,
    users: IntArray,
    train: sp.csr_matrix,
    relevant: sp.csr_matrix,
    item_mask: NDArray[np.bool_],
    ks: Sequence[int],
    auc_score_fn: ScoreFn | None,
    batch_size: int,
) -> dict[str, float]:
    """Metrics with relevance restricted to ``item_mask`` items; other relevant items ignored."""
    in_slice = relevant @ sp.diags(item_mask.astype(np.float32))
    in_slice = sp.csr_matrix(in_slice)
    in_slice.eliminate_zeros()
    slice_users = users[np.diff(in_slice.indptr)[users] > 0]
    rows = np.searchsorted(users, slice_users)
    per_user = _accuracy(recs[rows], _rows(in_slice, slice_users), ks)
    if auc_score_fn is not None:
        ignored = (train + relevant - in_slice).tocsr()
        ignored.eliminate_zeros()
        per_user["auc"] = _auc_per_user(auc_score_fn, slice_users, ignored, in_slice, batch_size)
    return _summarize(per_user, recs[rows], ks, None, 0)


__all__ = ["RecommendFn", "ScoreFn", "evaluate_topk"]
