"""Abuse limits: failed attempts per client address, and a token bucket per API key.

Failures: the first failure from an address opens a window of `window_seconds` (60 s); the
failure that takes the count past `max_failures` and every request from that address after it,
even one with a valid key, is refused until the window ends. Key rate: a token bucket of
`burst` tokens refilled at `rate` per second, one token per request.

Every call answers with the seconds to wait before trying again, 0.0 meaning go ahead.
`MemoryLimits` keeps state in this process and stays bounded: windows leave in the order they
opened (they all last as long), expired ones are dropped as calls come, and past `max_addresses`
the oldest goes first. `Limiter` uses Redis when given a client, so every instance sharing that
Redis shares the limits; when a Redis call fails it limits in memory instead (never open), logs
one error per outage, and tries Redis again after `retry_seconds`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio
import structlog

from signals.auth.redis_limits import RedisLimits
from signals.redis_client import REDIS_FAILURES

log = structlog.get_logger(__name__)

WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 100_000

Clock = Callable[[], float]


class Limits(Protocol):
    async def blocked_for(self, address: str) -> float:
        """Seconds until `address` may try again after too many failures; 0.0 if it may now."""
        ...

    async def fail(self, address: str) -> float:
        """Count a failure; seconds to wait if this one passed the limit, else 0.0."""
        ...

    async def take(self, name: str, rate: float, burst: int) -> float:
        """Take a token from key `name`'s bucket; 0.0 if there was one, else seconds to wait."""
        ...


@dataclass
class _Window:
    count: int
    ends: float


class MemoryLimits:
    def __init__(
        self,
        *,
        max_failures: int,
        window_seconds: float = WINDOW_SECONDS,
        max_addresses: int = MAX_ADDRESSES,
        clock: Clock = time.monotonic,
    ) -> None:
        self._max_failures = max_failures
        self._window_seconds = window_seconds
        self._max_addresses = max_addresses
        self._clock = clock
        # Insertion order is expiry order, because every window lasts window_seconds.
        self._failures: dict[str, _Window] = {}
        # One bucket per configured key name: bounded by the settings.
        self._buckets: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._failures)

    def _live(self, address: str, now: float) -> _Window | None:
        while self._failures:
            oldest = next(iter(self._failures))
            if self._failures[oldest].ends > now:
                break
            del self._failures[oldest]
        return self._failures.get(address)

    async def blocked_for(self, address: str) -> float:
        now = self._clock()
        window = self._live(address, now)
        if window is None or window.count <= self._max_failures:
            return 0.0
        return window.ends - now

    async def fail(self, address: str) -> float:
        now = self._clock()
        window = self._live(address, now)
        if window is None:
            if len(self._failures) >= self._max_addresses:
                del self._failures[next(iter(self._failures))]
            window = self._failures[address] = _Window(0, now + self._window_seconds)
        window.count += 1
        return window.ends - now if window.count > self._max_failures else 0.0

    async def take(self, name: str, rate: float, burst: int) -> float:
        now = self._clock()
        tokens, at = self._buckets.get(name, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[name] = (tokens - 1.0, now)
            return 0.0
        self._buckets[name] = (tokens, now)
        return (1.0 - tokens) / rate


class Limiter:
    """Redis limits when a client is given, memory limits while Redis fails or when it is not."""

    def __init__(
        self,
        *,
        max_failures: int,
        redis_client: redis.asyncio.Redis | None = None,
        key_prefix: str = "signals",
        window_seconds: float = WINDOW_SECONDS,
        timeout_seconds: float = 1.0,
        retry_seconds: float = 2.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._memory = MemoryLimits(
            max_failures=max_failures, window_seconds=window_seconds, clock=clock
        )
        self._redis = (
            None
            if redis_client is None
            else RedisLimits(
                redis_client,
                key_prefix=key_prefix,
                max_failures=max_failures,
                window_seconds=window_seconds,
            )
        )
        self._timeout = timeout_seconds
        self._retry = retry_seconds
        self._clock = clock
        self._outage = False
        self._retry_at = 0.0

    @property
    def shared(self) -> bool:
        """True while limits live in Redis (shared by every instance)."""
        return self._redis is not None and not self._outage

    async def _run(self, call: Callable[[Limits], Awaitable[float]]) -> float:
        if self._redis is None:
            return await call(self._memory)
        if self._outage:
            if self._clock() < self._retry_at:
                return await call(self._memory)
            # One request probes Redis per retry period; the others keep to memory meanwhile.
            self._retry_at = self._clock() + self._retry
        try:
            async with asyncio.timeout(self._timeout):
                result = await call(self._redis)
        except REDIS_FAILURES as exc:
            if not self._outage:
                log.error(
                    "rate limits: Redis failed; limiting in this process's memory until it is back",
                    error=f"{type(exc).__name__}: {exc}",
                )
                self._outage = True
                self._retry_at = self._clock() + self._retry
            return await call(self._memory)
        if self._outage:
            log.info("rate limits: Redis is back; limits are shared again")
            self._outage = False
        return result

    async def blocked_for(self, address: str) -> float:
        return await self._run(lambda limits: limits.blocked_for(address))

    async def fail(self, address: str) -> float:
        return await self._run(lambda limits: limits.fail(address))

    async def take(self, name: str, rate: float, burst: int) -> float:
        return await self._run(lambda limits: limits.take(name, rate, burst))
