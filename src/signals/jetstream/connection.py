"""The one NATS connection of a process, and what is checked before it is trusted.

At start: the servers answer within `journal.timeout_seconds` (else `DependencyUnavailable`,
exit 1), run nats-server 2.10 or newer and have JetStream enabled (else `StreamRefused`, exit 1).
While running, the client reconnects forever, trying every URL; the journal answers 503
`unavailable` meanwhile. One log line when the connection is lost and one when it is back, not
one per attempt.

What an acknowledgement is worth depends on the servers' `sync_interval`, which a client cannot
ask for: `sync_warnings` reads it from their monitoring endpoints (`journal.monitoring_url`,
`/varz`) or takes the operator's word (`journal.server_sync`), and names every server that does
not fsync each write before it acknowledges.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS

from signals.errors import DependencyUnavailable, StreamRefused
from signals.settings import JournalSettings
from signals.urls import masked_url

log = structlog.get_logger(__name__)

MINIMUM_SERVER = (2, 10)
RECONNECT_WAIT_SECONDS = 0.5


class _Outage:
    """Logs a lost connection once, and its end once."""

    def __init__(self) -> None:
        self.down = False
        self.client: NATS | None = None

    def _closing(self) -> bool:
        return self.client is not None and self.client.is_closed

    async def on_error(self, exc: Exception) -> None:
        if not self.down and not self._closing():
            log.warning("jetstream.connection_error", error=f"{type(exc).__name__}: {exc}")

    async def on_disconnected(self) -> None:
        if not self.down and not self._closing():
            self.down = True
            log.error("jetstream.disconnected: appends answer 503 until it is back")

    async def on_reconnected(self) -> None:
        self.down = False
        log.info("jetstream.reconnected")


def shown(settings: JournalSettings) -> str:
    return ", ".join(masked_url(url) for url in settings.urls)


async def connect(settings: JournalSettings) -> NATS:
    """A connection to the cluster with JetStream checked; the caller closes it."""
    outage = _Outage()
    try:
        # The client retries a first connection forever when told to reconnect forever.
        async with asyncio.timeout(settings.timeout_seconds):
            client = await nats.connect(
                servers=settings.urls,
                name="signals",
                connect_timeout=min(2.0, settings.timeout_seconds),
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=RECONNECT_WAIT_SECONDS,
                error_cb=outage.on_error,
                disconnected_cb=outage.on_disconnected,
                reconnected_cb=outage.on_reconnected,
            )
    except TimeoutError:
        raise DependencyUnavailable(
            "NATS", shown(settings), f"no answer within {settings.timeout_seconds} s"
        ) from None
    except (OSError, nats.errors.Error) as exc:
        raise DependencyUnavailable("NATS", shown(settings), f"{type(exc).__name__}") from None
    outage.client = client
    try:
        await _check_server(client, settings)
    except BaseException:
        await client.close()
        raise
    return client


async def _check_server(client: NATS, settings: JournalSettings) -> None:
    version = client.connected_server_version
    if (version.major, version.minor) < MINIMUM_SERVER:
        raise StreamRefused(
            f"nats-server {version} at {shown(settings)} is older than 2.10, which the "
            "JetStream journal needs (stream metadata, sync_interval): upgrade the servers"
        )
    try:
        await client.jetstream(timeout=settings.timeout_seconds).account_info()
    except (nats.js.errors.ServiceUnavailableError, nats.errors.NoRespondersError):
        raise StreamRefused(
            f"the NATS server at {shown(settings)} has no JetStream: enable it (`jetstream {{}}` "
            'in its configuration, or -js) or set journal.backend = "local"'
        ) from None
    except nats.js.errors.APIError as exc:
        raise StreamRefused(
            f"JetStream at {shown(settings)} refused its account: {exc.description}"
        ) from None
    except (TimeoutError, nats.errors.TimeoutError):
        raise DependencyUnavailable("JetStream", shown(settings), "no answer") from None


async def sync_warnings(settings: JournalSettings) -> list[str]:
    """One line per server known not to fsync every write before acknowledging it."""
    warnings = []
    if settings.server_sync == "interval":
        warnings.append(
            'journal.server_sync = "interval": the JetStream servers acknowledge before they '
            "fsync; events acknowledged since their last sync are lost if a quorum of them "
            "loses power at once (README: The journal on JetStream)"
        )
    async with httpx.AsyncClient(timeout=settings.timeout_seconds) as http:
        for url in settings.monitoring_urls:
            found = await _sync_setting(http, url)
            if found is not None:
                warnings.append(found)
    return warnings


async def _sync_setting(http: httpx.AsyncClient, url: str) -> str | None:
    where = masked_url(url)
    try:
        response = await http.get(url.rstrip("/") + "/varz")
        config: dict[str, Any] = response.json().get("jetstream", {}).get("config", {})
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return f"cannot read {where}/varz to check sync_interval: {type(exc).__name__}"
    if config.get("sync_always"):
        return None
    interval = config.get("sync_interval", 0) / 1e9
    every = f"every {interval:g} s" if interval else "on its default interval (2 min)"
    return (
        f"JetStream server {where} fsyncs {every}, not before each acknowledgement "
        "(sync_interval: always): acknowledged events can be lost if a quorum of servers loses "
        "power at once (README: The journal on JetStream)"
    )
