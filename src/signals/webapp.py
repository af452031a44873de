"""What both ports' Starlette apps share: probes, OpenAPI, the request context, error handling.

App factories take their collaborators as arguments and create nothing themselves, so a test can
build either app around real parts, and the runtime owns every resource.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from signals.http import EXCEPTION_HANDLERS, JSONResponse, RequestContext
from signals.metrics import Metrics
from signals.probes import Probes

# An ASGI middleware class plus its keyword arguments, e.g. the auth guard.
Guard = Callable[..., Any]


def make_app(
    *,
    port_name: str,
    routes: Sequence[BaseRoute],
    probes: Probes,
    metrics: Metrics,
    openapi: Callable[[], dict[str, Any]],
    cors_origins: Sequence[str] = (),
    guards: Sequence[Middleware] = (),
) -> Starlette:
    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi())

    common = [
        Route("/health", probes.health, methods=["GET"]),
        Route("/ready", probes.ready, methods=["GET"]),
        Route("/metrics", probes.metrics, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
    middleware = [Middleware(RequestContext, metrics=metrics, port_name=port_name)]
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Content-Type", "X-API-Key", "Authorization", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
            )
        )
    middleware.extend(guards)
    return Starlette(
        routes=[*routes, *common],
        middleware=middleware,
        exception_handlers=dict(EXCEPTION_HANDLERS),
    )
