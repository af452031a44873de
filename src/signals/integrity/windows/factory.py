"""Open the windows backend that the settings name (`windows.backend`).

`memory` needs nothing. `redis` uses the process's Redis client (`signals.redis_client`, opened
and closed by the composition root) and loads the window script; a Redis that refuses scripting
stops the start with `DependencyUnavailable`. Redis lost later is the fallback's business
(`FallbackWindows`).
"""

from __future__ import annotations

import redis.asyncio

from signals.errors import DependencyUnavailable
from signals.integrity.windows.base import Windows
from signals.integrity.windows.fallback import FallbackWindows
from signals.integrity.windows.memory import MemoryWindows
from signals.integrity.windows.redis import RedisWindows
from signals.metrics import Metrics
from signals.redis_client import REDIS_FAILURES
from signals.settings import Settings
from signals.urls import masked_url, scrubbed


async def open_windows(
    settings: Settings, metrics: Metrics, client: redis.asyncio.Redis | None = None
) -> Windows:
    """The windows `settings.windows.backend` names; `redis` needs the process's `client`."""
    if settings.windows.backend == "memory":
        return MemoryWindows(settings.windows)
    if client is None:
        raise ValueError("redis windows need the Redis client")
    primary = RedisWindows(client, settings.windows, settings.redis.key_prefix)
    try:
        await primary.prepare()
    except REDIS_FAILURES as exc:
        reason = scrubbed(f"{type(exc).__name__}: {exc}", settings.redis.url)
        raise DependencyUnavailable("Redis", masked_url(settings.redis.url), reason) from None
    fallback = MemoryWindows(settings.windows)
    return FallbackWindows(
        primary, fallback, metrics, settings.redis, url=masked_url(settings.redis.url)
    )
