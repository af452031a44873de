"""DNS rebinding: which `Host` names the service answers (`server.allowed_hosts`).

A web page the operator visits can point its own name at 127.0.0.1 and then read and write the
service through the operator's browser, which sends the page's name as `Host`. So while auth is
off (no keys, loopback binds only) only loopback names are served: `localhost`, loopback address
literals (`127.0.0.1`, `[::1]`), with any port. With keys configured every request that touches
data needs one, and any name is served. `server.allowed_hosts`, when set, is the list in both
cases: exact names, `*.example.com` for the subdomains of `example.com`, or `*` for any. Every
other `Host` (a missing one too, or two of them) is answered 400 `invalid_host` before anything
else runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from signals.auth.exposure import is_loopback
from signals.http import ApiError, error_response
from signals.metrics import Metrics

HOST_HEADER = b"host"
# Host header values already allowed, kept for the next request with the same one: parsing and
# checking a name (an address literal goes through `ipaddress`) costs several microseconds, and
# clients send the same few. Bounded, so hostile headers cannot grow it; refusals are not kept.
ALLOWED_KEPT = 64


def host_name(header: bytes) -> str | None:
    """The name in a Host header, lower-cased, without port, brackets or a final dot."""
    try:
        text = header.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return None
    if text.startswith("["):
        name, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name or None
    name, colon, port = text.partition(":")
    if colon and not (port.isascii() and port.isdigit()):
        return None
    name = name.removesuffix(".")
    return name or None


class HostPolicy:
    """`allows(name)`: loopback names only (`patterns` empty), else the listed patterns."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self._any = "*" in patterns
        self._exact = {
            p.lower().strip("[]").removesuffix(".") for p in patterns if not p.startswith("*")
        }
        self._suffixes = tuple(p.lower()[1:] for p in patterns if p.startswith("*."))
        self._loopback_only = not patterns

    def allows(self, name: str) -> bool:
        if self._loopback_only:
            return is_loopback(name)
        return self._any or name in self._exact or name.endswith(self._suffixes)


class HostGuard:
    """Pure ASGI middleware: 400 `invalid_host` for a `Host` the policy does not allow."""

    def __init__(self, app: ASGIApp, *, policy: HostPolicy, metrics: Metrics) -> None:
        self.app = app
        self._policy = policy
        self._metrics = metrics
        self._allowed: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts = [value for key, value in scope["headers"] if key == HOST_HEADER]
        if len(hosts) > 1:
            # RFC 9112 3.2: two Host headers are a 400; which one a proxy in front believed is
            # anyone's guess, so neither is served.
            await self._refuse(scope, receive, send, b", ".join(hosts), "more than one Host header")
            return
        header = hosts[0] if hosts else b""
        if header in self._allowed:
            await self.app(scope, receive, send)
            return
        name = host_name(header)
        if name is not None and self._policy.allows(name):
            if len(self._allowed) < ALLOWED_KEPT:
                self._allowed.add(header)
            await self.app(scope, receive, send)
            return
        await self._refuse(
            scope, receive, send, header, "this Host is not served here (server.allowed_hosts)"
        )

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, header: bytes, message: str
    ) -> None:
        self._metrics.rejections.labels("invalid_host").inc()
        details = [{"host": header.decode("ascii", "replace")[:255]}]
        error = ApiError(400, message, code="invalid_host", details=details)
        await error_response(scope, error)(scope, receive, send)
