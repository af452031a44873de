"""Redis windows that fall back to memory while Redis is lost (docs/semantics.md).

A batch whose Redis call fails (connection refused or reset, a timeout, any Redis error: see
`signals.redis_client.REDIS_FAILURES`) is counted in memory instead: no event is lost and the
caller never sees the failure. That starts
an outage: status "degraded", one error log, `windows_fallbacks` + 1, `windows_degraded` = 1.
During it every batch is counted in memory, and Redis is tried again at most every
`redis.retry_seconds` (a PING first, so a dead Redis costs one cheap call per retry). When it
answers, the events the memory windows still hold go to Redis before the batch, so the windows
that filled during the outage carry on (ZADD NX makes that replay harmless), the memory windows
are emptied, and one info log says Redis is back.

At the start of an outage the memory windows are empty: a burst that began in Redis is counted
from the outage on, so for up to one window it may be seen later than it would have been.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import structlog

from signals.integrity.windows.base import WindowEvent, WindowsStatus
from signals.integrity.windows.memory import MemoryWindows
from signals.integrity.windows.redis import RedisWindows
from signals.metrics import Metrics
from signals.redis_client import REDIS_FAILURES
from signals.settings import RedisSettings


class FallbackWindows:
    """`primary` while it answers, `fallback` while it does not; see the module docstring."""

    def __init__(
        self,
        primary: RedisWindows,
        fallback: MemoryWindows,
        metrics: Metrics,
        settings: RedisSettings,
        *,
        url: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._metrics = metrics
        self._retry_seconds = settings.retry_seconds
        # Every line names the Redis (`url` comes without its password).
        self._log = structlog.get_logger(__name__).bind(redis=url)
        self._clock = clock
        self._degraded = False
        self._retry_at = 0.0
        # Serialises the degraded path, so one retry runs at a time and no batch is counted in
        # memory while the memory windows are being handed back to Redis.
        self._lock = asyncio.Lock()

    @property
    def status(self) -> WindowsStatus:
        return "degraded" if self._degraded else "ok"

    async def add(self, events: Sequence[WindowEvent]) -> list[int]:
        while True:
            if not self._degraded:
                try:
                    return await self._primary.add(events)
                except REDIS_FAILURES as exc:
                    self._lost(exc)
            async with self._lock:
                if not self._degraded:
                    continue  # restored while this batch waited: back to Redis
                if self._clock() >= self._retry_at:
                    counts = await self._retry(events)
                    if counts is not None:
                        return counts
                return await self._fallback.add(events)

    def _lost(self, exc: Exception) -> None:
        if self._degraded:
            return  # a batch that was in flight when the outage began
        self._degraded = True
        self._retry_at = self._clock() + self._retry_seconds
        self._metrics.windows_fallbacks.inc()
        self._metrics.windows_degraded.set(1)
        self._log.error(
            "redis windows lost; counting in memory until redis is back",
            error=f"{type(exc).__name__}: {exc}",
            retry_seconds=self._retry_seconds,
        )

    async def _retry(self, events: Sequence[WindowEvent]) -> list[int] | None:
        """Counts from Redis once it answers again (and holds the outage's events), else None."""
        self._retry_at = self._clock() + self._retry_seconds
        try:
            await self._primary.ping()
            held = self._fallback.live_events()
            counts = await self._primary.add([*held, *events])
        except REDIS_FAILURES as exc:
            self._log.debug("redis windows still lost", error=f"{type(exc).__name__}: {exc}")
            return None
        self._fallback.clear()
        self._degraded = False
        self._metrics.windows_degraded.set(0)
        self._log.info("redis windows restored", replayed=len(held))
        return counts[len(held) :]

    async def aclose(self) -> None:
        try:
            await self._primary.aclose()
        finally:
            await self._fallback.aclose()
