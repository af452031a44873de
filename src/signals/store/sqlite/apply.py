"""`SqliteStore.apply`'s transaction, run whole on the writer connection's thread.

aiosqlite hops to its thread and back for every statement: a batch's transaction (BEGIN, the
MAX(seq), the insert, a rollup statement per level, episodes, deliveries, the checkpoint,
COMMIT) was about ten hops, a fixed cost per batch that the store consumer paid on the event
loop's time. Here the whole transaction is one function on that thread, so one hop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import aiosqlite

from signals.journal.position import JournalPosition
from signals.store.sqlite.rollup import roll_up
from signals.store.sqlite.rows import INSERT_DELIVERY, INSERT_EVENT, UPSERT_EPISODE
from signals.store.sqlite.transactions import write_transaction_on_thread

T = TypeVar("T")
UPSERT_CHECKPOINT = (
    "INSERT INTO checkpoints (name, segment, byte_offset) VALUES (?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET "
    "segment = excluded.segment, byte_offset = excluded.byte_offset"
)


class Rows(NamedTuple):
    """One batch as rows: events by id (the first copy of an id wins), episodes, deliveries,
    and the checkpoint to save with them."""

    events: dict[str, tuple[Any, ...]]
    episodes: list[tuple[Any, ...]]
    deliveries: list[tuple[Any, ...]]
    checkpoint: tuple[str, JournalPosition] | None


async def on_thread(conn: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` with the sqlite3 connection on aiosqlite's thread, as its own statements run.

    aiosqlite has no public call for this; `_execute` and `_conn` are what its own methods use.
    """
    return await conn._execute(lambda: work(conn._conn))  # type: ignore[no-untyped-call,no-any-return]


def write(db: sqlite3.Connection, rows: Rows) -> int:
    """The transaction (`write_transaction_on_thread`); returns how many events were new."""
    inserted = 0
    with write_transaction_on_thread(db):
        if rows.events:
            # AUTOINCREMENT never hands out a seq below this, so the rows above it are new.
            (last_seq,) = db.execute("SELECT MAX(seq) FROM events").fetchone()
            values = list(rows.events.values())
            inserted = db.executemany(INSERT_EVENT, values).rowcount
            if inserted:
                roll_up(db, values if inserted == len(values) else _new(db, rows, last_seq))
        if rows.episodes:
            db.executemany(UPSERT_EPISODE, rows.episodes)
        if rows.deliveries:
            db.executemany(INSERT_DELIVERY, rows.deliveries)
        if rows.checkpoint is not None:
            name, position = rows.checkpoint
            db.execute(UPSERT_CHECKPOINT, (name, position.segment, position.offset))
    return inserted


def _new(db: sqlite3.Connection, rows: Rows, last_seq: int | None) -> list[tuple[Any, ...]]:
    """The rows the insert stored when some were there already (a replay after a crash)."""
    stored = db.execute("SELECT event_id FROM events WHERE seq > ?", (last_seq or 0,))
    return [rows.events[event_id] for (event_id,) in stored]
