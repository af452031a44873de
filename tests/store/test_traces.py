"""Trace context in the store: records and deliveries keep theirs; older rows read back without.

Runs against every backend; the schema step (migration 2) on an SQLite store written before it is
here, PostgreSQL's in `test_postgres`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from signals.store.base import AlertQuery, Batch, SignalQuery, Store
from signals.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS
from signals.store.sqlite.store import SqliteStore

from .samples import BASE_US, delivery, record

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"
NOW = BASE_US / 1_000_000


async def test_a_records_trace_round_trips(store: Store) -> None:
    traced = record(1, trace_id=TRACE, traceparent=TRACEPARENT)
    untraced = record(2)
    await store.apply(Batch(records=[traced, untraced]))
    stored = await store.get_records([traced.event_id, untraced.event_id])
    assert stored == {traced.event_id: traced, untraced.event_id: untraced}
    assert [item async for item in store.export(SignalQuery())] == [traced, untraced]
    assert (await store.signals(SignalQuery())).items == [untraced, traced]


async def test_a_deliverys_traceparent_survives_claims_and_saves(store: Store) -> None:
    traced = delivery(0, next_attempt_at=NOW - 1, traceparent=TRACEPARENT)
    await store.apply(Batch(records=[], deliveries=[traced]))
    (claimed,) = await store.claim_deliveries(NOW, 10, 30.0)
    assert claimed.traceparent == TRACEPARENT
    claimed.status = "delivered"
    await store.save_delivery(claimed)
    (listed,) = (await store.deliveries(AlertQuery())).items
    assert listed.traceparent == TRACEPARENT
    assert listed.status == "delivered"


async def test_an_sqlite_store_from_before_traces_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "signals.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SQLITE_MIGRATIONS[0] + "\nPRAGMA user_version = 1;")
        conn.execute(
            "INSERT INTO events (event_id, received_us, received_at, user_id, signal_type, "
            "sentiment, sentiment_cues, request_id) VALUES ('old', ?, ?, 'u', 'chat', "
            "'neutral', '[]', 'r')",
            (BASE_US, "2025-01-06T10:00:00.000000+00:00"),
        )
        conn.execute(
            "INSERT INTO deliveries (id, episode_id, type, payload, status, created_at, "
            "created_us, next_attempt_at, attempts) VALUES ('msg_old', 'ep', "
            "'anomaly.critical', x'7b7d', 'pending', '2025-01-06T10:00:00Z', ?, 0, '[]')",
            (BASE_US,),
        )
    async with await SqliteStore.open(path) as store:
        old = (await store.get_records(["old"]))["old"]
        assert (old.trace_id, old.traceparent) == (None, None)
        (pending,) = await store.due_deliveries(NOW, 10)
        assert pending.traceparent is None
        traced = record(5, trace_id=TRACE, traceparent=TRACEPARENT)
        await store.apply(Batch(records=[traced]))
        assert (await store.get_records([traced.event_id]))[traced.event_id] == traced
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(SQLITE_MIGRATIONS)
