"""Protected mode: running without API keys is allowed only while every port binds to loopback.

`check_exposure(settings)` lists what forbids starting (empty: fine): no keys on a non-loopback
address, and `server.trusted_proxies = ["*"]` without keys. The CLI refuses `serve` and fails
`check-config` with exit 2 on any. `startup_warnings(settings)` lists what `serve` logs at
start: auth off, two keys with one digest, a non-loopback address without trusted proxies.
Loopback means 127.0.0.0/8, ::1 (also IPv4-mapped) or the name `localhost`; any other name is
not resolved here and counts as exposed, because it may resolve to anything later.
"""

from __future__ import annotations

import ipaddress

from signals.settings import Settings


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _binds(settings: Settings) -> list[tuple[str, str]]:
    return [("ingest.host", settings.ingest.host), ("integrity.host", settings.integrity.host)]


def check_exposure(settings: Settings) -> list[tuple[str, str]]:
    """What forbids starting, as (key path, problem) pairs; the CLI says where each was set."""
    if settings.auth.keys:
        return []
    problems = [
        (
            where,
            f"{host or '(empty)'} is not loopback and auth.keys is empty: refusing to start "
            "without API keys (run `signals keygen`)",
        )
        for where, host in _binds(settings)
        if not is_loopback(host)
    ]
    if "*" in settings.server.trusted_proxies:
        problems.append(
            (
                "server.trusted_proxies",
                '["*"] believes X-Forwarded-For from every peer, so any client (a local '
                "process, or a web page through the browser) picks the address it is seen "
                "from; without auth.keys nothing else tells clients apart: list the proxies' "
                "own addresses instead, or configure keys (run `signals keygen`)",
            )
        )
    return problems


def startup_warnings(settings: Settings) -> list[str]:
    if not settings.auth.keys:
        return ["auth is off: no API keys configured; listening on loopback only"]
    warnings = []
    if not settings.server.trusted_proxies:
        warnings += [
            f"{where} = {host or '(empty)'} is not loopback and server.trusted_proxies is "
            "empty: behind a load balancer or reverse proxy every client is seen with the "
            "proxy's address, so one client's failed keys rate-limit all keyless requests "
            "(valid keys are never refused): list the proxies in server.trusted_proxies"
            for where, host in _binds(settings)
            if not is_loopback(host)
        ]
    seen: dict[str, str] = {}
    for key in settings.auth.keys:
        if key.sha256 in seen:
            warnings.append(
                f"auth.keys {seen[key.sha256]!r} and {key.name!r} have the same sha256: "
                f"requests with that key authenticate as {seen[key.sha256]!r}"
            )
        seen.setdefault(key.sha256, key.name)
    return warnings
