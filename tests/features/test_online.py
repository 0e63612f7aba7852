"""The online store inside the Recommender: real-time feeds, new videos, reports, persistence."""

from __future__ import annotations

import copy
import time
import warnings

import numpy as np
import polars as pl
import pytest

from reelrec.config import StoreConfig
from reelrec.errors import ReelrecWarning, StoreError
from reelrec.features.online import InMemoryStore, open_store
from reelrec.features.registry import VIDEO_STATS


@pytest.fixture
def live_rec(tiny_rec):  # type: ignore[no-untyped-def]
    """A copy of the session's fitted recommender with its own store, index and video table."""
    rec = copy.copy(tiny_rec)
    rec.store_ = InMemoryStore(rec.config.features.history_length)
    rec.new_video_ids_, rec.new_video_pos_ = list(rec.new_video_ids_), dict(rec.new_video_pos_)
    rec.build_index()  # a fresh index object: add_videos must not touch the shared one
    return rec


def _topic_share(rec, truth, user: str, topic: int) -> float:  # type: ignore[no-untyped-def]
    videos, _ = rec.retrieve(rec.user_idx([user]), 50)
    ids = rec.video_ids_of(videos[0][videos[0] >= 0])
    return float(np.mean(truth.topic_of(truth.video_index(ids)) == topic))


def test_feed_shifts_towards_a_topic_just_watched(live_rec, tiny_world) -> None:  # type: ignore[no-untyped-def]
    rec, truth = live_rec, tiny_world.truth
    topics = truth.topic_of(truth.video_index(rec.space_.videos.ids))
    # The topic with the most training positives: enough known videos to watch and to find.
    by_topic = np.bincount(topics, weights=rec.popularity_, minlength=len(truth.topics))
    topic = int(np.argmax(by_topic))
    gains = []
    for user in rec.space_.users.ids[:6]:
        rec.store_.clear()
        before = _topic_share(rec, truth, user, topic)
        seen = set(rec.seen_row(int(rec.user_idx([user])[0])).tolist())
        pool = [i for i in np.argsort(-rec.popularity_) if topics[i] == topic and i not in seen]
        events = [
            {
                "user_id": user,
                "video_id": rec.space_.videos.ids[i],
                "timestamp": rec.clock_ + 60.0 * (k + 1),
                "watch_ratio": 1.0,
                "liked": True,
            }
            for k, i in enumerate(pool[:15])
        ]
        assert rec.apply_events(events).applied == 15
        gains.append(_topic_share(rec, truth, user, topic) - before)
    # Measured on the tiny world: shares rise by 0.1–0.6 (mean ≈ 0.3) after 15 views.
    assert np.mean(gains) >= 0.15, gains
    assert sum(g > 0 for g in gains) >= 4, gains
    assert min(gains) >= 0.0, gains


def test_live_events_enter_history_and_seen(live_rec) -> None:  # type: ignore[no-untyped-def]
    rec = live_rec
    user = rec.space_.users.ids[0]
    uidx = rec.user_idx([user])
    video = rec.space_.videos.ids[7]
    before = rec.history(uidx)
    report = rec.apply_events(
        [{"user_id": user, "video_id": video, "timestamp": rec.clock_ + 1, "watch_ratio": 0.5}]
    )
    assert report.applied == 1
    after = rec.history(uidx)
    assert after.video[0, -1] == 7
    np.testing.assert_array_equal(after.video[0, :-1], before.video[0, 1:])
    assert 7 in rec.seen_row(int(uidx[0]))
    stats = rec.video_stats(np.array([7, -1]))
    assert stats.shape == (2, len(VIDEO_STATS))
    assert stats.dtype == np.float32
    assert stats[0, VIDEO_STATS.index("views")] == 1.0
    assert not stats[1].any()


def test_every_event_is_accounted_for(live_rec) -> None:  # type: ignore[no-untyped-def]
    rec = live_rec
    user, video = rec.space_.users.ids[1], rec.space_.videos.ids[3]
    t = rec.clock_ + 5
    records: list[dict[str, object]] = [
        {"event_id": "a", "user_id": user, "video_id": video, "timestamp": t},
        {"event_id": "a", "user_id": user, "video_id": video, "timestamp": t},
        {"event_id": "b", "user_id": user, "video_id": "no-such-video", "timestamp": t},
        {"event_id": "c", "user_id": user, "video_id": video, "timestamp": "yesterday"},
        {"event_id": "d", "user_id": "", "video_id": video, "timestamp": t},
    ]
    report = rec.apply_events(records)
    assert (report.applied, report.duplicates) == (1, 1)
    reasons = {f.event_id: f.reason for f in report.failed}
    assert set(reasons) == {"b", "c", "d"}
    assert reasons["b"].startswith("unknown_video")
    assert "timestamp" in reasons["c"]
    assert [f.position for f in report.failed] == [2, 3, 4]
    assert report.total == len(records)


def test_new_video_is_searchable_within_a_second(live_rec, tiny_world) -> None:  # type: ignore[no-untyped-def]
    rec = live_rec
    template = tiny_world.dataset.videos.head(1)
    new = template.with_columns(
        pl.lit("v-new-1").alias("video_id"), pl.lit("fresh upload").alias("title")
    )
    size = rec.index_.size
    started = time.perf_counter()
    added = rec.add_videos(new)
    idx = int(rec.video_idx(["v-new-1"])[0])
    found, _ = rec.index_.search(rec.index_.get_vectors(np.array([idx])), 5)
    elapsed = time.perf_counter() - started
    assert added == ["v-new-1"]
    assert rec.index_.size == size + 1
    assert idx == rec.space_.videos.n_known
    assert found[0, 0] == idx
    assert rec.video_ids_of(np.array([idx])) == ["v-new-1"]
    assert elapsed < 1.0
    assert rec.add_videos(new) == []  # idempotent by id
    # A live view of the new video enters the user's history and the user tower runs.
    user = rec.space_.users.ids[2]
    event = {"user_id": user, "video_id": "v-new-1", "timestamp": rec.clock_ + 1}
    assert rec.apply_events([event]).applied == 1
    assert rec.history(rec.user_idx([user])).video[0, -1] == idx
    assert np.isfinite(rec.encode_users(rec.user_idx([user]), np.array([np.nan]))).all()


def test_live_state_survives_save_and_load(live_rec, tiny_world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from reelrec.recommender import Recommender

    rec = live_rec
    new = tiny_world.dataset.videos.head(1).with_columns(pl.lit("v-new-2").alias("video_id"))
    rec.add_videos(new)
    user = rec.space_.users.ids[4]
    rec.apply_events([{"user_id": user, "video_id": "v-new-2", "timestamp": rec.clock_ + 1}])
    rec.save(tmp_path / "run")
    loaded = Recommender.load(tmp_path / "run")
    uidx = loaded.user_idx([user])
    np.testing.assert_array_equal(loaded.history(uidx).video, rec.history(uidx).video)
    assert loaded.video_idx(["v-new-2"]).tolist() == rec.video_idx(["v-new-2"]).tolist()
    assert loaded.index_.size == rec.index_.size


def test_unreachable_redis_fails_at_start_up_or_falls_back() -> None:
    cfg = StoreConfig(backend="redis", redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(StoreError, match="redis://127.0.0.1:1/0"):
        open_store(cfg, 10)
    fallback = cfg.model_copy(update={"fallback_to_embedded": True})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = open_store(fallback, 10)
    assert isinstance(store, InMemoryStore)
    assert any(
        issubclass(w.category, ReelrecWarning) and "127.0.0.1:1" in str(w.message) for w in caught
    )


def test_snapshot_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from reelrec.features.events import event_from_record

    store = InMemoryStore(5)
    record = {"user_id": "u", "video_id": "v", "timestamp": 10.0, "watch_ratio": 0.5}
    store.apply_event(event_from_record(record))
    store.save(tmp_path / "s.json")
    loaded = InMemoryStore.load(tmp_path / "s.json", 5)
    assert loaded.get(["u:u", "v:v"]) == store.get(["u:u", "v:v"])
    assert loaded.apply_events([event_from_record(record)]).duplicates == 1


def test_a_new_users_live_views_reach_the_user_tower(live_rec, tiny_world) -> None:  # type: ignore[no-untyped-def]
    rec, truth = live_rec, tiny_world.truth
    topics = truth.topic_of(truth.video_index(rec.space_.videos.ids))
    vectors = rec.index_.get_vectors(np.arange(len(rec.catalog_)))
    order = np.argsort(-rec.popularity_)
    for j, topic in enumerate(np.argsort(-np.bincount(topics, weights=rec.popularity_))[:4]):
        user = f"newcomer-{j}"  # unknown at training time: found in the store by id
        idx = rec.user_idx([user])
        before = rec.encode_users(idx, np.array([np.nan]), rec.history(idx, [user]))[0]
        assert rec.recommend([user], 10)[0].fallback == "cold_user"
        pool = [i for i in order if topics[i] == topic][:15]
        events = [
            {"user_id": user, "video_id": rec.space_.videos.ids[i],
             "timestamp": rec.clock_ + 60.0 * (k + 1), "watch_ratio": 1.0, "liked": True}
            for k, i in enumerate(pool)
        ]  # fmt: skip
        assert rec.apply_events(events).applied == 15
        window = rec.history(idx, [user])
        assert sorted(window.video[0][window.video[0] >= 0].tolist()) == sorted(pool)
        after = rec.encode_users(idx, np.array([np.nan]), window)[0]
        centre = vectors[topics == topic].mean(axis=0)
        # Measured on the tiny world: the user vector's dot with the topic centre rises by
        # 0.13-0.34. (The top-50 topic share moves less than for known users, 0.0-0.2: the
        # tiny model's user vectors lean on the user-id embedding, zero for a new user.)
        assert after @ centre > before @ centre + 0.08
        slate = rec.recommend([user], 10)[0]
        assert slate.fallback is None  # personalised from the live history
        assert not set(slate.video_ids) & {rec.space_.videos.ids[i] for i in pool}


def test_cli_features_build_and_ingest(tiny_rec, tiny_world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from reelrec.cli import app
    from reelrec.data.readers import write_dataset
    from reelrec.recommender import Recommender

    run = tmp_path / "run"
    tiny_rec.save(run)
    write_dataset(tiny_world.dataset, tmp_path / "data")
    runner = CliRunner()
    built = runner.invoke(app, ["features", "build", str(tmp_path / "data"), "-o", str(run)])
    assert built.exit_code == 0, built.output
    users = pl.read_parquet(run / "features" / "offline" / "user.parquet")
    assert users.height == tiny_world.dataset.interactions.height
    videos = tiny_world.dataset.videos.head(1).with_columns(pl.lit("v-cli").alias("video_id"))
    videos.write_parquet(tmp_path / "new.parquet")
    user = tiny_rec.space_.users.ids[0]
    lines = [
        {"event_id": f"c{i}", "user_id": user, "video_id": "v-cli", "timestamp": 1.8e9 + i}
        for i in range(3)
    ] + [{"event_id": "x", "user_id": user, "video_id": "nope", "timestamp": 1.8e9}]
    (tmp_path / "ev.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    args = ["ingest", str(run), "--videos", str(tmp_path / "new.parquet")]
    result = runner.invoke(app, [*args, "--events", str(tmp_path / "ev.jsonl")])
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output
    assert "3 applied, 0 duplicates, 1 failed" in result.output
    again = runner.invoke(app, [*args, "--events", str(tmp_path / "ev.jsonl")])
    assert "0 applied, 3 duplicates, 1 failed" in again.output
    loaded = Recommender.load(run)
    new_idx = int(loaded.video_idx(["v-cli"])[0])
    assert new_idx == loaded.space_.videos.n_known
    assert loaded.history(loaded.user_idx([user])).video[0, -1] == new_idx
    # The saved catalogue and rules table grew with the ingested video (served as saved).
    assert len(loaded.catalog_) == new_idx + 1
    assert loaded.video_table_ is not None
    assert len(loaded.video_table_) == new_idx + 1
