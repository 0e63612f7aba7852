"""``RedisStore``: the online store shared by serving replicas, on a real Redis server.

Each state is one JSON value under ``<prefix><key>``. Events are applied in pipelined batches
with optimistic locking: ``WATCH`` the batch's keys, ``MGET`` them, fold every event with the
same ``online.fold`` the embedded store uses, then ``MULTI``/``MSET``/``EXEC``; when another
writer changed a watched key the batch is re-read and re-folded, so concurrent writers never
lose updates. Every Redis failure is translated once, here, into ``StoreError`` naming the URL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import redis

from reelrec.errors import StoreError
from reelrec.features.events import ApplyReport, Event, Rejected
from reelrec.features.online import (
    Outcome,
    State,
    fold,
    new_state,
    read_features,
    report_outcome,
    user_key,
    video_key,
)

BATCH = 256
MAX_RETRIES = 64


class RedisStore:
    """An ``OnlineStore`` on Redis; connects (and pings) at construction.

    Raises:
        StoreError: the server cannot be reached or answers with an error.
    """

    def __init__(
        self, url: str, history_length: int = 50, *, prefix: str = "reelrec:", timeout: float = 2.0
    ) -> None:
        self.url = url
        self.history_length = history_length
        self.prefix = prefix
        with self._errors("connect"):
            self._client = redis.Redis.from_url(
                url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            self._client.ping()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as e:
            raise StoreError(
                f"redis store at {self.url}: cannot {what} ({e}); start redis-server there, "
                'fix store.redis_url, or set store.backend = "embedded"'
            ) from e

    def _k(self, key: str) -> str:
        return self.prefix + key

    def get(self, keys: Sequence[str]) -> list[State | None]:
        """The states at ``keys`` (``None`` where missing)."""
        if not keys:
            return []
        with self._errors("read"):
            raw = self._client.mget([self._k(k) for k in keys])
        return [None if r is None else json.loads(r) for r in raw]

    def put(self, items: Mapping[str, State]) -> None:
        """Replace the states at the given keys."""
        if not items:
            return
        with self._errors("write"):
            self._client.mset({self._k(k): json.dumps(v) for k, v in items.items()})

    def apply_event(self, event: Event) -> Outcome:
        """Fold one event in; returns its outcome."""
        return self._apply_batch([event])[0]

    def apply_events(self, events: Sequence[Event]) -> ApplyReport:
        """Fold events in order, in pipelined batches of ``BATCH``.

        If Redis fails mid-way, the failing batch and every later event are reported as
        failed (``store_error``); batches before it stay applied.
        """
        report = ApplyReport()
        for start in range(0, len(events), BATCH):
            chunk = events[start : start + BATCH]
            try:
                outcomes = self._apply_batch(chunk)
            except StoreError as e:  # report this batch and the rest; earlier ones stand
                report.failed.extend(
                    Rejected(position=p, event_id=events[p].event_id, reason=f"store_error: {e}")
                    for p in range(start, len(events))
                )
                return report
            for offset, outcome in enumerate(outcomes):
                report_outcome(report, start + offset, chunk[offset], outcome)
        return report

    def _apply_batch(self, events: Sequence[Event]) -> list[Outcome]:
        keys = list(
            dict.fromkeys(k for e in events for k in (user_key(e.user_id), video_key(e.video_id)))
        )
        names = [self._k(k) for k in keys]
        with self._errors("apply events"):
            for _ in range(MAX_RETRIES):
                with self._client.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(*names)  # type: ignore[no-untyped-call]
                        raw = pipe.mget(names)
                        states: dict[str, State] = {
                            k: json.loads(r) if r is not None else None  # type: ignore[misc]
                            for k, r in zip(keys, raw, strict=True)
                        }
                        outcomes, changed = self._fold_all(events, states)
                        pipe.multi()
                        if changed:
                            pipe.mset({self._k(k): json.dumps(states[k]) for k in changed})
                        pipe.execute()
                        return outcomes
                    except redis.WatchError:
                        continue
        raise StoreError(
            f"redis store at {self.url}: {MAX_RETRIES} conflicting writers in a row on one "
            "batch; retry the events (none of this batch was applied)"
        )

    def _fold_all(
        self, events: Sequence[Event], states: dict[str, Any]
    ) -> tuple[list[Outcome], set[str]]:
        outcomes: list[Outcome] = []
        changed: set[str] = set()
        for event in events:
            uk, vk = user_key(event.user_id), video_key(event.video_id)
            user = states[uk] or new_state("user")
            video = states[vk] or new_state("video")
            outcome = fold(user, video, event, self.history_length)
            if outcome == "applied":
                states[uk], states[vk] = user, video
                changed.update((uk, vk))
            outcomes.append(outcome)
        return outcomes, changed

    def user_features(self, user_ids: Sequence[str], at: float) -> list[dict[str, Any]]:
        """Registry features of each user at ``at``."""
        states = self.get([user_key(u) for u in user_ids])
        return [read_features(s, "user", at) for s in states]

    def video_features(self, video_ids: Sequence[str], at: float) -> list[dict[str, Any]]:
        """Registry features of each video at ``at``."""
        states = self.get([video_key(v) for v in video_ids])
        return [read_features(s, "video", at) for s in states]

    def clear(self) -> None:
        """Delete every key under this store's prefix."""
        with self._errors("clear"):
            batch: list[Any] = []
            for name in self._client.scan_iter(match=self.prefix + "*", count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    self._client.delete(*batch)
                    batch = []
            if batch:
                self._client.delete(*batch)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()


__all__ = ["BATCH", "RedisStore"]
