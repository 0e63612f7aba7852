"""The compiled greedy loops against plain-Python statements of the same rules."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reelrec.rules.greedy import CREATOR, NEAR_DUPLICATE, TAG, mmr_picks, spacing_fill


def _mmr_reference(after: np.ndarray, mmr: np.ndarray, picks: int) -> tuple[list[int], list[int]]:
    value, chosen, promoted = mmr.copy(), [], []
    for _ in range(picks):
        j = int(np.argmax(value))  # first maximum
        if any(i not in chosen for i in range(j)):
            promoted.append(j)
        chosen.append(j)
        value = np.minimum(value, after[j])
        value[j] = -np.inf
    return chosen, promoted


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 30), st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_mmr_picks_follow_the_definition(m: int, seed: int, lam: float) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((m, 4))
    rel = rng.integers(0, 4, m) / 3.0  # coarse: ties must go to the earlier item
    after = lam * rel[None, :] - (1 - lam) * (vectors @ vectors.T)
    picks = int(rng.integers(1, m + 1))
    chosen, promoted, available = mmr_picks(after, lam * rel, picks)
    want_chosen, want_promoted = _mmr_reference(after, lam * rel, picks)
    assert chosen.tolist() == want_chosen
    assert promoted.tolist() == want_promoted
    assert np.flatnonzero(available).tolist() == [i for i in range(m) if i not in want_chosen]


def _blocking(
    item: int, prev: int, constraints: list[tuple[int, int, float]], keys: np.ndarray,
    vectors: np.ndarray, counts: dict[tuple[int, int], int],
) -> tuple[bool, bool, int]:  # fmt: skip
    over = near = False
    first = -1
    for c, (kind, cap, cosine) in enumerate(constraints):
        hit = False
        if kind == NEAR_DUPLICATE:
            if prev >= 0 and float(vectors[item] @ vectors[prev]) > cosine:
                near = hit = True
        else:
            value = keys[kind - 1, item]
            if value < 0:
                continue
            if prev >= 0 and keys[kind - 1, prev] == value:
                near = hit = True
            if cap and counts.get((kind, value), 0) >= cap:
                over = hit = True
        if hit and first < 0:
            first = c
    return over, near, first


def _spacing_reference(
    k: int, constraints: list[tuple[int, int, float]], keys: np.ndarray, vectors: np.ndarray
) -> tuple[list[int], dict[int, int], bool]:
    """Take the first remaining item that breaks nothing, else the first only next to a match;
    items over a cap leave for good; scanned items passed over keep their first blocker."""
    remaining = list(range(keys.shape[1]))
    head: list[int] = []
    deferred: dict[int, int] = {}
    counts: dict[tuple[int, int], int] = {}
    overflow, prev = False, -1
    while len(head) < k and remaining:
        choice = fallback = -1
        scanned: list[int] = []
        capped: list[int] = []
        for j, item in enumerate(remaining):
            over, near, first = _blocking(item, prev, constraints, keys, vectors, counts)
            scanned.append(first)
            if over:
                capped.append(item)
                deferred.setdefault(item, first)
            elif not near:
                choice = j
                break
            elif fallback < 0:
                fallback = j
        choice = choice if choice >= 0 else fallback
        for item, first in zip(remaining[: max(choice, 0)], scanned, strict=False):
            deferred.setdefault(item, first)
        overflow |= bool(capped)
        if choice < 0:
            break
        prev = remaining.pop(choice)
        head.append(prev)
        remaining = [i for i in remaining if i not in capped]
        for kind, cap, _ in constraints:
            if kind != NEAR_DUPLICATE and cap:
                key = (kind, int(keys[kind - 1, prev]))
                counts[key] = counts.get(key, 0) + 1
    return head, deferred, len(head) < k and overflow


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 40), st.integers(1, 12))
def test_spacing_fill_follows_the_definition(seed: int, n: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    constraints = [
        (int(kind), int(rng.integers(0, 3)), float(rng.uniform(0.3, 0.99)))
        for kind in rng.permutation([NEAR_DUPLICATE, CREATOR, TAG])[: rng.integers(1, 4)]
    ]
    keys = rng.integers(-1, 4, (2, n))  # few creators and tags: matches and caps bind
    vectors = rng.standard_normal((n, 3)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    head, note, order, stopped = spacing_fill(
        min(k, n),
        np.array([c[0] for c in constraints], np.int64),
        np.array([c[1] for c in constraints], np.int64),
        np.array([c[2] for c in constraints]),
        keys,
        vectors,
    )
    want_head, want_deferred, want_stopped = _spacing_reference(
        min(k, n), constraints, keys, vectors
    )
    assert head.tolist() == want_head
    assert stopped == want_stopped
    deferred = np.flatnonzero(note >= 0)
    deferred = deferred[np.argsort(order[deferred])]
    assert {int(i): int(note[i]) for i in deferred} == want_deferred
    assert deferred.tolist() == list(want_deferred)  # deferral order
