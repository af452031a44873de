"""The one Redis client under uvloop (as `signals serve` runs): a pooled connection whose
transport closed under it is a lost connection, not a `RuntimeError` that becomes a 500.

uvloop closes a transport when its socket fails (a reset after Redis went away) before redis-py
has read anything on it; the next command written there raised `RuntimeError: unable to perform
operation on <TCPTransport closed=True ...>`. Aborting the pooled connection's transport (the
socket, not our code) puts a connection in exactly that state on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import redis.asyncio
import uvloop
from tests.support.redis_server import RedisProcess, unique_prefix

from signals.auth.limiter import Limiter
from signals.integrity.episodes.redis_state import SharedEpisodes
from signals.integrity.windows.base import WindowEvent
from signals.integrity.windows.factory import open_windows
from signals.metrics import Metrics
from signals.redis_client import REDIS_FAILURES, open_redis
from signals.settings import RedisSettings, Settings, WindowsSettings


def close_pooled_transports(client: redis.asyncio.Redis) -> int:
    closed = 0
    # redis-py's idle connections and their streams: the state under test is theirs
    for connection in client.connection_pool._available_connections:
        writer = connection._writer
        if writer is not None:
            writer.transport.abort()
            closed += 1
    return closed


def on_uvloop(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    uvloop.run(scenario())


def test_a_closed_transport_is_reconnected_when_redis_is_there() -> None:
    async def scenario() -> None:
        with RedisProcess() as server:
            client = await open_redis(RedisSettings(url=server.url))
            try:
                assert close_pooled_transports(client) == 1
                assert await client.ping() is True  # the one retry reconnects
            finally:
                await client.aclose()

    on_uvloop(scenario)


def test_with_redis_gone_every_call_site_degrades_instead_of_failing() -> None:
    async def scenario() -> None:
        with RedisProcess() as server:
            redis_settings = RedisSettings(url=server.url, key_prefix=unique_prefix())
            settings = Settings(windows=WindowsSettings(backend="redis"), redis=redis_settings)
            client = await open_redis(redis_settings)
            try:
                limiter = Limiter(max_failures=1, redis_client=client)
                windows = await open_windows(settings, Metrics(), client)
                shared = SharedEpisodes(client, redis_settings.key_prefix, 5.0, 60)
                assert await limiter.fail("198.51.100.1") == 0.0
                assert await windows.add([WindowEvent("u", "t", "e1", 1000.0)]) == [1]
                server.stop()
                assert close_pooled_transports(client) >= 1
                # The limiter and the windows fall back to memory; the shared episodes raise
                # what detection catches (see signals.integrity.detection).
                assert await limiter.fail("198.51.100.1") == 0.0
                assert await windows.add([WindowEvent("u", "t", "e2", 1001.0)]) == [1]
                assert windows.status == "degraded"
                with pytest.raises(REDIS_FAILURES):
                    await shared.load([("u", "t")])
                await windows.aclose()
            finally:
                await client.aclose()

    on_uvloop(scenario)
