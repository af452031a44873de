"""The router forwarder on JetStream: the durable consumers of group "router", one per partition.

Whichever instance holds a partition's lease (`signals.jetstream.partitions`) sends its records
to `router.url` in stream order, `router.batch_size` at a time, retrying until the router takes
them (`signals.ingest.router_sender`), and acknowledges the batch only then. An instance that dies
mid-batch leaves it unacknowledged: the next holder sends it again (at-least-once; the router
deduplicates by event_id). One router forwarding serves the whole deployment, whatever the
number of instances. Each user's records keep their order: one partition, one reader, in order.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from signals.ingest.router_sender import RouterSender
from signals.jetstream.partitions import PartitionReaders, open_readers
from signals.jetstream.records import record_lines
from signals.metrics import Metrics
from signals.settings import Settings
from signals.tracing.base import Tracing

GROUP = "router"
STOP_GRACE_SECONDS = 1.0


class StreamForwarder:
    def __init__(
        self, js: JetStreamContext, kv: KeyValue, settings: Settings, metrics: Metrics,
        instance: str, *, tracing: Tracing | None = None,
    ) -> None:  # fmt: skip
        self._js = js
        self._kv = kv
        self._settings = settings
        self._metrics = metrics
        self._instance = instance
        self._stopping = asyncio.Event()
        self._sender = RouterSender(settings.router, metrics, self._stopping, tracing=tracing)
        self._readers: PartitionReaders | None = None

    async def __aenter__(self) -> StreamForwarder:
        self._readers = await open_readers(
            self._js, self._kv, self._settings.journal, group=GROUP, instance=self._instance,
            handle=self._handle,
        )  # fmt: skip
        self._metrics.router_lag.set_function(self.lag_seconds)
        self._readers.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self._stopping.set()
        if self._readers is not None:
            await self._readers.aclose(STOP_GRACE_SECONDS)
        await self._sender.aclose()

    def lag_seconds(self) -> float:
        return self._sender.lag_seconds()

    def readiness(self) -> dict[str, Any]:
        readers = self._readers
        reading_failures = readers.failures if readers else 0
        failing = self._sender.failures > 0 or reading_failures > 0
        details: dict[str, Any] = {
            "status": "degraded" if failing else "ok",
            "lag_seconds": round(self.lag_seconds(), 3),
            "consecutive_failures": self._sender.failures,
            "partitions": readers.partitions if readers else [],
        }
        if failing:
            details["last_error"] = self._sender.last_error or (
                readers.last_error if readers else ""
            )
        return details

    async def _handle(self, partition: int, batch: list[Msg]) -> bool:
        # One not written by signals is skipped: acknowledged with its batch, never sent.
        lines = record_lines((message.data, message.metadata.sequence.stream) for message in batch)
        size = self._settings.router.batch_size
        try:
            for start in range(0, len(lines), size):
                if not await self._sender.deliver(lines[start : start + size], lane=partition):
                    return False
        finally:
            self._sender.caught_up(partition)
        return True
