"""The auth guard: a pure-ASGI middleware that lets a request through only with a key that has
the scope its method and path need (docs/security.md).

Order per request: open path -> through. A valid key is looked up first: a request that carries
one is never refused by its address's failure limit (behind a proxy or a NAT many clients share
an address, and one of them guessing must not lock out the others). Without a valid key: address
over its failure limit -> 429; no key -> 401, unknown key -> 401; each counts as a failure of the
client address, and the failure past the limit is answered 429 instead. A valid key without the
scope -> 403 (counted too). Writes by a key with `rate_per_second` take a token from its bucket
-> 429 when empty. Every 429 carries `Retry-After`. With no keys configured auth is off and the
guard passes everything (protected mode keeps that to loopback). Only a key's name is ever
logged; it is bound to the request's log lines as `api_key` and left in
`scope["state"]["api_key"]`.
"""

from __future__ import annotations

import math

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from signals.auth.keys import Keyring, presented_key
from signals.auth.limiter import Limits
from signals.auth.scopes import ScopeMap, grants
from signals.http import ApiError, error_response
from signals.metrics import Metrics
from signals.settings import ApiKey
from signals.settings import Scope as ScopeName  # starlette's Scope is the ASGI scope

log = structlog.get_logger(__name__)


def route_path(scope: Scope) -> str:
    """The path routing matches on: `path` without `root_path` (as Starlette's router does)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :]
    return path


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def burst_of(key: ApiKey, rate: float) -> int:
    return key.burst if key.burst is not None else max(1, math.ceil(rate))


def rate_limited(message: str, wait: float) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(
        429, message, details=[{"retry_after": seconds}], headers={"Retry-After": str(seconds)}
    )


class AuthGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        keyring: Keyring,
        scopes: ScopeMap,
        limits: Limits,
        metrics: Metrics,
    ) -> None:
        self.app = app
        self._keyring = keyring
        self._scopes = scopes
        self._limits = limits
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not len(self._keyring):
            await self.app(scope, receive, send)
            return
        needed = self._scopes.required(scope["method"], route_path(scope))
        if needed is None:
            await self.app(scope, receive, send)
            return
        admitted = await self._admit(scope, needed)
        if isinstance(admitted, ApiError):
            await error_response(scope, admitted)(scope, receive, send)
            return
        scope.setdefault("state", {})["api_key"] = admitted.name
        with structlog.contextvars.bound_contextvars(api_key=admitted.name):
            await self.app(scope, receive, send)

    async def _admit(self, scope: Scope, needed: ScopeName) -> ApiKey | ApiError:
        """The key a request may go ahead with, or the error to answer it with."""
        address = client_address(scope)
        presented = presented_key(scope["headers"])
        key = None if presented is None else self._keyring.lookup(presented)
        if key is None:
            wait = await self._limits.blocked_for(address)
            if wait > 0:
                return self._too_many_failures(wait)
        if key is None or not grants(key.scopes, needed):
            return await self._refuse(scope, address, needed, presented=presented, key=key)
        rate = key.rate_per_second
        if needed == "ingest" and rate is not None:
            wait = await self._limits.take(key.name, rate, burst_of(key, rate))
            if wait > 0:
                self._metrics.rate_limited.labels("key_rate").inc()
                return rate_limited(f"API key {key.name!r} is over its rate of {rate:g}/s", wait)
        return key

    async def _refuse(
        self,
        scope: Scope,
        address: str,
        needed: ScopeName,
        *,
        presented: bytes | None,
        key: ApiKey | None,
    ) -> ApiError:
        reason = "missing" if presented is None else "unknown" if key is None else "scope"
        self._metrics.auth_failures.labels(reason).inc()
        log.warning(
            "auth refused",
            reason=reason,
            api_key=key.name if key else None,
            client=address,
            method=scope["method"],
            path=route_path(scope),
        )
        wait = await self._limits.fail(address)
        if wait > 0 and key is None:
            return self._too_many_failures(wait)
        if key is None:
            message = "API key required" if presented is None else "unknown API key"
            return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})
        return ApiError(403, f"API key {key.name!r} lacks the {needed!r} scope")

    def _too_many_failures(self, wait: float) -> ApiError:
        self._metrics.rate_limited.labels("auth_failures").inc()
        return rate_limited("too many failed authentication attempts from this address", wait)
