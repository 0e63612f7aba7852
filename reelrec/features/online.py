"""The online engine: one pure state transition per event, the ``OnlineStore`` contract, and the
embedded ``InMemoryStore``.

State is keyed by external string ids (``u:<user_id>``, ``v:<video_id>``), so a store outlives
any model. A user's state holds the last ``history_length`` played events (``h``: time, video
id, watch ratio, liked, event id; sorted by time, ties in arrival order), the ids of the last
``ID_MEMORY × history_length`` applied events (``ids``), the last ``SEEN_CAP`` distinct videos
(``seen``) and the scalar features of ``registry.FEATURES`` (``f``); a video's state holds its
scalar features. ``fold`` is the only code that changes state; ``InMemoryStore`` and
``RedisStore`` both call it.

Idempotency bound: an event is a duplicate when its id is among the user's retained history or
last ``ID_MEMORY × history_length`` applied events. Once a user's history window is full, an
event older than its oldest retained event is reported ``too_old`` and not applied, so a replay
can be applied twice only if it is newer than that oldest event yet more than
``ID_MEMORY × history_length`` of the user's events arrived after it.
"""

from __future__ import annotations

import bisect
import copy
import json
import math
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from reelrec.artifacts import atomic_write_text
from reelrec.config import StoreConfig
from reelrec.errors import ArtifactError, ReelrecWarning, StoreError
from reelrec.features.events import ApplyReport, Event, Rejected
from reelrec.features.registry import (
    SOURCES,
    Entity,
    Feature,
    features_of,
    scalar_features,
    source_value,
)

ID_MEMORY = 4
SEEN_CAP = 1000
SNAPSHOT_FORMAT = 1
Outcome = Literal["applied", "duplicate", "too_old"]
State = dict[str, Any]
HistoryEntry = tuple[float, str, float, bool]
"""(timestamp, video_id, watch_ratio, liked) of one retained played event."""


def user_key(user_id: str) -> str:
    """Store key of a user."""
    return "u:" + user_id


def video_key(video_id: str) -> str:
    """Store key of a video."""
    return "v:" + video_id


def new_state(entity: Entity) -> State:
    """The state of an entity without events."""
    state: State = {"f": {}}
    if entity == "user":
        state.update(h=[], ids=[], seen=[])
    return state


def _update(feature: Feature, st: Any, value: float, counted: bool, t: float) -> Any:
    kind = feature.transform
    if kind == "sum":
        return (st or 0.0) + (value if counted else 0.0)
    if kind == "mean":
        s, c = st or (0.0, 0.0)
        return [s + value, c + 1.0] if counted else [s, c]
    if value <= 0:
        return st
    if kind == "decayed_count":
        x = t / float(feature.window or 1.0)
        if st is None:
            return x
        hi, lo = (st, x) if st >= x else (x, st)
        return hi + math.log1p(math.exp(lo - hi))  # log(e^st + e^x), as np.logaddexp
    # ewma_gap
    if st is None:
        return [t, 0.0]
    last, gap = st
    alpha = 1.0 / float(feature.window or 1.0)
    return [max(last, t), (1.0 - alpha) * gap + alpha * max(t - last, 0.0)]


def _fold_features(state: State, entity: Entity, event: Event, sources: dict[str, float]) -> None:
    values = state["f"]
    for feature in scalar_features(entity):
        counted = feature.where is None or sources[feature.where] > 0
        values[feature.name] = _update(
            feature, values.get(feature.name), sources[feature.source], counted, event.timestamp
        )


def fold(user: State, video: State, event: Event, history_length: int) -> Outcome:
    """Apply ``event`` to its user's and video's state in place: the one state transition.

    Deterministic and free of I/O; a duplicate or too-old event changes nothing.
    """
    history, ids = user["h"], user["ids"]
    memory = ID_MEMORY * history_length
    # Until the id memory is full it holds every applied id, history ones included.
    if event.event_id in ids or (
        len(ids) >= memory and any(row[4] == event.event_id for row in history)
    ):
        return "duplicate"
    if len(history) >= history_length and event.timestamp < history[0][0]:
        return "too_old"
    if event.played:
        position = bisect.bisect_right([row[0] for row in history], event.timestamp)
        row = [event.timestamp, event.video_id, event.watch_ratio, event.liked, event.event_id]
        history.insert(position, row)
        del history[: max(len(history) - history_length, 0)]
    ids.append(event.event_id)
    del ids[: max(len(ids) - memory, 0)]
    seen = user["seen"]
    if event.video_id not in seen:
        seen.append(event.video_id)
        del seen[: max(len(seen) - SEEN_CAP, 0)]
    sources = {name: source_value(event, name) for name in SOURCES}
    _fold_features(user, "user", event, sources)
    _fold_features(video, "video", event, sources)
    return "applied"


def _read(feature: Feature, st: Any, at: float) -> float:
    if st is None:
        return 0.0
    if feature.transform == "sum":
        return float(st)
    if feature.transform == "mean":
        return float(st[0] / st[1]) if st[1] > 0 else 0.0
    if feature.transform == "decayed_count":
        return math.exp(st - at / float(feature.window or 1.0))
    return 1.0 / st[1] if st[1] > 0 else 0.0


def read_features(state: State | None, entity: Entity, at: float) -> dict[str, Any]:
    """Feature values of one entity at time ``at`` (``history`` for users: list of entries)."""
    values = state["f"] if state is not None else {}
    out: dict[str, Any] = {
        f.name: _read(f, values.get(f.name), at) for f in scalar_features(entity)
    }
    if entity == "user" and any(f.transform == "last_n" for f in features_of("user")):
        rows = state["h"] if state is not None else []
        out["history"] = [(r[0], r[1], r[2], r[3]) for r in rows]
        out["seen"] = list(state["seen"]) if state is not None else []
    return out


@runtime_checkable
class OnlineStore(Protocol):
    """Live per-user and per-video state behind one contract (embedded or Redis).

    ``get``/``put`` read and write raw states by key (``None`` for a missing key);
    ``apply_event(s)`` fold events in (idempotent by event id, see the module docstring);
    ``user_features``/``video_features`` evaluate the registry's features at a time.
    """

    history_length: int

    def get(self, keys: Sequence[str]) -> list[State | None]: ...
    def put(self, items: Mapping[str, State]) -> None: ...
    def apply_event(self, event: Event) -> Outcome: ...
    def apply_events(self, events: Sequence[Event]) -> ApplyReport: ...
    def user_features(self, user_ids: Sequence[str], at: float) -> list[dict[str, Any]]: ...
    def video_features(self, video_ids: Sequence[str], at: float) -> list[dict[str, Any]]: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...


def report_outcome(report: ApplyReport, position: int, event: Event, outcome: Outcome) -> None:
    """Count one outcome into ``report``."""
    if outcome == "applied":
        report.applied += 1
    elif outcome == "duplicate":
        report.duplicates += 1
    else:
        reason = "too_old: older than the user's retained history window"
        report.failed.append(Rejected(position=position, event_id=event.event_id, reason=reason))


class InMemoryStore:
    """The embedded store: a dict guarded by one lock; ``save``/``load`` snapshot it to JSON."""

    def __init__(self, history_length: int = 50) -> None:
        self.history_length = history_length
        self._data: dict[str, State] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, keys: Sequence[str]) -> list[State | None]:
        """Copies of the states at ``keys`` (``None`` where missing)."""
        with self._lock:
            return [copy.deepcopy(self._data.get(k)) for k in keys]

    def put(self, items: Mapping[str, State]) -> None:
        """Replace the states at the given keys."""
        with self._lock:
            self._data.update({k: copy.deepcopy(v) for k, v in items.items()})

    def apply_event(self, event: Event) -> Outcome:
        """Fold one event in; returns its outcome."""
        with self._lock:
            user = self._data.setdefault(user_key(event.user_id), new_state("user"))
            video = self._data.get(video_key(event.video_id)) or new_state("video")
            outcome = fold(user, video, event, self.history_length)
            if outcome == "applied":
                self._data[video_key(event.video_id)] = video
            return outcome

    def apply_events(self, events: Sequence[Event]) -> ApplyReport:
        """Fold events in order; every event is counted in the report."""
        report = ApplyReport()
        for position, event in enumerate(events):
            report_outcome(report, position, event, self.apply_event(event))
        return report

    def user_features(self, user_ids: Sequence[str], at: float) -> list[dict[str, Any]]:
        """Registry features of each user at ``at``."""
        with self._lock:
            return [read_features(self._data.get(user_key(u)), "user", at) for u in user_ids]

    def video_features(self, video_ids: Sequence[str], at: float) -> list[dict[str, Any]]:
        """Registry features of each video at ``at``."""
        with self._lock:
            return [read_features(self._data.get(video_key(v)), "video", at) for v in video_ids]

    def clear(self) -> None:
        """Forget every state."""
        with self._lock:
            self._data.clear()

    def close(self) -> None:
        """Nothing to release."""

    def save(self, path: str | Path) -> None:
        """Snapshot every state to one JSON file, atomically."""
        with self._lock:
            text = json.dumps(
                {
                    "format": SNAPSHOT_FORMAT,
                    "history_length": self.history_length,
                    "data": self._data,
                },
                separators=(",", ":"),
            )
        atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | Path, history_length: int) -> InMemoryStore:
        """Read a snapshot written by ``save``.

        Raises:
            ArtifactError: unreadable, or written with another format or history length.
        """
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ArtifactError(f"{path}: cannot read the store snapshot ({e})") from e
        if raw.get("format") != SNAPSHOT_FORMAT or raw.get("history_length") != history_length:
            raise ArtifactError(
                f"{path}: snapshot format {raw.get('format')} / history_length "
                f"{raw.get('history_length')}; expected {SNAPSHOT_FORMAT} / {history_length}"
            )
        store = cls(history_length)
        store._data = raw["data"]
        return store


def open_store(cfg: StoreConfig, history_length: int, snapshot: Path | None = None) -> OnlineStore:
    """The configured store: embedded (from ``snapshot`` when it exists) or Redis.

    Raises:
        StoreError: Redis is unreachable and ``cfg.fallback_to_embedded`` is false.
    """
    if cfg.backend == "redis":
        from reelrec.features.redis_store import RedisStore

        try:
            return RedisStore(cfg.redis_url, history_length, prefix=cfg.redis_prefix)
        except StoreError as e:
            if not cfg.fallback_to_embedded:
                raise
            warnings.warn(
                f"{e}; falling back to the embedded store (store.fallback_to_embedded = true)",
                ReelrecWarning,
                stacklevel=2,
            )
    if snapshot is not None and snapshot.is_file():
        return InMemoryStore.load(snapshot, history_length)
    return InMemoryStore(history_length)


__all__ = [
    "ID_MEMORY",
    "SEEN_CAP",
    "HistoryEntry",
    "InMemoryStore",
    "OnlineStore",
    "Outcome",
    "fold",
    "new_state",
    "open_store",
    "read_features",
    "report_outcome",
    "user_key",
    "video_key",
]
