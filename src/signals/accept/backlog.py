"""The backlog bound: how many accepted events may wait for the store consumer.

Requests reserve room before they journal, so a full backlog slows producers (and, past
`ingest.queue_wait_seconds`, answers 503 `overloaded`) instead of growing memory or dropping
events that were already acknowledged.
"""

from __future__ import annotations

import asyncio
from collections import deque


class BacklogFull(Exception):
    """No room freed within the wait."""


class Backlog:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def try_reserve(self, count: int) -> bool:
        """Reserve room now if there is some and nobody waits for it; False otherwise."""
        if not self._waiters and self._fits(count):
            self.used += count
            return True
        return False

    async def reserve(self, count: int, wait_seconds: float) -> None:
        if self.try_reserve(count):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (count, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(wait_seconds):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self.release(count)  # granted just as the wait ended: give the room back
            elif entry in self._waiters:
                self._waiters.remove(entry)
            if isinstance(exc, TimeoutError):
                raise BacklogFull(f"backlog full ({self.used}/{self.capacity} events)") from None
            raise

    def release(self, count: int) -> None:
        self.used = max(0, self.used - count)
        # First come, first served: a big request at the head is not starved by small ones.
        while self._waiters:
            count_wanted, waiter = self._waiters[0]
            if waiter.done():
                self._waiters.popleft()
                continue
            if not self._fits(count_wanted):
                break
            self._waiters.popleft()
            self.used += count_wanted
            waiter.set_result(None)

    def _fits(self, count: int) -> bool:
        # A request larger than the whole capacity still gets through when the backlog is empty.
        return self.used + count <= self.capacity or self.used == 0
