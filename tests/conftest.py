"""Fixtures shared by the service tests: the real service, in this test's event loop.

`live` opens every resource as `signals serve` does (store, journal, windows, consumer) and
serves both apps with real uvicorn servers on ephemeral ports, so requests cross a real socket
(body limits, chunked bodies and lying Content-Lengths behave as they do in production).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from signals.runtime import Services, open_services
from signals.settings import Settings, load


def settings_for(tmp_path: Path, **environ: str) -> Settings:
    """Defaults, a data_dir in tmp_path, and SIGNALS__SECTION__KEY-style overrides."""
    env = {"SIGNALS__DATA_DIR": str(tmp_path / "data")}
    env.update({f"SIGNALS__{key.upper()}": value for key, value in environ.items()})
    return load(None, env)


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]  # uvicorn's own signature
        yield


@contextlib.asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    server = _QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off",
                       access_log=False)
    )  # fmt: skip
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Live:
    services: Services
    ingest: httpx.AsyncClient
    integrity: httpx.AsyncClient
    ingest_url: str
    integrity_url: str

    async def settle(self) -> None:
        """Wait (at most 10 s) until the consumer has stored everything journaled so far."""
        journal = self.services.local
        assert journal is not None, "settle() follows the local journal"
        async with asyncio.timeout(10):
            while self.services.consumer.position < journal.committed:
                await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def live_service(settings: Settings) -> AsyncIterator[Live]:
    async with (
        open_services(settings) as services,
        serving(services.ingest_app) as ingest_url,
        serving(services.integrity_app) as integrity_url,
        httpx.AsyncClient(base_url=ingest_url, timeout=30) as ingest,
        httpx.AsyncClient(base_url=integrity_url, timeout=30) as integrity,
    ):
        yield Live(services, ingest, integrity, ingest_url, integrity_url)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_service(settings_for(tmp_path)) as service:
        yield service
