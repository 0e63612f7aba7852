"""The one mapping from error class to HTTP status and stable error code.

Every error body is ``{"error": {"code": …, "message": …}}`` (plus ``detail`` for validation).
Request validation and ``DataError`` → 422; an unknown video on an item route → 404;
``NotFittedError``/``IndexStateError``/``StoreError`` → 503; a refused reload → 409; a body over
``serving.max_body_bytes`` → 413; anything else → 500 without a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from reelrec.errors import (
    ArtifactError,
    ConfigError,
    DataError,
    IndexStateError,
    NotFittedError,
    ReelrecError,
    StoreError,
    UnknownIdError,
)

log = logging.getLogger(__name__)

# (class, HTTP status, code), most specific first.
ERROR_MAP: tuple[tuple[type[Exception], int, str], ...] = (
    (UnknownIdError, 404, "unknown_video"),
    (DataError, 422, "invalid_data"),
    (ConfigError, 422, "invalid_config"),
    (NotFittedError, 503, "not_ready"),
    (IndexStateError, 503, "index_unavailable"),
    (StoreError, 503, "store_unavailable"),
    (ArtifactError, 409, "artifact_refused"),
)
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


class ServiceError(Exception):
    """An error the service raises itself, with its status and code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(
    status: int, code: str, message: str, detail: list[dict[str, Any]] | None = None
) -> Response:
    """The JSON error body with ``status``."""
    body: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return Response(
        json.dumps({"error": body}, default=str), status_code=status, media_type="application/json"
    )


def status_of(exc: BaseException) -> tuple[int, str]:
    """``(status, code)`` for a reelrec error; ``(500, "internal")`` for anything else."""
    for cls, status, code in ERROR_MAP:
        if isinstance(exc, cls):
            return status, code
    return 500, "internal"


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def _validation(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(tuple(e.get("loc", ()))), "type": e.get("type"), "msg": e.get("msg")}
        for e in exc.errors()
    ]
    message = "; ".join(f"{e['field']}: {e['msg']}" for e in errors[:5]) or "invalid request"
    return error_response(422, "invalid_request", message, errors)


async def _http(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, code, str(exc.detail))


async def _service(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, exc.code, exc.message)


async def _reelrec(_: Request, exc: Exception) -> Response:
    status, code = status_of(exc)
    return error_response(status, code, str(exc))


async def _internal(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal", "internal error; see the service log")


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(ServiceError, _service)
    app.add_exception_handler(ReelrecError, _reelrec)
    app.add_exception_handler(Exception, _internal)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` (declared or streamed) is answered 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        if declared is not None:  # the server holds the body to its declared length
            await self.app(scope, receive, send)
            return
        # Streamed (chunked) body: read it up to the limit first, then replay it to the app.
        messages, seen, more = [], 0, True
        while more:
            message = await receive()
            messages.append(message)
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            more = message.get("type") == "http.request" and message.get("more_body", False)
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    def _message(self) -> str:
        return f"request body over {self.max_bytes} bytes (serving.max_body_bytes); split it"

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(413, "body_too_large", self._message())(scope, receive, send)
