"""The failure limiter and key buckets: one contract for memory and Redis, then each's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio
from structlog.testing import capture_logs
from tests.support.redis_server import RedisProcess, free_port

from signals.auth.limiter import Limiter, Limits, MemoryLimits
from signals.auth.redis_limits import RedisLimits

MAX_FAILURES = 3
DEADLINE_SECONDS = 10.0


class ManualClock:
    """A clock the test moves by hand, so windows expire without waiting for them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not await check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.02)


MakeLimits = Callable[[float], Limits]


@pytest.fixture(params=["memory", "redis"])
async def make_limits(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str
) -> AsyncIterator[MakeLimits]:
    """`make_limits(window_seconds)`: limits of the test's backend, on the real clock."""
    clients: list[redis.asyncio.Redis] = []

    def make(window_seconds: float = 60.0) -> Limits:
        if request.param == "memory":
            return MemoryLimits(max_failures=MAX_FAILURES, window_seconds=window_seconds)
        client = redis.asyncio.from_url(redis_url, socket_timeout=5)
        clients.append(client)
        return RedisLimits(
            client,
            key_prefix=redis_prefix,
            max_failures=MAX_FAILURES,
            window_seconds=window_seconds,
        )

    yield make
    for client in clients:
        await client.aclose()


async def test_failures_up_to_the_limit_pass_and_the_next_is_refused(
    make_limits: MakeLimits,
) -> None:
    limits = make_limits(60.0)
    for _ in range(MAX_FAILURES):
        assert await limits.blocked_for("198.51.100.1") == 0.0
        assert await limits.fail("198.51.100.1") == 0.0
    assert await limits.blocked_for("198.51.100.1") == 0.0  # exactly max: not more than max
    wait = await limits.fail("198.51.100.1")
    assert 0 < wait <= 60.0
    assert 0 < await limits.blocked_for("198.51.100.1") <= 60.0
    assert await limits.blocked_for("198.51.100.2") == 0.0
    assert await limits.blocked_for("2001:db8::1") == 0.0


async def test_the_block_lifts_when_the_window_passes(make_limits: MakeLimits) -> None:
    limits = make_limits(0.3)
    for _ in range(MAX_FAILURES + 1):
        await limits.fail("198.51.100.1")
    assert await limits.blocked_for("198.51.100.1") > 0

    async def lifted() -> bool:
        return await limits.blocked_for("198.51.100.1") == 0.0

    await eventually(lifted)
    assert await limits.fail("198.51.100.1") == 0.0  # a new window starts from zero


async def test_bucket_allows_a_burst_then_asks_to_wait(make_limits: MakeLimits) -> None:
    limits = make_limits(60.0)
    assert [await limits.take("writer", 1.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await limits.take("writer", 1.0, 3)
    assert 0 < wait <= 1.0
    assert await limits.take("other", 1.0, 3) == 0.0


async def test_bucket_refills_at_its_rate(make_limits: MakeLimits) -> None:
    limits = make_limits(60.0)
    assert await limits.take("writer", 20.0, 1) == 0.0
    assert 0 < await limits.take("writer", 20.0, 1) <= 0.05

    async def refilled() -> bool:
        return await limits.take("writer", 20.0, 1) == 0.0

    await eventually(refilled)


async def test_memory_window_and_retry_after_follow_the_clock() -> None:
    clock = ManualClock()
    limits = MemoryLimits(max_failures=1, window_seconds=60.0, clock=clock)
    assert await limits.fail("a") == 0.0
    clock.now += 20
    assert await limits.fail("a") == 40.0  # the window began at the first failure
    clock.now += 39.5
    assert await limits.blocked_for("a") == 0.5
    clock.now += 0.5
    assert await limits.blocked_for("a") == 0.0


async def test_memory_state_is_bounded_and_expired_windows_leave() -> None:
    clock = ManualClock()
    limits = MemoryLimits(max_failures=1, window_seconds=60.0, max_addresses=3, clock=clock)
    for address in ("a", "b", "c", "d", "e"):
        await limits.fail(address)
        await limits.fail(address)
        clock.now += 1
    assert len(limits) == 3
    assert await limits.blocked_for("a") == 0.0  # evicted first: the oldest
    assert await limits.blocked_for("e") > 0
    clock.now += 60
    assert await limits.blocked_for("e") == 0.0
    assert len(limits) == 0


async def test_memory_bucket_refill_is_capped_at_burst() -> None:
    clock = ManualClock()
    limits = MemoryLimits(max_failures=1, clock=clock)
    assert await limits.take("k", 2.0, 2) == 0.0
    assert await limits.take("k", 2.0, 2) == 0.0
    assert await limits.take("k", 2.0, 2) == 0.5
    clock.now += 3600
    assert [await limits.take("k", 2.0, 2) for _ in range(3)] == [0.0, 0.0, 0.5]


async def test_redis_limits_are_shared_by_instances(
    redis_url: str, redis_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    other_client = redis.asyncio.from_url(redis_url, socket_timeout=5)
    try:
        one = Limiter(max_failures=MAX_FAILURES, redis_client=redis_client, key_prefix=redis_prefix)
        two = Limiter(max_failures=MAX_FAILURES, redis_client=other_client, key_prefix=redis_prefix)
        for limiter in (one, two, one, two):
            await limiter.fail("203.0.113.7")
        assert await one.blocked_for("203.0.113.7") > 0
        assert await two.blocked_for("203.0.113.7") > 0
        assert one.shared and two.shared
        assert await one.take("writer", 0.5, 1) == 0.0
        assert await two.take("writer", 0.5, 1) > 0  # the one token is gone, whoever took it
    finally:
        await other_client.aclose()


async def test_redis_keys_are_namespaced_and_expire(
    redis_prefix: str, redis_client: redis.asyncio.Redis
) -> None:
    limits = RedisLimits(
        redis_client, key_prefix=redis_prefix, max_failures=MAX_FAILURES, window_seconds=60
    )
    await limits.fail("::1")
    await limits.take("writer", 5.0, 5)
    keys = sorted([key.decode() async for key in redis_client.scan_iter(f"{redis_prefix}:*")])
    assert keys == [f"{redis_prefix}:auth:fail:::1", f"{redis_prefix}:auth:rate:writer"]
    for key in keys:
        assert 0 < await redis_client.pttl(key) <= 60_000


async def test_unreachable_redis_limits_in_memory_and_logs_once() -> None:
    client = redis.asyncio.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=1)
    try:
        limiter = Limiter(max_failures=MAX_FAILURES, redis_client=client, key_prefix="t")
        with capture_logs() as logs:
            waits = [await limiter.fail("198.51.100.9") for _ in range(MAX_FAILURES + 1)]
            blocked = await limiter.blocked_for("198.51.100.9")
            taken = [await limiter.take("writer", 1.0, 1) for _ in range(2)]
        assert waits[:-1] == [0.0] * MAX_FAILURES and waits[-1] > 0  # never open
        assert blocked > 0
        assert taken[0] == 0.0 and taken[1] > 0
        assert not limiter.shared
        errors = [entry for entry in logs if entry["log_level"] == "error"]
        assert len(errors) == 1
        assert "limiting in this process's memory" in errors[0]["event"]
    finally:
        await client.aclose()


async def test_limits_return_to_redis_when_it_comes_back() -> None:
    with RedisProcess() as server:
        client = redis.asyncio.from_url(server.url, socket_timeout=1)
        try:
            limiter = Limiter(
                max_failures=MAX_FAILURES, redis_client=client, key_prefix="t", retry_seconds=0.0
            )
            await limiter.fail("a")
            assert limiter.shared
            server.stop()
            with capture_logs() as logs:
                assert await limiter.fail("a") == 0.0
                assert not limiter.shared
                server.start()
                assert await limiter.fail("a") == 0.0
            assert limiter.shared
            assert [entry["log_level"] for entry in logs] == ["error", "info"]
            assert "Redis is back" in logs[1]["event"]
            assert int(await client.get("t:auth:fail:a") or 0) == 1  # counted in Redis again
        finally:
            await client.aclose()


async def test_a_frozen_redis_costs_at_most_the_timeout() -> None:
    with RedisProcess() as server:
        client = redis.asyncio.from_url(server.url)  # no socket timeout of its own
        try:
            limiter = Limiter(
                max_failures=MAX_FAILURES,
                redis_client=client,
                key_prefix="t",
                timeout_seconds=0.2,
                retry_seconds=60.0,
            )
            assert await limiter.blocked_for("a") == 0.0
            server.pause()
            with capture_logs() as logs:
                assert await limiter.fail("a") == 0.0  # answered from memory after the timeout
                assert await limiter.blocked_for("a") == 0.0  # memory now, no second wait
            assert [entry["log_level"] for entry in logs] == ["error"]
            assert not limiter.shared
        finally:
            server.resume()
            await client.aclose()
