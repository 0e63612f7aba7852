"""The offline engine: point-in-time correctness, hand-computed values, atomic Parquet output."""

from __future__ import annotations

import math

import polars as pl
import pytest

from reelrec.features.offline import event_frame, features_at, materialise
from reelrec.features.registry import scalar_features

T0 = 1_717_000_000


def _log() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "user_id": ["a", "a", "b", "a"],
            "video_id": ["x", "x", "x", "y"],
            "timestamp": pl.Series([(T0 + s) * 1_000_000 for s in (0, 100, 100, 400)]).cast(
                pl.Datetime("us", "UTC")
            ),
            "watch_seconds": [10.0, 0.0, 20.0, 5.0],
            "video_seconds": [10.0, 10.0, 10.0, 10.0],
            "liked": [True, False, False, True],
            "shared": [False] * 4,
            "commented": [False] * 4,
            "followed": [False] * 4,
        }
    )


def test_a_query_sees_only_events_strictly_before_it() -> None:
    events = event_frame(_log())
    at_100, after_100 = features_at(events, "video", ["x", "x"], [T0 + 100.0, T0 + 100.5])
    assert (at_100["impressions"], at_100["views"]) == (1.0, 1.0)
    assert (after_100["impressions"], after_100["views"]) == (3.0, 2.0)
    user = features_at(events, "user", ["a"], [T0 + 400.0], 5)[0]
    assert [h[1] for h in user["history"]] == ["x"]  # the 0-second watch is not a play
    assert user["seen"] == ["x"]
    assert user["events"] == 2.0


def test_hand_computed_video_features() -> None:
    x = features_at(event_frame(_log()), "video", ["x"], [T0 + 1000.0])[0]
    assert x["like_rate"] == 0.5
    assert x["completion_rate"] == 1.0
    assert x["skip_rate"] == pytest.approx(1 / 3)  # the 0-second watch is a skip
    tau = 3600.0
    assert x["velocity"] == pytest.approx(math.exp(-1000 / tau) + math.exp(-900 / tau))
    # Two plays 100 s apart: B = α·100 with α = 1/100, so the frequency 1/B is 1 per second.
    assert x["frequency"] == pytest.approx(1.0 / (0.01 * 100.0))


def test_materialise_writes_one_row_per_interaction(tmp_path) -> None:  # type: ignore[no-untyped-def]
    paths = materialise(_log(), tmp_path / "offline")
    users = pl.read_parquet(paths["user"])
    videos = pl.read_parquet(paths["video"])
    assert users.height == videos.height == 4
    assert users.get_column("row").to_list() == [0, 1, 2, 3]
    assert {f.name for f in scalar_features("video")} <= set(videos.columns)
    assert videos.get_column("views").to_list() == [0.0, 1.0, 1.0, 0.0]
    assert not list((tmp_path).glob(".offline*"))  # no staging left behind


def test_log_without_time_is_refused() -> None:
    from reelrec.errors import DataError

    with pytest.raises(DataError, match="timestamp"):
        event_frame(_log().drop("timestamp"))
