"""The greedy loops of the re-ranking rules, compiled (numba): MMR picks and spacing fills.

Both pick the first ``k`` of a feed one item at a time, each pick depending on the previous
ones, so NumPy cannot vectorise them: in Python they cost ~10 array calls per pick (~0.1-0.2 ms
per feed each). ``diversity.Diversity`` and ``diversity.Spacing`` define the rules and call
these loops (ADR-0010).
"""

from __future__ import annotations

import numpy as np
from numba import njit

NEAR_DUPLICATE, CREATOR, TAG = 0, 1, 2
"""Constraint kinds of ``spacing_fill``."""


@njit(cache=True, nogil=True)
def mmr_picks(
    after: np.ndarray, mmr: np.ndarray, picks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Maximal-marginal-relevance picks: ``(chosen [picks], promoted, available [m])``.

    ``mmr``: each item's starting value; ``after[j]``: the bound on every item's value once
    ``j`` is picked (the running value is the running minimum). Ties go to the earlier item;
    ``promoted`` are the picks made ahead of an earlier, still unpicked item.
    """
    m = mmr.shape[0]
    value = mmr.copy()
    chosen = np.empty(picks, np.int64)
    promoted = np.empty(picks, np.int64)
    n_promoted = 0
    available = np.ones(m, np.bool_)
    first = 0  # the earliest position not yet picked
    for p in range(picks):
        j = 0
        for i in range(1, m):
            if value[i] > value[j]:
                j = i
        if j > first:
            promoted[n_promoted] = j
            n_promoted += 1
        chosen[p] = j
        available[j] = False
        for i in range(m):
            if after[j, i] < value[i]:
                value[i] = after[j, i]
        value[j] = -np.inf  # picks stay at -inf through the running minimum
        while first < m and not available[first]:
            first += 1
    return chosen, promoted[:n_promoted], available


@njit(cache=True, nogil=True)
def _count(
    values: np.ndarray, counts: np.ndarray, used: int, value: int
) -> int:  # pragma: no cover - compiled
    """The count of ``value`` among the first ``used`` (value, count) pairs."""
    for i in range(used):
        if values[i] == value:
            return int(counts[i])
    return 0


@njit(cache=True, nogil=True)
def _blocked(
    item: int,
    prev: int,
    kinds: np.ndarray,
    caps: np.ndarray,
    cosines: np.ndarray,
    keys: np.ndarray,
    vectors: np.ndarray,
    seen: np.ndarray,
    seen_counts: np.ndarray,
    used: np.ndarray,
) -> tuple[bool, bool, int]:  # pragma: no cover - compiled
    """(over a cap, next to a match, the first blocking constraint or -1) of ``item``."""
    over = near = False
    note = -1
    for c in range(kinds.shape[0]):
        hit = False
        if kinds[c] == NEAR_DUPLICATE:
            if prev >= 0 and np.dot(vectors[item], vectors[prev]) > cosines[c]:
                near = hit = True
        else:
            row = kinds[c] - 1
            value = keys[row, item]
            if value < 0:
                continue
            if prev >= 0 and keys[row, prev] == value:
                near = hit = True
            if caps[c] > 0 and _count(seen[row], seen_counts[row], used[row], value) >= caps[c]:
                over = hit = True
        if hit and note < 0:
            note = c
    return over, near, note


@njit(cache=True, nogil=True)
def _count_pick(
    prev: int,
    kinds: np.ndarray,
    caps: np.ndarray,
    keys: np.ndarray,
    seen: np.ndarray,
    seen_counts: np.ndarray,
    used: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Count the pick ``prev`` once for each capped creator / tag constraint."""
    for c in range(kinds.shape[0]):
        if kinds[c] == NEAR_DUPLICATE or caps[c] <= 0:
            continue
        row = kinds[c] - 1
        value = keys[row, prev]
        for i in range(used[row] + 1):
            if i == used[row]:
                seen[row, i], seen_counts[row, i] = value, 1
                used[row] += 1
            elif seen[row, i] == value:
                seen_counts[row, i] += 1
                break


@njit(cache=True, nogil=True)
def _drop(remaining: np.ndarray, n_rem: int, gone: np.ndarray) -> int:  # pragma: no cover
    """Compact ``remaining[:n_rem]`` without the items marked ``gone``; the new length."""
    kept = 0
    for j in range(n_rem):
        if not gone[remaining[j]]:
            remaining[kept] = remaining[j]
            kept += 1
    return kept


@njit(cache=True, nogil=True)
def spacing_fill(
    k: int,
    kinds: np.ndarray,
    caps: np.ndarray,
    cosines: np.ndarray,
    keys: np.ndarray,
    vectors: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:  # pragma: no cover - compiled
    """Greedy spacing of the first ``k`` of ``n`` items (see ``diversity.Spacing``).

    Each pick takes the first remaining item that breaks no constraint, else the first that
    is only next to a match; items over a cap leave for good, and the items scanned before a
    pick are noted as passed over by their first blocking constraint.

    Args:
        kinds, caps, cosines: per constraint, its kind (``NEAR_DUPLICATE``, ``CREATOR``,
            ``TAG``), cap (0: none) and near-duplicate cosine threshold.
        keys: ``[2, n]`` each item's creator and primary tag (-1: unknown, never matches).
        vectors: ``[n, d]`` unit item vectors (read only for near-duplicate constraints).

    Returns:
        ``(head, note, order, stopped)``: the positions of the first ``k`` in order; per
        position, the constraint that passed it over (-1: none) and when (the order of
        those deferrals); whether the fill stopped short because the rest is over a cap.
    """
    n = keys.shape[1]
    remaining, n_rem = np.arange(n), n
    head, n_head = np.empty(min(k, n), np.int64), 0
    note, order, n_deferred = np.full(n, -1, np.int64), np.full(n, -1, np.int64), 0
    # Per key (creator, tag): the (value, picks) pairs so far; at most k of each.
    seen = np.empty((2, max(k, 1)), np.int64)
    seen_counts, used = np.zeros((2, max(k, 1)), np.int64), np.zeros(2, np.int64)
    scanned = np.empty(n, np.int64)
    overflow, prev = False, -1
    while n_head < k and n_rem > 0:
        choice, fallback, gone = -1, -1, np.zeros(n, np.bool_)
        for j in range(n_rem):
            item = remaining[j]
            over, near, scanned[j] = _blocked(
                item, prev, kinds, caps, cosines, keys, vectors, seen, seen_counts, used
            )
            if over:  # over a cap for good: it leaves the scan
                gone[item] = overflow = True
                if note[item] < 0:
                    note[item], order[item], n_deferred = scanned[j], n_deferred, n_deferred + 1
            elif not near:
                choice = j
                break
            elif fallback < 0:
                fallback = j
        choice = choice if choice >= 0 else fallback
        for j in range(max(choice, 0)):  # passed over by this pick
            item = remaining[j]
            if note[item] < 0:
                note[item], order[item], n_deferred = scanned[j], n_deferred, n_deferred + 1
        if choice < 0:
            break
        prev = remaining[choice]
        head[n_head], n_head, gone[prev] = prev, n_head + 1, True
        n_rem = _drop(remaining, n_rem, gone)
        _count_pick(prev, kinds, caps, keys, seen, seen_counts, used)
    return head[:n_head], note, order, n_head < k and overflow


__all__ = ["CREATOR", "NEAR_DUPLICATE", "TAG", "mmr_picks", "spacing_fill"]
