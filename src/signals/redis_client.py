"""The one Redis client of a process, opened by the composition root and lent to its users.

Windows, the episodes shared across instances and the auth limiter all talk to `redis.url`
through this client; none of them opens or closes it. Every connect and reply is bounded by
`redis.timeout_seconds`, so a hung Redis cannot stall the consumer. An unreachable Redis at start
is a `DependencyUnavailable` naming the URL with its password masked; Redis lost later is each
user's fallback's business.
"""

from __future__ import annotations

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from signals.errors import DependencyUnavailable
from signals.settings import RedisSettings
from signals.urls import masked_url, scrubbed


async def open_redis(settings: RedisSettings) -> redis.asyncio.Redis:
    """A connected client for `settings.url`; the caller closes it with `aclose()`."""
    url = masked_url(settings.url)
    try:
        client = redis.asyncio.from_url(
            settings.url,
            socket_timeout=settings.timeout_seconds,
            socket_connect_timeout=settings.timeout_seconds,
            # One immediate retry on a broken connection: after a Redis restart the pooled
            # connections are dead, and the first command on one should not count as an outage.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
    except ValueError as exc:
        raise DependencyUnavailable("Redis", url, scrubbed(exc, settings.url)) from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        reason = scrubbed(f"{type(exc).__name__}: {exc}", settings.url)
        raise DependencyUnavailable("Redis", url, reason) from None
    return client
