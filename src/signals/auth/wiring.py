"""What the composition root installs on both apps: `guards_for(settings, metrics, redis)`, and
who may read `/ready`'s details (`sees_details`).

Both apps get the same list, so they share one `Limiter`: failures on either port count
against the same address, and a key's rate covers both ports' writes.
"""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio
from starlette.middleware import Middleware
from starlette.types import Scope

from signals.auth.guard import AuthGuard
from signals.auth.hosts import HostGuard, HostPolicy
from signals.auth.keys import Keyring, presented_key
from signals.auth.limiter import Limiter
from signals.auth.scopes import ScopeMap, grants
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
    """The host guard, then the auth guard, for `make_app(guards=...)` (which adds the security
    headers itself).

    No keys configured means auth is off (allowed on loopback only, see `exposure`): then only
    loopback Host names are served and nothing is checked or limited. With keys, the host guard
    is there only when `server.allowed_hosts` names the hosts.
    """
    allowed = settings.server.allowed_hosts
    hosts = Middleware(HostGuard, policy=HostPolicy(allowed), metrics=metrics)
    if not settings.auth.keys:
        return [hosts]
    auth = Middleware(
        AuthGuard,
        keyring=Keyring(settings.auth.keys),
        scopes=ScopeMap(protect_metrics=settings.auth.protect_metrics),
        limits=limiter_for(settings, redis_client),
        metrics=metrics,
    )
    return [hosts, auth] if allowed else [auth]


def sees_details(settings: Settings) -> Callable[[Scope], bool]:
    """Whether a request may see `/ready`'s details (paths, error texts, lags) and not only the
    states: while auth is off anyone who got past the host guard (loopback names), else a caller
    presenting a key with the `read` scope. An open path: a wrong key counts no failure here."""
    if not settings.auth.keys:
        return lambda scope: True
    keyring = Keyring(settings.auth.keys)

    def allowed(scope: Scope) -> bool:
        presented = presented_key(scope["headers"])
        key = None if presented is None else keyring.lookup(presented)
        return key is not None and grants(key.scopes, "read")

    return allowed
