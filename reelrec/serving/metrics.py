"""Prometheus metrics of one service: requests, errors, end-to-end and per-stage latency.

Each app owns a ``CollectorRegistry`` (tests build many apps in one process). With several
uvicorn workers each process exports its own counters; scrape them per process.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from reelrec.serving.errors import ASGIApp, Message, Receive, Scope, Send

# Latency buckets from 0.25 ms to 1 s: the feed budget is 10 ms, so resolution sits below it.
BUCKETS_S = (
    0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
STAGES = ("features", "user_tower", "ann", "ranking", "rules")
ROUTES = (
    "/v1/recommend",
    "/v1/events",
    "/v1/videos",
    "/v1/admin/reload",
    "/healthz",
    "/readyz",
    "/metrics",
)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def route_label(path: str) -> str:
    """A bounded label for ``path`` (ids never become label values)."""
    if path in ROUTES:
        return path
    if path.startswith("/v1/similar/"):
        return "/v1/similar/{video_id}"
    return "other"


class ServiceMetrics:
    """The service's collectors, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "reelrec_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=r,
        )
        self.errors = Counter(
            "reelrec_errors", "HTTP responses with status >= 400, by route.", ["route"], registry=r
        )
        self.latency = Histogram(
            "reelrec_request_seconds",
            "End-to-end handling time by route.",
            ["route"],
            buckets=BUCKETS_S,
            registry=r,
        )
        self.stage = Histogram(
            "reelrec_stage_seconds",
            "Feed time per stage: features, user_tower, ann, ranking, rules.",
            ["stage"],
            buckets=BUCKETS_S,
            registry=r,
        )
        self.fallback = Counter(
            "reelrec_fallback_feeds", "Feeds answered by the cold-start path.", registry=r
        )
        self.degraded = Counter(
            "reelrec_degraded_feeds", "Feeds that skipped a stage, by stage.", ["stage"], registry=r
        )
        self.reloads = Counter(
            "reelrec_reloads", "Hot reloads by outcome (swapped, refused).", ["outcome"], registry=r
        )
        self.model = Gauge("reelrec_model_info", "Served model version.", ["version"], registry=r)
        self._stage_children = {s: self.stage.labels(stage=s) for s in STAGES}

    def observe_stages(self, timings_ms: Mapping[str, float]) -> None:
        """Record one feed's stage timings (milliseconds)."""
        for name, ms in timings_ms.items():
            child = self._stage_children.get(name)
            if child is not None:
                child.observe(ms / 1000.0)

    def set_model(self, version: str) -> None:
        """Mark ``version`` as the one served."""
        self.model.clear()
        self.model.labels(version=version).set(1)

    def export(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware counting every HTTP response and timing it end to end."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = route_label(scope.get("path", ""))
            m = self.metrics
            m.latency.labels(route=route).observe(time.perf_counter() - start)
            m.requests.labels(route=route, status=str(status)).inc()
            if status >= 400:
                m.errors.labels(route=route).inc()
