"""The store's background upkeep: derived user slots kept current, and retention.

Every `seal_interval` seconds, `Store.seal` derives the user minutes, hours and days that have
closed (so stats walk few slots); the first pass, at start, re-checks everything kept, which
picks up a replay or events stored while the service was down. Every `prune_interval` seconds,
with `retention_days` > 0, everything older than the retention is pruned: the cutoff is the
start of the UTC day `retention_days` before now (rollup slots are whole days or parts of one,
so a day goes whole: events and every rollup of it together, and the stats stay exact for
every range that is kept), in steps of `PRUNE_STEP` rows, each its own short transaction,
with a pause between steps so ingest's writes go first. Then the freed pages are handed back
(SQLite), `RECLAIM_PAGES` at a time.

A failing pass (the store unreachable) is logged once and retried at the next interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import structlog

from signals.instants import MICROS_PER_SECOND, from_us
from signals.store.base import Store

log = structlog.get_logger(__name__)

DAY_SECONDS = 86_400
PRUNE_STEP = 1000
RECLAIM_PAGES = 1024
STEP_PAUSE_SECONDS = 0.01


def retention_cutoff_us(now: float, retention_days: float) -> int | None:
    """The start of the UTC day `retention_days` before `now`; None keeps everything."""
    if retention_days <= 0:
        return None
    day = int((now - retention_days * DAY_SECONDS) // DAY_SECONDS)
    return day * DAY_SECONDS * MICROS_PER_SECOND


class StoreUpkeep:
    """Runs while entered (`async with`); `seal` and `prune` can also be called directly."""

    def __init__(
        self,
        store: Store,
        retention_days: float,
        *,
        clock: Callable[[], float] = time.time,
        seal_interval: float = 10.0,
        prune_interval: float = 600.0,
    ) -> None:
        self._store = store
        self._retention_days = retention_days
        self._clock = clock
        self._seal_interval = seal_interval
        self._prune_interval = prune_interval
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="store-upkeep")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def seal(self, *, everything: bool = False) -> int:
        """One sealing pass: the recent past, or everything kept."""
        now = self._clock()
        since = None
        if everything:
            since = retention_cutoff_us(now, self._retention_days) or 0
        return await self._store.seal(int(now * MICROS_PER_SECOND), since)

    async def prune(self) -> int:
        """Prune what is past retention, then give the space back; returns the rows deleted."""
        cutoff = retention_cutoff_us(self._clock(), self._retention_days)
        if cutoff is None:
            return 0
        deleted = 0
        while not self._stopping.is_set():
            step = await self._store.prune(cutoff, PRUNE_STEP)
            if not step:
                break
            deleted += step
            await asyncio.sleep(STEP_PAUSE_SECONDS)
        while not self._stopping.is_set():
            if not await self._store.reclaim(RECLAIM_PAGES):
                break
            await asyncio.sleep(STEP_PAUSE_SECONDS)
        if deleted:
            log.info("store pruned", rows=deleted, before=from_us(cutoff))
        return deleted

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        everything = True
        while not self._stopping.is_set():
            try:
                await self.seal(everything=everything)
                everything = False
                if loop.time() >= next_prune:
                    await self.prune()
                    next_prune = loop.time() + self._prune_interval
            except Exception as exc:  # any store failure: retried at the next interval
                if not self._failing:
                    log.error("store upkeep failed; retrying", error=f"{type(exc).__name__}: {exc}")
                self._failing = True
            else:
                if self._failing:
                    log.info("store upkeep recovered")
                self._failing = False
            try:
                async with asyncio.timeout(self._seal_interval):
                    await self._stopping.wait()
            except TimeoutError:
                pass
