"""Degradation: a cold-start feed for unknown users, and stage skipping instead of a 500.

An unknown user gets ``ColdStart``'s feed: the model's context-only retrieval (when it works),
interleaved with popular and fresh videos, marked ``fallback="popular"``. A known user's feed
runs the pipeline stages ``retrieve → rank → rules``; a stage that raises is dropped and the
feed answered from the previous stage, and a stage that raises or overruns its budget is
skipped (``degraded``) for ``serving.breaker_s`` seconds, so one slow dependency cannot push
every request over the budget. If even retrieval fails, the cold-start feed answers.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reelrec.config import ServingConfig
from reelrec.recommender import Recommender, Slate
from reelrec.types import Idx

log = logging.getLogger(__name__)
STAGES = ("retrieve", "rank", "rules")
STAGE_TIMINGS = {"retrieve": ("features", "user_tower", "ann"), "rank": ("ranking",)}
STAGE_TIMINGS["rules"] = ("rules",)
POOL = 1000  # popular / fresh candidates kept for cold start


@dataclass(slots=True, kw_only=True)
class Feed:
    """A feed before serialisation, with its markers and stage timings (ms)."""

    video_ids: list[str]
    scores: list[float]
    reasons: list[list[str]]
    fallback: str | None = None
    degraded: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


class ColdStart:
    """Popular and fresh video pools of one catalogue, for users the model does not know."""

    def __init__(self, rec: Recommender, fresh_hours: float) -> None:
        catalog = rec.catalog_
        n = len(catalog)
        counts = np.zeros(n)
        pop = np.asarray(rec.popularity_, dtype=np.float64)[:n]
        counts[: pop.shape[0]] = pop
        safe = ~np.asarray(catalog.unsafe, dtype=bool)
        self.popular = _top(np.where(safe, counts, -np.inf), POOL)
        upload = np.nan_to_num(np.asarray(catalog.upload_seconds, np.float64), nan=-np.inf)
        now = max(rec.space_.reference_seconds, float(upload.max(initial=-np.inf)))
        recent = safe & (upload >= now - fresh_hours * 3600.0)
        fresh = _top(np.where(recent, upload, -np.inf), POOL)
        self.popular_ids, self.fresh_ids = video_ids(rec, self.popular), video_ids(rec, fresh)

    def feed(self, k: int, exclude: set[str], context: Slate | None = None) -> Feed:
        """Round-robin over context, popular and fresh videos, skipping repeats and ``exclude``."""
        sources: list[tuple[str, list[str]]] = []
        if context is not None:
            sources.append(("context", context.video_ids))
        sources.append(("popular", self.popular_ids[: k + len(exclude)]))
        sources.append(("fresh", self.fresh_ids[: k + len(exclude)]))
        chosen: dict[str, str] = {}
        cursors = [0] * len(sources)
        while len(chosen) < k and any(c < len(s[1]) for c, s in zip(cursors, sources, strict=True)):
            for j, (reason, ids) in enumerate(sources):
                while cursors[j] < len(ids) and len(chosen) < k:
                    vid = ids[cursors[j]]
                    cursors[j] += 1
                    if vid not in chosen and vid not in exclude:
                        chosen[vid] = reason
                        break
        ids = list(chosen)
        scores = [1.0 - i / max(len(ids), 1) for i in range(len(ids))]
        return Feed(
            video_ids=ids, scores=scores, reasons=[[r] for r in chosen.values()], fallback="popular"
        )


def video_ids(rec: Recommender, idx: Idx) -> list[str]:
    """External ids of dense video indices (training vocabulary, then ingested videos)."""
    lookup = getattr(rec, "video_ids_of", None)
    if lookup is not None:
        return list(lookup(idx))
    names = rec.space_.videos.ids
    return [names[i] for i in idx.tolist()]


def video_index(rec: Recommender, video_id: str) -> int:
    """Dense index of a video (training or ingested); -1 when unknown."""
    lookup = getattr(rec, "video_idx", None)
    if lookup is not None:
        return int(lookup([video_id])[0])
    return rec.space_.videos.ids.index(video_id) if video_id in rec.space_.videos else -1


def _top(values: np.ndarray, n: int) -> Idx:
    """Indices of the ``n`` largest finite values, descending."""
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size > n:
        finite = finite[np.argpartition(-values[finite], n - 1)[:n]]
    return finite[np.argsort(-values[finite], kind="stable")].astype(np.int64)


class StageBreaker:
    """Per stage, the time until which it is skipped after a failure or an overrun."""

    def __init__(self, cooldown_s: float) -> None:
        self.cooldown_s = cooldown_s
        self.open_until = dict.fromkeys(STAGES, 0.0)

    def allowed(self, now: float) -> tuple[str, ...]:
        """The stages whose breakers are closed (retrieval always runs)."""
        return tuple(s for s in STAGES if self.open_until[s] <= now)

    def reset(self) -> None:
        """Close every breaker."""
        self.open_until = dict.fromkeys(STAGES, 0.0)

    def trip(self, stage: str, now: float) -> None:
        """Skip ``stage`` for the cool-down."""
        if stage != "retrieve":  # without retrieval there is only the cold-start feed
            self.open_until[stage] = now + self.cooldown_s


class Pipeline:
    """Calls ``Recommender.recommend`` with what its signature supports, degrading on failure."""

    def __init__(self, rec: Recommender, cfg: ServingConfig) -> None:
        self.rec, self.cfg = rec, cfg
        params = inspect.signature(rec.recommend).parameters
        self.supports = {
            name for name in ("at_seconds", "exclude", "stages", "timings") if name in params
        }
        self.breaker = StageBreaker(cfg.breaker_s)
        self.budget_ms = {
            "retrieve": cfg.budget_retrieve_ms,
            "rank": cfg.budget_rank_ms,
            "rules": cfg.budget_rules_ms,
        }

    def _call(
        self,
        user_id: str,
        k: int,
        exclude: list[str],
        at_seconds: float | None,
        stages: tuple[str, ...],
        timings: dict[str, float],
    ) -> Slate:
        kwargs: dict[str, Any] = {}
        if "at_seconds" in self.supports and at_seconds is not None:
            kwargs["at_seconds"] = np.array([at_seconds])
        if "exclude" in self.supports and exclude:
            kwargs["exclude"] = [exclude]
        if "stages" in self.supports:
            kwargs["stages"] = stages
        if "timings" in self.supports:
            kwargs["timings"] = timings
        extra = 0 if "exclude" in self.supports else len(exclude)
        slate = self.rec.recommend([user_id], k + extra, **kwargs)[0]
        if extra:
            banned = set(exclude)
            keep = [i for i, v in enumerate(slate.video_ids) if v not in banned][:k]
            slate = Slate(
                user_id=slate.user_id,
                video_ids=[slate.video_ids[i] for i in keep],
                scores=[slate.scores[i] for i in keep],
                reasons=[slate.reasons[i] for i in keep] if slate.reasons else [],
                fallback=slate.fallback,
            )
        return slate

    def feed(
        self,
        user_id: str,
        k: int,
        exclude: list[str],
        at_seconds: float | None,
        cold: ColdStart,
        known: bool,
        *,
        only: tuple[str, ...] | None = None,
    ) -> Feed:
        """The feed for one user, never raising for a pipeline failure.

        ``only`` restricts the stages (an A/B variant's pipeline); stages it leaves out are
        not reported as degraded.
        """
        now = time.monotonic()
        wanted = (
            STAGES if only is None else tuple(s for s in STAGES if s in only or s == "retrieve")
        )
        stages = tuple(s for s in self.breaker.allowed(now) if s in wanted)
        skipped = [s for s in wanted if s not in stages] if "stages" in self.supports else []
        while stages:
            timings: dict[str, float] = {}
            try:
                slate = self._call(user_id, k, exclude, at_seconds, stages, timings)
            except Exception:  # any stage failure: answer from the previous stage instead
                log.exception("feed stage %s failed for one request; degrading", stages[-1])
                self.breaker.trip(stages[-1], now)
                skipped.insert(0, stages[-1])
                stages = stages[:-1] if "stages" in self.supports else ()
                continue
            self._check_budgets(timings, now)
            if not known:
                out = cold.feed(k, set(exclude), slate)
                out.degraded, out.timings = skipped, timings
                return out
            reasons = slate.reasons or [[] for _ in slate.video_ids]
            return Feed(
                video_ids=slate.video_ids,
                scores=slate.scores,
                reasons=reasons,
                degraded=skipped,
                timings=timings,
            )
        out = cold.feed(k, set(exclude))
        out.degraded = skipped or ["retrieve"]
        return out

    def _check_budgets(self, timings: dict[str, float], now: float) -> None:
        for stage, keys in STAGE_TIMINGS.items():
            spent = sum(timings.get(key, 0.0) for key in keys)
            if spent > self.budget_ms[stage]:
                log.warning(
                    "stage %s took %.1f ms (budget %.1f)", stage, spent, self.budget_ms[stage]
                )
                self.breaker.trip(stage, now)
