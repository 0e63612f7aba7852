"""The registry: one consistent definition per feature."""

from __future__ import annotations

import math

from reelrec.features.events import event_from_record
from reelrec.features.registry import (
    FEATURES,
    SOURCES,
    VIDEO_STATS,
    features_of,
    scalar_features,
    source_value,
)


def test_definitions_are_unique_and_well_formed() -> None:
    keys = [(f.entity, f.name) for f in FEATURES]
    assert len(keys) == len(set(keys))
    assert all(f.source in SOURCES and (f.where is None or f.where in SOURCES) for f in FEATURES)
    assert [f.name for f in features_of("user") if f.transform == "last_n"] == ["history"]
    assert set(VIDEO_STATS) <= {f.name for f in scalar_features("video")}


def test_source_values() -> None:
    e = event_from_record(
        {"user_id": "u", "video_id": "v", "timestamp": 1, "watch_ratio": 5.0, "liked": True}
    )
    assert source_value(e, "watch") == 3.0  # clipped like the dwell feature
    assert (source_value(e, "liked"), source_value(e, "shared"), source_value(e, "one")) == (
        1.0,
        0.0,
        1.0,
    )
    assert source_value(e, "completed") == 1.0
    unknown = event_from_record({"user_id": "u", "video_id": "v", "timestamp": 1})
    assert source_value(unknown, "watch") == 1.0
    assert math.isnan(unknown.watch_ratio)
