"""Per-user totals over whole rollup slots, remembered between stats calls.

A dashboard asks for the same ranges every few seconds. The whole slots inside a range (all of
it but the ragged ends) change only when an event is stored with a time inside them, which is
rare: events are stamped with the server's clock as they arrive, so they land in the current
slot, past every whole slot of a range. So the per-user sums over those slots are kept, keyed by
the slots they cover, and the writer calls `invalidate` with the earliest time it stored,
dropping every entry that might now be short.

A missing entry is computed while holding the store's write lock: no write can commit between
the read and the moment the entry is stored, so no invalidation can be missed. Only a store with
one writer in one process can promise that; that is the SQLite store.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from signals.store.rollup import Segment

Totals = dict[str, tuple[int, int]]  # user_id -> (events, stressed)
Slots = tuple[Segment, ...]


class SettledTotals:
    """At most `capacity` entries, least recently used dropped first."""

    def __init__(self, write_lock: asyncio.Lock, capacity: int = 8) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._write_lock = write_lock
        self._capacity = capacity
        self._entries: OrderedDict[Slots, Totals] = OrderedDict()

    async def get(self, slots: Slots, compute: Callable[[], Awaitable[Totals]]) -> Totals:
        """The totals over `slots`, from memory or from `compute` (then remembered)."""
        totals = self._entries.get(slots)
        if totals is not None:
            self._entries.move_to_end(slots)
            return totals
        async with self._write_lock:
            totals = self._entries.get(slots)  # filled while this task waited for the lock
            if totals is None:
                totals = await compute()
                self._entries[slots] = totals
                while len(self._entries) > self._capacity:
                    self._entries.popitem(last=False)
            return totals

    def invalidate(self, earliest_us: int) -> None:
        """Forget every entry whose slots end after `earliest_us`. Call under the write lock,
        after the commit that stored an event at `earliest_us`, with no await in between."""
        for slots in [s for s in self._entries if s[-1].end_us > earliest_us]:
            del self._entries[slots]
