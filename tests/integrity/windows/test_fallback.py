"""Redis lost while running (docs/semantics.md): no event lost, memory takes over, one log, a
metric.

Each test runs a redis-server of its own on its own port, so killing it touches nobody else.
The retry clock is a manual one, so "retry_seconds later" needs no sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import pytest
import redis.asyncio
from structlog.testing import capture_logs
from tests.integrity.windows.samples import BASE
from tests.support.redis_server import RedisProcess

from signals.integrity.windows.base import WindowEvent, WindowsStatus
from signals.integrity.windows.fallback import FallbackWindows
from signals.integrity.windows.memory import MemoryWindows
from signals.integrity.windows.redis import RedisWindows
from signals.metrics import Metrics
from signals.settings import RedisSettings, WindowsSettings

Logs = list[MutableMapping[str, Any]]
WINDOWS = WindowsSettings(seconds=5.0, ttl_seconds=60)
RETRY_SECONDS = 2.0


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rig:
    """A FallbackWindows over a Redis of its own, and what to look at while it runs."""

    def __init__(self, server: RedisProcess, timeout: float = 1.0) -> None:
        self.server = server
        self.metrics = Metrics()
        self.clock = ManualClock()
        self.memory = MemoryWindows(WINDOWS)
        client = redis.asyncio.from_url(server.url, socket_timeout=timeout)
        self.primary = RedisWindows(client, WINDOWS, "test")
        self.windows = FallbackWindows(
            self.primary, self.memory, self.metrics,
            RedisSettings(url=server.url, retry_seconds=RETRY_SECONDS),
            url=server.url, clock=self.clock,
        )  # fmt: skip

    async def close(self) -> None:
        await self.windows.aclose()
        await self.primary.client.aclose()  # the windows borrow it

    def status(self) -> WindowsStatus:
        return self.windows.status  # a call, so a type checker does not pin it after one assert

    def metric(self, name: str) -> float | None:
        return self.metrics.registry.get_sample_value(name)

    async def held_in_redis(self, user_id: str) -> int:
        client = redis.asyncio.from_url(self.server.url)
        try:
            return int(await client.zcard(self.primary.key(user_id, "t")))
        finally:
            await client.aclose()


def events(user_id: str, start: int, stop: int) -> list[WindowEvent]:
    return [
        WindowEvent(user_id, "t", f"{user_id}-{i}", BASE + i * 0.01) for i in range(start, stop)
    ]


def levels(logs: Logs, level: str) -> list[str]:
    return [entry["event"] for entry in logs if entry["log_level"] == level]


@pytest.fixture
def server() -> Iterator[RedisProcess]:
    with RedisProcess() as server:
        yield server


@pytest.fixture
async def logs() -> AsyncIterator[Logs]:
    with capture_logs() as captured:
        yield captured


@pytest.fixture
async def rig(server: RedisProcess, logs: Logs) -> AsyncIterator[Rig]:
    rig = Rig(server)
    yield rig
    await rig.close()


async def test_redis_killed_mid_run_then_restarted(rig: Rig, logs: Logs) -> None:
    windows = rig.windows
    assert await windows.add(events("u", 0, 3)) == [1, 2, 3]
    assert (rig.status(), rig.metric("signals_windows_degraded")) == ("ok", 0)

    rig.server.stop()
    assert await windows.add(events("u", 3, 5)) == [1, 2]  # memory starts at the outage
    assert rig.status() == "degraded"
    assert rig.metric("signals_windows_fallbacks_total") == 1
    assert rig.metric("signals_windows_degraded") == 1
    assert await windows.add(events("u", 5, 6) + events("v", 0, 1)) == [3, 1]

    rig.clock.now += RETRY_SECONDS  # a retry is due, but Redis is still down
    assert await windows.add(events("u", 6, 7)) == [4]
    assert rig.status() == "degraded"
    assert levels(logs, "error") == ["redis windows lost; counting in memory until redis is back"]
    assert logs[0]["redis"] == rig.server.url
    assert rig.metric("signals_windows_fallbacks_total") == 1

    rig.server.start()  # same port, empty (no persistence)
    assert await windows.add(events("u", 7, 8)) == [5]  # the next retry is not due yet
    assert rig.status() == "degraded"

    rig.clock.now += RETRY_SECONDS
    assert await windows.add(events("u", 8, 9)) == [6]  # from Redis, holding the outage's events
    assert rig.status() == "ok"
    assert rig.metric("signals_windows_degraded") == 0
    assert levels(logs, "info") == ["redis windows restored"]
    assert await rig.held_in_redis("u") == 6
    assert await rig.held_in_redis("v") == 1
    assert rig.memory.key_count == 0
    assert await windows.add(events("u", 9, 10)) == [7]
    assert levels(logs, "error") == ["redis windows lost; counting in memory until redis is back"]


async def test_a_second_outage_is_logged_and_counted_again(rig: Rig, logs: Logs) -> None:
    for outage in (1, 2):
        rig.server.stop()
        assert await rig.windows.add(events(f"u{outage}", 0, 2)) == [1, 2]
        rig.server.start()
        rig.clock.now += RETRY_SECONDS
        assert await rig.windows.add(events(f"u{outage}", 2, 3)) == [3]
        assert rig.status() == "ok"
    assert len(levels(logs, "error")) == 2
    assert len(levels(logs, "info")) == 2
    assert rig.metric("signals_windows_fallbacks_total") == 2


async def test_concurrent_batches_during_an_outage_count_exactly_and_log_once(
    rig: Rig, logs: Logs
) -> None:
    await rig.windows.add(events("warm", 0, 1))
    rig.server.stop()

    async def caller(n: int) -> list[int]:
        return await rig.windows.add(events("u", n * 5, n * 5 + 5))

    results = await asyncio.gather(*(caller(n) for n in range(20)))
    assert sorted(count for counts in results for count in counts) == list(range(1, 101))
    assert len(levels(logs, "error")) == 1
    assert rig.metric("signals_windows_fallbacks_total") == 1


async def test_a_hung_redis_times_out_into_memory(server: RedisProcess, logs: Logs) -> None:
    rig = Rig(server, timeout=0.2)
    try:
        assert await rig.windows.add(events("u", 0, 1)) == [1]
        server.pause()
        assert await rig.windows.add(events("u", 1, 3)) == [1, 2]
        assert rig.status() == "degraded"
        assert "TimeoutError" in logs[0]["error"]
        server.resume()
        rig.clock.now += RETRY_SECONDS
        assert await rig.windows.add(events("u", 3, 4)) == [4]  # Redis: 1 before, 2 replayed, this
        assert rig.status() == "ok"
    finally:
        server.resume()
        await rig.close()
