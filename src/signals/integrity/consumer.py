"""The store consumer: journaled records, in journal order, into the store in batches.

Each step takes everything waiting (up to `store.batch_max` records), runs detection (windows
and episodes, `signals.integrity.detection`) over them, and writes records, episode changes, new
alert deliveries and the consumer's journal checkpoint in ONE store transaction, so the
checkpoint never runs ahead of what is stored. With tracing on, each step is a `store batch` span
linked to its records' requests. A failing store is retried with capped backoff,
never skipped: the records are in the journal, and the backlog bound pushes back on producers
meanwhile. Records pulled from JetStream carry no position: their checkpoint is the stream's
ack floor, advanced by the partition reader once the step's transaction committed (`done`).

At start, `catch_up` replays the journal from the checkpoint before anything new is accepted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import structlog

from signals.accept.backlog import Backlog
from signals.events import Record
from signals.integrity.detection import Detection
from signals.integrity.handoff import Committed, Handoff
from signals.journal.position import START, JournalPosition
from signals.journal.records import decode_record
from signals.metrics import Metrics
from signals.retrying import retry_forever
from signals.store.base import Batch, Store
from signals.tracing.base import Tracing

log = structlog.get_logger(__name__)

TICK_SECONDS = 0.5
# A store transaction costs about as much as a dozen records on its own (SQLite: BEGIN, the
# commit's WAL pages, the checkpoint row): 50 ms of gathering keeps it a small share of each
# record's cost at any rate, well within the time detection may take (an anomaly is due < 1 s).
LINGER_SECONDS = 0.05
FIRST_RETRY_SECONDS = 0.05
MAX_RETRY_SECONDS = 5.0


class Consumer:
    def __init__(
        self,
        *,
        handoff: Handoff,
        store: Store,
        backlog: Backlog,
        metrics: Metrics,
        checkpoint_name: str | None,
        batch_max: int,
        detection: Detection | None = None,
        clock: Callable[[], float] = time.time,
        linger_seconds: float = LINGER_SECONDS,
        on_stored: Callable[[list[Record]], None] | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._handoff = handoff
        self._queue = handoff.queue
        self._store = store
        self._backlog = backlog
        self._checkpoint_name = checkpoint_name
        self._batch_max = batch_max
        self._detection = detection
        self._clock = clock
        self._linger = linger_seconds
        self._on_stored = on_stored
        self._tracing = tracing or Tracing()
        self.position: JournalPosition = START
        self.oldest_pending: float | None = None  # monotonic time the oldest waiting batch came
        # Read at each scrape: a consumer stuck retrying a store write sets nothing meanwhile,
        # and its lag is exactly what must show then.
        metrics.consumer_lag.set_function(self.lag_seconds)
        metrics.queue_depth.set_function(lambda: backlog.used)

    async def run(self) -> None:
        """Consume until the handoff is closed; everything before the close is stored."""
        last_tick = time.monotonic()
        while True:
            if time.monotonic() - last_tick >= TICK_SECONDS:
                # Under sustained load the queue is never empty for a whole tick: time must
                # still close the episodes whose window has passed.
                await self._tick()
                last_tick = time.monotonic()
            try:
                first = await asyncio.wait_for(self._queue.get(), TICK_SECONDS)
            except TimeoutError:
                await self._tick()
                last_tick = time.monotonic()
                continue
            if first is None:
                return
            items = [first]
            done = self._drain(items)
            if not done and self._linger and self._count(items) < self._batch_max:
                # A store transaction has a fixed cost far above a record's: under a trickle of
                # single events, gathering a few milliseconds' worth keeps that cost shared.
                await asyncio.sleep(self._linger)
                done = self._drain(items)
            await self._consume(items)
            if done:
                return

    @staticmethod
    def _count(items: list[Committed]) -> int:
        return sum(len(item.records) for item in items)

    def _drain(self, items: list[Committed]) -> bool:
        """Take what waits, up to batch_max records; True when the close sentinel came."""
        count = self._count(items)
        while count < self._batch_max and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return True
            items.append(item)
            count += len(item.records)
        return False

    async def _consume(self, items: list[Committed]) -> None:
        self.oldest_pending = items[0].enqueued_at
        records = [record for item in items for record in item.records]
        position = items[-1].position
        with self._tracing.store_batch(records):
            detected = await self._detection.detect(records) if self._detection else None
            batch = Batch(
                records=records,
                episodes=detected.episodes if detected else [],
                deliveries=detected.deliveries if detected else [],
                checkpoint_name=self._checkpoint_name if position is not None else None,
                checkpoint=position,
            )
            await self._apply(batch)
        if position is not None:
            self.position = position
        for item in items:
            if item.done is not None and not item.done.done():
                item.done.set_result(None)
        if self._on_stored is not None:
            self._on_stored(records)
        self._backlog.release(len(records))
        self.oldest_pending = self._handoff.oldest_enqueued()
        if detected and self._detection:
            self._detection.committed(detected)

    async def _tick(self) -> None:
        if self._detection is None:
            return
        detected = await self._detection.tick(self._clock())
        if detected.episodes or detected.deliveries:
            await self._apply(
                Batch(records=[], episodes=detected.episodes, deliveries=detected.deliveries)
            )
            self._detection.committed(detected)

    async def _apply(self, batch: Batch) -> None:
        """Store `batch`, retrying until the store takes it: nothing is ever skipped."""

        async def attempt() -> None:
            try:
                await self._store.apply(batch)
            except Exception:
                log.exception("store write failed; retrying", records=len(batch.records))
                raise

        await retry_forever(attempt, first_wait=FIRST_RETRY_SECONDS, max_wait=MAX_RETRY_SECONDS)

    def lag_seconds(self) -> float:
        oldest = self.oldest_pending
        return 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)


def checkpoint_name(instance: str) -> str:
    """The store checkpoint the consumer of `instance` resumes from (local journal)."""
    return f"store:{instance}"


async def catch_up(
    reader: Callable[[JournalPosition], AsyncIterator[tuple[bytes, JournalPosition]]],
    store: Store,
    checkpoint_name: str,
    batch_max: int,
    directory: Path,
) -> tuple[JournalPosition, int]:
    """Replay the journal from the store's checkpoint; returns the end position and new records.

    `reader(start)` is the journal's `read`: an async iterator of (line, position after it);
    `directory` is the journal's, to name a damaged file (`JournalCorrupt`).
    """
    start = await store.checkpoint(checkpoint_name) or START
    records: list[Record] = []
    position = start
    added = 0
    async for line, after in reader(start):
        records.append(decode_record(line, after, directory))
        position = after
        if len(records) >= batch_max:
            added += await store.apply(
                Batch(records=records, checkpoint_name=checkpoint_name, checkpoint=position)
            )
            records = []
    if records or position != start:
        added += await store.apply(
            Batch(records=records, checkpoint_name=checkpoint_name, checkpoint=position)
        )
    if added:
        log.info("store caught up from the journal", records=added, checkpoint=str(position))
    return position, added
