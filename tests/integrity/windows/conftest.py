"""Fixtures for the windows tests: a real Redis, and windows of either backend to order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio
from tests.integrity.windows.samples import MakeWindows
from tests.support.redis_server import drop_keys, running_redis, unique_prefix

from signals.integrity.windows.base import Windows
from signals.integrity.windows.memory import MemoryWindows
from signals.integrity.windows.redis import RedisWindows
from signals.settings import WindowsSettings


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_windows(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[MakeWindows]:
    """`await make_windows(seconds=..., ttl_seconds=...)`: windows of this test's backend.

    Redis windows get a key prefix of their own; their keys are dropped after the test.
    """
    made: list[Windows] = []
    prefix = unique_prefix()
    url = str(request.getfixturevalue("redis_url")) if backend == "redis" else ""

    async def make(seconds: float = 5.0, ttl_seconds: int = 60, max_keys: int = 100_000) -> Windows:
        config = WindowsSettings(seconds=seconds, ttl_seconds=ttl_seconds, max_keys=max_keys)
        windows: Windows
        if backend == "redis":
            windows = RedisWindows(redis.asyncio.from_url(url, socket_timeout=5), config, prefix)
        else:
            windows = MemoryWindows(config)
        made.append(windows)
        return windows

    yield make
    for windows in made:
        await windows.aclose()
        if isinstance(windows, RedisWindows):
            await windows.client.aclose()  # the windows borrow it
    if url:
        await drop_keys(url, prefix)
