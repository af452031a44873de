"""What both ports' Starlette apps share: probes, OpenAPI, the request context, error handling.

App factories take their collaborators as arguments and create nothing themselves, so a test can
build either app around real parts, and the runtime owns every resource.

One request passes, outside in: `RequestContext` (request id, security headers, latency, the
envelope of an unhandled error) -> CORS, when configured -> the guards -> `FastRoutes` (event
POSTs straight to their `JsonEndpoint`) -> Starlette (its error and exception middleware, the
routing table) for everything else. Each layer is pure ASGI; a span or another check wraps
`RequestContext` or joins the guards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from signals.cors import Cors
from signals.endpoints import FastRoutes
from signals.http import EXCEPTION_HANDLERS, JSONResponse, RequestContext
from signals.metrics import Metrics
from signals.probes import Probes
from signals.tracing.base import Tracing


class _App(Starlette):
    """A Starlette app whose own middleware (errors, exceptions, routing) is the innermost part
    of the stack in the module docstring: the request context and the guards sit outside it, so
    a 500 also carries `X-Request-ID` and the headers, and event POSTs skip Starlette; the
    server span (tracing on) sits outside them all."""

    def __init__(
        self,
        *,
        metrics: Metrics,
        port_name: str,
        tracing: Tracing,
        outer: Sequence[Middleware],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._metrics = metrics
        self._port_name = port_name
        self._tracing = tracing
        self._outer = list(outer)

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = FastRoutes(super().build_middleware_stack(), self.routes)
        for cls, args, kwargs in reversed(self._outer):
            app = cls(app, *args, **kwargs)
        context = RequestContext(app, metrics=self._metrics, port_name=self._port_name)
        return self._tracing.wrap(context, self._port_name)


def make_app(
    *,
    port_name: str,
    routes: Sequence[BaseRoute],
    probes: Probes,
    metrics: Metrics,
    openapi: Callable[[], dict[str, Any]],
    cors_origins: Sequence[str] = (),
    guards: Sequence[Middleware] = (),
    tracing: Tracing | None = None,
) -> Starlette:
    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi())

    common = [
        Route("/health", probes.health, methods=["GET"]),
        Route("/ready", probes.ready, methods=["GET"]),
        Route("/metrics", probes.metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                Cors,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                # Every POST takes W3C trace context, and a browser's tracing sends it.
                allow_headers=[
                    *("Content-Type", "X-API-Key", "Authorization", "X-Request-ID"),
                    *("traceparent", "tracestate"),
                ],
                expose_headers=["X-Request-ID", "Retry-After"],
            )
        )
    middleware.extend(guards)
    return _App(
        metrics=metrics,
        port_name=port_name,
        outer=middleware,
        tracing=tracing or Tracing(),
        routes=[*routes, *common],
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
