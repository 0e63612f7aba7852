"""`reelrec serve` as a subprocess on loopback, every endpoint called over real HTTP (httpx)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def service(tiny_rec, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("http")
    run = tiny_rec.save(base / "run")
    port = free_port()
    env = {**os.environ, "REELREC_SERVING__RELOAD_POLL_S": "0.2"}
    log = (base / "server.log").open("w")  # a file, not a pipe: a full pipe would block it
    proc = subprocess.Popen(
        [sys.executable, "-m", "reelrec", "serve", str(run), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"reelrec serve exited: {(base / 'server.log').read_text()}")
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail("reelrec serve did not become ready in 120 s")
        yield {"client": client, "rec": tiny_rec, "run": run}
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _feed(client: httpx.Client, user: str, k: int = 20) -> list[str]:
    r = client.post("/v1/recommend", json={"user_id": user, "k": k})
    assert r.status_code == 200, r.text
    return [i["video_id"] for i in r.json()["items"]]


def test_health_readiness_docs_and_metrics(service: dict[str, Any]) -> None:
    client = service["client"]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["model_version"] == service["rec"].model_version_
    assert client.get("/docs").status_code == 200
    assert "/v1/recommend" in client.get("/openapi.json").json()["paths"]
    _feed(client, service["rec"].space_.users.ids[0])
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'reelrec_requests_total{route="/v1/recommend",status="200"}' in metrics.text
    assert 'reelrec_stage_seconds_count{stage="ann"}' in metrics.text


def test_recommend_known_unknown_and_malformed(service: dict[str, Any]) -> None:
    client, rec = service["client"], service["rec"]
    body = client.post("/v1/recommend", json={"user_id": rec.space_.users.ids[1], "k": 9}).json()
    assert len(body["items"]) == 9
    assert body["fallback"] is None
    cold = client.post("/v1/recommend", json={"user_id": "brand-new-user", "k": 9}).json()
    assert cold["fallback"] == "popular"
    assert len(cold["items"]) == 9
    bad = client.post("/v1/recommend", json={"user_id": "u", "k": 10_000})
    assert bad.status_code == 422
    assert bad.json()["error"]["detail"][0]["field"] == "k"
    raw = client.post("/v1/recommend", content=b"[1,", headers={"content-type": "application/json"})
    assert raw.status_code == 422


def test_events_change_the_next_feed(service: dict[str, Any]) -> None:
    client, rec = service["client"], service["rec"]
    user = rec.space_.users.ids[2]
    before = _feed(client, user)
    far = client.get(f"/v1/similar/{before[0]}", params={"k": 200}).json()["items"][-1]
    near = client.get(f"/v1/similar/{far['video_id']}", params={"k": 10}).json()["items"]
    watched = [far["video_id"], *(i["video_id"] for i in near)]
    t0 = rec.space_.reference_seconds + 60
    events = [
        {"user_id": user, "video_id": v, "timestamp": t0 + j, "watch_seconds": 20.0,
         "video_seconds": 20.0, "liked": True}
        for j, v in enumerate(watched)
    ]  # fmt: skip
    r = client.post("/v1/events", json={"events": events})
    assert r.status_code == 200, r.text
    assert r.json()["applied"] == len(watched)
    after = _feed(client, user)
    assert after != before
    assert not set(watched) & set(after)


def test_new_video_appears_in_similar(service: dict[str, Any]) -> None:
    client, rec = service["client"], service["rec"]
    row = 7
    tags = [rec.space_.tags.ids[t - 1] for t in rec.catalog_.tags[row] if t > 0]
    creator = rec.space_.creators.ids[int(rec.catalog_.creator_idx[row])]
    video = {"video_id": "e2e-upload", "creator_id": creator, "tags": tags, "title": "new"}
    r = client.post("/v1/videos", json={"videos": [video]})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == ["e2e-upload"]
    own = client.get("/v1/similar/e2e-upload", params={"k": 5}).json()["items"]
    assert len(own) == 5
    neighbour = own[0]["video_id"]
    found = client.get(f"/v1/similar/{neighbour}", params={"k": 200}).json()["items"]
    assert "e2e-upload" in {i["video_id"] for i in found}
    assert client.get("/v1/similar/not-a-video").status_code == 404


def test_reload_over_http_keeps_serving(service: dict[str, Any]) -> None:
    client = service["client"]
    version = client.get("/readyz").json()["model_version"]
    (service["run"] / "RELOAD").write_text("")
    r = client.post("/v1/admin/reload", json={"wait": True})
    assert r.status_code == 200
    assert client.get("/readyz").json()["model_version"] == version
    assert _feed(client, "anyone", 3)


def test_serve_refuses_a_missing_run_dir(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reelrec", "serve", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error:")
