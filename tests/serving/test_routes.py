"""Routes through FastAPI's TestClient: feeds, events, videos, similar, limits, errors, metrics."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from reelrec.config import ServingConfig
from reelrec.serving.app import create_app
from reelrec.serving.schemas import RecommendRequest
from tests.serving.conftest import ClientFactory, TestClient, wait_ready


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()


def _known_user(client: TestClient) -> str:
    rec = client.app.state.holder.current.rec  # type: ignore[attr-defined]
    return str(rec.space_.users.ids[3])


def test_known_user_gets_k_items_without_markers(client: TestClient, tiny_split) -> None:  # type: ignore[no-untyped-def]
    user = _known_user(client)
    r = client.post("/v1/recommend", json={"user_id": user, "k": 7})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == user
    assert len(body["items"]) == 7
    assert len({i["video_id"] for i in body["items"]}) == 7
    assert body["fallback"] is None
    assert body["degraded"] == []
    assert body["model_version"] == client.get("/readyz").json()["model_version"]
    train = tiny_split[0].interactions
    seen = set(train.filter(pl.col("user_id") == user)["video_id"].to_list())
    assert not seen & {i["video_id"] for i in body["items"]}
    assert all(i["reasons"] for i in body["items"])


def test_exclude_and_context_are_honoured(client: TestClient) -> None:
    user = _known_user(client)
    first = client.post("/v1/recommend", json={"user_id": user, "k": 5}).json()
    banned = [i["video_id"] for i in first["items"][:3]]
    r = client.post(
        "/v1/recommend",
        json={"user_id": user, "k": 5, "exclude": banned, "context": {"at_seconds": 1.7e9}},
    )
    assert r.status_code == 200
    assert not set(banned) & {i["video_id"] for i in r.json()["items"]}


def test_unknown_user_gets_the_cold_start_feed(client: TestClient) -> None:
    r = client.post("/v1/recommend", json={"user_id": "never-seen-user", "k": 10})
    assert r.status_code == 200
    body = r.json()
    assert body["fallback"] == "popular"
    assert len(body["items"]) == 10
    reasons = {tuple(i["reasons"]) for i in body["items"]}
    assert reasons <= {("context",), ("popular",), ("fresh",)}
    assert ("popular",) in reasons


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"k": 5}, "user_id"),
        ({"user_id": "", "k": 5}, "user_id"),
        ({"user_id": "u", "k": 0}, "k"),
        ({"user_id": "u", "k": 201}, "k"),  # serving.max_k = 200
        ({"user_id": "u", "k": "many"}, "k"),
        ({"user_id": "u", "colour": "red"}, "colour"),
        ({"user_id": "u", "exclude": ["v"] * 1001}, "exclude"),
        ({"user_id": "u", "context": {"at_seconds": -1}}, "context.at_seconds"),
    ],
)
def test_malformed_recommend_is_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/recommend", json=body)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "invalid_request"
    assert field in [d["field"] for d in error["detail"]]
    assert field in error["message"]


def test_batches_over_max_batch_and_bad_json_are_422(make_client: ClientFactory) -> None:
    client = make_client(max_batch=2)
    events = [{"user_id": "u", "video_id": "v"}] * 3
    r = client.post("/v1/events", json={"events": events})
    assert r.status_code == 422
    assert r.json()["error"]["detail"][0]["field"] == "events"
    r = client.post("/v1/videos", json={"videos": []})
    assert r.status_code == 422
    r = client.post(
        "/v1/recommend", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"


def test_body_over_the_limit_is_413(make_client: ClientFactory) -> None:
    client = make_client(max_body_bytes=2048)
    r = client.post("/v1/events", json={"events": [{"user_id": "u" * 200, "video_id": "v"}] * 20})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streamed size is counted
        yield b'{"events": ['
        for _ in range(40):
            yield b'{"user_id": "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu", "video_id": "v"},'
        yield b"]}"

    r = client.post("/v1/events", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_openapi_states_the_configured_bounds(make_client: ClientFactory) -> None:
    client = make_client(max_k=33)
    spec = client.get("/openapi.json").json()
    props = spec["components"]["schemas"]["RecommendRequest"]["properties"]
    assert props["k"]["maximum"] == 33
    assert client.post("/v1/recommend", json={"user_id": "u", "k": 34}).status_code == 422
    assert client.get("/docs").status_code == 200


def test_similar_and_unknown_video(client: TestClient) -> None:
    rec = client.app.state.holder.current.rec  # type: ignore[attr-defined]
    video = rec.space_.videos.ids[0]
    r = client.get(f"/v1/similar/{video}", params={"k": 6})
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == 6
    assert video not in {i["video_id"] for i in items}
    scores = [i["score"] for i in items]
    assert scores == sorted(scores, reverse=True)
    r = client.get("/v1/similar/no-such-video")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "unknown_video"
    assert client.get(f"/v1/similar/{video}", params={"k": 0}).status_code == 422


def _watched(user: str, videos: list[str], t0: float) -> list[dict[str, Any]]:
    """Events of ``user`` watching ``videos`` to the end and liking them, a second apart."""
    return [
        {"user_id": user, "video_id": v, "timestamp": t0 + j, "watch_seconds": 30.0,
         "video_seconds": 30.0, "liked": True}
        for j, v in enumerate(videos)
    ]  # fmt: skip


def test_events_change_the_next_feed(client: TestClient) -> None:
    rec = client.app.state.holder.current.rec  # type: ignore[attr-defined]
    user = _known_user(client)
    before = [
        i["video_id"] for i in client.post("/v1/recommend", json={"user_id": user}).json()["items"]
    ]
    # The user binge-watches (and likes) videos close to one far from the current feed.
    anchor = client.get(f"/v1/similar/{before[0]}", params={"k": 200}).json()["items"][-1]
    watched = [anchor["video_id"]] + [
        i["video_id"]
        for i in client.get(f"/v1/similar/{anchor['video_id']}", params={"k": 10}).json()["items"]
    ]
    t0 = rec.space_.reference_seconds + 60
    events = _watched(user, watched, t0)
    r = client.post("/v1/events", json={"events": events})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["applied"] == len(watched)
    assert report["failed"] == []
    again = client.post("/v1/events", json={"events": events[:2]}).json()
    assert again["duplicates"] == 2
    after = [
        i["video_id"] for i in client.post("/v1/recommend", json={"user_id": user}).json()["items"]
    ]
    assert after != before
    assert not set(watched) & set(after)  # just watched: not shown again


def test_a_new_users_events_personalise_their_next_feed(client: TestClient) -> None:
    rec = client.app.state.holder.current.rec  # type: ignore[attr-defined]
    users = ["brand-new-user-a", "brand-new-user-b"]  # not in the training vocabulary
    cold = [client.post("/v1/recommend", json={"user_id": u, "k": 20}).json() for u in users]
    assert [c["fallback"] for c in cold] == ["popular", "popular"]
    assert cold[0]["items"] == cold[1]["items"]  # nothing tells them apart yet
    # Each watches a different corner of the catalogue: a video and its nearest neighbours.
    ids = rec.space_.videos.ids
    seeds = [ids[0], ids[len(ids) // 2]]
    t0 = rec.space_.reference_seconds + 60
    watched, tastes = [], []
    for user, seed in zip(users, seeds, strict=True):
        near = client.get(f"/v1/similar/{seed}", params={"k": 12}).json()["items"]
        videos = [seed] + [i["video_id"] for i in near]
        events = _watched(user, videos, t0)
        r = client.post("/v1/events", json={"events": events}).json()
        assert r["applied"] == len(videos)
        watched.append(videos)
        tastes.append(rec.index_.get_vectors(rec.video_idx(videos)).mean(axis=0))
    feeds = [client.post("/v1/recommend", json={"user_id": u, "k": 20}).json() for u in users]
    items = [[i["video_id"] for i in f["items"]] for f in feeds]
    for feed, got, seen in zip(feeds, items, watched, strict=True):
        assert feed["fallback"] is None  # personalised from the live history, not cold start
        assert feed["degraded"] == []
        assert len(got) == 20
        assert not set(seen) & set(got)  # watched videos are not shown again
    # Each feed leans towards its own user's history rather than the other's.
    near = lambda ids, taste: float((rec.index_.get_vectors(rec.video_idx(ids)) @ taste).mean())  # noqa: E731
    assert near(items[0], tastes[0]) > near(items[1], tastes[0])
    assert near(items[1], tastes[1]) > near(items[0], tastes[1])


def test_new_video_is_searchable_at_once(client: TestClient) -> None:
    rec = client.app.state.holder.current.rec  # type: ignore[attr-defined]
    row = 5
    original = rec.space_.videos.ids[row]
    catalog = rec.catalog_
    tags = [rec.space_.tags.ids[t - 1] for t in catalog.tags[row] if t > 0]
    video = {
        "video_id": "fresh-upload-1",
        "creator_id": rec.space_.creators.ids[int(catalog.creator_idx[row])],
        "tags": tags,
        "duration_seconds": 30.0,
        "title": "a new upload",
    }
    r = client.post("/v1/videos", json={"videos": [video]})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == ["fresh-upload-1"]
    own = client.get("/v1/similar/fresh-upload-1", params={"k": 10})
    assert own.status_code == 200
    assert len(own.json()["items"]) == 10
    near = client.get(f"/v1/similar/{own.json()['items'][0]['video_id']}", params={"k": 200})
    assert "fresh-upload-1" in {i["video_id"] for i in near.json()["items"]}
    assert original in rec.space_.videos


def test_health_ready_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["index_memory"] in {"mapped", "moving", "memory"}
    deadline = time.monotonic() + 60
    while client.get("/readyz").json()["index_memory"] == "moving" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/readyz").json()["index_memory"] == "memory"  # serving.huge_pages default
    client.post("/v1/recommend", json={"user_id": _known_user(client), "k": 5})
    client.post("/v1/recommend", json={"user_id": "u", "k": -1})
    text = client.get("/metrics").text
    assert 'reelrec_requests_total{route="/v1/recommend",status="200"}' in text
    assert 'reelrec_errors_total{route="/v1/recommend"}' in text
    for stage in ("features", "user_tower", "ann", "ranking", "rules"):
        assert f'reelrec_stage_seconds_count{{stage="{stage}"}}' in text
    assert "reelrec_request_seconds_bucket" in text
    assert 'reelrec_model_info{version="' in text


def test_unknown_route_and_method_use_the_error_body(client: TestClient) -> None:
    r = client.get("/v2/nothing")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = client.get("/v1/recommend")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"


def test_request_path_calls_no_torch(client: TestClient) -> None:
    """A whole feed (tower, ANN, ranker, rules) with a profiler watching for torch frames."""
    loaded = client.app.state.holder.current  # type: ignore[attr-defined]
    user = _known_user(client)
    calls: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        module = frame.f_globals.get("__name__", "")
        if event == "c_call":
            module = (
                getattr(arg, "__module__", None) or type(getattr(arg, "__self__", None)).__module__
            )
        if str(module).startswith("torch"):
            calls.append(f"{event} {module}")

    sys.setprofile(profile)
    try:
        feed = loaded.pipeline.feed(user, 20, [], None, loaded.cold, known=True)
    finally:
        sys.setprofile(None)
    assert len(feed.video_ids) == 20
    assert feed.timings["ranking"] > 0
    assert calls == []


def test_schema_models_reject_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        RecommendRequest.model_validate({"user_id": "u", "typo": 1})
    assert np.isfinite(RecommendRequest(user_id="u").k)


def test_experiment_variant_is_assigned_and_stable(run_dir) -> None:  # type: ignore[no-untyped-def]
    from reelrec.recommender import Recommender
    from reelrec.serving.app import create_app

    rec = Recommender.load(run_dir)
    app = create_app(rec, experiment=("ranker-v2", {"control": 0.5, "treatment": 0.5}))
    with TestClient(app) as client:
        variants = {}
        for user in rec.space_.users.ids[:40]:
            body = client.post("/v1/recommend", json={"user_id": user, "k": 3}).json()
            assert body["experiment"] == "ranker-v2"
            variants[user] = body["variant"]
        assert set(variants.values()) == {"control", "treatment"}
        user = rec.space_.users.ids[0]
        again = client.post("/v1/recommend", json={"user_id": user, "k": 3}).json()
        assert again["variant"] == variants[user]


def test_the_feed_fast_path_answers_as_the_fastapi_route(run_dir: Path, tmp_path: Path) -> None:
    from reelrec.serving.fastpath import FeedFastPath

    apps = []
    for name in ("fast", "plain"):
        shutil.copytree(run_dir, tmp_path / name)
        app = create_app(tmp_path / name, config=ServingConfig(reload_poll_s=0.0))
        if name == "plain":  # the stack is built on first use: drop the fast path before it
            app.user_middleware = [m for m in app.user_middleware if m.cls is not FeedFastPath]
        apps.append(app)
    statuses = []
    with TestClient(apps[0]) as fast, TestClient(apps[1]) as plain:
        for client in (fast, plain):
            wait_ready(client)
        for body in (
            {"user_id": "u000001", "k": 7},
            {"user_id": "u000002", "k": 3, "exclude": ["v000001"], "context": {"at_seconds": 1e9}},
            {"user_id": "nobody", "k": 4},  # cold start
            {"user_id": "u000001", "k": 0},  # 422 naming k
        ):
            answers = [c.post("/v1/recommend", json=body) for c in (fast, plain)]
            assert answers[0].status_code == answers[1].status_code
            assert answers[0].json() == answers[1].json()
            statuses.append(answers[0].status_code)
        # Every feed request, fast or not, is still counted by the metrics middleware.
        page = fast.get("/metrics").text
        assert 'reelrec_requests_total{route="/v1/recommend",status="200"} 3.0' in page
        assert 'reelrec_requests_total{route="/v1/recommend",status="422"} 1.0' in page
    assert statuses == [200, 200, 200, 422]
