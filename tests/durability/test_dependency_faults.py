"""No dependency fault is a 500, shown on a real `signals serve` (uvloop, as shipped).

- Redis killed with `kill -9` under load, with API keys (the limiter calls Redis on keyless
  requests) and Redis windows (the consumer calls it for every batch): every request is
  answered 2xx or 401, none 5xx, during the outage and after Redis comes back.
- PostgreSQL lost while serving (a proxy in front of it is cut: connections reset, new ones
  refused): ingest keeps acknowledging, since the journal has the events; queries answer 503
  `unavailable` with Retry-After; `/ready` says degraded; once it is back, the backlog is stored.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from tests.integrity.detection.support import eventually
from tests.support.postgres_server import skip_reason, temporary_schema
from tests.support.redis_server import RedisProcess, unique_prefix
from tests.support.service import ServiceProcess
from tests.support.tcp_proxy import TcpProxy

from signals.auth.keys import keygen

pytestmark = pytest.mark.slow

WORKERS = 16


class Load:
    """Clients posting events (with a key, and without one) and reading, counting statuses."""

    def __init__(self, base: str, key: str) -> None:
        self._base = base
        self._key = key
        self.statuses: collections.Counter[int] = collections.Counter()
        self.bodies: list[str] = []
        self.stop = asyncio.Event()

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    async def worker(self, client: httpx.AsyncClient, n: int) -> None:
        keyed = {"X-API-Key": self._key}
        while not self.stop.is_set():
            event = {"user_id": f"user-{n % 4}", "signal_type": "chat", "text": "help me"}
            if n % 4 == 0:  # keyless: the limiter asks Redis whether the address is blocked
                response = await client.post("/v1/log", json=event)
            elif n % 4 == 1:
                response = await client.get("/v1/signals", headers=keyed, params={"limit": 5})
            else:
                response = await client.post("/v1/log", json=event, headers=keyed)
            self.statuses[response.status_code] += 1
            if response.status_code >= 500:
                self.bodies.append(response.text)

    async def until(self, total: int) -> None:
        await eventually(lambda: _true(self.answered >= total), within=120.0)


@contextlib.asynccontextmanager
async def running_load(base: str, key: str) -> AsyncIterator[Load]:
    load = Load(base, key)
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        tasks = [asyncio.create_task(load.worker(client, n)) for n in range(WORKERS)]
        try:
            yield load
        finally:
            load.stop.set()
            await asyncio.gather(*tasks)


async def _true(value: bool) -> bool:
    return value


def with_key(service: ServiceProcess, stanza: str) -> None:
    service.config.write_text(service.config.read_text() + "\n" + stanza + "\n")


async def test_redis_killed_under_load_answers_no_5xx(tmp_path: Path) -> None:
    key, stanza = keygen("loader", ["ingest", "read"])
    with RedisProcess() as redis_server:
        service = ServiceProcess(tmp_path, {
            "windows": {"backend": "redis"},
            "redis": {"url": redis_server.url, "key_prefix": unique_prefix(),
                      "timeout_seconds": 0.5, "retry_seconds": 0.2},
            "auth": {"max_failures": 1_000_000},  # keyless requests: 401, never 429
        })  # fmt: skip
        with_key(service, stanza)
        try:
            await asyncio.to_thread(service.start)
            async with running_load(service.ingest, key) as load:
                await load.until(200)
                redis_server.stop()  # SIGKILL, while requests are in flight
                await load.until(load.answered + 600)
                redis_server.start()  # the same port
                await load.until(load.answered + 600)
        finally:
            service.__exit__()
    assert load.bodies == []
    assert set(load.statuses) <= {200, 202, 401}, load.statuses
    assert '"unhandled error"' not in service.logs()
    assert load.statuses[202] > 0 and load.statuses[401] > 0


def proxied(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    where = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{where}" if len(netloc) == 2 else where))


async def expect_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == "unavailable"
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.postgres
async def test_postgres_lost_while_serving_keeps_ingest_and_answers_503(tmp_path: Path) -> None:
    reason = await skip_reason()
    if reason is not None:
        pytest.skip(reason)
    async with temporary_schema() as url:
        target = urlsplit(url)
        proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
        store = {"backend": "postgres", "url": proxied(url, proxy.port)}
        service = ServiceProcess(tmp_path, {"store": store})
        try:
            await asyncio.to_thread(service.start)
            async with (
                httpx.AsyncClient(base_url=service.ingest, timeout=30) as ingest,
                httpx.AsyncClient(base_url=service.integrity, timeout=30) as integrity,
            ):
                event = {"user_id": "pg", "signal_type": "chat", "text": "fine"}
                assert (await ingest.post("/v1/log", json=event)).status_code == 202
                assert (await ingest.get("/v1/signals")).status_code == 200

                await proxy.cut()
                accepted = []
                for _ in range(5):
                    response = await ingest.post("/v1/log", json=event)
                    assert response.status_code == 202, response.text
                    accepted.append(response.json()["event_id"])
                await expect_unavailable(await ingest.get("/v1/signals"))
                await expect_unavailable(await ingest.get("/v1/signals/export"))
                await expect_unavailable(await ingest.get("/v1/stats"))
                await expect_unavailable(await integrity.get("/v1/anomalies"))
                await expect_unavailable(await integrity.get("/v1/alerts"))
                ready = await ingest.get("/ready")
                assert ready.status_code == 200, ready.text
                assert ready.json()["checks"]["store"]["status"] == "degraded"

                await proxy.restore()

                async def all_stored() -> bool:
                    response = await ingest.get("/v1/signals", params={"limit": 100})
                    if response.status_code != 200:
                        return False
                    ids = {item["event_id"] for item in response.json()["items"]}
                    return set(accepted) <= ids

                await eventually(all_stored, within=60.0, every=0.2)
            assert await asyncio.to_thread(service.stop) == 0
        finally:
            service.__exit__()
            await proxy.aclose()
    assert '"unhandled error"' not in service.logs()
