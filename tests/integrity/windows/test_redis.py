"""What only the Redis backend promises: shared exact counts, one round trip, safe keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio
from tests.integrity.windows.samples import BASE, TRICKY_USERS
from tests.support.redis_server import RedisProcess, drop_keys, unique_prefix

from signals.instants import micros
from signals.integrity.windows.base import WindowEvent
from signals.integrity.windows.redis import RedisWindows
from signals.settings import WindowsSettings

SETTINGS = WindowsSettings(seconds=5.0, ttl_seconds=60)


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = unique_prefix()
    yield prefix
    await drop_keys(redis_url, prefix)


def windows_at(url: str, prefix: str) -> RedisWindows:
    return RedisWindows(redis.asyncio.from_url(url, socket_timeout=5), SETTINGS, prefix)


async def close(windows: RedisWindows) -> None:
    await windows.aclose()
    await windows.client.aclose()  # the windows borrow it


async def evalsha_calls(client: redis.asyncio.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_two_clients_sharing_redis_see_the_combined_count(
    redis_url: str, prefix: str
) -> None:
    first, second = windows_at(redis_url, prefix), windows_at(redis_url, prefix)
    try:
        a = await first.add([WindowEvent("u", "t", "a1", BASE), WindowEvent("u", "t", "a2", BASE)])
        b = await second.add([WindowEvent("u", "t", "b1", BASE + 1)])
        c = await first.add([WindowEvent("u", "t", "b1", BASE + 1)])  # the same event, replayed
        assert (a, b, c) == ([1, 2], [3], [3])

        async def caller(windows: RedisWindows, name: str) -> list[int]:
            counts: list[int] = []
            for i in range(100):
                counts += await windows.add([WindowEvent("v", "t", f"{name}{i}", BASE + i / 1000)])
            return counts

        results = await asyncio.gather(caller(first, "x"), caller(second, "y"))
        assert sorted(results[0] + results[1]) == list(range(1, 201))
    finally:
        await close(first)
        await close(second)


async def test_keys_live_under_the_prefix_with_the_ttl_and_microsecond_scores(
    redis_url: str, prefix: str
) -> None:
    windows = windows_at(redis_url, prefix)
    client = redis.asyncio.from_url(redis_url)
    try:
        await windows.add([WindowEvent("a:b c", "message", "e1", BASE)])
        key = windows.key("a:b c", "message")
        assert key == f"{prefix}:w:5:a:b c:message".encode()
        assert [k async for k in client.scan_iter(match=f"{prefix}:*")] == [key]
        assert 0 < await client.pttl(key) <= SETTINGS.ttl_seconds * 1000
        assert await client.zrange(key, 0, -1, withscores=True) == [(b"e1", micros(BASE))]
    finally:
        await close(windows)
        await client.aclose()


async def test_keys_are_distinct_for_every_user_id() -> None:
    windows = RedisWindows(redis.asyncio.Redis(), SETTINGS, "p")  # never connects
    pairs = [(user, kind) for user in TRICKY_USERS for kind in ("t", "t.x", "x")]
    pairs += [("a:1:b", "t"), ("a", "1:b:t"), ("\ud800", "t"), ("\ud801", "t")]
    assert len({windows.key(user, kind) for user, kind in pairs}) == len(pairs)
    await close(windows)


async def test_a_batch_is_one_script_call_per_2000_events() -> None:
    with RedisProcess() as server:
        windows = windows_at(server.url, "p")
        client = redis.asyncio.from_url(server.url)
        try:
            await windows.add([WindowEvent("warm", "t", "e", BASE)])
            before = await evalsha_calls(client)
            events = [
                WindowEvent(f"user-{n % 37}", "t", f"e{n}", BASE + n / 1e4) for n in range(1000)
            ]
            await windows.add(events)
            assert await evalsha_calls(client) == before + 1
            await windows.add([WindowEvent("u", "t", f"f{n}", BASE) for n in range(4500)])
            assert await evalsha_calls(client) == before + 1 + 3
        finally:
            await close(windows)
            await client.aclose()


async def test_the_script_is_loaded_again_after_redis_forgets_it() -> None:
    with RedisProcess() as server:
        windows = windows_at(server.url, "p")
        client = redis.asyncio.from_url(server.url)
        try:
            await windows.prepare()
            assert await windows.add([WindowEvent("u", "t", "a", BASE)]) == [1]
            await client.script_flush()
            assert await windows.add([WindowEvent("u", "t", "b", BASE)]) == [2]
        finally:
            await close(windows)
            await client.aclose()
