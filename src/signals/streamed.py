"""The JetStream journal as `signals serve` runs it: the composition of its parts.

    open:  connect (JetStream checked, sync warnings logged) -> the stream, created or checked
           -> the lease bucket -> the store feed's consumers (its readers start pulling; the
           store consumer task takes what they hand in once the runtime starts it)
    close: the store feed stops pulling and its last batches are stored and acknowledged ->
           appends refused -> (the runtime drains the consumer, stops the router forwarder)
           -> the connection closes

`signals.runtime` opens it for `journal.backend = "jetstream"` instead of the local journal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue

from signals.accept.backlog import Backlog
from signals.events import Record
from signals.ingest.stream_forwarder import StreamForwarder
from signals.integrity.handoff import Handoff
from signals.integrity.stream_feed import StreamFeed
from signals.jetstream.connection import connect, sync_warnings
from signals.jetstream.journal import StreamJournal
from signals.jetstream.layout import store_group
from signals.jetstream.provision import ensure_leases, ensure_stream
from signals.journal.interface import Appended
from signals.metrics import Metrics
from signals.settings import Settings
from signals.tracing.base import Tracing

log = structlog.get_logger(__name__)


class Streamed:
    """The journal backend (append, check, close) with the store feed it owns."""

    def __init__(
        self, settings: Settings, client: NATS, kv: KeyValue, feed: StreamFeed, instance: str
    ) -> None:
        self._settings = settings
        self.client = client
        self.kv = kv
        self.feed = feed
        self._instance = instance
        self._journal = StreamJournal(client, settings.journal)
        self._closed = False

    def submit(self, lines: Sequence[bytes], payload: Sequence[Record]) -> asyncio.Future[Appended]:
        return self._journal.submit(lines, payload)

    async def check(self) -> None:
        await self._journal.check()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._journal.aclose()
        await self.feed.aclose(self._settings.server.shutdown_timeout_seconds / 2)

    def forwarder(self, metrics: Metrics, tracing: Tracing) -> StreamForwarder:
        return StreamForwarder(
            self.client.jetstream(timeout=self._settings.journal.timeout_seconds), self.kv,
            self._settings, metrics, self._instance, tracing=tracing,
        )  # fmt: skip


async def open_streamed(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    *,
    handoff: Handoff,
    backlog: Backlog,
    instance: str,
) -> Streamed:
    journal = settings.journal
    client = await connect(journal)
    stack.push_async_callback(client.close)
    for warning in await sync_warnings(journal):
        log.warning(warning)
    js = client.jetstream(timeout=journal.timeout_seconds)
    await ensure_stream(js, journal)
    kv = await ensure_leases(js, journal)
    feed = StreamFeed(handoff, backlog)
    streamed = Streamed(settings, client, kv, feed, instance)
    stack.push_async_callback(streamed.aclose)
    group = store_group(settings.store.backend == "postgres", instance)
    await feed.open(js, kv, journal, group=group, instance=instance)
    log.info("jetstream.journal_opened", stream=journal.stream, replicas=journal.replicas,
             partitions=journal.partitions, store_group=group)  # fmt: skip
    return streamed
