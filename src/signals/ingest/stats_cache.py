"""`/v1/stats` answers: ranges aligned to the rollups, one answer per range and tick, shared.

A range ends at the end of the current 10-second slot (the finest rollup) and starts exactly its
length before, so every part of it is read from rollups, never from raw events; the answer
says which instants it covers. Events stored during the current slot are counted in it as they
arrive, and `until` is at most 10 seconds ahead of the clock.

Every answer is computed once per range and `TICK_SECONDS` (the dashboard's refresh interval)
and shared by every request in that tick: ten dashboards cost the store what one costs, and an
answer is at most one tick old. Concurrent requests for a range that is not cached yet wait for
the first one to compute it rather than each asking the store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from signals.instants import MICROS_PER_SECOND
from signals.store.rollup import FINEST

TICK_SECONDS = 5
STEP_US = FINEST * MICROS_PER_SECOND
assert FINEST % TICK_SECONDS == 0  # a tick never straddles two slots: one `until` per tick


def aligned_window(seconds: int, now: float) -> tuple[int, int]:
    """(since_us, until_us): `seconds` long, ending where the 10-second slot of `now` ends."""
    until_us = (int(now * MICROS_PER_SECOND) // STEP_US + 1) * STEP_US
    return until_us - seconds * MICROS_PER_SECOND, until_us


class StatsCache:
    """Answers by (range name, tick); `compute(name, now)` makes one, encoded."""

    def __init__(
        self, compute: Callable[[str, float], Awaitable[bytes]], clock: Callable[[], float]
    ) -> None:
        self._compute = compute
        self._clock = clock
        self._answers: dict[tuple[str, int], bytes] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, name: str) -> bytes:
        now = self._clock()
        key = (name, int(now // TICK_SECONDS))
        answer = self._answers.get(key)
        if answer is not None:
            return answer
        async with self._locks.setdefault(name, asyncio.Lock()):
            answer = self._answers.get(key)  # made while this request waited
            if answer is None:
                answer = await self._compute(name, now)
                # Only the current tick is worth keeping: older answers are never asked again.
                self._answers = {k: v for k, v in self._answers.items() if k[1] >= key[1]}
                self._answers[key] = answer
        return answer
