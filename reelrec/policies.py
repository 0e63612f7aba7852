"""Feed policies for the simulator: the reelrec pipeline and baselines behind one protocol.

Every policy satisfies ``reelrec.evaluation.simulation.Policy``: ``recommend(user_ids, k,
at_seconds) -> list[list[str]]``. Each remembers what it served to whom and never serves it
again, as a feed service does within and across sessions. ``ReelrecPolicy`` and ``HttpPolicy``
also ``observe`` the simulated events (the online feedback loop).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from reelrec.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from reelrec.recommender import Recommender

Stage = str
ALL_STAGES: tuple[Stage, ...] = ("retrieve", "rank", "rules")


class _Served:
    """Per-user record of every video id served so far."""

    def __init__(self) -> None:
        self.by_user: dict[str, set[str]] = {}

    def of(self, user_id: str) -> set[str]:
        """Ids served to ``user_id`` (empty set if none)."""
        return self.by_user.get(user_id, set())

    def add(self, user_id: str, video_ids: Sequence[str]) -> None:
        """Remember ``video_ids`` as served to ``user_id``."""
        self.by_user.setdefault(user_id, set()).update(video_ids)


def _unseen_prefix(candidates: Sequence[str], served: set[str], k: int) -> list[str]:
    out: list[str] = []
    for v in candidates:
        if v not in served:
            out.append(v)
            if len(out) == k:
                break
    return out


class ReelrecPolicy:
    """The in-process reelrec pipeline (``stages`` switch ranking and rules on or off)."""

    def __init__(
        self,
        rec: Recommender,
        *,
        stages: Sequence[Stage] | None = None,
        feedback: bool = True,
        name: str = "reelrec",
    ) -> None:
        bad = [s for s in stages or () if s not in ALL_STAGES]
        if bad:
            raise ConfigError(f"unknown pipeline stages {bad}; expected a subset of {ALL_STAGES}")
        self.rec = rec
        self.stages = tuple(stages) if stages is not None else None
        self.feedback = feedback
        self.name = name
        self.served = _Served()
        self.applied = 0  # events the recommender accepted through ``observe``
        params = inspect.signature(rec.recommend).parameters
        self._has_exclude = "exclude" in params
        self._has_stages = "stages" in params
        self._has_time = "at_seconds" in params

    @property
    def pipeline(self) -> str:
        """What actually runs: the requested stages the recommender has (no ranker, no "rank")."""
        if not self._has_stages:
            return "retrieve"
        no_ranker = getattr(self.rec, "ranker_", None) is None
        return "+".join(s for s in self.stages or ALL_STAGES if not (s == "rank" and no_ranker))

    def recommend(self, user_ids: Sequence[str], k: int, at_seconds: np.ndarray) -> list[list[str]]:
        """Next ``k`` unseen videos per user from the recommender."""
        users = list(user_ids)
        served = [self.served.of(u) for u in users]
        kwargs: dict[str, Any] = {}
        fetch = k
        if self._has_exclude:
            kwargs["exclude"] = [sorted(s) for s in served]
        else:
            fetch = k + max((len(s) for s in served), default=0)
        if self._has_time:
            kwargs["at_seconds"] = np.asarray(at_seconds, dtype=np.float64)
        if self._has_stages and self.stages is not None:
            kwargs["stages"] = self.stages
        slates = self.rec.recommend(users, fetch, **kwargs)
        feeds = [
            _unseen_prefix(s.video_ids, seen, k) for s, seen in zip(slates, served, strict=True)
        ]
        for u, feed in zip(users, feeds, strict=True):
            self.served.add(u, feed)
        return feeds

    def observe(self, events: pl.DataFrame) -> None:
        """Feed events to the recommender's online state (when it has ``apply_events``)."""
        apply = getattr(self.rec, "apply_events", None)
        if self.feedback and apply is not None:
            report = apply(events)
            self.applied += int(getattr(report, "applied", 0))


def RetrievalOnlyPolicy(rec: Recommender, *, feedback: bool = True) -> ReelrecPolicy:  # noqa: N802
    """Two-tower retrieval alone: no ranker, no rules."""
    return ReelrecPolicy(rec, stages=("retrieve",), feedback=feedback, name="retrieval-only")


class PopularPolicy:
    """MostPopular: every user gets the most-interacted videos they have not been served."""

    name = "popular"

    def __init__(self, video_ids: Sequence[str], counts: np.ndarray) -> None:
        order = np.argsort(-np.asarray(counts, dtype=np.float64), kind="stable")
        self.ranked = [video_ids[i] for i in order.tolist()]
        self.served = _Served()

    @classmethod
    def from_recommender(cls, rec: Recommender) -> PopularPolicy:
        """Popularity = the run's training positives per video."""
        n = len(rec.popularity_)
        return cls(rec.space_.videos.ids[:n], rec.popularity_)

    def recommend(self, user_ids: Sequence[str], k: int, at_seconds: np.ndarray) -> list[list[str]]:
        """The ``k`` most popular videos not yet served, per user."""
        feeds = [_unseen_prefix(self.ranked, self.served.of(u), k) for u in user_ids]
        for u, feed in zip(user_ids, feeds, strict=True):
            self.served.add(u, feed)
        return feeds


class RandomPolicy:
    """Uniformly random unseen videos from the catalogue (seeded)."""

    name = "random"

    def __init__(self, video_ids: Sequence[str], seed: int = 0) -> None:
        self.video_ids = list(video_ids)
        self.rng = np.random.default_rng(seed)
        self.served = _Served()

    def recommend(self, user_ids: Sequence[str], k: int, at_seconds: np.ndarray) -> list[list[str]]:
        """``k`` random unseen videos per user."""
        n = len(self.video_ids)
        feeds: list[list[str]] = []
        for u in user_ids:
            seen = self.served.of(u)
            want = min(k, n - len(seen))
            draws = self.rng.integers(0, n, size=2 * k + len(seen))
            picks = _unseen_prefix(
                [self.video_ids[i] for i in dict.fromkeys(draws.tolist())], seen, want
            )
            feeds.append(picks)
            self.served.add(u, picks)
        return feeds


class HttpPolicy:
    """A running reelrec service: ``POST /v1/recommend`` per user, ``POST /v1/events``.

    Sends what it served as ``exclude`` (the service may not know it yet), and the
    simulated events in batches so the feed reflects them on the next request.
    """

    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        batch: int = 500,
        client: httpx.Client | None = None,
    ) -> None:
        import httpx

        self.client = client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)
        self.batch = batch
        self.served = _Served()
        self.variants: dict[str, str | None] = {}

    def recommend(self, user_ids: Sequence[str], k: int, at_seconds: np.ndarray) -> list[list[str]]:
        """One request per user (the service's ``variant`` per user lands in ``variants``)."""
        feeds: list[list[str]] = []
        for u, t in zip(user_ids, np.asarray(at_seconds, dtype=np.float64).tolist(), strict=True):
            seen = self.served.of(u)
            body = {"user_id": u, "k": k, "context": {"at_seconds": t}, "exclude": sorted(seen)}
            response = self.client.post("/v1/recommend", json=body)
            response.raise_for_status()
            data = response.json()
            self.variants[u] = data.get("variant")
            feed = _unseen_prefix([str(i["video_id"]) for i in data["items"]], seen, k)
            self.served.add(u, feed)
            feeds.append(feed)
        return feeds

    def observe(self, events: pl.DataFrame) -> None:
        """Post the events to the service's event endpoint."""
        frame = events.with_columns(pl.col("timestamp").dt.epoch("s").cast(pl.Float64))
        rows = frame.to_dicts()
        for start in range(0, len(rows), self.batch):
            chunk = rows[start : start + self.batch]
            self.client.post("/v1/events", json={"events": chunk}).raise_for_status()

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()
