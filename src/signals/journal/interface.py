"""What the service needs of a journal, whichever backend keeps it (local segments, JetStream).

    backend    an append is answered after        the store and router read   their checkpoint
    local      its group's fsync (journal.fsync)  the commit callback and     a row in the store
                                                  the segments
    jetstream  the stream's publish ack (from a   durable pull consumers      JetStream's ack
               quorum when `replicas` > 1)                                    floor

The accept path sees only `submit`; the runtime opens one backend and wires its consumers
(`signals.runtime` for the local journal, `signals.jetstream.wiring` for JetStream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from signals.events import Record
from signals.journal.position import JournalPosition
from signals.journal.writer import Journal

NO_EARLIER: Mapping[int, bytes] = {}


class Appended(NamedTuple):
    """What one append made durable."""

    position: JournalPosition
    # Lines the journal already held under the same event_id (a retry that reached another
    # instance): their index in the append, and the line stored first. Never written twice.
    earlier: Mapping[int, bytes] = NO_EARLIER


class JournalBackend(Protocol):
    def submit(self, lines: Sequence[bytes], payload: Sequence[Record]) -> asyncio.Future[Appended]:
        """Start making `lines` (the encoded `payload`, one line per record) durable: the future
        settles once they are, or with `JournalError` having acknowledged none of them.
        Cancelling it does not take the lines back. A future rather than a coroutine, so the
        request path runs no task of its own per append."""
        ...

    async def check(self) -> None:
        """For `/ready`: raise unless appends can be made durable now."""
        ...

    async def aclose(self) -> None: ...


class LocalJournal:
    """The segment journal in `data_dir/journal` behind the interface: it knows no duplicates
    (the idempotency index in front of it keeps them out)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def submit(self, lines: Sequence[bytes], payload: Sequence[Record]) -> asyncio.Future[Appended]:
        written = self.journal.submit(lines, payload)
        appended: asyncio.Future[Appended] = written.get_loop().create_future()
        written.add_done_callback(lambda done: _settle(appended, done))
        return appended

    async def check(self) -> None:
        await self.journal.check()

    async def aclose(self) -> None:
        await self.journal.aclose()


def _settle(appended: asyncio.Future[Appended], written: asyncio.Future[JournalPosition]) -> None:
    if appended.done():
        return
    if written.cancelled():
        appended.cancel()
    elif (error := written.exception()) is not None:
        appended.set_exception(error)
    else:
        appended.set_result(Appended(written.result()))
