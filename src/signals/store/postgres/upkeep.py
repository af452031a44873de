"""PostgreSQL upkeep: deriving closed user slots, and retention, shared by every instance.

Instances take turns through advisory locks rather than dividing the work: one instance seals at
a time (a session lock held for the pass; the others skip theirs), and each pruning step takes a
transaction lock, skipping the step when another instance holds it. Each slot is derived in one
REPEATABLE READ transaction (its rows and seal replaced together), each prune step deletes at
most `limit` rows, so neither holds locks that ingest waits on for long: ingest only ever
writes the current 10-second user rows and the count rows, which neither touches.
"""

from __future__ import annotations

import asyncpg

from signals.instants import MICROS_PER_SECOND
from signals.store.cover import Run, SlotStates, cover
from signals.store.postgres.schema import PgConnection
from signals.store.postgres.slots import PostgresRollups
from signals.store.pruning import check_prune, prune_statements
from signals.store.rollup import USER_TABLES
from signals.store.sealing import finer_levels, seal

SEAL_LOCK = 0x7369676E616C7301  # "signals" + 1
PRUNE_LOCK = 0x7369676E616C7302
PRUNES = prune_statements("$1", "$2")


class _Sealer:
    """`signals.store.sealing.SealTarget` on a connection that holds SEAL_LOCK."""

    def __init__(self, conn: PgConnection) -> None:
        self._conn = conn

    async def check(self, level: int, runs: list[Run]) -> SlotStates:
        return await PostgresRollups(self._conn).check(level, runs)

    async def seal_slot(self, level: int, slot: int) -> None:
        conn = self._conn
        table = USER_TABLES[level]
        async with conn.transaction(isolation="repeatable_read"):
            rollups = PostgresRollups(conn)
            start_us = slot * MICROS_PER_SECOND
            covered = await cover(
                start_us, start_us + level * MICROS_PER_SECOND, rollups.check, finer_levels(level)
            )
            await conn.execute(f"DELETE FROM {table} WHERE slot = $1", slot)
            if covered.slots:
                union = " UNION ALL ".join(
                    f"SELECT user_id, events, stressed FROM {USER_TABLES[finer]} "
                    f"WHERE slot = ANY(${n}::bigint[])"
                    for n, finer in enumerate(covered.slots, start=2)
                )
                await conn.execute(
                    f"INSERT INTO {table} (slot, user_id, events, stressed) "
                    f"SELECT $1, user_id, SUM(events), SUM(stressed) FROM ({union}) AS parts "
                    "GROUP BY user_id",
                    slot,
                    *covered.slots.values(),
                )
            await conn.execute(
                "INSERT INTO user_seals (level, slot, events) "
                f"SELECT $1, $2, COALESCE(SUM(events), 0) FROM {table} WHERE slot = $2 "
                "ON CONFLICT (level, slot) DO UPDATE SET events = excluded.events",
                level,
                slot,
            )


async def oldest_us(pool: asyncpg.Pool) -> int | None:
    slot = await pool.fetchval("SELECT MIN(slot) FROM counts_hour")
    return None if slot is None else int(slot) * MICROS_PER_SECOND


async def seal_pass(pool: asyncpg.Pool, now_us: int, since_us: int | None) -> int:
    """One pass of `signals.store.sealing.seal`, unless another instance is running one."""
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", SEAL_LOCK):
            return 0
        try:
            return await seal(_Sealer(conn), now_us, since_us)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", SEAL_LOCK)


async def prune(pool: asyncpg.Pool, before_us: int, limit: int) -> int:
    """One step: up to `limit` rows of the first kind that has any left; 0 when done, or when
    another instance is pruning (it will finish the job)."""
    check_prune(before_us, limit)
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", PRUNE_LOCK):
            return 0
        for statement, in_micros in PRUNES:
            cutoff = before_us if in_micros else before_us // MICROS_PER_SECOND
            status = await conn.execute(statement, cutoff, limit)
            deleted = int(status.split()[-1])
            if deleted:
                return deleted
    return 0
