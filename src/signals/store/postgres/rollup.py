"""The PostgreSQL rollup tables: the write path's increments, and each level's table name.

`roll_up` runs inside the transaction that inserted the events, for the rows that insert
returned (newly stored ones only), one statement per table. Rows go in key order: every
instance sharing the database updates the same few rows of the current slots, and taking their
locks in one order means two transactions wait for each other but never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from signals.store.postgres.schema import PgConnection
from signals.store.rollup import COUNT_TABLES, Fact, deltas


async def roll_up(conn: PgConnection, facts: Iterable[Fact]) -> None:
    """Add newly stored events to the rollups the write path keeps (counts at every level,
    users at the finest); call inside the transaction that stored them."""
    changes = deltas(facts)
    for level, count_rows in changes.counts:
        await conn.execute(
            f"INSERT INTO {COUNT_TABLES[level]} AS t (slot, signal_type, sentiment, events) "
            "SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) "
            "ON CONFLICT (slot, signal_type, sentiment) DO UPDATE "
            "SET events = t.events + excluded.events",
            *_columns(sorted(count_rows)),
        )
    await conn.execute(
        "INSERT INTO users_10s AS t (slot, user_id, events, stressed) "
        "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[]) "
        "ON CONFLICT (slot, user_id) DO UPDATE "
        "SET events = t.events + excluded.events, stressed = t.stressed + excluded.stressed",
        *_columns(sorted(changes.users)),
    )


def _columns(rows: Sequence[tuple[object, object, object, object]]) -> list[list[object]]:
    """Four columns as the four arrays `unnest` takes."""
    return [[row[i] for row in rows] for i in range(4)]
