"""Fixtures for the auth tests: a stub app factory on a web dir of its own, and real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from tests.auth.stub import MakeStub, stub_routes
from tests.support.redis_server import drop_keys, running_redis, unique_prefix

from signals.auth.wiring import guards_for
from signals.metrics import Metrics
from signals.probes import Probes
from signals.settings import Settings
from signals.webapp import make_app


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>t</title>")
    (web / "app.js").write_text("console.log('ok');\n")
    (tmp_path / "secret.txt").write_text("outside the web dir")
    return web


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
