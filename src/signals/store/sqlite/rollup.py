"""Writing the rollups of `signals.store.rollup` into their SQLite tables.

Each level has its own WITHOUT ROWID table keyed by (slot, ...), so one batch's increments,
which all fall in the current few slots, touch a handful of pages. `roll_up` runs inside the
transaction that inserted the rows, and only for rows that insert actually stored.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from signals.store.rollup import Fact, deltas

COUNT_TABLES = {3600: "counts_hour", 900: "counts_quarter", 60: "counts_minute"}
USER_TABLES = {86400: "users_day", 3600: "users_hour"}


async def roll_up(conn: aiosqlite.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Add newly stored event rows (as `sqlite_rows.record_row` makes them) to every rollup."""
    changes = deltas(Fact(row[1], row[3], row[4], row[5]) for row in rows)
    for level, count_rows in changes.counts:
        await conn.executemany(
            f"INSERT INTO {COUNT_TABLES[level]} (slot, signal_type, sentiment, events) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET events = events + excluded.events",
            count_rows,
        )
    for level, user_rows in changes.users:
        await conn.executemany(
            f"INSERT INTO {USER_TABLES[level]} (slot, user_id, events, stressed) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
            "events = events + excluded.events, stressed = stressed + excluded.stressed",
            user_rows,
        )
