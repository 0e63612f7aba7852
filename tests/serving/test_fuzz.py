"""Fuzz the API from its own OpenAPI schema (schemathesis, in-process ASGI): never a 5xx.

Bounded for CI: a few dozen generated requests per operation, derandomised by the "ci" profile.
Mutating routes (events, videos, reload) are fuzzed too: their invalid inputs must be 4xx.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import schemathesis.specs.openapi.schemas  # imported at collection: see below
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reelrec.config import ServingConfig
from reelrec.serving.app import create_app
from tests.serving.conftest import TestClient, wait_ready

# The submodule above is imported at collection, not lazily by ``from_asgi`` in the fixture:
# pytest rewrites schemathesis's modules on import, and CPython 3.11.7's compiler raised
# "AST constructor recursion depth mismatch" on that module when it was first imported after
# other tests had run (seen with tests/features or tests/test_recommender run before serving).


@pytest.fixture(scope="module")
def service(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app (model loaded) and its schema as schemathesis reads it."""
    target = tmp_path_factory.mktemp("fuzz") / "run"
    shutil.copytree(run_dir, target)
    app = create_app(target, config=ServingConfig(reload_poll_s=0.0, max_k=50, max_batch=20))
    with TestClient(app) as client:  # runs the lifespan: the model loads once
        wait_ready(client)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield schemathesis.openapi.from_asgi("/openapi.json", app)


OPERATIONS = [
    ("POST", "/v1/recommend"),
    ("POST", "/v1/events"),
    ("POST", "/v1/videos"),
    ("GET", "/v1/similar/{video_id}"),
    ("POST", "/v1/admin/reload"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]


def test_the_schema_lists_every_operation(service: Any) -> None:
    found = {(r.ok().method.upper(), r.ok().path) for r in service.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_server_errors(service: Any, method: str, path: str) -> None:
    operation = service[path][method]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        if path == "/v1/admin/reload" and isinstance(case.body, dict):
            case.body["run_dir"] = None  # reloading other paths is covered in test_reload
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            response = case.call()
        assert response.status_code < 500, (case.method, case.path, case.body, response.text)
        if response.status_code >= 400:
            assert set(response.json()["error"]) >= {"code", "message"}

    fuzz()
