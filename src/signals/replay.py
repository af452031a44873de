"""`signals replay`: rebuild the store from the journal, compressed segments included.

Run while the service is stopped. Replay opens the journal as the service would (taking its
directory lock, so a running service makes it refuse and a service started meanwhile refuses
to start; a torn last line is truncated with the same warning), then reads every segment.
Records are idempotent by event_id, so replaying into a store that already holds some of them
adds only the missing ones; replaying into an empty store (a new SQLite file, or a new
PostgreSQL database) moves everything. The store's checkpoint for this instance is set to the
journal's end, so the next start does not replay again.

A new store has no router checkpoint either: with `router.url` set, the next start forwards
the whole journal again (at-least-once; the router deduplicates by event_id).

Progress (`signals.progress`): records done of the total, the rate and the time left, live on a
terminal, else a log line every few seconds. The total is counted in a thread while the replay
runs (newlines only, no decoding), so the replay does not wait for it; until it is known the
line shows the records done and the rate.

On JetStream (`journal.backend = "jetstream"`) replay reads the stream instead
(`signals.jetstream.replay`): every message still in it, into the store, idempotent as above. It
needs no lock (the consumers' ack floors are left as they are) and may run beside the service.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Iterator

from signals.errors import FilesUnusable, JournalLocked
from signals.events import Record
from signals.integrity.consumer import checkpoint_name
from signals.journal.position import JournalPosition
from signals.journal.reader import count_lines, iter_records
from signals.journal.records import decode_record
from signals.journal.recovery import recover
from signals.progress import Progress
from signals.runtime import instance_id
from signals.settings import Settings
from signals.store.base import Batch
from signals.store.factory import open_store


async def replay(settings: Settings, progress: Progress | None = None) -> tuple[int, int]:
    """Returns (records newly stored, records read from the journal).

    `progress` (entered here) reports as it goes; by default a live line on a terminal, else
    log lines.
    Raises `FilesUnusable` when there is no journal, `JournalLocked` while the service holds it.
    """
    if settings.journal.backend == "jetstream":
        with progress or Progress("replay", "records") as shown:
            return await _replay_stream(settings, shown)
    directory = settings.data_path / "journal"
    if not directory.is_dir():
        raise FilesUnusable(f"no journal at {directory}: nothing to replay")
    try:
        recovered = await asyncio.to_thread(recover, directory)
    except JournalLocked:
        raise JournalLocked(
            errno.EBUSY, f"{directory} is in use: stop the service before `signals replay`"
        ) from None
    try:
        with progress or Progress("replay", "records") as shown:
            return await _replay(settings, shown)
    finally:
        recovered.active.close()
        os.close(recovered.lock)


async def _replay(settings: Settings, progress: Progress) -> tuple[int, int]:
    checkpoint = checkpoint_name(instance_id(settings.data_path))
    directory = settings.data_path / "journal"
    stop = threading.Event()
    counting = asyncio.create_task(asyncio.to_thread(count_lines, directory, stop=stop))
    lines = iter_records(directory)
    stored = total = 0
    store = await open_store(settings)
    try:
        while chunk := await asyncio.to_thread(_take, lines, settings.store.batch_max):
            batch: list[Record] = [decode_record(line, after, directory) for line, after in chunk]
            total += len(batch)
            stored += await store.apply(
                Batch(records=batch, checkpoint_name=checkpoint, checkpoint=chunk[-1][1])
            )
            progress.update(total, total=_counted(counting), stored=stored)
    finally:
        stop.set()
        await store.aclose()
        # A count that failed (a damaged `.gz`) only loses the total; the replay reports the damage.
        await asyncio.gather(counting, return_exceptions=True)
    progress.update(total, total=total, stored=stored)
    return stored, total


async def _replay_stream(settings: Settings, progress: Progress) -> tuple[int, int]:
    from signals.jetstream.replay import stream_batches  # noqa: PLC0415  (only on JetStream)

    stored = total = 0
    store = await open_store(settings)
    try:
        async for batch in stream_batches(settings.journal):
            if not batch:
                continue
            total += len(batch)
            stored += await store.apply(Batch(records=batch))
            progress.update(total, stored=stored)
    finally:
        await store.aclose()
    progress.update(total, total=total, stored=stored)
    return stored, total


def _counted(counting: asyncio.Task[int | None]) -> int | None:
    if not counting.done() or counting.cancelled() or counting.exception() is not None:
        return None
    return counting.result()


def _take(
    lines: Iterator[tuple[bytes, JournalPosition]], count: int
) -> list[tuple[bytes, JournalPosition]]:
    taken = []
    for item in lines:
        taken.append(item)
        if len(taken) >= count:
            break
    return taken
