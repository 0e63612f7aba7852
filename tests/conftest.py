"""Shared test helpers: the public sample datasets in ``../shared/data`` (skipped when absent)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests are derandomised (same examples in every run) and free of per-example deadlines,
# which a loaded 2-core CI machine would otherwise trip on the first torch/polars call.
settings.register_profile("ci", deadline=None, derandomize=True, max_examples=100)
settings.register_profile("dev", deadline=None, max_examples=50)
settings.load_profile(os.environ.get("REELREC_HYPOTHESIS_PROFILE", "ci"))


def shared_data_root() -> Path:
    """``$REELREC_SHARED_DATA``, else ``shared/data`` next to the repository root."""
    env = os.environ.get("REELREC_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_dataset(name: str) -> Path:
    """The folder of shared dataset ``name``; skips the calling test when it is absent."""
    path = shared_data_root() / name
    if not path.is_dir():
        pytest.skip(f"shared dataset {name!r} not found at {path} (set REELREC_SHARED_DATA)")
    return path


@pytest.fixture
def shared_data() -> Callable[[str], Path]:
    """``shared_data("movielens-100k")`` → the folder, or a clean skip when it is absent."""
    return shared_dataset


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the ``shared_data`` fixture with ``@pytest.mark.shared_data``."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


@pytest.fixture(scope="session")
def tiny_world():  # type: ignore[no-untyped-def]
    """The tiny synthetic world (seed 0), generated once per session."""
    from reelrec.data.synthetic import make_world

    return make_world("tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_split(tiny_world):  # type: ignore[no-untyped-def]
    """(train dataset, test interactions) of the tiny world, split by time at 90%."""
    from reelrec.data.splits import split_by_time

    train, test = split_by_time(tiny_world.dataset.interactions, 0.1)
    return tiny_world.dataset.with_interactions(train), test


@pytest.fixture(scope="session")
def tiny_config():  # type: ignore[no-untyped-def]
    """configs/tiny.toml."""
    from reelrec.config import load_config

    return load_config(Path(__file__).resolve().parents[1] / "configs" / "tiny.toml")


@pytest.fixture(scope="session")
def tiny_rec(tiny_split, tiny_config):  # type: ignore[no-untyped-def]
    """A Recommender fitted on the tiny world's training split."""
    from reelrec.recommender import Recommender

    return Recommender.from_config(tiny_config).fit(tiny_split[0])


@pytest.fixture(scope="module")
def one_faiss_thread() -> Iterator[None]:
    """One OpenMP thread, as in a serving worker (and no spin-waiting on a busy CI box)."""
    import faiss

    from reelrec.index import set_faiss_threads

    before = faiss.omp_get_max_threads()
    set_faiss_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="session")
def _redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``$REELREC_TEST_REDIS_URL``, else a loopback redis-server of our own (skip without one)."""
    import shutil
    import subprocess

    url = os.environ.get("REELREC_TEST_REDIS_URL")
    if url:
        yield url
        return
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed and REELREC_TEST_REDIS_URL not set")
    script = Path(__file__).resolve().parents[1] / "scripts" / "redis.sh"
    state = tmp_path_factory.mktemp("redis") / "server"
    started = subprocess.run(
        ["bash", str(script), "start", str(state)], capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        pytest.skip(f"could not start redis-server: {started.stderr.strip()}")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", str(script), "stop", str(state)], check=False)


@pytest.fixture
def redis_url(_redis_server: str) -> Iterator[str]:
    """URL of a real Redis whose database is flushed before and after each test."""
    import redis

    client = redis.Redis.from_url(_redis_server)
    client.flushdb()
    yield _redis_server
    client.flushdb()
    client.close()
