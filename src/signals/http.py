"""The HTTP edge both ports share: JSON responses, the error envelope, request ids, body limits.

Every error a client sees is `{"error": {"code", "message", "details"}, "request_id"}`
(docs/api.md). Handlers raise `ApiError`; Starlette's own 404/405 and any unexpected exception
are turned into the same envelope here, so no traceback ever reaches a client.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import msgspec
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signals.metrics import Metrics

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID_OK = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_encoder = msgspec.json.Encoder()

STATUS_CODES = {
    400: "malformed_json",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal",
    503: "overloaded",
}
# Every code a client can see: the defaults above, and those raised by name.
ERROR_CODES = frozenset({*STATUS_CODES.values(), "unavailable", "invalid_host"})
# How long a client should wait after 503 `unavailable`: a disk that fills up or a database
# that restarts takes seconds to come back, not milliseconds.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5


class JSONResponse(Response):
    """A response rendered with the shared msgspec encoder (Structs, dicts, lists)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str
    details: list[Any] = []


class ErrorEnvelope(msgspec.Struct, frozen=True):
    error: ErrorBody
    request_id: str


class ApiError(Exception):
    """An error with its HTTP status, contract code, message and details."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: Iterable[Any] = (),
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or STATUS_CODES.get(status, "error")
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


def unavailable(message: str) -> ApiError:
    """503 `unavailable`: a dependency (the journal's disk, the store) cannot be used now; nothing
    of the request was done."""
    seconds = UNAVAILABLE_RETRY_AFTER_SECONDS
    return ApiError(
        503,
        message,
        code="unavailable",
        details=[{"retry_after": seconds}],
        headers={"Retry-After": str(seconds)},
    )


def request_id_of(scope: Scope) -> str:
    state = scope.get("state") or {}
    return str(state.get("request_id", ""))


def error_response(scope: Scope, error: ApiError) -> JSONResponse:
    body = ErrorEnvelope(
        error=ErrorBody(code=error.code, message=error.message, details=error.details),
        request_id=request_id_of(scope),
    )
    return JSONResponse(body, status_code=error.status, headers=error.headers)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(request.scope, exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "no such resource", 405: f"method {request.method} not allowed here"}
    headers = dict(exc.headers or {})
    error = ApiError(exc.status_code, messages.get(exc.status_code, exc.detail), headers=headers)
    return error_response(request.scope, error)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.error(
        "unhandled error",
        path=request.url.path,
        method=request.method,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return error_response(request.scope, ApiError(500, "internal error; see the server log"))


EXCEPTION_HANDLERS: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}


def new_request_id() -> str:
    # 128 random bits like uuid4, without uuid's object construction on every request.
    return os.urandom(16).hex()


class RequestContext:
    """Pure ASGI middleware: request id in and out, bound to every log line; latency metric.

    Pure ASGI rather than BaseHTTPMiddleware because it sits on the hot path of every request.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, port_name: str) -> None:
        self.app = app
        self.metrics = metrics
        self.port_name = port_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == REQUEST_ID_HEADER:
                if _REQUEST_ID_OK.match(value):
                    request_id = value.decode("ascii")
                break
        request_id = request_id or new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.request_latency.labels(
                self.port_name, scope["method"], template, str(status)
            ).observe(time.perf_counter() - started)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_media_type(request: Request, allowed: tuple[str, ...]) -> str:
    """The request's media type if it is one of `allowed` (JSON's +json suffix included)."""
    media = _media_type(request)
    if media in allowed or ("application/json" in allowed and media.endswith("+json")):
        return media
    raise ApiError(
        415,
        f"Content-Type must be {' or '.join(allowed)}",
        details=[{"content_type": media or None}],
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes, whatever it claims.

    A declared Content-Length over the limit is refused before reading; a chunked body or one
    whose declared length lies is counted while it streams in.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"body exceeds {limit} bytes", details=[{"max_body_bytes": limit}])
