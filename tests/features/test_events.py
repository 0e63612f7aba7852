"""Event validation: derived fields follow the training log, and nothing is dropped silently."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import polars as pl
import pytest

from reelrec.features.events import (
    ApplyReport,
    Rejected,
    default_event_id,
    event_from_record,
    parse_events,
)


def test_fields_are_derived_like_the_training_log() -> None:
    e = event_from_record(
        {"user_id": 7, "video_id": "v", "timestamp": 100, "watch_seconds": 4, "video_seconds": 8}
    )
    assert (e.user_id, e.watch_ratio, e.played, e.skipped, e.completed) == (
        "7",
        0.5,
        True,
        False,
        False,
    )
    assert e.event_id == default_event_id("7", "v", 100.0)
    zero = event_from_record({"user_id": "u", "video_id": "v", "timestamp": 1, "watch_seconds": 0})
    assert not zero.played  # a zero watch is an impression, not a play
    unknown = event_from_record({"user_id": "u", "video_id": "v", "timestamp": 1})
    assert unknown.played
    assert math.isnan(unknown.watch_ratio)
    assert not unknown.skipped
    quick = event_from_record({"user_id": "u", "video_id": "v", "timestamp": 1, "watch_ratio": 0.1})
    assert quick.skipped
    assert not quick.completed
    full = event_from_record({"user_id": "u", "video_id": "v", "timestamp": 1, "watch_ratio": 1.2})
    assert full.completed


@pytest.mark.parametrize(
    "value",
    [
        1717200000.5,
        "1717200000.5",
        "2024-06-01T00:00:00.5Z",
        datetime(2024, 6, 1, 0, 0, 0, 500000, UTC),
    ],
)
def test_timestamps_in_every_accepted_form(value: object) -> None:
    e = event_from_record({"user_id": "u", "video_id": "v", "timestamp": value})
    assert e.timestamp == 1717200000.5


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"video_id": "v", "timestamp": 1}, "user_id"),
        ({"user_id": "", "video_id": "v", "timestamp": 1}, "user_id"),
        ({"user_id": "u", "video_id": "v"}, "timestamp"),
        ({"user_id": "u", "video_id": "v", "timestamp": "soon"}, "timestamp"),
        ({"user_id": "u", "video_id": "v", "timestamp": 1, "watch_seconds": -1}, "watch_seconds"),
        ({"user_id": "u", "video_id": "v", "timestamp": 1, "video_seconds": 0}, "video_seconds"),
        ({"user_id": "u", "video_id": "v", "timestamp": 1, "liked": "maybe"}, "liked"),
    ],
)
def test_invalid_records_name_the_field(record: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        event_from_record(record)


def test_parse_reports_every_record() -> None:
    records = [
        {"event_id": "ok", "user_id": "u", "video_id": "v", "timestamp": 1},
        {"event_id": "bad", "user_id": "u", "timestamp": 1},
        "not an object",
    ]
    good, bad = parse_events(records)  # type: ignore[arg-type]
    assert [(p, e.event_id) for p, e in good] == [(0, "ok")]
    assert [(r.position, r.event_id) for r in bad] == [(1, "bad"), (2, None)]
    assert bad[0].reason.startswith("invalid: video_id")


def test_frames_parse_like_records() -> None:
    frame = pl.DataFrame(
        {
            "user_id": ["u", "u"],
            "video_id": ["a", "b"],
            "timestamp": pl.Series([1_000_000, 2_000_000]).cast(pl.Datetime("us", "UTC")),
            "watch_seconds": [3.0, None],
            "video_seconds": [6.0, 6.0],
            "liked": [True, False],
        }
    )
    good, bad = parse_events(frame)
    assert not bad
    assert next((e.timestamp, e.watch_ratio, e.liked) for _, e in good) == (1.0, 0.5, True)


def test_report_totals_and_json() -> None:
    report = ApplyReport(applied=2, duplicates=1).merge(
        ApplyReport(failed=[Rejected(position=3, event_id="x", reason="too_old")])
    )
    assert report.total == 4
    assert report.to_json()["failed"] == [{"position": 3, "event_id": "x", "reason": "too_old"}]
