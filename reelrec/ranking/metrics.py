"""Ranking metrics in pure NumPy: AUC per head, sampled XAUC, NDCG of an order on candidates."""

from __future__ import annotations

import numpy as np

from reelrec.errors import DataError


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC of ``scores [n]`` against binary ``labels [n]``; tied scores count half.

    Returns NaN when only one class is present.
    """
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    _, inverse, counts = np.unique(scores[order], return_inverse=True, return_counts=True)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranks = np.empty(scores.size, dtype=np.float64)
    ranks[order] = (starts + (counts - 1) / 2.0)[inverse]
    return float((ranks[labels].sum() - n_pos * (n_pos - 1) / 2.0) / (n_pos * n_neg))


def xauc(
    watch_true: np.ndarray, watch_pred: np.ndarray, n_pairs: int = 200_000, seed: int = 0
) -> float:
    """Share of random pairs with different true watch time that the prediction orders alike.

    Pairs are drawn uniformly with replacement (seeded); pairs tied in the prediction count
    half. With ``n_pairs`` ≥ all pairs of a small input, every pair is used exactly once.
    """
    true = np.asarray(watch_true, dtype=np.float64)
    pred = np.asarray(watch_pred, dtype=np.float64)
    if true.shape != pred.shape or true.ndim != 1:
        raise DataError(f"watch_true {true.shape} and watch_pred {pred.shape} must be equal 1-D")
    n = true.size
    if n * (n - 1) // 2 <= n_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        i, j = rng.integers(0, n, n_pairs), rng.integers(0, n, n_pairs)
    differ = true[i] != true[j]
    i, j = i[differ], j[differ]
    if i.size == 0:
        return float("nan")
    agree = np.sign(true[i] - true[j]) * np.sign(pred[i] - pred[j])
    return float(np.mean(np.where(agree > 0, 1.0, np.where(agree == 0, 0.5, 0.0))))


def ndcg_at_k(scores: np.ndarray, gains: np.ndarray, k: int) -> np.ndarray:
    """Per-row NDCG@k of ordering candidates by ``scores [U, C]`` (desc) given ``gains [U, C]``.

    Padding candidates carry score ``-inf`` and gain 0; ties keep candidate order (stable).
    Rows without any gain give NaN (drop them before averaging).
    """
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    got = np.take_along_axis(gains, order, axis=1)
    discounts = 1.0 / np.log2(np.arange(2, got.shape[1] + 2))
    ideal = -np.sort(-gains, axis=1)[:, :k]
    idcg = ideal @ discounts[: ideal.shape[1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((got @ discounts) / idcg, dtype=np.float64)


def head_report(
    heads: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    available: np.ndarray,
    names: tuple[str, ...],
    binarise_watch: float,
) -> dict[str, float | None]:
    """AUC of every head on its masked rows (None = n/a) and XAUC of the watch head.

    The watch head's AUC uses ``label ≥ binarise_watch`` (the watch label is a soft target).
    """
    out: dict[str, float | None] = {}
    for h, name in enumerate(names):
        rows = mask[:, h]
        if not available[h] or rows.sum() < 2:
            out[f"auc/{name}"] = None
            continue
        y = labels[rows, h] >= (binarise_watch if h == 0 else 0.5)
        value = auc(y, heads[rows, h])
        out[f"auc/{name}"] = None if np.isnan(value) else value
    rows = mask[:, 0]
    out["xauc/watch"] = (
        xauc(labels[rows, 0], heads[rows, 0]) if available[0] and rows.sum() > 1 else None
    )
    return out


__all__ = ["auc", "head_report", "ndcg_at_k", "xauc"]
