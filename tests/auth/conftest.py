"""Fixtures for the auth tests: both ports' route paths behind the real guard and headers.

`make_stub` builds an app with `signals.webapp.make_app` (the real request context, error
envelope, probes and static files) and handlers that only answer 200/202, wired with the same
`guards_for` the runtime uses, so the guard sees exactly what it sees in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from signals.auth.keys import digest
from signals.auth.wiring import guards_for
from signals.http import JSONResponse
from signals.metrics import Metrics
from signals.probes import Probes
from signals.settings import ApiKey, AuthSettings, RedisSettings, Settings, WindowsSettings
from signals.webapp import make_app
from support.redis_server import drop_keys, running_redis, unique_prefix

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


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    (web / "app.js").write_text("console.log('ok');\n")
    (tmp_path / "secret.txt").write_text("outside the web dir")
    return web


MakeStub = Callable[..., Starlette]


@pytest.fixture
def make_stub(web_dir: Path) -> MakeStub:
    def make(
        settings: Settings,
        metrics: Metrics | None = None,
        redis_client: redis.asyncio.Redis | None = None,
        guards: list[Middleware] | None = None,
    ) -> Starlette:
        metrics = metrics or Metrics()
        return make_app(
            port_name="stub",
            routes=stub_routes(web_dir),
            probes=Probes(metrics=metrics, checks={}),
            metrics=metrics,
            openapi=lambda: {"openapi": "3.1.0"},
            guards=guards_for(settings, metrics, redis_client) if guards is None else guards,
        )

    return make


def client_for(app: Starlette, address: str = "192.0.2.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    await drop_keys(redis_url, prefix)


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.from_url(redis_url, socket_timeout=5)
    yield client
    await client.aclose()


def redis_settings(prefix: str, keys: list[ApiKey] | None = None, **auth: Any) -> Settings:
    return Settings(
        auth=AuthSettings(keys=KEYS if keys is None else keys, **auth),
        redis=RedisSettings(key_prefix=prefix),
        windows=WindowsSettings(backend="redis"),
    )
