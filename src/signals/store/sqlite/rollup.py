"""The SQLite rollup tables: the write path's increments, and the names of every level's table.

Each level has its own WITHOUT ROWID table keyed by (slot, ...), so one batch's increments,
which all fall in the current few slots, touch a handful of pages. `roll_up` runs inside the
transaction that inserted the rows, and only for rows that insert actually stored.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from signals.store.rollup import COUNT_TABLES, Fact, deltas


async def roll_up(conn: aiosqlite.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Add newly stored event rows (as `sqlite_rows.record_row` makes them) to the rollups the
    write path keeps: counts at every level, users at the finest."""
    changes = deltas(Fact(row[1], row[3], row[4], row[5]) for row in rows)
    for level, count_rows in changes.counts:
        await conn.executemany(
            f"INSERT INTO {COUNT_TABLES[level]} (slot, signal_type, sentiment, events) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET events = events + excluded.events",
            count_rows,
        )
    await conn.executemany(
        "INSERT INTO users_10s (slot, user_id, events, stressed) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO UPDATE SET "
        "events = events + excluded.events, stressed = stressed + excluded.stressed",
        changes.users,
    )
