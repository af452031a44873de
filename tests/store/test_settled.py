"""SettledTotals: sums remembered, dropped when an earlier event is stored, filled under lock."""

from __future__ import annotations

import asyncio

import pytest

from signals.store.rollup import Segment
from signals.store.settled import SettledTotals, Totals

HOURS = (Segment(3600, 0, 7200),)
DAY = (Segment(86400, 0, 86400), Segment(3600, 86400, 90000))


class Source:
    """Counts how often the totals are really computed."""

    def __init__(self) -> None:
        self.calls = 0

    async def totals(self) -> Totals:
        self.calls += 1
        await asyncio.sleep(0)
        return {"u": (self.calls, 0)}


async def test_totals_are_computed_once_then_remembered() -> None:
    settled, source = SettledTotals(asyncio.Lock()), Source()
    assert await settled.get(HOURS, source.totals) == {"u": (1, 0)}
    assert await settled.get(HOURS, source.totals) == {"u": (1, 0)}
    assert source.calls == 1


async def test_concurrent_misses_compute_once() -> None:
    settled, source = SettledTotals(asyncio.Lock()), Source()
    results = await asyncio.gather(*(settled.get(HOURS, source.totals) for _ in range(5)))
    assert source.calls == 1
    assert all(r == {"u": (1, 0)} for r in results)


async def test_invalidate_drops_entries_ending_after_the_event() -> None:
    settled, source = SettledTotals(asyncio.Lock()), Source()
    await settled.get(HOURS, source.totals)  # computed as (1, 0): [0, 7200)
    await settled.get(DAY, source.totals)  # computed as (2, 0): [0, 90000)
    settled.invalidate(90_000)  # later than both
    assert await settled.get(HOURS, source.totals) == {"u": (1, 0)}
    assert await settled.get(DAY, source.totals) == {"u": (2, 0)}
    settled.invalidate(7200)  # inside DAY only
    assert await settled.get(HOURS, source.totals) == {"u": (1, 0)}
    assert await settled.get(DAY, source.totals) == {"u": (3, 0)}
    settled.invalidate(7199)  # inside both
    assert await settled.get(HOURS, source.totals) == {"u": (4, 0)}
    assert await settled.get(DAY, source.totals) == {"u": (5, 0)}


async def test_a_miss_waits_for_the_write_in_progress() -> None:
    lock = asyncio.Lock()
    settled, source = SettledTotals(lock), Source()
    await lock.acquire()
    pending = asyncio.create_task(settled.get(HOURS, source.totals))
    for _ in range(5):
        await asyncio.sleep(0)
    assert source.calls == 0
    assert not pending.done()
    lock.release()
    assert await pending == {"u": (1, 0)}


async def test_least_recently_used_entries_go_first() -> None:
    settled, source = SettledTotals(asyncio.Lock(), capacity=2), Source()
    keys = [(Segment(3600, n * 3600, (n + 1) * 3600),) for n in range(3)]
    await settled.get(keys[0], source.totals)
    await settled.get(keys[1], source.totals)
    await settled.get(keys[0], source.totals)  # keys[0] is now the most recent
    await settled.get(keys[2], source.totals)  # evicts keys[1]
    assert source.calls == 3
    await settled.get(keys[0], source.totals)
    assert source.calls == 3
    await settled.get(keys[1], source.totals)
    assert source.calls == 4


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SettledTotals(asyncio.Lock(), capacity=0)
