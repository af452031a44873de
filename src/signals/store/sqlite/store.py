"""The SQLite store (the embedded default): one file, WAL, one writer and one reader connection.

Durability: the journal is the source of truth (fsynced before any client is answered) and the
store is a view rebuilt from it, resumed from the checkpoint saved in the same transaction as
the records it covers. So `synchronous=NORMAL` is enough here: in WAL mode it never corrupts the
database, and a power cut can at worst roll back the last transactions, checkpoint included,
which the consumer then replays from the journal (records are idempotent by event_id). A lost
`save_delivery` means one webhook sent again, with the same `webhook-id` receivers dedupe on.

Writes (`apply`, `save_checkpoint`, `save_delivery`) go through the writer connection, one at a
time under a lock, since a transaction spans several awaits. Reads go through a second
connection: in WAL mode they see the last committed state and never wait for a write.

Query paths, chosen so each answers from an index walk that stops after `limit` rows:
- `signals`: the most selective equality filter present (user_id, then signal_type) picks its
  (column, received_us) index; the others are written `+column = ?`, which keeps SQLite from
  switching to a less selective index whatever its statistics say; a sentiment alone walks the
  time index, where one in a handful of rows matches;
- `stats`: reads rollups only (raw events just for range ends off a 10-second boundary), in
  one snapshot; see `signals.store.rollup`, `signals.store.ranking` and `sqlite.stats`. The
  rollups are written by `apply` in the same transaction as the events, for new events only,
  so a replayed batch cannot count twice: a few upserts per batch for counts and about one per
  event for users (one per user and 10-second slot). The coarser user slots are derived in the
  background (`seal`), and retention (`prune`, `reclaim`) runs the same way: `SqliteUpkeep`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite
import structlog

from signals.events import Record
from signals.instants import to_us
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
from signals.store.sealing import seal
from signals.store.sqlite.apply import UPSERT_CHECKPOINT, Rows, on_thread, write
from signals.store.sqlite.listings import (
    anomaly_page,
    delivery_page,
    due_deliveries,
    export_lines,
    export_records,
    signal_page,
)
from signals.store.sqlite.permissions import owner_only
from signals.store.sqlite.rows import (
    EPISODE_COLUMNS,
    SELECT_RECORD,
    episode_from_row,
    episode_row,
    record_from_row,
    record_row,
)
from signals.store.sqlite.schema import migrate, use_incremental_vacuum
from signals.store.sqlite.stats import read_stats
from signals.store.sqlite.transactions import snapshot, write_transaction
from signals.store.sqlite.upkeep import SqliteUpkeep

log = structlog.get_logger(__name__)

# Ids per IN (...) list: far below SQLite's bound-variable limit whatever the batch size.
IN_LIST = 500
_PRAGMAS = (
    "PRAGMA synchronous = NORMAL",  # see the module docstring: the journal is the truth
    "PRAGMA busy_timeout = 5000",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -65536",  # KiB: 64 MiB per connection
    "PRAGMA mmap_size = 268435456",
    # Checkpoint every 64 MiB of WAL rather than SQLite's 4 MiB: a batch rewrites a page of the
    # user index for most of its rows, and a page rewritten by many commits between two
    # checkpoints is copied into the database (and fsynced) once, not once per commit.
    "PRAGMA wal_autocheckpoint = 16384",
    "PRAGMA journal_size_limit = 67108864",
)


class SqliteStore:
    """`Store` on one SQLite file. Open with `await SqliteStore.open(path)`, close with `aclose`.

    `batch_max` is how many rows `export` reads per query (its memory bound).
    """

    def __init__(
        self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection, batch_max: int
    ) -> None:
        self._path = path
        self._writer = writer
        self._reader = reader
        self._batch_max = batch_max
        self._write_lock = asyncio.Lock()
        self._read_lock = asyncio.Lock()  # one snapshot at a time on the shared reader
        self._upkeep = SqliteUpkeep(writer, reader, self._write_lock, self._read_lock)
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, batch_max: int = 2000) -> SqliteStore:
        """Open (creating the file and its schema if needed) the store at `path`."""
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        owner_only(path)
        writer = await aiosqlite.connect(path, isolation_level=None)
        reader: aiosqlite.Connection | None = None
        try:
            await use_incremental_vacuum(writer, str(path))
            mode = await _scalar(writer, "PRAGMA journal_mode = WAL")
            if mode != "wal":
                raise RuntimeError(f"{path}: SQLite could not enable WAL (journal_mode={mode})")
            for pragma in _PRAGMAS:
                await writer.execute(pragma)
            version = await migrate(writer)
            reader = await aiosqlite.connect(path, isolation_level=None)
            for pragma in (*_PRAGMAS, "PRAGMA query_only = ON"):
                await reader.execute(pragma)
        except BaseException:
            if reader is not None:
                await reader.close()
            await writer.close()
            raise
        log.info("store opened", path=str(path), schema_version=version)
        return cls(path, writer, reader, batch_max)

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
        """Wait for the write in progress, refresh planner statistics, close both connections."""
        async with self._write_lock:
            if self._closed:
                return
            self._closed = True
            try:
                # A bounded sample keeps this quick on a large file (SQLite's advice for close).
                await self._writer.execute("PRAGMA analysis_limit = 1000")
                await self._writer.execute("PRAGMA optimize")
            finally:
                await self._reader.close()
                await self._writer.close()

    # Writes.

    async def apply(self, batch: Batch) -> int:
        """One transaction: new records (the first copy of an event_id wins, a stored one is
        kept) and their rollups, episodes upserted, new deliveries, then the checkpoint.

        Returns how many records were new. Raises ValueError for a checkpoint name without a
        position or the reverse, or an unreadable received_at; nothing is written then.
        """
        if (batch.checkpoint_name is None) != (batch.checkpoint is None):
            raise ValueError("a batch checkpoint needs both checkpoint_name and checkpoint")
        rows: dict[str, tuple[Any, ...]] = {}
        instants: dict[str, int] = {}  # the records of one request share their received_at
        for record in batch.records:
            if record.event_id not in rows:  # the first of several copies in one batch wins
                at = instants.get(record.received_at)
                if at is None:
                    at = instants[record.received_at] = to_us(record.received_at)
                rows[record.event_id] = record_row(record, at)
        checkpoint = None
        if batch.checkpoint_name is not None and batch.checkpoint is not None:
            checkpoint = (batch.checkpoint_name, batch.checkpoint)
        batch_rows = Rows(
            rows,
            [episode_row(episode) for episode in batch.episodes],
            [delivery_row(delivery) for delivery in batch.deliveries],
            checkpoint,
        )
        async with self._write_lock:
            return await on_thread(self._writer, lambda db: write(db, batch_rows))

    async def save_checkpoint(self, name: str, position: JournalPosition) -> None:
        async with self._write_lock:
            await self._put_checkpoint(name, position)

    async def save_delivery(self, delivery: Delivery) -> None:
        """Raises KeyError when no delivery has that id (only `apply` creates deliveries)."""
        row = delivery_row(delivery)
        async with (
            self._write_lock,
            self._writer.execute(
                "UPDATE deliveries SET status = ?, next_attempt_at = ?, attempts = ? WHERE id = ?",
                (row[4], row[7], row[8], row[0]),
            ) as cursor,
        ):
            updated = cursor.rowcount
        if updated == 0:
            raise KeyError(delivery.id)

    async def claim_deliveries(
        self, now: float, limit: int, lease_seconds: float
    ) -> list[Delivery]:
        """See `Store.claim_deliveries`. One process owns an SQLite file, so a claim never meets
        another dispatcher here; the lease is kept anyway, so both stores behave alike."""
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        async with self._write_lock, write_transaction(self._writer):
            due = await due_deliveries(self._writer, now, limit)
            await self._writer.executemany(
                "UPDATE deliveries SET next_attempt_at = ? WHERE id = ?",
                [(now + lease_seconds, delivery.id) for delivery in due],
            )
        return due

    async def seal(self, now_us: int, since_us: int | None = None) -> int:
        """See `Store.seal`."""
        if since_us is not None:
            oldest = await self._upkeep.oldest_us()
            if oldest is None:
                return 0
            since_us = max(since_us, oldest)
        return await seal(self._upkeep, now_us, since_us)

    async def prune(self, before_us: int, limit: int) -> int:
        """See `Store.prune`."""
        return await self._upkeep.prune(before_us, limit)

    async def reclaim(self, max_pages: int) -> int:
        """Free pages handed back to the file system (`PRAGMA incremental_vacuum`); the file
        shrinks when the WAL is next checkpointed."""
        return await self._upkeep.reclaim(max_pages)

    async def _put_checkpoint(self, name: str, position: JournalPosition) -> None:
        await self._writer.execute(UPSERT_CHECKPOINT, (name, position.segment, position.offset))

    # Reads.

    async def ping(self) -> None:
        await _scalar(self._reader, "SELECT 1")

    async def checkpoint(self, name: str) -> JournalPosition | None:
        rows = await self._reader.execute_fetchall(
            "SELECT segment, byte_offset FROM checkpoints WHERE name = ?", (name,)
        )
        for segment, offset in rows:
            return JournalPosition(segment, offset)
        return None

    async def recent_event_ids(self, limit: int) -> AsyncIterator[list[str]]:
        """The last `limit` event ids stored, last first, `WARM_CHUNK` at a time
        (`newest_event_ids`).

        Stored order is the journal's, which is the order of receipt; reading the table
        backwards by `seq` is twice as fast as the time index at the million ids a start loads.
        It reads on a connection of its own that maps nothing: through the reader's memory map,
        the pages of the table's newest million rows (hundreds of MB) would stay in the
        process's resident memory after the start.
        """
        if limit < 1:
            return
        conn = await aiosqlite.connect(self._path, isolation_level=None)
        try:
            await conn.execute("PRAGMA mmap_size = 0")
            await conn.execute("PRAGMA cache_size = -2048")  # KiB: the scan reads each page once
            await conn.execute("PRAGMA query_only = ON")

            async def fetch(below: int, count: int) -> list[Any]:
                return list(
                    await conn.execute_fetchall(
                        "SELECT seq, event_id FROM events WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                        (below, count),
                    )
                )

            async for event_ids in newest_event_ids(fetch, limit):
                yield event_ids
        finally:
            await conn.close()

    async def get_records(self, event_ids: list[str]) -> dict[str, Record]:
        """The stored records among `event_ids`; ids not stored are absent from the result."""
        unique = list(dict.fromkeys(event_ids))
        found: dict[str, Record] = {}
        for start in range(0, len(unique), IN_LIST):
            chunk = unique[start : start + IN_LIST]
            rows = await self._reader.execute_fetchall(
                f"SELECT {SELECT_RECORD} FROM events "
                f"WHERE event_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for row in rows:
                record = record_from_row(row)
                found[record.event_id] = record
        return found

    async def signals(self, query: SignalQuery) -> Page[Record]:
        """Newest first; raises BadCursor for a cursor it did not make, ValueError for limit < 1."""
        return await signal_page(self._reader, query)

    def export(self, query: SignalQuery) -> AsyncIterator[Record]:
        """Every matching record, oldest first; `limit` and `cursor` of the query are ignored.

        Reads `batch_max` rows per query, each query resuming after the last row sent, so
        nothing stays open between chunks; records committed meanwhile with later times are
        included.
        """
        return export_records(self._reader, query, self._batch_max)

    def export_lines(self, query: SignalQuery) -> AsyncIterator[bytes]:
        """`export` as NDJSON, in pieces of whole lines (one per chunk read)."""
        return export_lines(self._reader, query, self._batch_max)

    async def stats(self, since_us: int, until_us: int, bucket_seconds: int) -> Stats:
        """See `signals.store.grid` for the bucket layout and `sqlite.stats` for the reads.

        Raises ValueError for bucket_seconds < 1, until before since, or too many buckets.
        """
        async with snapshot(self._reader, self._read_lock):
            return await read_stats(self._reader, since_us, until_us, bucket_seconds)

    async def open_episodes(self) -> list[Episode]:
        """Episodes not closed yet, oldest first."""
        rows = await self._reader.execute_fetchall(
            f"SELECT {EPISODE_COLUMNS} FROM episodes WHERE closed_at IS NULL ORDER BY opened_us, id"
        )
        return [episode_from_row(row) for row in rows]

    async def anomalies(self, query: AnomalyQuery) -> Page[Episode]:
        return await anomaly_page(self._reader, query)

    async def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        """Pending deliveries due at `now`, longest overdue first (then oldest created)."""
        return await due_deliveries(self._reader, now, limit)

    async def deliveries(self, query: AlertQuery) -> Page[Delivery]:
        return await delivery_page(self._reader, query)


async def _scalar(conn: aiosqlite.Connection, sql: str) -> Any:
    async with conn.execute(sql) as cursor:
        row = await cursor.fetchone()
    return None if row is None else row[0]
