"""The queue from the journal's commit callback into the store consumer, in journal order.

The journal writer calls `Handoff.on_commit` once per durable group, in the order of the journal;
the consumer takes `Committed` items from `queue`. `close` puts the end marker (`None`) after the
last group, so everything committed before it is consumed.

On JetStream the partition readers (`signals.jetstream.partitions`) hand in what they pulled with
`pulled`, and wait for `done` before they acknowledge it to the stream: the ack floor, not a
position, is then the checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from typing import NamedTuple

from signals.events import Record
from signals.journal.position import JournalPosition


class Committed(NamedTuple):
    """Records the journal made durable, with the position just after them (local journal) or
    the future to resolve once they are stored (JetStream)."""

    records: list[Record]
    position: JournalPosition | None
    enqueued_at: float  # monotonic, for the consumer lag
    done: asyncio.Future[None] | None = None


class Handoff:
    """The queue from the journal's commit callback to the consumer; `None` ends it."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Committed | None] = asyncio.Queue()

    def on_commit(self, payload: object, position: JournalPosition) -> None:
        assert isinstance(payload, list)
        self.queue.put_nowait(Committed(payload, position, time.monotonic()))

    def pulled(self, records: list[Record]) -> asyncio.Future[None]:
        """Hand in records pulled from the stream; the future resolves once they are stored."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(Committed(records, None, time.monotonic(), done))
        return done

    def close(self) -> None:
        self.queue.put_nowait(None)

    def oldest_enqueued(self) -> float | None:
        """When the oldest waiting batch was committed (monotonic), None when none waits."""
        for item in self.queue._queue:  # type: ignore[attr-defined]  # asyncio.Queue's deque
            if item is not None:
                return float(item.enqueued_at)
        return None
