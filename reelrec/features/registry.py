"""The one list of live feature definitions, interpreted by the offline and the online engine.

A ``Feature`` says *what* is computed — entity, source value, transform, window — never *how*:
``reelrec.features.offline`` evaluates each transform with Polars over a whole log (point in
time: a query at t sees only events strictly before t), ``reelrec.features.online`` folds one
event at a time into a store. ``tests/features/test_parity.py`` checks that both agree.

Sources are per-event values (``source_value``): ``one`` (1), the 0/1 flags ``played``,
``liked``, ``shared``, ``commented``, ``followed``, ``skipped``, ``completed``, and ``watch``
(the watch ratio clipped to [0, 3], unknown = 1, as the dwell feature treats it).

Transforms (an event *counts* when its ``where`` flag is set, or always without one):

- ``sum``: Σ source over counted events.
- ``mean``: Σ source / number of counted events (0 without any).
- ``last_n``: the last ``window`` events with source > 0 (``None``: ``features.history_length``).
- ``decayed_count``: Σ exp(−(t − tᵢ) / window) over events with source > 0 (window: seconds).
- ``ewma_gap``: Yi et al. 2019 streaming frequency: over events with source > 0 in time order,
  ``B ← (1 − α)·B + α·(tᵢ − A)``, ``A ← tᵢ`` with ``α = 1 / window``, the first sighting only
  sets ``A``; the value is the frequency ``1 / B`` per second (0 while ``B`` is 0). An event
  older than ``A`` (late) counts as a sighting at ``A`` (gap 0) and leaves ``A`` unchanged.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

from reelrec.features.events import Event

Entity = Literal["user", "video"]
Transform = Literal["sum", "mean", "last_n", "decayed_count", "ewma_gap"]
SOURCES = (
    "one",
    "played",
    "liked",
    "shared",
    "commented",
    "followed",
    "skipped",
    "completed",
    "watch",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Feature:
    """One feature: name, entity, per-event source, transform, window and optional filter."""

    name: str
    entity: Entity
    source: str
    transform: Transform
    window: float | None = None
    where: str | None = None


FEATURES: tuple[Feature, ...] = (
    Feature(name="history", entity="user", source="played", transform="last_n"),
    Feature(name="events", entity="user", source="one", transform="sum"),
    Feature(name="plays", entity="user", source="played", transform="sum"),
    Feature(name="likes", entity="user", source="liked", transform="sum"),
    Feature(name="shares", entity="user", source="shared", transform="sum"),
    Feature(name="follows", entity="user", source="followed", transform="sum"),
    Feature(name="skips", entity="user", source="skipped", transform="sum"),
    Feature(name="watch_mean", entity="user", source="watch", transform="mean", where="played"),
    Feature(name="impressions", entity="video", source="one", transform="sum"),
    Feature(name="views", entity="video", source="played", transform="sum"),
    Feature(name="likes", entity="video", source="liked", transform="sum"),
    Feature(name="completions", entity="video", source="completed", transform="sum"),
    Feature(name="shares", entity="video", source="shared", transform="sum"),
    Feature(name="follows", entity="video", source="followed", transform="sum"),
    Feature(name="skips", entity="video", source="skipped", transform="sum"),
    Feature(name="like_rate", entity="video", source="liked", transform="mean", where="played"),
    Feature(
        name="completion_rate", entity="video", source="completed", transform="mean", where="played"
    ),
    Feature(name="share_rate", entity="video", source="shared", transform="mean", where="played"),
    Feature(name="skip_rate", entity="video", source="skipped", transform="mean"),
    Feature(
        name="velocity", entity="video", source="played", transform="decayed_count", window=3600.0
    ),
    Feature(name="frequency", entity="video", source="played", transform="ewma_gap", window=100.0),
)

VIDEO_STATS = (
    "views",
    "like_rate",
    "completion_rate",
    "share_rate",
    "skip_rate",
    "velocity",
    "frequency",
)
"""Columns of ``Recommender.video_stats`` (ranker inputs), in order."""


@functools.cache
def features_of(entity: Entity) -> tuple[Feature, ...]:
    """The definitions of one entity, in registry order."""
    return tuple(f for f in FEATURES if f.entity == entity)


@functools.cache
def scalar_features(entity: Entity) -> tuple[Feature, ...]:
    """The entity's features with one number per (entity, time) (all but ``last_n``)."""
    return tuple(f for f in features_of(entity) if f.transform != "last_n")


def source_value(event: Event, source: str) -> float:
    """The value of ``source`` for one event (see the module docstring)."""
    if source == "one":
        return 1.0
    if source == "watch":
        ratio = event.watch_ratio
        return 1.0 if math.isnan(ratio) else min(max(ratio, 0.0), 3.0)
    if source == "completed":
        return float(event.completed)
    return float(getattr(event, source))


def _check() -> None:
    names: set[tuple[str, str]] = set()
    for f in FEATURES:
        assert f.source in SOURCES, f"{f.name}: unknown source {f.source!r}"
        assert f.where is None or f.where in SOURCES, f"{f.name}: unknown where {f.where!r}"
        assert (f.entity, f.name) not in names, f"duplicate feature {f.entity}.{f.name}"
        names.add((f.entity, f.name))
        if f.transform in ("decayed_count", "ewma_gap"):
            assert f.window is not None, f"{f.name}: needs a window"
            assert f.window > 0, f"{f.name}: needs a window > 0"
    assert set(VIDEO_STATS) <= {f.name for f in features_of("video")}


_check()

__all__ = [
    "FEATURES",
    "SOURCES",
    "VIDEO_STATS",
    "Entity",
    "Feature",
    "Transform",
    "features_of",
    "scalar_features",
    "source_value",
]
