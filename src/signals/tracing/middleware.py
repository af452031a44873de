"""The server span around each request, while tracing is on (`OtelTracing.wrap`).

Pure ASGI, outside everything else, so the span covers the whole request, a 500 included. It
continues the caller's `traceparent` (and `tracestate`) when valid and starts a trace otherwise
(a malformed one is ignored, never refused); the request's records keep the span's own context
(`scope["state"]["trace"]`). Named `<METHOD> <route template>` once the route is known.
"""

from __future__ import annotations

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signals.tracing.base import STATE_KEY
from signals.tracing.contexts import fail, parent_context, traceparent_of
from signals.tracing.traceparent import from_headers


class ServerSpans:
    def __init__(self, app: ASGIApp, tracer: Tracer, port_name: str) -> None:
        self.app = app
        self.tracer = tracer
        self.port_name = port_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        caller, tracestate = from_headers(scope["headers"])
        method = scope["method"]
        span = self.tracer.start_span(
            method,
            context=parent_context(caller, tracestate),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "url.path": scope["path"],
                "url.scheme": scope.get("scheme", "http"),
                "signals.port": self.port_name,
            },
        )
        state = scope.setdefault("state", {})
        state[STATE_KEY] = traceparent_of(span)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            fail(span, exc)
            raise
        finally:
            template = getattr(scope.get("route"), "path", None)
            if template:
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
            span.set_attribute("http.response.status_code", status)
            if "request_id" in state:
                span.set_attribute("signals.request_id", str(state["request_id"]))
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            span.end()
