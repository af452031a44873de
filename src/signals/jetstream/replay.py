"""Reading the whole stream back, for `signals replay` on the JetStream journal.

An ephemeral consumer (no acknowledgements, removed by the server soon after) reads every
message from the stream's first to the last one there when the replay began; the durable
consumers and their ack floors are not touched, so the service may keep running meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats.errors
from nats.js import api

from signals.errors import StreamRefused
from signals.events import Record
from signals.jetstream.connection import connect
from signals.jetstream.layout import FETCH_MAX
from signals.jetstream.records import decode_messages
from signals.settings import JournalSettings

INACTIVE_SECONDS = 60.0
FETCH_WAIT_SECONDS = 5.0


async def stream_batches(settings: JournalSettings) -> AsyncIterator[list[Record]]:
    """The stream's records, in stream order, a batch at a time."""
    client = await connect(settings)
    try:
        js = client.jetstream(timeout=settings.timeout_seconds)
        try:
            info = await js.stream_info(settings.stream)
        except nats.js.errors.NotFoundError:
            raise StreamRefused(
                f"no JetStream stream {settings.stream!r}: nothing to replay"
            ) from None
        last = info.state.last_seq
        if info.state.messages == 0:
            return
        subscription = await js.pull_subscribe(
            f"{settings.stream}.events.*",
            stream=settings.stream,
            config=api.ConsumerConfig(
                ack_policy=api.AckPolicy.NONE,
                deliver_policy=api.DeliverPolicy.ALL,
                inactive_threshold=INACTIVE_SECONDS,
            ),
        )
        seen = 0
        while seen < last:
            try:
                batch = await subscription.fetch(FETCH_MAX, timeout=FETCH_WAIT_SECONDS)
            except nats.errors.TimeoutError:
                return  # the rest was removed (retention) while we read
            seen = batch[-1].metadata.sequence.stream
            yield decode_messages(
                (message.data, message.metadata.sequence.stream) for message in batch
            )
        await subscription.unsubscribe()
    finally:
        await client.close()
