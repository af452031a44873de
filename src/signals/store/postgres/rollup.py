"""Writing the rollups of `signals.store.rollup` into their PostgreSQL tables.

`roll_up` runs inside the transaction that inserted the events, for the rows that insert
returned (newly stored ones only), one statement per table. Rows go in key order: every
instance sharing the database updates the same few rows of the current slots, and taking their
locks in one order means two transactions wait for each other but never deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from signals.store.postgres.schema import PgConnection
from signals.store.rollup import Fact, deltas

COUNT_TABLES = {3600: "counts_hour", 900: "counts_quarter", 60: "counts_minute"}
USER_TABLES = {86400: "users_day", 3600: "users_hour"}


async def roll_up(conn: PgConnection, facts: Iterable[Fact]) -> None:
    """Add newly stored events to every rollup; call inside the transaction that stored them."""
    changes = deltas(facts)
    for level, count_rows in changes.counts:
        await conn.execute(
            f"INSERT INTO {COUNT_TABLES[level]} AS t (slot, signal_type, sentiment, events) "
            "SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) "
            "ON CONFLICT (slot, signal_type, sentiment) DO UPDATE "
            "SET events = t.events + excluded.events",
            *_columns(sorted(count_rows)),
        )
    for level, user_rows in changes.users:
        await conn.execute(
            f"INSERT INTO {USER_TABLES[level]} AS t (slot, user_id, events, stressed) "
            "SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[]) "
            "ON CONFLICT (slot, user_id) DO UPDATE "
            "SET events = t.events + excluded.events, stressed = t.stressed + excluded.stressed",
            *_columns(sorted(user_rows)),
        )


def _columns(rows: Sequence[tuple[object, object, object, object]]) -> list[list[object]]:
    """Four columns as the four arrays `unnest` takes."""
    return [[row[i] for row in rows] for i in range(4)]
