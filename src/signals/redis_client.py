"""The one Redis client of a process, opened by the composition root and lent to its users.

Windows, the episodes shared across instances and the auth limiter all talk to `redis.url`
through this client; none of them opens or closes it. Every connect and reply is bounded by
`redis.timeout_seconds`, so a hung Redis cannot stall the consumer. An unreachable Redis at start
is a `DependencyUnavailable` naming the URL with its password masked; Redis lost later is each
user's fallback's business, and `REDIS_FAILURES` is what every one of them catches.

A lost connection reaches them as redis-py's `ConnectionError` whatever the event loop: uvloop
raises `RuntimeError: unable to perform operation on <TCPTransport closed=True ...>` when a
command is written on a pooled connection whose transport closed under it (Redis went away while
it sat idle), which redis-py lets through as it is. This client's connections report that as the
lost connection it is, so the one immediate retry reconnects (Redis restarted: nobody notices)
and, if Redis is gone, the callers' fallbacks take over instead of a request failing with 500.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis.asyncio
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from signals.errors import DependencyUnavailable
from signals.settings import RedisSettings
from signals.urls import masked_url, scrubbed

# OSError covers the builtin ConnectionError and TimeoutError (asyncio's too) that can escape
# redis-py. Any Redis error counts: a READONLY or OOM reply is as much an outage for a caller
# with a fallback as a refused connection.
REDIS_FAILURES: tuple[type[Exception], ...] = (RedisError, OSError)
_CLOSED_TRANSPORT = ("handler is closed", "closed=True")


class _ReportsLostTransport(AbstractConnection):
    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        try:
            await super().send_packed_command(command, check_health)
        except RuntimeError as exc:  # already disconnected by redis-py
            if not any(sign in str(exc) for sign in _CLOSED_TRANSPORT):
                raise
            raise RedisConnectionError(f"connection lost: {exc}") from exc


class _TcpConnection(_ReportsLostTransport, Connection):
    pass


class _TlsConnection(_ReportsLostTransport, SSLConnection):
    pass


class _UnixConnection(_ReportsLostTransport, UnixDomainSocketConnection):
    pass


_REPORTING: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: _TcpConnection,
    SSLConnection: _TlsConnection,
    UnixDomainSocketConnection: _UnixConnection,
}


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
    pool = client.connection_pool
    pool.connection_class = _REPORTING.get(pool.connection_class, pool.connection_class)
    try:
        await client.ping()
    except REDIS_FAILURES as exc:
        await client.aclose()
        reason = scrubbed(f"{type(exc).__name__}: {exc}", settings.url)
        raise DependencyUnavailable("Redis", url, reason) from None
    return client
