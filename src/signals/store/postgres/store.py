"""The PostgreSQL store: the `Store` that several `signals` instances share (docs/semantics.md).

Open with `await PostgresStore.open(url)`: it connects a pool (asyncpg), migrates the schema
(`postgres_schema`: versioned, idempotent, safe when instances start together) and answers the
same contract as the SQLite store, tested by the same suite (tests/store/).

Writes. `apply` is one transaction on one pooled connection: the batch's new records in one
statement (arrays, `unnest`, ON CONFLICT DO NOTHING: the first copy of an event_id wins), then
episodes (merged by id, see `postgres_rows.UPSERT_EPISODE`), new deliveries, the checkpoint, and
last the rollups of the records that insert stored. Last, because every instance updates the same
rollup rows of the current slots: their row locks are then held only until the commit follows.
Rows of one kind go in one order (rollups by key, episodes and deliveries by id), so transactions
of several instances queue behind each other instead of deadlocking; a deadlock or serialization
failure that still happens (two instances journaling the same client event_id at once) rolls the
batch back whole, and the consumer retries it.

Durability is PostgreSQL's (synchronous_commit as the server says): the store no longer lives
beside the journal, so an acknowledged commit must survive the database server on its own.

Each instance's checkpoints are its own rows (`store:<instance>`, `router:<instance>`), so the
instances' catch-ups never disturb one another.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

import asyncpg
import structlog

from signals.errors import DependencyUnavailable
from signals.events import Record
from signals.journal.position import JournalPosition
from signals.records.delivery import Delivery
from signals.records.episode import Episode
from signals.store.base import (
    AlertQuery,
    AnomalyQuery,
    Batch,
    Page,
    SignalQuery,
    Stats,
    newest_event_ids,
)
from signals.store.outbox_rows import delivery_row
from signals.store.postgres.listings import (
    anomaly_page,
    claim_deliveries,
    delivery_page,
    due_deliveries,
    export_lines,
    export_records,
    signal_page,
)
from signals.store.postgres.rollup import roll_up
from signals.store.postgres.rows import (
    EPISODE_COLUMNS,
    INSERT_DELIVERY,
    INSERT_EVENTS,
    SELECT_RECORD,
    UPSERT_EPISODE,
    episode_from_row,
    episode_row,
    record_columns,
    record_from_row,
)
from signals.store.postgres.schema import PgConnection, migrate
from signals.store.postgres.stats import read_stats
from signals.store.postgres.upkeep import oldest_us, prune, seal_pass
from signals.store.rollup import Fact
from signals.urls import masked_url

log = structlog.get_logger(__name__)

INT64 = range(-(2**63), 2**63)
# A batch rolled back by one of these (another instance's transaction in the way) is simply run
# again: it was rolled back whole, and the next attempt usually finds the way clear.
_CONFLICTS = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
WRITE_ATTEMPTS = 3
CONNECT_TIMEOUT_SECONDS = 10.0
# No statement here takes more than a fraction of a second; one that runs this long is stuck
# (a lock never released, a server that stopped answering) and is better failed and retried.
STATEMENT_TIMEOUT_SECONDS = 60.0
CLOSE_TIMEOUT_SECONDS = 5.0


class PostgresStore:
    """`Store` on a PostgreSQL database. Open with `await PostgresStore.open(url)`, close with
    `aclose`. `batch_max` is how many rows `export` reads per query (its memory bound);
    `pool_size` bounds this instance's connections."""

    def __init__(self, pool: asyncpg.Pool, batch_max: int) -> None:
        self._pool = pool
        self._batch_max = batch_max

    @classmethod
    async def open(cls, url: str, *, batch_max: int = 2000, pool_size: int = 4) -> PostgresStore:
        """Connect and migrate. Raises DependencyUnavailable when the server cannot be used, and
        `SchemaTooNew` for a database a newer `signals` wrote."""
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                timeout=CONNECT_TIMEOUT_SECONDS,
                command_timeout=STATEMENT_TIMEOUT_SECONDS,
            )
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DependencyUnavailable(
                "PostgreSQL", masked_url(url), f"{type(exc).__name__}: {exc}"
            ) from None
        except ValueError as exc:  # asyncpg's word for an unparsable DSN
            raise DependencyUnavailable("PostgreSQL", masked_url(url), str(exc)) from None
        try:
            async with pool.acquire() as conn:
                version = await migrate(conn)
        except asyncpg.PostgresError as exc:
            await pool.close()
            reason = f"schema migration failed: {type(exc).__name__}: {exc}"
            raise DependencyUnavailable("PostgreSQL", masked_url(url), reason) from exc
        except BaseException:
            await pool.close()
            raise
        log.info("store opened", url=masked_url(url), schema_version=version)
        return cls(pool, batch_max)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Wait (a bounded time) for the connections in use to be released, close them all."""
        if self._pool.is_closing():
            return
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            # A statement the server never answers must not hold the exit: what it wrote is
            # rolled back with its connection, and the journal still has the records.
            log.warning("store connections still busy at close; terminating them")
            self._pool.terminate()

    # Writes.

    async def apply(self, batch: Batch) -> int:
        """One transaction: new records (the first copy of an event_id wins, a stored one is
        kept) and their rollups, episodes merged, new deliveries, then the checkpoint.

        Returns how many records were new. Raises ValueError for a checkpoint name without a
        position or the reverse, or an unreadable received_at, and OverflowError for a position
        past 64 bits; nothing is written then.
        """
        if (batch.checkpoint_name is None) != (batch.checkpoint is None):
            raise ValueError("a batch checkpoint needs both checkpoint_name and checkpoint")
        if batch.checkpoint is not None:
            _check_position(batch.checkpoint)
        unique: dict[str, Record] = {}
        for record in batch.records:
            unique.setdefault(record.event_id, record)  # the first of several copies wins
        columns = record_columns(list(unique.values()))
        episodes = [episode_row(e) for e in sorted(batch.episodes, key=lambda e: e.id)]
        deliveries = [delivery_row(d) for d in sorted(batch.deliveries, key=lambda d: d.id)]
        attempt = 1
        while True:
            try:
                return await self._write(columns, episodes, deliveries, batch)
            except _CONFLICTS:
                if attempt == WRITE_ATTEMPTS:
                    raise
                log.info("store write conflicted with another instance; retrying", attempt=attempt)
                attempt += 1

    async def _write(
        self,
        columns: list[list[Any]],
        episodes: list[tuple[Any, ...]],
        deliveries: list[tuple[Any, ...]],
        batch: Batch,
    ) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            stored: list[Any] = []
            if columns[0]:
                stored = await conn.fetch(INSERT_EVENTS, *columns)
            if episodes:
                await conn.executemany(UPSERT_EPISODE, episodes)
            if deliveries:
                await conn.executemany(INSERT_DELIVERY, deliveries)
            if batch.checkpoint_name is not None and batch.checkpoint is not None:
                await _put_checkpoint(conn, batch.checkpoint_name, batch.checkpoint)
            if stored:
                await roll_up(conn, (Fact(*row) for row in stored))
        return len(stored)

    async def save_checkpoint(self, name: str, position: JournalPosition) -> None:
        _check_position(position)
        async with self._pool.acquire() as conn:
            await _put_checkpoint(conn, name, position)

    async def save_delivery(self, delivery: Delivery) -> None:
        """Raises KeyError when no delivery has that id (only `apply` creates deliveries)."""
        row = delivery_row(delivery)
        status = await self._pool.execute(
            "UPDATE deliveries SET status = $1, next_attempt_at = $2, attempts = $3::json "
            "WHERE id = $4",
            row[4], row[7], row[8], row[0],
        )  # fmt: skip
        if status == "UPDATE 0":
            raise KeyError(delivery.id)

    async def claim_deliveries(
        self, now: float, limit: int, lease_seconds: float
    ) -> list[Delivery]:
        """See `Store.claim_deliveries`; rows another claim holds are skipped, not waited for."""
        return await claim_deliveries(self._pool, now, limit, lease_seconds)

    # Reads.

    async def ping(self) -> None:
        await self._pool.fetchval("SELECT 1")

    async def checkpoint(self, name: str) -> JournalPosition | None:
        row = await self._pool.fetchrow(
            "SELECT segment, byte_offset FROM checkpoints WHERE name = $1", name
        )
        return None if row is None else JournalPosition(row[0], row[1])

    def recent_event_ids(self, limit: int) -> AsyncIterator[list[str]]:
        """The last `limit` event ids stored (by any instance), last first, `WARM_CHUNK` at a
        time (`newest_event_ids`)."""

        async def fetch(below: int, count: int) -> list[asyncpg.Record]:
            return await self._pool.fetch(
                "SELECT seq, event_id FROM events WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
                below,
                count,
            )

        return newest_event_ids(fetch, limit)

    async def get_records(self, event_ids: list[str]) -> dict[str, Record]:
        """The stored records among `event_ids`; ids not stored are absent from the result."""
        if not event_ids:
            return {}
        rows = await self._pool.fetch(
            f"SELECT {SELECT_RECORD} FROM events WHERE event_id = ANY($1::text[])",
            list(dict.fromkeys(event_ids)),
        )
        found = (record_from_row(row) for row in rows)
        return {record.event_id: record for record in found}

    async def signals(self, query: SignalQuery) -> Page[Record]:
        """Newest first; raises BadCursor for a cursor it did not make, ValueError for limit < 1."""
        return await signal_page(self._pool, query)

    def export(self, query: SignalQuery) -> AsyncIterator[Record]:
        """Every matching record, oldest first, `batch_max` rows per query; `limit` and
        `cursor` of the query are ignored."""
        return export_records(self._pool, query, self._batch_max)

    def export_lines(self, query: SignalQuery) -> AsyncIterator[bytes]:
        """`export` as NDJSON, in pieces of whole lines (one per chunk read)."""
        return export_lines(self._pool, query, self._batch_max)

    async def stats(self, since_us: int, until_us: int, bucket_seconds: int) -> Stats:
        """Raises ValueError for bucket_seconds < 1, until before since, or too many buckets."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(readonly=True, isolation="repeatable_read"),
        ):
            # One snapshot for all of its statements, so the parts of one answer agree. Each
            # reads a few thousand rows at most: starting parallel workers would take longer.
            await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            return await read_stats(conn, since_us, until_us, bucket_seconds)

    async def seal(self, now_us: int, since_us: int | None = None) -> int:
        """See `Store.seal`; an instance skips its pass while another one runs its own."""
        if since_us is not None:
            oldest = await oldest_us(self._pool)
            if oldest is None:
                return 0
            since_us = max(since_us, oldest)
        return await seal_pass(self._pool, now_us, since_us)

    async def prune(self, before_us: int, limit: int) -> int:
        """See `Store.prune`."""
        return await prune(self._pool, before_us, limit)

    async def reclaim(self, max_pages: int) -> int:
        """PostgreSQL reuses the space of deleted rows itself (autovacuum): nothing to do."""
        return 0

    async def open_episodes(self) -> list[Episode]:
        """Episodes not closed yet, oldest first."""
        rows = await self._pool.fetch(
            f"SELECT {EPISODE_COLUMNS} FROM episodes WHERE closed_at IS NULL ORDER BY opened_us, id"
        )
        return [episode_from_row(row) for row in rows]

    async def anomalies(self, query: AnomalyQuery) -> Page[Episode]:
        return await anomaly_page(self._pool, query)

    async def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries due at `now`, longest overdue first (then oldest created)."""
        return await due_deliveries(self._pool, now, limit)

    async def deliveries(self, query: AlertQuery) -> Page[Delivery]:
        return await delivery_page(self._pool, query)


def _check_position(position: JournalPosition) -> None:
    # Refused here, before the transaction, as sqlite3 refuses an integer it cannot bind.
    if position.segment not in INT64 or position.offset not in INT64:
        raise OverflowError("checkpoint position does not fit in 64 bits")


async def _put_checkpoint(conn: PgConnection, name: str, position: JournalPosition) -> None:
    await conn.execute(
        "INSERT INTO checkpoints (name, segment, byte_offset) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO UPDATE "
        "SET segment = excluded.segment, byte_offset = excluded.byte_offset",
        name, position.segment, position.offset,
    )  # fmt: skip
