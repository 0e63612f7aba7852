"""Shared test helpers: the public sample datasets in ``../shared/data`` (skipped when absent)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest


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
