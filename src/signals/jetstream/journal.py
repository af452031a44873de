"""Appending to the JetStream stream: acknowledged means the stream has it.

Each record is one message on its user's partition subject with `Nats-Msg-Id` = its event_id.
An append publishes all its records at once and awaits their publish acknowledgements together;
concurrent appends share the connection, so many publishes are in flight at any time (the
pipelining JetStream offers in place of the local journal's group commit). An append is answered
once every one of its records is acknowledged: with `replicas` > 1, by a quorum of servers.

JetStream drops a message whose id it saw within the stream's duplicate window and acknowledges
it with `duplicate: true` and the sequence of the copy it kept; `append` reads that copy back so
the request is answered as a duplicate with the first answer (a retry that went to another
instance).

Not connected, no acknowledgement within `journal.timeout_seconds`, or a refusal (no quorum, the
stream gone): `JournalUnavailable`, which the request answers with 503 `unavailable`. Some of
those records may still have been stored; a retry of them answers `duplicate: true`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js.api import PubAck

from signals.errors import JournalClosed, JournalUnavailable
from signals.events import Record
from signals.jetstream.layout import partition_of, subject
from signals.journal.interface import Appended
from signals.journal.position import JournalPosition
from signals.settings import JournalSettings

log = structlog.get_logger(__name__)

MSG_ID = "Nats-Msg-Id"
# Publishes awaiting their acknowledgement, over all appends: past it, an append waits for room.
MAX_IN_FLIGHT = 100_000


class StreamJournal:
    def __init__(self, client: NATS, settings: JournalSettings) -> None:
        self._client = client
        self._js = client.jetstream(
            timeout=settings.timeout_seconds, publish_async_max_pending=MAX_IN_FLIGHT
        )
        self._stream = settings.stream
        self._partitions = settings.partitions
        self._timeout = settings.timeout_seconds
        self._subjects = [subject(settings.stream, p) for p in range(settings.partitions)]
        self._closed = False

    def submit(self, lines: Sequence[bytes], payload: Sequence[Record]) -> asyncio.Future[Appended]:
        return asyncio.ensure_future(self.append(lines, payload))

    async def append(self, lines: Sequence[bytes], payload: Sequence[Record]) -> Appended:
        if self._closed:
            raise JournalClosed("journal is closed")
        if not self._client.is_connected:
            raise JournalUnavailable("not connected to JetStream: nothing was written")
        acks = await self._publish(lines, payload)
        duplicates = [index for index, ack in enumerate(acks) if ack.duplicate]
        earlier: dict[int, bytes] = {}
        if duplicates:
            found = await asyncio.gather(*(self._stored(acks[i].seq, lines[i]) for i in duplicates))
            earlier = dict(zip(duplicates, found, strict=True))
        return Appended(JournalPosition(0, max(ack.seq for ack in acks)), earlier)

    async def _publish(self, lines: Sequence[bytes], payload: Sequence[Record]) -> list[PubAck]:
        futures: list[asyncio.Future[PubAck]] = []
        try:
            async with asyncio.timeout(self._timeout):
                for line, record in zip(lines, payload, strict=True):
                    topic = self._subjects[partition_of(record.user_id, self._partitions)]
                    futures.append(
                        await self._js.publish_async(topic, line, headers={MSG_ID: record.event_id})
                    )
                return list(await asyncio.gather(*futures))
        except TimeoutError:
            raise JournalUnavailable(
                f"JetStream did not acknowledge within {self._timeout} s"
            ) from None
        except (nats.errors.Error, nats.js.errors.Error) as exc:
            raise JournalUnavailable(f"JetStream refused the append: {_reason(exc)}") from None
        finally:
            for future in futures:
                future.cancel()  # no-op once done; frees the slot of one never answered

    async def _stored(self, sequence: int, ours: bytes) -> bytes:
        """The copy JetStream kept under a duplicate id; ours when it cannot be read back."""
        try:
            message = await self._js.get_msg(self._stream, sequence)
        except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
            log.warning("jetstream.duplicate_unreadable", seq=sequence, error=_reason(exc))
            return ours
        return message.data or ours

    async def check(self) -> None:
        if self._closed:
            raise JournalClosed("journal is closed")
        if not self._client.is_connected:
            raise JournalUnavailable("not connected to JetStream")
        try:
            await self._js.stream_info(self._stream)
        except (TimeoutError, nats.errors.Error, nats.js.errors.Error) as exc:
            raise JournalUnavailable(f"stream {self._stream}: {_reason(exc)}") from None

    async def aclose(self) -> None:
        self._closed = True


def _reason(exc: BaseException) -> str:
    description = getattr(exc, "description", None)
    return f"{type(exc).__name__}: {description}" if description else type(exc).__name__
