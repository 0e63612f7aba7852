"""Re-ranking rules: MMR diversity and greedy spacing (creator, tag, near-duplicate) in the first k.

Both fill the first ``k`` positions greedily and leave everything after them in the input
order. An item that a re-ranker passes over (spacing) or promotes (MMR) gets the rule's note,
so the items without it keep their relative order (ADR-0006).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from reelrec.rules.base import Candidates, RuleContext
from reelrec.rules.filters import best_of_groups


@dataclass(frozen=True, slots=True, kw_only=True)
class Diversity:
    """Maximal marginal relevance (Carbonell & Goldstein 1998) over item vectors.

    Picks the first ``k`` from the top ``pool`` candidates, each time the one maximising
    ``lam · relevance − (1 − lam) · max(0, max cosine to those picked)``, where relevance is
    the score min-max scaled over the pool. Ties go to the earlier position.
    """

    name: str = "diversity"
    lam: float = 0.8
    pool: int = 100

    def apply(self, slate: Candidates, ctx: RuleContext) -> Candidates:
        """The slate with its first ``k`` re-picked by MMR."""
        n = len(slate)
        m = min(self.pool, n)
        picks = min(ctx.k, m)
        if m <= 1 or (self.lam >= 1.0 and _is_sorted(slate.scores[:m])):
            return slate
        vectors = ctx.videos.vectors.take(slate.video_idx[:m], axis=0)
        rel = slate.scores[:m]
        span = float(rel.max() - rel.min())
        rel = (rel - rel.min()) / span if span > 0 else np.zeros(m)
        # MMR of item i once j is picked: lam·rel_i − (1 − lam)·max(0, cos(i, j), earlier picks);
        # row j of ``after`` is that bound, so the running MMR is a running minimum.
        after = self.lam * rel[None, :] - (1.0 - self.lam) * (vectors @ vectors.T)  # [m, m]
        mmr = self.lam * rel
        chosen: list[int] = []
        promoted: list[int] = []
        available = np.ones(m, dtype=bool)
        first = 0  # the earliest position not yet picked
        for _ in range(picks):
            j = int(np.argmax(mmr))
            if j > first:
                promoted.append(j)
            chosen.append(j)
            available[j] = False
            np.minimum(mmr, after[j], out=mmr)
            mmr[j] = -np.inf  # earlier picks stay at -inf through the running minimum
            while first < m and not available[first]:
                first += 1
        if not promoted:
            return slate
        order = np.concatenate([chosen, np.flatnonzero(available), np.arange(m, n)])
        return slate.reorder(order, ((np.asarray(promoted, dtype=np.int64), self.name),))


def _is_sorted(scores: np.ndarray) -> bool:
    return bool(np.all(scores[1:] <= scores[:-1]))


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint:
    """One spacing constraint.

    Attributes:
        key: what must not repeat back to back: the creator, the primary tag, or a
            near-duplicate (cosine of item vectors above ``cosine``; re-uploads of one group
            are also reduced to their best-scored item).
        note: the reason recorded on items it defers (the registry name of its rule).
        cap: most items per creator / tag in the first k (0 = no cap; unused for duplicates).
        cosine: near-duplicate threshold.
    """

    key: Literal["creator", "tag", "near_duplicate"]
    note: str
    cap: int = 0
    cosine: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Spacing:
    """Greedy spacing of the first ``k``: take the best remaining item that breaks no constraint.

    Adjacency is soft: when every remaining item would sit next to a match, the best one
    whose cap allows it is taken anyway. Caps are hard: when every remaining item is over a
    cap, the feed ends there and those items are removed (they could only be shown by
    breaking the cap). Unknown creators and tags (-1) never match.
    """

    name: str
    constraints: tuple[Constraint, ...]

    def apply(self, slate: Candidates, ctx: RuleContext) -> Candidates:
        """The slate with its first ``k`` spaced."""
        for c in self.constraints:
            if c.key == "near_duplicate" and len(slate):
                group = ctx.videos.duplicate_group[slate.video_idx]
                # Originals are their own group: with no re-upload among the candidates,
                # every group is distinct and there is nothing to drop.
                if (group != slate.video_idx).any():
                    slate = slate.keep(best_of_groups(slate, group), c.note)
        if len(slate) <= 1:
            return slate
        state = _State.of(slate, ctx, self.constraints)
        head, deferred, stopped = state.fill(len(slate), min(ctx.k, len(slate)))
        notes = tuple(
            (np.asarray([pos for pos, n in deferred.items() if n == note], np.int64), note)
            for note in dict.fromkeys(deferred.values())
        )
        order = np.asarray(head, dtype=np.int64)
        if not stopped and not deferred:
            return slate  # the head was already spaced: nothing moved
        if stopped:
            for rows, note in notes:
                slate = slate.annotate(rows, note)
            return _only(slate, order, self.name)
        rest = np.ones(len(slate), dtype=bool)
        rest[order] = False
        return slate.reorder(np.concatenate([order, np.flatnonzero(rest)]), notes)


def _only(slate: Candidates, head: np.ndarray, rule: str) -> Candidates:
    """Only the items at ``head`` (in that order), counting the rest as removed by ``rule``."""
    mask = np.zeros(len(slate), dtype=bool)
    mask[head] = True
    counted = slate.keep(mask, rule)
    out = slate.take(head)
    return Candidates(
        video_idx=out.video_idx, scores=out.scores, reasons=out.reasons, removed=counted.removed
    )


@dataclass(slots=True, kw_only=True)
class _State:
    """Per-slate lookups of the greedy fill (Python lists: the scans are short)."""

    constraints: tuple[Constraint, ...]
    creator: list[int]
    tag: list[int]
    vectors: np.ndarray
    checks: list[tuple[str, list[int] | None, int, float, str]]

    @classmethod
    def of(cls, slate: Candidates, ctx: RuleContext, constraints: tuple[Constraint, ...]) -> _State:
        keys = {c.key for c in constraints}
        v = ctx.videos
        idx = slate.video_idx
        creator = v.creator_idx.take(idx).tolist() if "creator" in keys else []
        tag = v.primary_tag[idx].tolist() if "tag" in keys else []
        vectors = v.vectors.take(idx, axis=0) if "near_duplicate" in keys else np.empty((0, 0), np.float32)
        lists = {"creator": creator, "tag": tag, "near_duplicate": None}
        return cls(
            constraints=constraints,
            creator=creator,
            tag=tag,
            vectors=vectors,
            checks=[(c.key, lists[c.key], c.cap, c.cosine, c.note) for c in constraints],
        )

    def blocked(
        self, item: int, prev: int, counts: dict[tuple[str, int], int]
    ) -> tuple[bool, bool, str]:
        """(over a cap, next to a match, first blocking note) for ``item`` after ``prev``."""
        over = near = False
        note = ""
        for key, values, cap, cosine, own in self.checks:
            hit = False
            if values is None:  # near-duplicate: cosine with the previous item
                if prev >= 0 and float(np.dot(self.vectors[item], self.vectors[prev])) > cosine:
                    near = hit = True
            else:
                value = values[item]
                if value < 0:
                    continue
                if prev >= 0 and values[prev] == value:
                    near = hit = True
                if cap and counts.get((key, value), 0) >= cap:
                    over = hit = True
            if hit and not note:
                note = own
        return over, near, note

    def scan(
        self, remaining: list[int], prev: int, counts: dict[tuple[str, int], int]
    ) -> tuple[int, int, list[str], list[tuple[int, str]]]:
        """(first allowed index, first index only next to a match, notes, (item, note) over a cap).

        An index is -1 when no scanned item qualifies.
        """
        fallback = -1
        notes: list[str] = []
        capped: list[tuple[int, str]] = []
        for j, item in enumerate(remaining):
            over, near, note = self.blocked(item, prev, counts)
            notes.append(note)
            if over:
                capped.append((item, note))
            elif not near:
                return j, fallback, notes, capped
            elif fallback < 0:
                fallback = j
        return -1, fallback, notes, capped

    def fill(self, n: int, k: int) -> tuple[list[int], dict[int, str], bool]:
        """(head positions in order, {passed-over position: note}, whether it stopped early).

        An item found over a cap stays over it (counts only grow), so it leaves the scan for
        good; the scans then stay short even when a few creators dominate the candidates.
        """
        remaining = list(range(n))
        head: list[int] = []
        deferred: dict[int, str] = {}
        counts: dict[tuple[str, int], int] = {}
        overflow = False
        prev = -1
        while len(head) < k and remaining:
            choice, fallback, scanned, capped = self.scan(remaining, prev, counts)
            for item, note in capped:
                deferred.setdefault(item, note)  # leaves the scan: later picks pass it over
            if choice < 0:
                choice = fallback
            for item, note in zip(remaining[: max(choice, 0)], scanned, strict=False):
                deferred.setdefault(item, note)  # passed over by this pick
            if choice >= 0:
                prev = remaining.pop(choice)
                head.append(prev)
            for item, _ in capped:
                remaining.remove(item)
            overflow |= bool(capped)
            if choice < 0:
                break
            for c in self.constraints:
                if c.key != "near_duplicate" and c.cap:
                    key = (self.creator if c.key == "creator" else self.tag)[prev]
                    counts[(c.key, key)] = counts.get((c.key, key), 0) + 1
        return head, deferred, len(head) < k and overflow
