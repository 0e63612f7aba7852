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
from reelrec.rules.greedy import CREATOR, NEAR_DUPLICATE, TAG, mmr_picks, spacing_fill


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
        chosen, promoted, available = mmr_picks(after, self.lam * rel, picks)
        if not promoted.size:
            return slate
        order = np.concatenate([chosen, np.flatnonzero(available), np.arange(m, n)])
        return slate.reorder(order, ((promoted, self.name),))


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
        head, by, when, stopped = _fill(slate, ctx, self.constraints)
        deferred = np.flatnonzero(by >= 0)
        deferred = deferred[np.argsort(when[deferred], kind="stable")]  # in deferral order
        notes = tuple(
            (deferred[by[deferred] == c], self.constraints[c].note)
            for c in dict.fromkeys(by[deferred].tolist())
        )
        if not stopped and not deferred.size:
            return slate  # the head was already spaced: nothing moved
        if stopped:
            for rows, note in notes:
                slate = slate.annotate(rows, note)
            return _only(slate, head, self.name)
        rest = np.ones(len(slate), dtype=bool)
        rest[head] = False
        return slate.reorder(np.concatenate([head, np.flatnonzero(rest)]), notes)


def _only(slate: Candidates, head: np.ndarray, rule: str) -> Candidates:
    """Only the items at ``head`` (in that order), counting the rest as removed by ``rule``."""
    mask = np.zeros(len(slate), dtype=bool)
    mask[head] = True
    counted = slate.keep(mask, rule)
    out = slate.take(head)
    return Candidates(
        video_idx=out.video_idx, scores=out.scores, reasons=out.reasons, removed=counted.removed
    )


_KINDS = {"near_duplicate": NEAR_DUPLICATE, "creator": CREATOR, "tag": TAG}


def _fill(
    slate: Candidates, ctx: RuleContext, constraints: tuple[Constraint, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """``greedy.spacing_fill`` over the slate's creators, primary tags and vectors."""
    v, idx = ctx.videos, slate.video_idx
    kinds = {c.key for c in constraints}
    keys = np.full((2, len(slate)), -1, np.int64)
    if "creator" in kinds:
        keys[0] = v.creator_idx.take(idx)
    if "tag" in kinds:  # not primary_tag.take: take copies a strided column whole first
        keys[1] = v.tag_idx[idx, 0] if v.tag_idx.shape[1] else -1
    vectors = (
        v.vectors.take(idx, axis=0) if "near_duplicate" in kinds else np.empty((0, 0), np.float32)
    )
    head, note, when, stopped = spacing_fill(
        min(ctx.k, len(slate)),
        np.array([_KINDS[c.key] for c in constraints], np.int64),
        np.array([c.cap for c in constraints], np.int64),
        np.array([c.cosine for c in constraints], np.float64),
        keys,
        np.ascontiguousarray(vectors, dtype=np.float32),
    )
    return head, note, when, bool(stopped)
