"""Request and response models of the HTTP API, with bounds taken from ``[serving]``.

Static models describe the shapes; ``bounded(cfg)`` derives the request models whose limits
(``k ≤ max_k``, batches ≤ ``max_batch``, exclusions ≤ ``max_exclude``) come from the config,
so the OpenAPI schema states the same limits the service enforces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from reelrec.config import ServingConfig

Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Seconds = Annotated[float, Field(ge=0.0, le=1e11)]
Component = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
MAX_TAGS = 64
MAX_VECTOR = 4096


class Request(BaseModel):
    """Base of request bodies: unknown fields are an error (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class Context(Request):
    """Request context: when the feed is shown (epoch seconds; default: the model's now)."""

    at_seconds: Seconds | None = None


class RecommendRequest(Request):
    """``POST /v1/recommend``."""

    user_id: Id
    k: int = Field(20, ge=1, description="Feed length.")
    context: Context | None = None
    exclude: list[Id] = Field(default_factory=list, description="Video ids not to show.")


class Event(Request):
    """One interaction, as in the interactions schema."""

    user_id: Id
    video_id: Id
    event_id: Id | None = Field(None, description="For de-duplication (default: derived).")
    timestamp: Seconds | datetime | None = Field(
        None, description="Epoch seconds or ISO-8601 (default: arrival time)."
    )
    watch_seconds: float | None = Field(None, ge=0.0, le=1e7)
    video_seconds: float | None = Field(None, gt=0.0, le=1e7)
    watch_ratio: float | None = Field(None, ge=0.0, le=1e4)
    skipped: bool | None = None
    liked: bool = False
    shared: bool = False
    commented: bool = False
    followed: bool = False


class EventsRequest(Request):
    """``POST /v1/events``: a batch of events for the online store."""

    events: list[Event] = Field(min_length=1)


class Video(Request):
    """One new video, as in the videos schema."""

    video_id: Id
    creator_id: Id | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    duration_seconds: float | None = Field(None, gt=0.0, le=1e7)
    upload_timestamp: datetime | None = None
    title: Annotated[str, StringConstraints(max_length=2000)] | None = None
    unsafe: bool = False
    audio_vector: list[Component] | None = Field(None, max_length=MAX_VECTOR)
    visual_vector: list[Component] | None = Field(None, max_length=MAX_VECTOR)


class VideosRequest(Request):
    """``POST /v1/videos``: new videos to encode and index."""

    videos: list[Video] = Field(min_length=1)


class ReloadRequest(Request):
    """``POST /v1/admin/reload``: reload ``run_dir`` (default: the one being served)."""

    run_dir: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    wait: bool = Field(False, description="Answer after the swap (or the refusal).")


class Item(BaseModel):
    """One feed entry."""

    video_id: str
    score: float
    reasons: list[str]


class RecommendResponse(BaseModel):
    """A feed."""

    user_id: str
    items: list[Item]
    model_version: str
    fallback: str | None = Field(None, description="'popular' when the cold-start feed was used.")
    degraded: list[str] = Field(
        default_factory=list, description="Stages skipped (failed or over budget)."
    )
    experiment: str | None = None
    variant: str | None = None


class SimilarResponse(BaseModel):
    """Videos similar to one video."""

    video_id: str
    items: list[Item]
    model_version: str


class EventsResponse(BaseModel):
    """What happened to a batch of events."""

    applied: int
    duplicates: int
    failed: list[dict[str, Any]]


class VideosResponse(BaseModel):
    """Ids added to the catalogue and the index."""

    added: list[str]


class ErrorDetail(BaseModel):
    """A stable error code and a human message."""

    code: str
    message: str
    detail: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """Every error body."""

    error: ErrorDetail


@dataclass(frozen=True, slots=True, kw_only=True)
class Bounded:
    """Request models with the configured limits."""

    recommend: type[RecommendRequest]
    events: type[EventsRequest]
    videos: type[VideosRequest]


def bounded(cfg: ServingConfig) -> Bounded:
    """Request models whose limits are ``cfg``'s."""
    recommend = create_model(
        "RecommendRequest",
        __base__=RecommendRequest,
        k=(int, Field(20, ge=1, le=cfg.max_k, description="Feed length.")),
        exclude=(
            list[Id],
            Field(default_factory=list, max_length=cfg.max_exclude, description="Ids not to show."),
        ),
    )
    events = create_model(
        "EventsRequest",
        __base__=EventsRequest,
        events=(list[Event], Field(min_length=1, max_length=cfg.max_batch)),
    )
    videos = create_model(
        "VideosRequest",
        __base__=VideosRequest,
        videos=(list[Video], Field(min_length=1, max_length=cfg.max_batch)),
    )
    return Bounded(recommend=recommend, events=events, videos=videos)
