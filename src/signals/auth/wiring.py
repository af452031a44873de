"""What the composition root installs on both apps: `guards_for(settings, metrics, redis)`.

Both apps get the same list, so they share one `Limiter`: failures on either port count
against the same address, and a key's rate covers both ports' writes.
"""

from __future__ import annotations

import redis.asyncio
from starlette.middleware import Middleware

from signals.auth.guard import AuthGuard
from signals.auth.keys import Keyring
from signals.auth.limiter import Limiter
from signals.auth.scopes import ScopeMap
from signals.metrics import Metrics
from signals.settings import Settings


def limiter_for(settings: Settings, redis_client: redis.asyncio.Redis | None) -> Limiter:
    """Limits in Redis when the windows are (`windows.backend = "redis"`), else in memory."""
    shared = redis_client if settings.windows.backend == "redis" else None
    return Limiter(
        max_failures=settings.auth.max_failures,
        redis_client=shared,
        key_prefix=settings.redis.key_prefix,
        timeout_seconds=settings.redis.timeout_seconds,
        retry_seconds=settings.redis.retry_seconds,
    )


def guards_for(
    settings: Settings, metrics: Metrics, redis_client: redis.asyncio.Redis | None
) -> list[Middleware]:
    """The auth guard, for `make_app(guards=...)` (which adds the security headers itself).

    No keys configured means auth is off (allowed on loopback only, see `exposure`): then there
    is nothing to check or limit, and no guard sits on the hot path.
    """
    if not settings.auth.keys:
        return []
    return [
        Middleware(
            AuthGuard,
            keyring=Keyring(settings.auth.keys),
            scopes=ScopeMap(protect_metrics=settings.auth.protect_metrics),
            limits=limiter_for(settings, redis_client),
            metrics=metrics,
        ),
    ]
