"""The ``OnlineStore`` contract, run against every implementation (embedded and real Redis)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from reelrec.errors import StoreError
from reelrec.features.events import Event
from reelrec.features.online import InMemoryStore, OnlineStore, user_key, video_key
from reelrec.features.redis_store import RedisStore

T0 = 1_717_000_000.0


@pytest.fixture(params=["embedded", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[OnlineStore]:
    if request.param == "embedded":
        yield InMemoryStore(history_length=4)
        return
    url = request.getfixturevalue("redis_url")
    redis_store = RedisStore(url, history_length=4, prefix="contract:")
    yield redis_store
    redis_store.close()


def _event(i: int, user: str = "u1", video: str = "v1", dt: float | None = None, **kw) -> Event:  # type: ignore[no-untyped-def]
    fields = {"watch_ratio": 0.9, "played": True} | kw
    return Event(
        event_id=f"e{i}",
        user_id=user,
        video_id=video,
        timestamp=T0 + (i if dt is None else dt),
        **fields,
    )


def test_is_an_online_store(store: OnlineStore) -> None:
    assert isinstance(store, OnlineStore)


def test_get_put_and_missing_keys(store: OnlineStore) -> None:
    assert store.get(["nope", "u:nobody"]) == [None, None]
    store.put({"a": {"f": {"x": 1.5}}, "b": {"f": {}}})
    assert store.get(["b", "missing", "a"]) == [{"f": {}}, None, {"f": {"x": 1.5}}]
    store.put({"a": {"f": {"x": 2.0}}})
    assert store.get(["a"]) == [{"f": {"x": 2.0}}]


def test_unknown_entities_read_as_zero(store: OnlineStore) -> None:
    user = store.user_features(["ghost"], T0)[0]
    assert user["history"] == []
    assert user["events"] == 0.0
    assert store.video_features(["ghost"], T0)[0]["views"] == 0.0


def test_events_are_idempotent(store: OnlineStore) -> None:
    events = [_event(i, liked=i % 2 == 0) for i in range(3)]
    first = store.apply_events(events)
    again = store.apply_events([*events, events[1]])
    assert (first.applied, first.duplicates) == (3, 0)
    assert (again.applied, again.duplicates, again.failed) == (0, 4, [])
    video = store.video_features(["v1"], T0 + 10)[0]
    assert video["views"] == 3.0
    assert video["likes"] == 2.0
    assert store.user_features(["u1"], T0 + 10)[0]["events"] == 3.0


def test_out_of_order_events_are_inserted_in_time_order(store: OnlineStore) -> None:
    store.apply_events([_event(1, video="a"), _event(3, video="c"), _event(2, video="b")])
    history = store.user_features(["u1"], T0 + 10)[0]["history"]
    assert [h[1] for h in history] == ["a", "b", "c"]


def test_events_older_than_a_full_window_are_reported_too_old(store: OnlineStore) -> None:
    store.apply_events([_event(i, dt=10 + i) for i in range(4)])  # window of 4 is full
    report = store.apply_events([_event(9, dt=5), _event(10, dt=11.5)])
    assert report.applied == 1
    assert [(f.position, f.event_id) for f in report.failed] == [(0, "e9")]
    assert report.failed[0].reason.startswith("too_old")
    history = store.user_features(["u1"], T0 + 20)[0]["history"]
    assert [h[0] - T0 for h in history] == [11.0, 11.5, 12.0, 13.0]


def test_state_keys_are_external_ids(store: OnlineStore) -> None:
    store.apply_event(_event(1, user="alice", video="clip"))
    user, video = store.get([user_key("alice"), video_key("clip")])
    assert user is not None
    assert user["h"][0][1] == "clip"
    assert video is not None
    assert video["f"]["views"] == 1.0


def test_concurrent_writers_lose_no_update(store: OnlineStore) -> None:
    threads, per_thread = 4, 50

    def write(t: int) -> None:
        for i in range(per_thread):
            store.apply_events([_event(t * 1000 + i, user=f"u{t}", video="hot", dt=i)])

    workers = [threading.Thread(target=write, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    video = store.video_features(["hot"], T0 + per_thread)[0]
    assert video["impressions"] == threads * per_thread
    assert video["views"] == threads * per_thread


def test_clear_forgets_everything(store: OnlineStore) -> None:
    store.apply_event(_event(1))
    store.clear()
    assert store.get([user_key("u1"), video_key("v1")]) == [None, None]


def test_unreachable_redis_names_the_url() -> None:
    url = "redis://127.0.0.1:1/0"
    with pytest.raises(StoreError, match=r"redis://127\.0\.0\.1:1/0"):
        RedisStore(url, timeout=0.5)
