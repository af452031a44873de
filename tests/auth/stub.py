"""What the auth tests share: test keys, settings, and an app with both ports' route paths.

The app is built with `signals.webapp.make_app` (the real request context, error envelope,
probes and static files) around handlers that only answer 200/202, wired with the same
`guards_for` the runtime uses, so the guard sees exactly what it sees in production.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from signals.auth.keys import digest
from signals.http import JSONResponse
from signals.settings import ApiKey, AuthSettings, RedisSettings, Settings, WindowsSettings

INGEST_KEY = "sk_ingest-test-key-0123456789"
READ_KEY = "sk_read-test-key-0123456789"
ADMIN_KEY = "sk_admin-test-key-0123456789"
KEYS = [
    ApiKey(name="writer", sha256=digest(INGEST_KEY), scopes=["ingest"]),
    ApiKey(name="reader", sha256=digest(READ_KEY), scopes=["read"]),
    ApiKey(name="root", sha256=digest(ADMIN_KEY), scopes=["admin"]),
]


def settings_with(
    keys: list[ApiKey] | None = None, *, redis_prefix: str = "signals", **auth: Any
) -> Settings:
    return Settings(
        auth=AuthSettings(keys=KEYS if keys is None else keys, **auth),
        redis=RedisSettings(key_prefix=redis_prefix),
    )


async def accepted(request: Request) -> Response:
    return JSONResponse({"ok": True, "api_key": request.scope["state"].get("api_key")}, 202)


async def answered(request: Request) -> Response:
    return JSONResponse({"ok": True, "api_key": request.scope["state"].get("api_key")})


def stub_routes(web_dir: Path) -> list[BaseRoute]:
    async def dashboard(request: Request) -> Response:
        return FileResponse(web_dir / "index.html", media_type="text/html; charset=utf-8")

    return [
        Route("/v1/log", accepted, methods=["POST"]),
        Route("/log", accepted, methods=["POST"]),
        Route("/v1/log/batch", accepted, methods=["POST"]),
        Route("/v1/signals", answered, methods=["GET"]),
        Route("/v1/signals/export", answered, methods=["GET"]),
        Route("/v1/stats", answered, methods=["GET"]),
        Route("/v1/events", accepted, methods=["POST"]),
        Route("/v1/validate", answered, methods=["POST"]),
        Route("/v1/anomalies", answered, methods=["GET"]),
        Route("/v1/anomalies/{user_id:path}", answered, methods=["GET"]),
        Route("/v1/alerts", answered, methods=["GET"]),
        Route("/", dashboard, methods=["GET"]),
        Mount("/static", StaticFiles(directory=web_dir, check_dir=False), name="static"),
    ]


MakeStub = Callable[..., Starlette]


def client_for(app: Starlette, address: str = "192.0.2.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


def redis_settings(prefix: str, keys: list[ApiKey] | None = None, **auth: Any) -> Settings:
    return Settings(
        auth=AuthSettings(keys=KEYS if keys is None else keys, **auth),
        redis=RedisSettings(key_prefix=prefix),
        windows=WindowsSettings(backend="redis"),
    )
