"""Train/serve parity: the offline engine and the online stores compute the same features.

(1) For random event streams, ``offline.features_at(entity, t)`` equals what a store reports
after replaying the events strictly before t — for ``InMemoryStore`` and ``RedisStore``.
(2) The history the towers see for a training example at t (``InteractionLog.window_before``)
equals ``Recommender.history`` after replaying the same log up to t into an empty store.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelrec.features.events import parse_events
from reelrec.features.history import InteractionLog
from reelrec.features.offline import event_frame, features_at
from reelrec.features.online import InMemoryStore, OnlineStore
from reelrec.features.redis_store import RedisStore

T0 = 1_717_000_000
HISTORY = 3

_row = st.fixed_dictionaries(
    {
        "user": st.integers(0, 2),
        "video": st.integers(0, 3),
        "dt": st.integers(0, 40),
        "watch": st.one_of(st.none(), st.just(0.0), st.floats(0.5, 40.0)),
        "liked": st.booleans(),
        "shared": st.booleans(),
        "followed": st.booleans(),
    }
)
streams = st.lists(_row, min_size=1, max_size=25)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "user_id": [f"u{r['user']}" for r in rows],
            "video_id": [f"v{r['video']}" for r in rows],
            "timestamp": pl.Series([(T0 + r["dt"]) * 1_000_000 for r in rows]).cast(
                pl.Datetime("us", "UTC")
            ),
            "watch_seconds": pl.Series([r["watch"] for r in rows], dtype=pl.Float64),
            "video_seconds": [20.0] * len(rows),
            "liked": [r["liked"] for r in rows],
            "shared": [r["shared"] for r in rows],
            "commented": [False] * len(rows),
            "followed": [r["followed"] for r in rows],
        }
    )


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _assert_same(offline: dict[str, Any], online: dict[str, Any], where: str) -> None:
    assert offline.keys() == online.keys(), where
    for name in offline:
        assert _close(offline[name], online[name]), (
            f"{where} {name}: offline {offline[name]!r} online {online[name]!r}"
        )


def _check_parity(store: OnlineStore, rows: list[dict[str, Any]], shuffle: bool) -> None:
    frame = _frame(rows)
    events = event_frame(frame)
    parsed = [e for _, e in parse_events(frame)[0]]
    for at in sorted({float(T0 + r["dt"]) for r in rows} | {T0 + 41.0}):
        store.clear()
        before = [e for e in sorted(parsed, key=lambda e: e.timestamp) if e.timestamp < at]
        if shuffle:
            random.Random(int(at)).shuffle(before)
        report = store.apply_events(before)
        assert report.applied == len(before), report
        users, videos = [f"u{i}" for i in range(3)], [f"v{i}" for i in range(4)]
        n = store.history_length
        off_u = features_at(events, "user", users, [at] * 3, n)
        off_v = features_at(events, "video", videos, [at] * 4, n)
        on_u, on_v = store.user_features(users, at), store.video_features(videos, at)
        for user, a, b in zip(users, off_u, on_u, strict=True):
            if shuffle:  # arrival order differs: compare order-free views
                a["seen"], b["seen"] = sorted(a["seen"]), sorted(b["seen"])
            _assert_same(a, b, f"{user}@{at - T0}")
        for video, a, b in zip(videos, off_v, on_v, strict=True):
            if shuffle:  # the streaming frequency estimate is defined on time order only
                a.pop("frequency"), b.pop("frequency")
            _assert_same(a, b, f"{video}@{at - T0}")


@settings(max_examples=60)
@given(streams)
def test_offline_equals_embedded_store(rows: list[dict[str, Any]]) -> None:
    _check_parity(InMemoryStore(HISTORY), rows, shuffle=False)


@settings(max_examples=40)
@given(st.lists(_row, min_size=1, max_size=25, unique_by=lambda r: r["dt"]))
def test_out_of_order_replay_gives_the_same_features(rows: list[dict[str, Any]]) -> None:
    # Distinct times (ties would be ordered by arrival) and a window larger than any stream,
    # so no replayed event is too old.
    _check_parity(InMemoryStore(64), rows, shuffle=True)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(streams)
def test_offline_equals_redis_store(redis_url: str, rows: list[dict[str, Any]]) -> None:
    store = RedisStore(redis_url, HISTORY, prefix="parity:")
    try:
        _check_parity(store, rows, shuffle=False)
    finally:
        store.close()


def test_training_history_equals_serving_history(tiny_rec, tiny_split) -> None:  # type: ignore[no-untyped-def]
    train = tiny_split[0].interactions
    rec = copy.copy(tiny_rec)
    n = rec.config.features.history_length
    empty = InteractionLog.build(train.head(0), rec.space_, rec.config.data)
    rec.log_ = empty
    logbook: InteractionLog = tiny_rec.log_
    rng = np.random.default_rng(0)
    examples = rng.choice(logbook.n_examples, size=25, replace=False)
    ordered = train.with_row_index("__row").sort("timestamp", "__row")
    parsed = parse_events(ordered)[0]
    checked = 0
    for ex in examples.tolist():
        user = int(logbook.ex_user[ex])
        at = float(logbook.ex_time[ex])
        user_id = rec.space_.users.ids[user]
        rec.store_ = InMemoryStore(n)
        mine = [e for _, e in parsed if e.user_id == user_id and e.timestamp < at]
        report = rec.apply_events([_record(e) for e in mine])
        assert report.applied == len(mine), report.failed[:3]
        expected = logbook.window_before(np.array([ex]), n)
        got = rec.history(np.array([user]))
        np.testing.assert_array_equal(got.video, expected.video)
        np.testing.assert_array_equal(got.dwell, expected.dwell)
        np.testing.assert_array_equal(got.liked, expected.liked)
        checked += int((expected.video >= 0).sum())
    assert checked > 50  # the examples had real histories to compare


def _record(event: Any) -> dict[str, object]:
    ratio = event.watch_ratio
    return {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "video_id": event.video_id,
        "timestamp": event.timestamp,
        "watch_ratio": None if ratio != ratio else ratio,
        "watch_seconds": None if event.played else 0.0,
        "liked": event.liked,
        "shared": event.shared,
    }


@pytest.mark.parametrize("n", [1, 5])
def test_history_window_length_is_respected(n: int) -> None:
    store = InMemoryStore(n)
    frame = _frame(
        [
            {"user": 0, "video": i % 4, "dt": i, "watch": 5.0, "liked": False}
            | {"shared": False, "followed": False}
            for i in range(8)
        ]
    )
    store.apply_events([e for _, e in parse_events(frame)[0]])
    history = store.user_features(["u0"], T0 + 100.0)[0]["history"]
    assert [h[0] - T0 for h in history] == list(range(8 - n, 8))
