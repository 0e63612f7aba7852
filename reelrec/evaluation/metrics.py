"""Offline recommendation metrics in pure numpy.

Top-K metrics take ``recommended`` [n_users, K] int64 (top-K item idx per user, best first,
padded with -1, no repeated item in a row) and ``relevant`` (one array of unique held-out item
idx per user; the caller drops users without any). They return per-user float64 [n_users]
arrays so callers can average over any slice of users. Catalogue metrics return one float.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from reelrec.errors import ConfigError, DataError

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def _check_k(recommended: IntArray, k: int) -> None:
    if recommended.ndim != 2:
        raise DataError(f"recommended must be 2-D [n_users, K], got shape {recommended.shape}")
    if not 1 <= k <= recommended.shape[1]:
        raise ConfigError(
            f"k must be in [1, {recommended.shape[1]}] (recommended columns), got {k}"
        )


def _hits(recommended: IntArray, relevant: list[IntArray], k: int) -> NDArray[np.bool_]:
    """Whether each of the first k recommendations is relevant: bool [n_users, k]."""
    _check_k(recommended, k)
    rec = np.asarray(recommended[:, :k], dtype=np.int64)
    if len(relevant) != rec.shape[0]:
        raise DataError(f"relevant has {len(relevant)} users, recommended has {rec.shape[0]}")
    sizes = np.array([len(r) for r in relevant], dtype=np.int64)
    if rec.shape[0] and sizes.min() == 0:
        raise DataError("every user needs ≥1 relevant item; drop users without held-out items")
    ordered = np.sort(rec, axis=1)
    if np.any((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)):
        raise DataError("a row of recommended repeats an item; each row must hold unique idx")
    rel = np.concatenate(relevant).astype(np.int64) if len(relevant) else np.empty(0, np.int64)
    bound = int(max(rec.max(initial=0), rel.max(initial=0))) + 1
    rel_keys = np.repeat(np.arange(len(relevant), dtype=np.int64), sizes) * bound + rel
    rec_keys = np.arange(rec.shape[0], dtype=np.int64)[:, None] * bound + rec
    return np.isin(rec_keys, rel_keys) & (rec >= 0)


def recall_at_k(recommended: IntArray, relevant: list[IntArray], k: int) -> FloatArray:
    """Hits in the top k divided by |relevant| (RecBole's convention, not min(|rel|, k)).

    A user with more than k relevant items therefore cannot reach 1.0.
    """
    sizes = np.array([len(r) for r in relevant], dtype=np.float64)
    return np.asarray(_hits(recommended, relevant, k).sum(axis=1) / sizes, dtype=np.float64)


def precision_at_k(recommended: IntArray, relevant: list[IntArray], k: int) -> FloatArray:
    """Hits in the top k divided by k (padding counts as a miss)."""
    return np.asarray(_hits(recommended, relevant, k).sum(axis=1) / k, dtype=np.float64)


def hit_rate_at_k(recommended: IntArray, relevant: list[IntArray], k: int) -> FloatArray:
    """1.0 where at least one of the top k is relevant, else 0.0."""
    return np.asarray(_hits(recommended, relevant, k).any(axis=1), dtype=np.float64)


def ndcg_at_k(recommended: IntArray, relevant: list[IntArray], k: int) -> FloatArray:
    """Binary-relevance NDCG; the ideal DCG places min(|relevant|, k) hits first."""
    hits = _hits(recommended, relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = hits @ discounts
    n_ideal = np.minimum([len(r) for r in relevant], k).astype(np.int64)
    idcg = np.concatenate([[0.0], np.cumsum(discounts)])[n_ideal]
    return np.asarray(dcg / idcg, dtype=np.float64)


def mrr_at_k(recommended: IntArray, relevant: list[IntArray], k: int) -> FloatArray:
    """Reciprocal (1-based) rank of the first relevant item in the top k, 0.0 if none."""
    hits = _hits(recommended, relevant, k)
    first = np.argmax(hits, axis=1)
    return np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0).astype(np.float64)


def full_auc(rank_of_relevant: list[FloatArray], n_candidates: int | IntArray) -> FloatArray:
    """Per-user AUC of a full ranking, from the ranks of the relevant items.

    Args:
        rank_of_relevant: per user, the 0-based ranks [n_rel] of the relevant items among all
            candidates (relevant ones included); average ranks for ties give ties half credit.
        n_candidates: candidates per user (items not masked), scalar or [n_users].

    Returns:
        [n_users] fraction of (relevant, non-relevant) pairs ranked in the right order.
    """
    n_pos = np.array([len(r) for r in rank_of_relevant], dtype=np.float64)
    n_neg = np.broadcast_to(np.asarray(n_candidates, dtype=np.float64), n_pos.shape) - n_pos
    if np.any(n_pos == 0) or np.any(n_neg <= 0):
        raise DataError("full_auc needs ≥1 relevant and ≥1 non-relevant candidate per user")
    rank_sum = np.array([np.sum(r, dtype=np.float64) for r in rank_of_relevant])
    neg_above = rank_sum - n_pos * (n_pos - 1.0) / 2.0
    return 1.0 - neg_above / (n_pos * n_neg)


def _average_ranks(values: FloatArray) -> FloatArray:
    """0-based ascending ranks [n], tied values sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    _, inverse, counts = np.unique(values[order], return_inverse=True, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = (starts + (counts - 1) / 2.0)[inverse]
    return ranks


def binary_auc(labels: NDArray[np.bool_], scores: FloatArray) -> float:
    """ROC AUC of ``scores`` [n] against binary ``labels`` [n]; tied scores count half."""
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise DataError(f"labels {labels.shape} and scores {scores.shape} must be equal 1-D")
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise DataError(f"binary_auc needs both classes, got {n_pos} positive, {n_neg} negative")
    pos_rank_sum = _average_ranks(scores)[labels].sum()
    return float((pos_rank_sum - n_pos * (n_pos - 1) / 2.0) / (n_pos * n_neg))


def _valid(recommended: IntArray, k: int) -> IntArray:
    _check_k(recommended, k)
    rec = np.asarray(recommended[:, :k], dtype=np.int64)
    return rec[rec >= 0]


def coverage_at_k(recommended: IntArray, k: int, n_items: int) -> float:
    """Distinct items in anyone's top k divided by ``n_items``."""
    return float(len(np.unique(_valid(recommended, k))) / n_items)


def _per_user_mean(recommended: IntArray, k: int, item_values: FloatArray) -> FloatArray:
    _check_k(recommended, k)
    rec = np.asarray(recommended[:, :k], dtype=np.int64)
    mask = rec >= 0
    values = np.where(mask, np.asarray(item_values, dtype=np.float64)[np.where(mask, rec, 0)], 0.0)
    return np.asarray(values.sum(axis=1) / np.maximum(mask.sum(axis=1), 1), dtype=np.float64)


def average_popularity(recommended: IntArray, item_popularity: FloatArray, k: int) -> FloatArray:
    """Per-user mean train popularity [n_users] of the top k (0.0 for an empty row).

    Args:
        recommended: [n_users, K] item idx, -1 padded.
        item_popularity: [n_items] train interaction counts.
        k: cut-off.
    """
    return _per_user_mean(recommended, k, item_popularity)


def novelty(recommended: IntArray, item_popularity: FloatArray, n_users: int, k: int) -> FloatArray:
    """Per-user mean self-information −log2 p(item) [n_users] of the top k.

    p(item) = popularity / ``n_users``, the share of train users who saw it; popularity is
    clipped to ≥1 so never-seen items stay finite.
    """
    p = np.maximum(np.asarray(item_popularity, dtype=np.float64), 1.0) / float(n_users)
    return _per_user_mean(recommended, k, -np.log2(p))


def gini_of_exposure(recommended: IntArray, k: int, n_items: int) -> float:
    """Gini coefficient of how often each of ``n_items`` appears in the top k.

    0.0 means every item is recommended equally often (also when nothing is recommended);
    values approach 1.0 as exposure concentrates on one item (max (n_items-1)/n_items).
    """
    counts = np.sort(np.bincount(_valid(recommended, k), minlength=n_items)).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0
    weights = 2.0 * np.arange(1, n_items + 1) - n_items - 1.0
    return float(weights @ counts / (n_items * total))


def _count_increasing_pairs(values: IntArray, strict: bool) -> int:
    """Pairs i < j with values[i] < values[j] (or ≤ when not strict), values in [0, n)."""
    n = len(values)
    run = values.astype(np.int64)
    side: Literal["left", "right"] = "left" if strict else "right"
    total, width, pos = 0, 1, np.arange(n, dtype=np.int64)
    while width < n:
        pair = pos // (2 * width)
        is_right = (pos // width) % 2 == 1
        keys = pair * (n + 1) + run  # each run of ``width`` is already sorted
        left_keys = keys[~is_right]
        found = np.searchsorted(left_keys, keys[is_right], side=side)
        left_start = np.searchsorted(left_keys, pair[is_right] * (n + 1), side="left")
        total += int((found - left_start).sum())
        run = np.sort(keys) - pair * (n + 1)
        width *= 2
    return total


def xauc(watch_true: FloatArray, watch_pred: FloatArray) -> float:
    """Share of pairs with different true watch time that the prediction orders the same way.

    Pairs tied in the prediction count half. Exact, O(n log² n) by merge counting.

    Args:
        watch_true: [n] observed watch times.
        watch_pred: [n] predicted watch times.
    """
    true = np.asarray(watch_true, dtype=np.float64)
    pred = np.asarray(watch_pred, dtype=np.float64)
    if true.shape != pred.shape or true.ndim != 1:
        raise DataError(f"watch_true {true.shape} and watch_pred {pred.shape} must be equal 1-D")
    t_rank = np.unique(true, return_inverse=True)[1].ravel()
    p_rank = np.unique(pred, return_inverse=True)[1].ravel()
    n = len(true)
    tied_true = int((np.bincount(t_rank) * (np.bincount(t_rank) - 1) // 2).sum())
    n_pairs = n * (n - 1) // 2 - tied_true
    if n_pairs == 0:
        raise DataError("xauc needs at least two different true watch times")
    joint = np.unique(t_rank * n + p_rank, return_counts=True)[1]
    tied_both = int((joint * (joint - 1) // 2).sum())
    order = np.lexsort((-p_rank, t_rank))  # true ascending, prediction descending inside ties
    seq = p_rank[order]
    concordant = _count_increasing_pairs(seq, strict=True)
    tied_pred_only = _count_increasing_pairs(seq, strict=False) - tied_both - concordant
    return (concordant + 0.5 * tied_pred_only) / n_pairs


__all__ = [
    "average_popularity",
    "binary_auc",
    "coverage_at_k",
    "full_auc",
    "gini_of_exposure",
    "hit_rate_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "recall_at_k",
    "xauc",
]
