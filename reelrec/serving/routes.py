"""The HTTP routes: feeds, events, new videos, similar videos, health, readiness, metrics, reload.

Handlers are ``async def``: a worker is one single-threaded process, the work is CPU-bound
NumPy/faiss, so the event loop runs it directly; a threadpool hop would add latency and let an
index ``add`` run concurrently with a ``search``. Reads and writes of one worker are therefore
serialised; ``Loaded.lock`` guards mutation against a reload swapping the model. Only a
blocking reload (``wait: true``) goes to the threadpool, so feeds keep flowing meanwhile.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from reelrec.config import ServingConfig
from reelrec.errors import UnknownIdError
from reelrec.serving.errors import ServiceError
from reelrec.serving.experiment import ServedExperiment, served_experiment
from reelrec.serving.fallback import Feed, video_ids, video_index
from reelrec.serving.metrics import CONTENT_TYPE, ServiceMetrics
from reelrec.serving.reload import Loaded, ModelHolder
from reelrec.serving.schemas import (
    Bounded,
    ErrorResponse,
    EventsRequest,
    EventsResponse,
    RecommendRequest,
    RecommendResponse,
    ReloadRequest,
    SimilarResponse,
    VideosRequest,
    VideosResponse,
)

Experiment = ServedExperiment | tuple[str, Mapping[str, float]]
ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"model": ErrorResponse} for c in (404, 409, 413, 422, 503)
}

if importlib.util.find_spec("orjson") is not None:
    import orjson

    def dumps(obj: Any) -> bytes:
        """JSON bytes (orjson)."""
        return orjson.dumps(obj)

else:

    def dumps(obj: Any) -> bytes:
        """JSON bytes (stdlib json, compact; orjson is used when installed)."""
        return json.dumps(obj, separators=(",", ":")).encode()


def json_response(obj: Any, status: int = 200) -> Response:
    """A JSON response without FastAPI's response-model round trip."""
    return Response(dumps(obj), status_code=status, media_type="application/json")


def _items(
    video_ids: Sequence[str], scores: Sequence[float], reasons: Sequence[list[str]]
) -> list[dict[str, Any]]:
    return [
        {"video_id": v, "score": float(s) if math.isfinite(s) else 0.0, "reasons": r}
        for v, s, r in zip(video_ids, scores, reasons, strict=False)
    ]


def _typed(func: Callable[..., Any], **types: Any) -> Callable[..., Any]:
    """Give ``func``'s parameters runtime types (the bounded request models)."""
    func.__annotations__.update(types)
    return func


def _is_known(loaded: Loaded, user_id: str) -> bool:
    """A user the model knows: in the training vocabulary or with live events in the store."""
    rec = loaded.rec
    if user_id in rec.space_.users:
        return True
    history = getattr(rec, "history", None)
    if history is None:
        return False
    try:  # by id: the live events of a user unknown at training time
        window = history(rec.user_idx([user_id]), [user_id])
    except TypeError:  # a recommender whose history takes indices only
        window = history(rec.user_idx([user_id]))
    return bool((np.asarray(window.video) >= 0).any())


def _index_memory(loaded: Loaded) -> str:
    """Where the served index lives: ``mapped`` (file pages), ``moving`` (a copy on huge pages
    is being prepared, ADR-0009) or ``memory``."""
    if loaded.paging is not None and loaded.paging.is_alive():
        return "moving"
    return "mapped" if getattr(loaded.rec.index_, "mapped", False) else "memory"


def _epoch(value: float | datetime | None) -> float:
    if value is None:
        return time.time()
    return value.timestamp() if isinstance(value, datetime) else float(value)


class Routes:
    """The route handlers over one ``ModelHolder``."""

    def __init__(
        self,
        holder: ModelHolder,
        metrics: ServiceMetrics,
        cfg: ServingConfig,
        experiment: Experiment | None = None,
    ) -> None:
        self.holder, self.metrics, self.cfg = holder, metrics, cfg
        self.experiment = served_experiment(experiment)

    def close(self) -> None:
        """Flush what the service still buffers (the experiment's exposure log)."""
        if self.experiment is not None:
            self.experiment.close()

    def loaded(self) -> Loaded:
        """The served model, or 503 while none is loaded."""
        current = self.holder.current
        if current is None:
            status = self.holder.status
            raise ServiceError(
                503, "not_ready", f"no model loaded yet ({status.state}) {status.message}"
            )
        return current

    def _variant(self, user_id: str) -> tuple[dict[str, str], tuple[str, ...] | None]:
        """The experiment fields of a response and the variant's pipeline stages."""
        if self.experiment is None:
            return {}, None
        variant = self.experiment.variant(user_id)
        fields = {"experiment": self.experiment.name, "variant": variant}
        return fields, self.experiment.stages.get(variant)

    def recommend(self, body: RecommendRequest) -> Response:
        """A feed for one user (cold-start for unknown users; stages degrade, never a 500)."""
        started = time.perf_counter()
        loaded = self.loaded()
        at = body.context.at_seconds if body.context is not None else None
        known = _is_known(loaded, body.user_id)
        arm, only = self._variant(body.user_id)
        feed: Feed = loaded.pipeline.feed(
            body.user_id, body.k, body.exclude, at, loaded.cold, known, only=only
        )
        if self.experiment is not None:
            self.experiment.log_exposures(body.user_id, arm["variant"], feed.video_ids)
        m = self.metrics
        m.observe_stages(feed.timings)
        if feed.fallback:
            m.fallback.inc()
        for stage in feed.degraded:
            m.degraded.labels(stage=stage).inc()
        response = json_response(
            {
                "user_id": body.user_id,
                "items": _items(feed.video_ids, feed.scores, feed.reasons),
                "model_version": loaded.version,
                "fallback": feed.fallback,
                "degraded": feed.degraded,
                **arm,
            }
        )
        # The W3C Server-Timing header: per-stage milliseconds for clients and benchmarks.
        stages = [f"{name};dur={ms:.3f}" for name, ms in feed.timings.items()]
        stages.append(f"total;dur={(time.perf_counter() - started) * 1e3:.3f}")
        response.headers["server-timing"] = ", ".join(stages)
        return response

    def events(self, body: EventsRequest) -> Response:
        """Apply a batch of events to the online store; the next feed reflects them."""
        loaded = self.loaded()
        apply = getattr(loaded.rec, "apply_events", None)
        if apply is None:
            raise ServiceError(501, "not_supported", "this model has no online store")
        records = [
            {**e.model_dump(exclude_none=True), "timestamp": _epoch(e.timestamp)}
            for e in body.events
        ]
        with loaded.lock:
            report = apply(records)
        if self.experiment is not None:
            failed = {r.position for r in report.failed}
            self.experiment.log_outcomes([e for i, e in enumerate(records) if i not in failed])
        return json_response(report.to_json())

    def videos(self, body: VideosRequest) -> Response:
        """Encode new videos and add them to the index (searchable at once)."""
        loaded = self.loaded()
        add = getattr(loaded.rec, "add_videos", None)
        if add is None:
            raise ServiceError(501, "not_supported", "this model cannot ingest videos")
        ids = [v.video_id for v in body.videos]
        if len(set(ids)) != len(ids):
            raise ServiceError(422, "invalid_data", "videos: each video_id may appear once")
        check_vector_lengths(body)
        frame = videos_frame(body)
        with loaded.lock:
            added = add(frame)
            loaded.refresh_cold(self.cfg)
        return json_response({"added": list(added)})

    def similar(self, video_id: str, k: int) -> Response:
        """Videos nearest to ``video_id`` in the index."""
        loaded = self.loaded()
        rec = loaded.rec
        idx = video_index(rec, video_id)
        if idx < 0:
            raise UnknownIdError(f"video {video_id!r} is not in the catalogue")
        slate = rec.similar([video_id], k)[0]
        ids, scores = slate.video_ids, slate.scores
        if slate.fallback == "unknown_video":  # an ingested video the library does not map yet
            ids, scores = _similar_by_index(loaded, idx, k)
        reasons = [["similar"]] * len(ids)
        return json_response(
            {
                "video_id": video_id,
                "items": _items(ids, scores, reasons),
                "model_version": loaded.version,
            }
        )


def _similar_by_index(loaded: Loaded, idx: int, k: int) -> tuple[list[str], list[float]]:
    rec = loaded.rec
    query = rec.index_.get_vectors(np.array([idx]))
    got, scores = rec.index_.search(query, k, exclude=[np.array([idx])])
    keep = got[0] >= 0
    return video_ids(rec, got[0][keep]), scores[0][keep].tolist()


def check_vector_lengths(body: VideosRequest) -> None:
    """Each media-vector field has one length across the batch (422 naming the first misfit)."""
    for name in ("audio_vector", "visual_vector"):
        first: int | None = None
        for i, video in enumerate(body.videos):
            vector = getattr(video, name)
            if vector is None:
                continue
            if first is None:
                first = len(vector)
            elif len(vector) != first:
                raise ServiceError(
                    422,
                    "invalid_data",
                    f"videos.{i}.{name}: length {len(vector)}, but an earlier video's has {first}; "
                    "one length per batch",
                )


def videos_frame(body: VideosRequest) -> pl.DataFrame:
    """The request's videos as a frame in the videos schema."""
    rows = [v.model_dump() for v in body.videos]
    schema: dict[str, pl.DataType] = {
        "video_id": pl.Utf8(),
        "creator_id": pl.Utf8(),
        "tags": pl.List(pl.Utf8),
        "duration_seconds": pl.Float64(),
        "upload_timestamp": pl.Datetime("us", "UTC"),
        "title": pl.Utf8(),
        "unsafe": pl.Boolean(),
        "audio_vector": pl.List(pl.Float32),
        "visual_vector": pl.List(pl.Float32),
    }
    return pl.DataFrame(rows, schema=schema)


def build_router(routes: Routes, models: Bounded) -> APIRouter:
    """The API router with bounded request models."""
    router = APIRouter()
    holder, metrics, cfg = routes.holder, routes.metrics, routes.cfg

    async def recommend(body: RecommendRequest) -> Response:
        return routes.recommend(body)

    async def events(body: EventsRequest) -> Response:
        return routes.events(body)

    async def videos(body: VideosRequest) -> Response:
        return routes.videos(body)

    async def similar(
        video_id: str = PathParam(min_length=1, max_length=256),
        k: int = Query(20, ge=1, le=cfg.max_k),
    ) -> Response:
        return routes.similar(video_id, k)

    async def healthz() -> Response:
        return json_response({"status": "ok"})

    async def readyz() -> Response:
        current, status = holder.current, holder.status
        if current is None:
            raise ServiceError(
                503, "not_ready", f"model not loaded ({status.state}) {status.message}"
            )
        return json_response(
            {
                "status": "ready",
                "model_version": current.version,
                "reload": status.state,
                "index_memory": _index_memory(current),
            }
        )

    async def metrics_page() -> Response:
        return Response(metrics.export(), media_type=CONTENT_TYPE)

    async def reload(body: ReloadRequest | None = None) -> Response:
        target = Path(body.run_dir) if body is not None and body.run_dir else None
        if body is None or not body.wait:
            holder.reload_in_background(target)
            return json_response({"status": "loading"}, status=202)
        outcome = await run_in_threadpool(holder.reload, target)
        if outcome.state != "swapped":
            metrics.reloads.labels(outcome="refused").inc()
            raise ServiceError(409, "reload_refused", outcome.message)
        return json_response({"status": outcome.state, "message": outcome.message})

    add = router.add_api_route
    add(
        "/v1/recommend",
        _typed(recommend, body=models.recommend),
        methods=["POST"],
        response_model=RecommendResponse,
        responses=ERRORS,
        summary="A feed for one user",
    )
    add(
        "/v1/events",
        _typed(events, body=models.events),
        methods=["POST"],
        response_model=EventsResponse,
        responses=ERRORS,
        summary="Apply a batch of events",
    )
    add(
        "/v1/videos",
        _typed(videos, body=models.videos),
        methods=["POST"],
        response_model=VideosResponse,
        responses=ERRORS,
        summary="Add new videos",
    )
    add(
        "/v1/similar/{video_id}",
        _typed(similar, video_id=str, k=int),
        methods=["GET"],
        response_model=SimilarResponse,
        responses=ERRORS,
        summary="Videos similar to one video",
    )
    add(
        "/v1/admin/reload",
        _typed(reload, body=ReloadRequest | None),
        methods=["POST"],
        responses=ERRORS,
        summary="Hot-reload a run directory",
        status_code=202,
    )
    add("/healthz", healthz, methods=["GET"], summary="Liveness")
    add("/readyz", readyz, methods=["GET"], responses=ERRORS, summary="Readiness (model loaded)")
    add("/metrics", metrics_page, methods=["GET"], summary="Prometheus metrics")  # fmt: skip
    return router
