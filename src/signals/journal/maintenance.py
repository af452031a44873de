"""Background upkeep of closed segments: gzip compression and retention pruning.

Both run one job at a time on a thread of their own, never on the writer's thread, so neither
ever stalls an append, and never at the same time as each other, so a segment is not deleted while
it is being compressed. On close, a compression in progress is abandoned (its temporary file is
removed) rather than awaited: closed segments left plain are compressed after the next open.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog

from signals.background import lower_this_thread
from signals.journal.compression import compress_segment
from signals.journal.retention import Retention, prune_segments
from signals.journal.segments import plain_path

log = structlog.get_logger(__name__)

PRUNE_INTERVAL_SECONDS = 600.0


class Maintenance:
    def __init__(
        self, directory: Path, retention: Retention, active_segment: Callable[[], int]
    ) -> None:
        self._directory = directory
        self._retention = retention
        self._active_segment = active_segment
        # Nothing waits on compression or pruning: they take the CPU the event loop leaves.
        self._thread = ThreadPoolExecutor(
            1, thread_name_prefix="journal-maintenance", initializer=lower_this_thread
        )
        self._abort = threading.Event()
        self._queue: asyncio.Queue[int | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self, backlog: list[int]) -> None:
        for number in backlog:
            self._queue.put_nowait(number)
        self._task = asyncio.create_task(self._run(), name="journal-maintenance")

    def compress_later(self, number: int) -> None:
        self._queue.put_nowait(number)

    async def prune(self, now: float | None = None) -> list[Path]:
        # Positions are read here, on the event loop, where the consumers update them.
        active, needed = self._active_segment(), self._retention.needed_from()
        keep_from = active if needed is None else min(active, needed)
        when = time.time() if now is None else now
        loop = asyncio.get_running_loop()
        removed = await loop.run_in_executor(
            self._thread, prune_segments, self._directory, self._retention.days, keep_from, when
        )
        for path in removed:
            log.info("journal.segment_pruned", file=str(path))
        return removed

    async def aclose(self) -> None:
        self._abort.set()
        self._queue.put_nowait(None)
        try:
            if self._task is not None:
                await self._task
        finally:
            self._thread.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while True:
            try:
                async with asyncio.timeout(max(0.0, next_prune - loop.time())):
                    number = await self._queue.get()
            except TimeoutError:
                next_prune = loop.time() + PRUNE_INTERVAL_SECONDS
                try:
                    await self.prune()
                except Exception:  # upkeep must outlive one bad pass; the next one retries
                    log.exception("journal.prune_failed")
                continue
            if number is None:
                return
            path = plain_path(self._directory, number)
            try:
                packed = await loop.run_in_executor(
                    self._thread, compress_segment, path, self._abort
                )
            except Exception:  # the plain segment stays readable; the next open retries
                log.exception("journal.compress_failed", file=str(path))
                continue
            if packed is not None:
                log.info("journal.segment_compressed", file=str(packed))
