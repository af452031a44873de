"""The HTTP edge both ports share: JSON responses, the error envelope, request ids, body limits.

Every error a client sees is `{"error": {"code", "message", "details"}, "request_id"}`
(docs/api.md). Handlers raise `ApiError`; Starlette's own 404/405 and any unexpected exception
are turned into the same envelope here, so no traceback ever reaches a client.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import msgspec
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signals.auth.headers import harden, is_dashboard
from signals.logs import REQUEST_ID
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


def log_unexpected(scope: Scope, exc: Exception) -> None:
    log.error(
        "unhandled error",
        path=scope["path"],
        method=scope["method"],
        exc_info=(type(exc), exc, exc.__traceback__),
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log_unexpected(request.scope, exc)
    return error_response(request.scope, ApiError(500, "internal error; see the server log"))


EXCEPTION_HANDLERS: Mapping[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}


def new_request_id() -> str:
    # 128 bits like uuid4. Not a secret (clients and logs see it): `random` is enough, and at
    # half the cost of os.urandom's system call on every request.
    return f"{random.getrandbits(128):032x}"


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _REQUEST_ID_OK.match(value):
                return value.decode("ascii")
            break
    return new_request_id()


class RequestContext:
    """The edge of every request, as one pure ASGI layer (it is on the hot path of each one):
    the request id in and out (bound to the log lines written meanwhile), the security headers,
    the latency metric, and the error envelope for a failure nothing inside handled.

    Everything else wraps the app it is given: a tracer's span around it, the guards and the
    routes inside it (`signals.webapp.make_app`).
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, port_name: str) -> None:
        self.app = app
        self.latency = metrics.request_latency
        self.port_name = port_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        dashboard = is_dashboard(scope["path"])
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = harden([*message.get("headers", ()), header], dashboard=dashboard)
                message = {**message, "headers": headers}
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if status:
                raise  # the client has a status line already; uvicorn closes the connection
            log_unexpected(scope, exc)
            status = 500
            response = error_response(scope, ApiError(500, "internal error; see the server log"))
            await response(scope, receive, send_with_headers)
        finally:
            REQUEST_ID.reset(token)
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (self.port_name, scope["method"], template, str(status or 500))
            self.latency.observe(labels, time.perf_counter() - started)


def _content_headers(scope: Scope) -> tuple[str, str]:
    """(media type, content coding), lower-cased, from the request's headers."""
    content_type, coding = "", ""
    for name, value in scope["headers"]:
        if name == b"content-type" and not content_type:
            content_type = value.decode("latin-1")
        elif name == b"content-encoding":
            coding = f"{coding},{value.decode('latin-1')}" if coding else value.decode("latin-1")
    return content_type.split(";", 1)[0].strip().lower(), coding.strip().lower()


def require_media_type(scope: Scope, allowed: tuple[str, ...]) -> str:
    """The request's media type if it is one of `allowed` (JSON's +json suffix included), and
    the body is not compressed: a content coding the decoder would ignore has the body misread
    (or worse, read as sent), so it is refused by name (RFC 9110 15.5.16) rather than answered
    400 `malformed_json`. A charset parameter is ignored: JSON is UTF-8 (RFC 8259 11)."""
    media, coding = _content_headers(scope)
    if not (media in allowed or ("application/json" in allowed and media.endswith("+json"))):
        raise ApiError(
            415,
            f"Content-Type must be {' or '.join(allowed)}",
            details=[{"content_type": media or None}],
        )
    if coding and any(part.strip() != "identity" for part in coding.split(",")):
        raise ApiError(
            415,
            "Content-Encoding is not supported: send the body uncompressed",
            details=[{"content_encoding": coding}],
            headers={"Accept-Encoding": "identity"},
        )
    return media


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes, whatever it claims.

    A declared Content-Length over the limit is refused before reading; a chunked body or one
    whose declared length lies is counted while it streams in. Raises ClientDisconnect when the
    client hangs up first.
    """
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > limit:
                raise _too_large(limit)
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"body exceeds {limit} bytes", details=[{"max_body_bytes": limit}])
