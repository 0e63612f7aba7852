"""Score and slot rules: popularity damping and exploration slots for fresh videos."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelrec.rules.base import Candidates, RuleContext, passed_over
from reelrec.rules.filters import HOUR


def score_unit(scores: np.ndarray) -> float:
    """The slate's score standard deviation (1 when the scores are all equal)."""
    if not scores.size:
        return 1.0
    # np.std's own steps (pairwise sums, then sqrt) without its ~30 µs of Python dispatch
    centred = scores - scores.sum() / scores.size
    sd = math.sqrt(float((centred * centred).sum()) / scores.size)
    return sd if sd > 0 and math.isfinite(sd) else 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PopularityDamping:
    """Lower popular videos' scores, then re-sort (stable: ties keep their order).

    ``score -= alpha · σ · log1p(views) / log1p(max views in the slate)`` where σ is the
    standard deviation of the slate's scores, so ``alpha`` does not depend on the score scale
    (retrieval cosines or ranker feed scores). Items that move up past a more popular one are
    noted. The slate records that damping ran (``Candidates.applied``) and a second run is a
    no-op: damping is a once-per-slate transform, which makes the rule idempotent (ADR-0006).
    """

    name: str = "popularity_damping"
    alpha: float = 0.1

    def apply(self, slate: Candidates, ctx: RuleContext) -> Candidates:
        """The slate with damped scores, sorted by score (descending)."""
        if len(slate) == 0 or self.alpha <= 0 or self.name in slate.applied:
            return slate
        views = np.maximum(ctx.videos.popularity[slate.video_idx], 0.0)
        top = float(np.log1p(views.max()))
        unit = score_unit(slate.scores)
        penalty = self.alpha * unit * np.log1p(views) / top if top > 0 else 0.0
        scores = slate.scores - penalty
        order = np.argsort(-scores, kind="stable")
        out = slate.with_scores(scores).mark_applied(self.name)
        return out.reorder(order, ((passed_over(order), self.name),))


@dataclass(frozen=True, slots=True, kw_only=True)
class FreshnessBoost:
    """Exploration slots: at least ``slots`` fresh videos in the first k when the slate has them.

    Fresh means uploaded at most ``max_age_hours`` before ``ctx.now_seconds``. When the first k
    hold too few, the fresh videos further down with the highest
    ``score + bonus · σ / sqrt(1 + views)`` (σ: the slate's score standard deviation; an
    uncertainty bonus: few views, uncertain appeal)
    take evenly spaced positions in the first k (noted ``freshness``). The last non-fresh
    items of the first k make room and move just after it (noted ``freshness:deferred``).
    Scores are unchanged: the slot, not the score, is the boost.
    """

    name: str = "freshness"
    max_age_hours: float = 24.0
    slots: int = 2
    bonus: float = 0.1

    def fresh(self, slate: Candidates, ctx: RuleContext) -> np.ndarray:
        """[n] bool: uploaded within ``max_age_hours`` of the request (unknown times: not)."""
        age_hours = (ctx.now_seconds - ctx.videos.upload_seconds[slate.video_idx]) / HOUR
        out: np.ndarray = age_hours <= self.max_age_hours  # nan compares False
        return out

    def apply(self, slate: Candidates, ctx: RuleContext) -> Candidates:
        """The slate with fresh videos in its exploration slots."""
        n = len(slate)
        k = min(ctx.k, n)
        if n == 0 or self.slots == 0 or np.isnan(ctx.now_seconds):
            return slate
        fresh = self.fresh(slate, ctx)
        stale_head = np.flatnonzero(~fresh[:k])
        below = np.flatnonzero(fresh[k:]) + k
        need = min(self.slots - (k - stale_head.size), below.size, stale_head.size)
        if need <= 0:
            return slate
        views = np.maximum(ctx.videos.popularity[slate.video_idx[below]], 0.0)
        unit = score_unit(slate.scores)
        priority = slate.scores[below] + self.bonus * unit / np.sqrt(1.0 + views)
        chosen = below[np.lexsort((below, -priority))[:need]]
        deferred = stale_head[-need:]
        moved = np.zeros(n, dtype=bool)
        moved[deferred] = moved[chosen] = True
        head = np.flatnonzero(~moved[:k]).tolist()
        for j, pos in enumerate(self.positions(k, need)):
            head.insert(pos, int(chosen[j]))
        rest = np.flatnonzero(~moved[k:]) + k
        order = np.concatenate([np.asarray(head, dtype=np.int64), deferred, rest])
        return slate.reorder(order, ((chosen, self.name), (deferred, f"{self.name}:deferred")))

    @staticmethod
    def positions(k: int, need: int) -> list[int]:
        """Evenly spaced slot positions in the first ``k`` (ascending), e.g. k=20, 2 → 6, 13."""
        return [(j + 1) * k // (need + 1) for j in range(need)]
