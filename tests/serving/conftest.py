"""Serving fixtures: a saved tiny run directory, a second model's run, and app clients."""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about httpx on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from reelrec.config import ServingConfig
from reelrec.recommender import Recommender
from reelrec.serving.app import create_app

ClientFactory = Callable[..., TestClient]


@pytest.fixture(scope="session")
def run_dir(tiny_rec, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """The tiny recommender saved (with its index) as a run directory."""
    return tiny_rec.save(tmp_path_factory.mktemp("serving") / "run_a")


@pytest.fixture(scope="session")
def other_run_dir(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second, different model (perturbed weights, new version, re-built index)."""
    import torch

    rec = Recommender.load(run_dir)
    with torch.no_grad():
        for p in rec.model_.parameters():
            p.add_(torch.randn_like(p, generator=torch.Generator().manual_seed(1)) * 0.01)
    rec.model_version_ = rec._version()
    rec.build_index()
    return rec.save(tmp_path_factory.mktemp("serving") / "run_b")


def wait_ready(client: TestClient, timeout_s: float = 30.0) -> dict[str, object]:
    """Poll /readyz until the model is loaded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.get("/readyz")
        if r.status_code == 200:
            return r.json()  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError(f"service not ready after {timeout_s} s: {r.json()}")


@pytest.fixture
def make_client(run_dir: Path, tmp_path: Path) -> Iterator[ClientFactory]:
    """``make_client(**serving_overrides)`` → a ready TestClient on a private copy of the run."""
    opened: list[TestClient] = []

    def make(source: Path | None = None, **overrides: object) -> TestClient:
        target = tmp_path / f"run{len(opened)}"
        shutil.copytree(source or run_dir, target)
        cfg = ServingConfig(**{"reload_poll_s": 0.0, **overrides})  # type: ignore[arg-type]
        client = TestClient(create_app(target, config=cfg))
        client.__enter__()
        opened.append(client)
        wait_ready(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
