"""SQLite upkeep: deriving closed user slots, retention, and giving freed pages back.

Everything here runs beside ingest in small steps, each step one short transaction under the
store's write lock (a few thousand rows at most), so the consumer's batches interleave with
them and wait at most one step. Reads that decide what to write run on the reader connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite

from signals.instants import MICROS_PER_SECOND
from signals.store.cover import Run, SlotStates, cover
from signals.store.pruning import check_prune, prune_statements
from signals.store.rollup import USER_TABLES
from signals.store.sealing import finer_levels
from signals.store.sqlite.slots import SqliteRollups
from signals.store.sqlite.transactions import snapshot, write_transaction

ROWS_PER_STEP = 5000
PRUNES = prune_statements("?", "?")
_DELETE_SOME = (
    "DELETE FROM {table} WHERE slot = ? AND user_id IN "
    "(SELECT user_id FROM {table} WHERE slot = ? LIMIT ?)"
)
_INSERT = "INSERT INTO {table} (slot, user_id, events, stressed) VALUES (?, ?, ?, ?)"
_SEAL = (
    "INSERT INTO user_seals (level, slot, events) VALUES (?, ?, ?) "
    "ON CONFLICT DO UPDATE SET events = excluded.events"
)


class SqliteUpkeep:
    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        write_lock: asyncio.Lock,
        read_lock: asyncio.Lock,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._write_lock = write_lock
        self._read_lock = read_lock

    async def oldest_us(self) -> int | None:
        async with self._reader.execute("SELECT MIN(slot) FROM counts_hour") as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0]) * MICROS_PER_SECOND

    async def check(self, level: int, runs: list[Run]) -> SlotStates:
        return await SqliteRollups(self._reader).check(level, runs)

    async def seal_slot(self, level: int, slot: int) -> None:
        async with snapshot(self._reader, self._read_lock):
            rollups = SqliteRollups(self._reader)
            start_us = slot * MICROS_PER_SECOND
            covered = await cover(
                start_us, start_us + level * MICROS_PER_SECOND, rollups.check, finer_levels(level)
            )
            totals = await rollups.sums(covered.slots)
        await self._replace(level, slot, [(slot, u, e, s) for u, (e, s) in totals.items()])

    async def _replace(self, level: int, slot: int, rows: list[tuple[Any, ...]]) -> None:
        """The slot's seal dropped, its rows replaced, the new seal written last, in steps of
        at most ROWS_PER_STEP rows (one step for a slot of a few thousand users)."""
        table = USER_TABLES[level]
        w = self._writer
        deleting, inserted = True, 0
        while True:
            async with self._write_lock, write_transaction(w):
                budget = ROWS_PER_STEP
                if deleting and inserted == 0:  # the first step: the seal goes first
                    await w.execute(
                        "DELETE FROM user_seals WHERE level = ? AND slot = ?", (level, slot)
                    )
                if deleting:
                    async with w.execute(
                        _DELETE_SOME.format(table=table), (slot, slot, budget)
                    ) as c:
                        budget -= c.rowcount
                        deleting = budget == 0
                if not deleting:
                    chunk = rows[inserted : inserted + budget]
                    await w.executemany(_INSERT.format(table=table), chunk)
                    inserted += len(chunk)
                    if inserted == len(rows):
                        events = sum(row[2] for row in rows)
                        await w.execute(_SEAL, (level, slot, events))
                        return

    async def prune(self, before_us: int, limit: int) -> int:
        """One step: up to `limit` rows of the first kind that has any left; 0 when done."""
        check_prune(before_us, limit)
        for statement, in_micros in PRUNES:
            cutoff = before_us if in_micros else before_us // MICROS_PER_SECOND
            deleted = await self._step(statement, (cutoff, limit))
            if deleted:
                return deleted
        return 0

    async def reclaim(self, max_pages: int) -> int:
        """Give up to `max_pages` free pages back to the file system; returns how many."""
        async with self._write_lock:
            async with self._writer.execute("PRAGMA freelist_count") as cursor:
                row = await cursor.fetchone()
            pages = min(int(row[0]), max_pages) if row else 0
            if pages:
                # executescript steps the pragma to the end; execute would free one page.
                await self._writer.executescript(f"PRAGMA incremental_vacuum({pages});")
        return pages

    async def _step(self, statement: str, params: tuple[Any, ...]) -> int:
        async with (
            self._write_lock,
            write_transaction(self._writer),
            self._writer.execute(statement, params) as cursor,
        ):
            return cursor.rowcount
