"""Filter rules: drop seen, unsafe, blocklisted and re-uploaded videos, keeping the order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reelrec.rules.base import Candidates, RuleContext

HOUR = 3600.0


def is_member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``np.isin(values, pool)`` by binary search: faster for a few hundred ids over a large
    catalogue, where ``isin`` builds a catalogue-sized lookup table."""
    if pool.size == 0:
        return np.zeros(values.shape, dtype=bool)
    ordered = np.sort(pool)
    at = np.minimum(np.searchsorted(ordered, values), ordered.size - 1)
    out: np.ndarray = ordered[at] == values
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenFilter:
    """Drop videos the user has seen (within the last ``window_hours``; 0 = ever).

    Views without a time (``ctx.seen_seconds`` absent or nan) always count as recent.
    """

    name: str = "seen"
    window_hours: float = 0.0

    def recent(self, ctx: RuleContext) -> np.ndarray:
        """The seen video idx that the filter hides."""
        if self.window_hours <= 0 or ctx.seen_seconds is None or np.isnan(ctx.now_seconds):
            return ctx.seen
        age_hours = (ctx.now_seconds - ctx.seen_seconds) / HOUR
        old = age_hours > self.window_hours  # nan compares False: unknown times stay hidden
        out: np.ndarray = ctx.seen[~old]
        return out

    def apply(self, slate: Candidates, ctx: RuleContext) -> Candidates:
        """The slate without recently seen videos."""
        if len(slate) == 0 or ctx.seen.size == 0:
            return slate
        return slate.keep(~is_member(slate.video_idx, self.recent(ctx)), self.name)


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyFilter:
    """Drop videos flagged unsafe in the catalogue and those on the user's blocklist."""

    name: str = "safety"

    def apply(self, slate: Candidates, ctx: RuleContext) -> Candidates:
        """The slate without unsafe or blocklisted videos."""
        if len(slate) == 0:
            return slate
        keep = ~ctx.videos.unsafe[slate.video_idx]
        if ctx.blocklist:
            blocked = np.fromiter(ctx.blocklist, dtype=np.int64, count=len(ctx.blocklist))
            keep &= ~is_member(slate.video_idx, blocked)
        return slate.keep(keep, self.name)


def best_of_groups(slate: Candidates, group: np.ndarray) -> np.ndarray:
    """[n] bool: true for the best-scored item of each group (ties: the earliest position)."""
    n = len(slate)
    keep = np.ones(n, dtype=bool)
    # Only groups met more than once matter; they are few, so sort just their rows.
    by_group = np.argsort(group, kind="stable")
    same = group[by_group[1:]] == group[by_group[:-1]]
    if not same.any():
        return keep
    repeated = np.zeros(n, dtype=bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    rows = by_group[repeated]
    order = rows[np.lexsort((rows, -slate.scores[rows], group[rows]))]
    first = np.ones(order.size, dtype=bool)
    first[1:] = group[order][1:] != group[order][:-1]
    keep[order[~first]] = False
    return keep
