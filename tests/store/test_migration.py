"""A store written by version 1 (schema 1) opens under this version and answers exactly.

Version 1 kept counts by hour, quarter and minute and users by hour and day, all written with the
events; the files here are built the same way (SQL over the events) from schema 1 itself.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from signals.events import Record
from signals.instants import to_us
from signals.store.base import Batch, Store
from signals.store.postgres import schema as postgres_schema
from signals.store.postgres.rows import INSERT_EVENTS, record_columns
from signals.store.postgres.store import PostgresStore
from signals.store.sqlite import schema as sqlite_schema
from signals.store.sqlite.rows import INSERT_EVENT, record_row
from signals.store.sqlite.store import SqliteStore

from .samples import DAY, HOUR, record, us
from .test_stats import SENTIMENTS, oracle

V1_COUNTS = {"counts_hour": 3600, "counts_quarter": 900, "counts_minute": 60}
V1_USERS = {"users_day": 86_400, "users_hour": 3600}


def v1_rollups(stressed: str) -> list[str]:
    """What version 1's write path had put in its rollups, as SQL over the events."""
    return [
        *(
            f"INSERT INTO {table} SELECT received_us / {level * 10**6} * {level}, signal_type, "
            "sentiment, COUNT(*) FROM events GROUP BY 1, 2, 3"
            for table, level in V1_COUNTS.items()
        ),
        *(
            f"INSERT INTO {table} SELECT received_us / {level * 10**6} * {level}, user_id, "
            f"COUNT(*), SUM({stressed}) FROM events GROUP BY 1, 2"
            for table, level in V1_USERS.items()
        ),
    ]


def history() -> list[Record]:
    rng = random.Random(5)
    return [
        record(
            rng.uniform(-3 * DAY, 0),
            user_id=f"u{rng.randrange(25)}",
            signal_type=rng.choice(["message", "error"]),
            sentiment=rng.choice(SENTIMENTS),
        )
        for _ in range(1500)
    ]


SHAPES = [
    (us(-3 * DAY), us(1), 10_800),
    (us(-DAY - 95), us(-2 * HOUR + 35), 900),
    (us(-HOUR - 0.5), us(-0.25), 30),
]


async def assert_migrated_and_exact(store: Store, records: list[Record]) -> None:
    for since, until, bucket in SHAPES:
        assert await store.stats(since, until, bucket) == oracle(records, [], since, until, bucket)
    assert await store.seal(us(DAY), since_us=0) > 0
    more = [record(-HOUR + 5, user_id="after"), record(-HOUR + 6, user_id="after")]
    assert await store.apply(Batch(records=more)) == 2
    for since, until, bucket in SHAPES:
        got = await store.stats(since, until, bucket)
        assert got == oracle(records + more, [], since, until, bucket)


async def test_a_version_1_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    records = history()
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(f"BEGIN; {sqlite_schema.MIGRATIONS[0]} PRAGMA user_version = 1; COMMIT;")
        # A version 1 file has no `traceparent` column (migration 3 adds it): the last of a row.
        v1_insert = INSERT_EVENT.replace(", traceparent", "").replace(", ?)", ")")
        rows = [record_row(r, to_us(r.received_at))[:-1] for r in records]
        conn.executemany(v1_insert, rows)
        for statement in v1_rollups("sentiment = 'stressed'"):
            conn.execute(statement)
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    conn.close()
    async with await SqliteStore.open(path) as store:
        await assert_migrated_and_exact(store, records)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(sqlite_schema.MIGRATIONS)
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # switched: space comes back
    conn.close()


@pytest.mark.postgres
async def test_a_version_1_postgres_database(url: str) -> None:
    records = history()
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("CREATE TABLE signals_schema (version integer NOT NULL)")
            await conn.execute("INSERT INTO signals_schema (version) VALUES (1)")
            await conn.execute(postgres_schema.MIGRATIONS[0])
            await conn.fetch(INSERT_EVENTS, *record_columns(records))
            for statement in v1_rollups("(sentiment = 'stressed')::int"):
                await conn.execute(statement)
    finally:
        await conn.close()
    async with await PostgresStore.open(url) as store:
        await assert_migrated_and_exact(store, records)
    conn = await asyncpg.connect(url)
    try:
        version = await postgres_schema.schema_version(conn)
    finally:
        await conn.close()
    assert version == len(postgres_schema.MIGRATIONS)
