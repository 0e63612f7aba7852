"""Live events: the ``Event`` model, its validation from frames or JSON records, ``ApplyReport``.

An event is one (user, video) interaction as it happens. Validation never drops a record
silently: every record either becomes an ``Event`` or a ``Rejected`` entry with its position and
reason, and stores report duplicates and too-old events the same way (``ApplyReport``).

Derived fields follow the training log's definitions (``reelrec.data.signals`` and
``InteractionLog``): ``watch_ratio`` is the given ratio, else watch / video seconds; an event is
*played* when ``watch_seconds`` is missing or positive; ``skipped`` is given or a known ratio
below ``SKIP_RATIO``; ``completed`` is a known ratio at or above ``COMPLETE_RATIO``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

SKIP_RATIO = 0.25
COMPLETE_RATIO = 1.0
_FLAGS = ("liked", "shared", "commented", "followed")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One validated interaction: ids, time (epoch seconds), watch ratio (NaN: unknown), flags."""

    event_id: str
    user_id: str
    video_id: str
    timestamp: float
    watch_ratio: float
    played: bool
    liked: bool = False
    shared: bool = False
    commented: bool = False
    followed: bool = False
    skipped: bool = False

    @property
    def completed(self) -> bool:
        """Watched to the end (a known ratio ≥ ``COMPLETE_RATIO``)."""
        return self.played and self.watch_ratio >= COMPLETE_RATIO


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """An input record that was not applied: its 0-based position, event id, and why."""

    position: int
    event_id: str | None
    reason: str


@dataclass(slots=True, kw_only=True)
class ApplyReport:
    """Outcome of applying a batch: counts of applied and duplicate events, and each failure."""

    applied: int = 0
    duplicates: int = 0
    failed: list[Rejected] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every input record, whatever its outcome."""
        return self.applied + self.duplicates + len(self.failed)

    def merge(self, other: ApplyReport) -> ApplyReport:
        """Counts and failures of both reports (positions are kept as they are)."""
        return ApplyReport(
            applied=self.applied + other.applied,
            duplicates=self.duplicates + other.duplicates,
            failed=[*self.failed, *other.failed],
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable summary."""
        return {
            "applied": self.applied,
            "duplicates": self.duplicates,
            "failed": [
                {"position": r.position, "event_id": r.event_id, "reason": r.reason}
                for r in self.failed
            ],
        }


def default_event_id(user_id: str, video_id: str, timestamp: float) -> str:
    """The id of an event given without one: user, video and time in microseconds."""
    return f"{user_id}|{video_id}|{round(timestamp * 1e6)}"


def _seconds(value: object) -> float:
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            out = float(text)
        except ValueError:
            return _seconds(datetime.fromisoformat(text.replace("Z", "+00:00")))
    else:
        raise ValueError
    if not math.isfinite(out):
        raise ValueError
    return out


def _number(record: Mapping[str, object], name: str, minimum: float, strict: bool) -> float | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{name}: expected a number; got {value!r}")
    try:
        out = float(value)
    except ValueError:
        raise ValueError(f"{name}: expected a number; got {value!r}") from None
    if not math.isfinite(out) or out < minimum or (strict and out == minimum):
        sign = ">" if strict else "≥"
        raise ValueError(f"{name}: expected a finite number {sign} {minimum:g}; got {value!r}")
    return out


def _flag(record: Mapping[str, object], name: str) -> bool | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ValueError(f"{name}: expected a boolean (true/false or 0/1); got {value!r}")


def _id(record: Mapping[str, object], name: str) -> str:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ValueError(f"{name}: expected a non-empty string id; got {value!r}")
    return str(value)


def event_from_record(record: Mapping[str, object]) -> Event:
    """Validate one record (JSON object or frame row) into an ``Event``.

    Raises:
        ValueError: a field is missing or invalid; the message names the field and value.
    """
    user_id, video_id = _id(record, "user_id"), _id(record, "video_id")
    if record.get("timestamp") is None:
        raise ValueError("timestamp: missing (expected epoch seconds or ISO-8601 text)")
    try:
        ts = _seconds(record["timestamp"])
    except ValueError:
        raise ValueError(
            f"timestamp: expected epoch seconds or ISO-8601 text; got {record['timestamp']!r}"
        ) from None
    watch = _number(record, "watch_seconds", 0.0, strict=False)
    length = _number(record, "video_seconds", 0.0, strict=True)
    ratio = _number(record, "watch_ratio", 0.0, strict=False)
    if ratio is None and watch is not None and length is not None:
        ratio = watch / length
    ratio = math.nan if ratio is None else ratio
    played = watch > 0 if watch is not None else (ratio > 0 if ratio == ratio else True)
    skipped = _flag(record, "skipped")
    if skipped is None:
        skipped = ratio < SKIP_RATIO if ratio == ratio else False
    given_id = record.get("event_id")
    event_id = str(given_id) if given_id is not None else default_event_id(user_id, video_id, ts)
    flags = {name: bool(_flag(record, name)) for name in _FLAGS}
    return Event(
        event_id=event_id,
        user_id=user_id,
        video_id=video_id,
        timestamp=ts,
        watch_ratio=ratio,
        played=played,
        skipped=skipped,
        **flags,
    )


def parse_events(
    events: pl.DataFrame | Sequence[Mapping[str, object]],
) -> tuple[list[tuple[int, Event]], list[Rejected]]:
    """Validate a frame or a sequence of records: (position, event) pairs and rejections."""
    records = events.to_dicts() if isinstance(events, pl.DataFrame) else events
    good: list[tuple[int, Event]] = []
    bad: list[Rejected] = []
    for position, record in enumerate(records):
        if not isinstance(record, Mapping):
            bad.append(Rejected(position=position, event_id=None, reason="not a JSON object"))
            continue
        try:
            good.append((position, event_from_record(record)))
        except ValueError as e:
            given = record.get("event_id")
            event_id = None if given is None else str(given)
            bad.append(Rejected(position=position, event_id=event_id, reason=f"invalid: {e}"))
    return good, bad


__all__ = [
    "COMPLETE_RATIO",
    "SKIP_RATIO",
    "ApplyReport",
    "Event",
    "Rejected",
    "default_event_id",
    "event_from_record",
    "parse_events",
]
