"""Open the windows backend that the settings name (`windows.backend`).

`memory` needs nothing. `redis` connects to `redis.url` with `redis.timeout_seconds` on every
connect and reply (a hung Redis must not stall the consumer), PINGs it and loads the window
script; if that fails the service must not start, so `WindowsUnavailable` is raised naming the
URL (its password masked) and the CLI turns it into a non-zero exit. Redis lost later is the
fallback's business (`FallbackWindows`). The returned windows own their client: `aclose()`.
"""

from __future__ import annotations

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from signals.integrity.windows.base import Windows
from signals.integrity.windows.fallback import REDIS_FAILURES, FallbackWindows
from signals.integrity.windows.memory import MemoryWindows
from signals.integrity.windows.redis import RedisWindows
from signals.metrics import Metrics
from signals.settings import Settings
from signals.urls import masked_url, scrubbed


class WindowsUnavailable(Exception):
    """Redis windows are configured but Redis cannot be used; `url` has no password in it."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach Redis at {url}: {reason}")
        self.url = url
        self.reason = reason


async def open_windows(settings: Settings, metrics: Metrics) -> Windows:
    """The windows `settings.windows.backend` names; raises `WindowsUnavailable` for Redis."""
    if settings.windows.backend == "memory":
        return MemoryWindows(settings.windows)
    raw_url = settings.redis.url
    url = masked_url(raw_url)
    timeout = settings.redis.timeout_seconds
    try:
        client = redis.asyncio.from_url(
            raw_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # One immediate retry on a broken connection: after a Redis restart the pooled
            # connections are dead, and the first command on one should not count as an outage.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
    except ValueError as exc:
        raise WindowsUnavailable(url, scrubbed(exc, raw_url)) from None
    primary = RedisWindows(client, settings.windows, settings.redis.key_prefix)
    try:
        await primary.ping()
        await primary.prepare()
    except REDIS_FAILURES as exc:
        await client.aclose()
        raise WindowsUnavailable(url, scrubbed(f"{type(exc).__name__}: {exc}", raw_url)) from None
    fallback = MemoryWindows(settings.windows)
    return FallbackWindows(primary, fallback, metrics, settings.redis, url=url)
