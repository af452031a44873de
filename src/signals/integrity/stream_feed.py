"""Feeding the store consumer from JetStream: the durable consumers of the store's group.

Whichever instance holds a partition's lease (`signals.jetstream.partitions`) pulls its records
in stream order, reserves room in the backlog for them (a slow store slows the pulling, not
ingest: the stream holds the rest), and hands them to the consumer through the handoff; once the
consumer's transaction stored them, the batch is acknowledged to JetStream. The consumers' ack
floor is the store's checkpoint: an instance that dies between the two leaves its batch
unacknowledged, and the next holder stores it again (records are idempotent by event_id).
"""

from __future__ import annotations

import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from signals.accept.backlog import Backlog, BacklogFull
from signals.integrity.handoff import Handoff
from signals.jetstream.partitions import PartitionReaders, open_readers
from signals.jetstream.records import decode_messages
from signals.settings import JournalSettings

log = structlog.get_logger(__name__)

RESERVE_WAIT_SECONDS = 60.0


class StreamFeed:
    def __init__(self, handoff: Handoff, backlog: Backlog) -> None:
        self._handoff = handoff
        self._backlog = backlog
        self.readers: PartitionReaders | None = None

    async def open(
        self, js: JetStreamContext, kv: KeyValue, settings: JournalSettings, *, group: str,
        instance: str,
    ) -> None:  # fmt: skip
        self.readers = await open_readers(
            js, kv, settings, group=group, instance=instance, handle=self._handle
        )
        self.readers.start()

    async def aclose(self, grace_seconds: float) -> None:
        """Stop pulling; batches being stored get `grace_seconds` to be acknowledged."""
        if self.readers is not None:
            await self.readers.aclose(grace_seconds)

    async def _handle(self, partition: int, batch: list[Msg]) -> bool:
        # One not written by signals is skipped: acknowledged with its batch, never stored.
        records = decode_messages(
            (message.data, message.metadata.sequence.stream) for message in batch
        )
        if not records:
            return True
        while True:
            try:
                await self._backlog.reserve(len(records), RESERVE_WAIT_SECONDS)
                break
            except BacklogFull:
                continue
        await self._handoff.pulled(records)
        return True
