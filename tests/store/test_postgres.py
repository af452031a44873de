"""What only the PostgreSQL store promises: versioned migrations that instances may run at once,
clear errors for a server it cannot use, and several writers sharing one database."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec
import pytest
from tests.support.postgres_server import free_port_url

from signals.errors import DependencyUnavailable, SchemaTooNew
from signals.journal.position import JournalPosition
from signals.store.base import AlertQuery, AnomalyQuery, Batch, SignalQuery
from signals.store.postgres.schema import MIGRATIONS
from signals.store.postgres.store import PostgresStore
from signals.store.rollup import COUNT_TABLES, USER_TABLES

from .samples import BASE_US, at, delivery, episode, record

pytestmark = pytest.mark.postgres


async def tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        )
    finally:
        await conn.close()
    return {row[0] for row in rows}


async def version(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT version FROM signals_schema"))
    finally:
        await conn.close()


async def test_instances_starting_together_migrate_once(url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(url, pool_size=1) for _ in range(4)))
    try:
        assert await version(url) == len(MIGRATIONS)
        assert {"events", "episodes", "deliveries", "checkpoints", "signals_schema"} <= (
            await tables(url)
        )
        await stores[0].apply(Batch(records=[record(1)]))
    finally:
        for store in stores:
            await store.aclose()
    async with await PostgresStore.open(url) as reopened:  # nothing to do the second time
        assert len((await reopened.signals(SignalQuery())).items) == 1
    assert await version(url) == len(MIGRATIONS)


async def test_a_newer_schema_is_refused_and_left_alone(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE signals_schema (version integer NOT NULL)")
        await conn.execute("INSERT INTO signals_schema VALUES ($1)", len(MIGRATIONS) + 1)
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        await PostgresStore.open(url)
    assert await tables(url) == {"signals_schema"}
    assert await version(url) == len(MIGRATIONS) + 1


async def test_a_failed_migration_changes_nothing(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE deliveries (unrelated text)")  # a foreign table in the way
    finally:
        await conn.close()
    with pytest.raises(DependencyUnavailable, match=r'schema migration failed: .*"deliveries"'):
        await PostgresStore.open(url)
    assert await tables(url) == {"deliveries"}


async def test_an_unreachable_server_is_named_without_its_password() -> None:
    url = free_port_url("postgresql://signals:hunter2@127.0.0.1:{port}/signals")
    with pytest.raises(DependencyUnavailable) as caught:
        await PostgresStore.open(url)
    message = str(caught.value)
    assert "hunter2" not in message
    assert "postgresql://signals:***@127.0.0.1:" in message


async def test_a_missing_database_is_an_error_naming_it(url: str) -> None:
    missing = urlunsplit(urlsplit(url)._replace(path="/signals_no_such_database"))
    with pytest.raises(DependencyUnavailable, match="signals_no_such_database"):
        await PostgresStore.open(missing)


@pytest.mark.parametrize("options", [{"batch_max": 0}, {"pool_size": 0}])
async def test_sizes_must_be_positive(url: str, options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        await PostgresStore.open(url, **options)


async def test_two_instances_share_records_and_keep_their_own_checkpoints(url: str) -> None:
    async with await PostgresStore.open(url) as a, await PostgresStore.open(url) as b:
        same = record(1)
        results = await asyncio.gather(
            a.apply(Batch(records=[same, record(2)], checkpoint_name="store:a",
                          checkpoint=JournalPosition(1, 10))),
            b.apply(Batch(records=[same, record(3)], checkpoint_name="store:b",
                          checkpoint=JournalPosition(7, 70))),
        )  # fmt: skip
        assert sorted(results) == [1, 2]  # the shared event is stored once, by either
        assert len((await a.signals(SignalQuery())).items) == 3
        assert len((await b.signals(SignalQuery())).items) == 3
        assert await a.checkpoint("store:a") == JournalPosition(1, 10)
        assert await a.checkpoint("store:b") == JournalPosition(7, 70)


async def test_episode_writes_from_several_instances_merge_in_any_order(url: str) -> None:
    opened = episode(10, severity="warning", peak_count=11, event_count=1, sample_event_ids=["a"])
    later = msgspec.structs.replace(
        opened, severity="critical", peak_count=16, event_count=3, last_seen_at=at(12),
        sample_event_ids=["a", "b", "c"], alerted=["critical"],
    )  # fmt: skip
    closed = msgspec.structs.replace(later, event_count=4, last_seen_at=at(13), closed_at=at(18),
                                     sample_event_ids=["a", "b", "c", "d"])  # fmt: skip
    async with await PostgresStore.open(url) as store:
        # Commits arrive newest first: nothing moves back, and a closed episode stays closed.
        for snapshot in (closed, later, opened):
            await store.apply(Batch(records=[], episodes=[snapshot]))
        assert (await store.anomalies(AnomalyQuery())).items == [closed]
        assert await store.open_episodes() == []

        # Two partial views of one episode: the union of what each saw.
        one = episode(20, id="ep-shared", sample_event_ids=["x1", "x2"], peak_count=12)
        other = msgspec.structs.replace(
            one, opened_at=at(19.5), last_seen_at=at(21), peak_count=11,
            sample_event_ids=["y1", "x2", *(f"y{n}" for n in range(2, 12))], alerted=["warning"],
        )  # fmt: skip
        await store.apply(Batch(records=[], episodes=[one]))
        await store.apply(Batch(records=[], episodes=[other]))
        [merged] = (await store.anomalies(AnomalyQuery(user_id=one.user_id, limit=1))).items
        assert merged.opened_at == at(19.5)
        assert merged.last_seen_at == at(21)
        assert merged.peak_count == 12
        assert merged.sample_event_ids == ["x1", "x2", "y1", *(f"y{n}" for n in range(2, 9))]
        assert merged.alerted == ["warning"]


async def test_claims_from_two_instances_split_the_outbox(url: str) -> None:
    now = BASE_US / 1_000_000
    made = [delivery(float(n), next_attempt_at=now - n) for n in range(60)]
    async with await PostgresStore.open(url) as a, await PostgresStore.open(url) as b:
        await a.apply(Batch(records=[], deliveries=made))
        claims = await asyncio.gather(
            *(store.claim_deliveries(now, 4, 30.0) for store in (a, b) * 10)
        )
        claimed = [d.id for claim in claims for d in claim]
        assert len(claimed) == len(set(claimed))
        assert len(claimed) == 60
        assert len((await b.deliveries(AlertQuery(limit=100))).items) == 60


async def test_retention_leaves_no_rollup_row_of_a_pruned_day(url: str) -> None:
    day_us = 86_400 * 1_000_000
    cutoff = (BASE_US // day_us) * day_us
    async with await PostgresStore.open(url) as store:
        await store.apply(Batch(records=[record(-2 * 86_400 + n * 97.3) for n in range(900)]))
        await store.apply(Batch(records=[record(n * 61.7) for n in range(300)]))
        assert await store.seal(BASE_US + day_us, since_us=0) > 0
        while await store.prune(cutoff, 100):
            pass
    conn = await asyncpg.connect(url)
    try:
        for table in {*COUNT_TABLES.values(), *USER_TABLES.values(), "user_seals"}:
            old = await conn.fetchval(
                f"SELECT COUNT(*) FROM {table} WHERE slot < $1", cutoff // 10**6
            )
            assert old == 0, table
            assert await conn.fetchval(f"SELECT COUNT(*) FROM {table}") > 0, table
        assert (
            await conn.fetchval("SELECT COUNT(*) FROM events WHERE received_us < $1", cutoff) == 0
        )
    finally:
        await conn.close()


async def test_a_postgres_store_from_before_traces_is_migrated_in_place(
    url: str,
) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(MIGRATIONS[0])
        await conn.execute("CREATE TABLE signals_schema (version integer NOT NULL)")
        await conn.execute("INSERT INTO signals_schema VALUES (1)")
        await conn.execute(
            "INSERT INTO deliveries (id, episode_id, type, payload, status, created_at, "
            "created_us, next_attempt_at, attempts) VALUES ('msg_old', 'ep', "
            "'anomaly.critical', '\\x7b7d', 'pending', '2025-01-06T10:00:00Z', $1, 0, '[]')",
            BASE_US,
        )
    finally:
        await conn.close()
    async with await PostgresStore.open(url) as store:
        (pending,) = await store.due_deliveries(BASE_US / 1_000_000, 10)
        assert pending.traceparent is None
        traced = delivery(0, traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        await store.apply(Batch(records=[], deliveries=[traced]))
        assert traced in (await store.deliveries(AlertQuery())).items
