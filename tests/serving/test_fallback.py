"""Degradation: cold-start pools, stage failures and budget overruns answered without a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reelrec.config import ServingConfig
from reelrec.recommender import Recommender
from reelrec.serving.app import create_app
from reelrec.serving.fallback import ColdStart, Pipeline, StageBreaker
from tests.serving.conftest import ClientFactory, TestClient, wait_ready


class RankerDown(Recommender):
    """A recommender whose ranker fails (a crashed model server, a corrupt table)."""

    def _ranker_scores(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ranker unavailable")


class RetrievalDown(Recommender):
    """A recommender whose user tower fails, so no personalised feed exists."""

    def encode_users(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("user tower unavailable")


@pytest.fixture(scope="module")
def rec(run_dir: Path) -> Recommender:
    return Recommender.load(run_dir)


def test_cold_start_pools_are_popular_fresh_and_safe(rec: Recommender) -> None:
    cold = ColdStart(rec, fresh_hours=24 * 365)
    counts = rec.popularity_
    top = int(np.argmax(counts))
    assert cold.popular_ids[0] == rec.space_.videos.ids[top]
    unsafe = {rec.space_.videos.ids[i] for i in np.flatnonzero(rec.catalog_.unsafe)}
    assert not unsafe & set(cold.popular_ids + cold.fresh_ids)
    uploads = [
        rec.catalog_.upload_seconds[rec.space_.videos.ids.index(v)] for v in cold.fresh_ids[:20]
    ]
    assert uploads == sorted(uploads, reverse=True)
    feed = cold.feed(12, exclude={cold.popular_ids[0]})
    assert len(feed.video_ids) == len(set(feed.video_ids)) == 12
    assert cold.popular_ids[0] not in feed.video_ids
    assert feed.fallback == "popular"
    assert {r[0] for r in feed.reasons} == {"popular", "fresh"}


def test_breaker_skips_a_tripped_stage_until_the_cooldown_ends() -> None:
    breaker = StageBreaker(cooldown_s=5.0)
    assert breaker.allowed(0.0) == ("retrieve", "rank", "rules")
    breaker.trip("rank", 10.0)
    breaker.trip("retrieve", 10.0)  # retrieval is never skipped: it is the last resort
    assert breaker.allowed(12.0) == ("retrieve", "rules")
    assert breaker.allowed(15.1) == ("retrieve", "rank", "rules")


def test_failing_ranker_answers_from_retrieval_marked_degraded(run_dir: Path) -> None:
    broken = RankerDown.load(run_dir)
    with TestClient(create_app(broken, config=ServingConfig(breaker_s=60.0))) as client:
        user = broken.space_.users.ids[0]
        for _ in range(2):  # first: fails then degrades; second: skipped by the breaker
            r = client.post("/v1/recommend", json={"user_id": user, "k": 8})
            assert r.status_code == 200
            body = r.json()
            assert "rank" in body["degraded"]
            assert body["fallback"] is None
            assert len(body["items"]) == 8
        assert 'reelrec_degraded_feeds_total{stage="rank"} 2.0' in client.get("/metrics").text


def test_failing_retrieval_answers_with_the_cold_start_feed(run_dir: Path) -> None:
    broken = RetrievalDown.load(run_dir)
    with TestClient(create_app(broken)) as client:
        r = client.post("/v1/recommend", json={"user_id": broken.space_.users.ids[0], "k": 5})
        assert r.status_code == 200
        body = r.json()
        assert body["fallback"] == "popular"
        assert "retrieve" in body["degraded"]
        assert len(body["items"]) == 5


def test_stage_over_budget_is_skipped_on_following_requests(make_client: ClientFactory) -> None:
    client = make_client(budget_rank_ms=1e-6, breaker_s=60.0)
    user = client.app.state.holder.current.rec.space_.users.ids[0]  # type: ignore[attr-defined]
    first = client.post("/v1/recommend", json={"user_id": user, "k": 5}).json()
    second = client.post("/v1/recommend", json={"user_id": user, "k": 5}).json()
    assert first["degraded"] == []  # the slow ranker still answered this one in full
    assert second["degraded"] == ["rank"]
    assert all("ranked" not in i["reasons"] for i in second["items"])
    assert len(second["items"]) == 5


def test_pipeline_reports_stage_timings(rec: Recommender) -> None:
    pipeline = Pipeline(rec, ServingConfig())
    feed = pipeline.feed(rec.space_.users.ids[1], 10, [], None, ColdStart(rec, 72.0), known=True)
    assert set(feed.timings) >= {"user_tower", "ann", "ranking", "rules"}
    assert all(v >= 0 for v in feed.timings.values())


def test_service_starts_unready_and_reports_a_broken_run(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("")
    with TestClient(create_app(tmp_path, config=ServingConfig(reload_poll_s=0))) as client:
        assert client.get("/healthz").status_code == 200
        r = client.post("/v1/recommend", json={"user_id": "u"})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "not_ready"
        with pytest.raises(AssertionError, match="not ready"):
            wait_ready(client, timeout_s=0.5)
