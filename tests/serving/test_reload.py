"""Hot reload: atomic swap on request or file change, no failed request, refusal of bad pairs."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from reelrec.serving.reload import RELOAD_FILE
from tests.serving.conftest import ClientFactory, TestClient


def _version(client: TestClient) -> str:
    return str(client.get("/readyz").json()["model_version"])


def test_reload_on_request_swaps_the_model(
    make_client: ClientFactory, run_dir: Path, other_run_dir: Path
) -> None:
    client = make_client()
    old = _version(client)
    r = client.post("/v1/admin/reload", json={"run_dir": str(other_run_dir), "wait": True})
    assert r.status_code == 200, r.text
    new = _version(client)
    assert new != old
    feed = client.post("/v1/recommend", json={"user_id": "u000018", "k": 5}).json()
    assert feed["model_version"] == new
    assert 'reelrec_reloads_total{outcome="swapped"} 2.0' in client.get("/metrics").text


def test_incompatible_pair_is_refused_and_the_old_model_keeps_serving(
    make_client: ClientFactory, run_dir: Path, other_run_dir: Path, tmp_path: Path
) -> None:
    client = make_client()
    old = _version(client)
    mixed = tmp_path / "mixed"
    shutil.copytree(run_dir, mixed)
    shutil.rmtree(mixed / "index")
    shutil.copytree(other_run_dir / "index", mixed / "index")  # another model's index
    r = client.post("/v1/admin/reload", json={"run_dir": str(mixed), "wait": True})
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "reload_refused"
    assert "model_version" in error["message"]
    assert _version(client) == old
    ok = client.post("/v1/recommend", json={"user_id": "u000018", "k": 5})
    assert ok.status_code == 200
    assert ok.json()["model_version"] == old
    r = client.post("/v1/admin/reload", json={"run_dir": str(tmp_path / "nothing"), "wait": True})
    assert r.status_code == 409


def test_reload_file_triggers_a_background_swap(
    make_client: ClientFactory, other_run_dir: Path
) -> None:
    client = make_client(reload_poll_s=0.05)
    old = _version(client)
    served = client.app.state.holder.current.run_dir  # type: ignore[attr-defined]
    (served / RELOAD_FILE).write_text(str(other_run_dir))
    deadline = time.monotonic() + 30
    while _version(client) == old and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _version(client) != old


def test_requests_in_flight_during_reloads_never_fail(
    make_client: ClientFactory, run_dir: Path, other_run_dir: Path
) -> None:
    client = make_client()
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            statuses.append(client.post("/v1/recommend", json={"user_id": "u000018"}).status_code)

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for w in workers:
        w.start()
    for target in (other_run_dir, run_dir, other_run_dir):
        r = client.post("/v1/admin/reload", json={"run_dir": str(target), "wait": True})
        assert r.status_code == 200
    stop.set()
    for w in workers:
        w.join()
    assert len(statuses) > 10
    assert set(statuses) == {200}


def test_index_in_memory_or_mapped_serves_the_same_feeds(run_dir: Path) -> None:
    from reelrec.config import ServingConfig
    from reelrec.serving.reload import load_run

    paged = load_run(run_dir, ServingConfig(huge_pages=True))
    mapped = load_run(run_dir, ServingConfig(huge_pages=False))
    assert paged.paging is not None
    assert mapped.paging is None
    paged.paging.join(timeout=60)  # started on the mapped index; an in-memory copy swapped in
    assert not paged.rec.index_.mapped
    assert mapped.rec.index_.mapped
    for user in ("u000001", "u000018"):
        a = paged.pipeline.feed(user, 10, [], None, paged.cold, known=True)
        b = mapped.pipeline.feed(user, 10, [], None, mapped.cold, known=True)
        assert a.video_ids == b.video_ids


def test_videos_added_while_the_copy_loads_keep_the_live_index(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from reelrec.config import ServingConfig
    from reelrec.index.faiss_index import FaissIndex
    from reelrec.serving.reload import load_run, to_huge_pages

    loaded = load_run(run_dir, ServingConfig(huge_pages=False))
    live = loaded.rec.index_
    size = live.size
    read = FaissIndex.load

    def read_while_a_video_arrives(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        copy = read.__func__(cls, *args, **kwargs)
        vector = np.ones((1, live.dim), np.float32) / np.sqrt(live.dim)
        live.add(np.array([size + 1000]), vector)  # ingested meanwhile: the copy lacks it
        return copy

    monkeypatch.setattr(FaissIndex, "load", classmethod(read_while_a_video_arrives))
    assert to_huge_pages(loaded) is False
    assert loaded.rec.index_ is live
    assert live.size == size + 1
