"""`signals replay`: rebuild the store from the journal, compressed segments included.

Run while the service is stopped (the journal's directory lock refuses a running one). Records
are idempotent by event_id, so replaying into a store that already holds some of them adds only
the missing ones; replaying into an empty store (a new SQLite file, or a new PostgreSQL
database) moves everything. The store's checkpoint for this instance is set to the journal's
end, so the next start does not replay again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import structlog

from signals.events import Record, record_decoder
from signals.journal.position import START, JournalPosition
from signals.journal.reader import iter_records
from signals.journal.recovery import in_use
from signals.runtime import instance_id
from signals.settings import Settings
from signals.store.base import Batch
from signals.store.factory import open_store

log = structlog.get_logger(__name__)


async def replay(settings: Settings) -> tuple[int, int]:
    """Returns (records newly stored, records read from the journal)."""
    directory = settings.data_path / "journal"
    if in_use(directory):
        raise RuntimeError(f"{directory} is in use: stop the service before `signals replay`")
    checkpoint = f"store:{instance_id(settings.data_path)}"
    store = await open_store(settings)
    stored = total = 0
    try:
        position: JournalPosition = START
        lines = iter_records(directory)
        while True:
            chunk = await asyncio.to_thread(_take, lines, settings.store.batch_max)
            if not chunk:
                break
            batch: list[Record] = [record_decoder.decode(line) for line, _ in chunk]
            position = chunk[-1][1]
            total += len(batch)
            stored += await store.apply(
                Batch(records=batch, checkpoint_name=checkpoint, checkpoint=position)
            )
            if total % 100_000 < len(batch):
                log.info("replaying", records=total, stored=stored)
    finally:
        await store.aclose()
    return stored, total


def _take(
    lines: Iterator[tuple[bytes, JournalPosition]], count: int
) -> list[tuple[bytes, JournalPosition]]:
    taken = []
    for item in lines:
        taken.append(item)
        if len(taken) >= count:
            break
    return taken
