"""Which user-rollup slots answer a time range: the coarsest ones that may be trusted.

The write path keeps users only at `FINEST` (10 s); minutes, hours and days are derived later,
each slot once it has closed (`signals.store.sealing`), and recorded in a seal: the number of
events the derived rows add up to. A derived slot may be used only while its seal equals the
events the count rollups hold for that slot: both are exact, so equality means no event arrived
in the slot after it was derived (a late event, a replay, a lagging instance). A slot that fails
the test is replaced by its finer slots, down to `FINEST`, which is always exact.

`cover` walks the levels coarsest first, asking the backend once per level which of the
candidate slots hold events and which of those it may use (`SlotCheck`). Empty slots are left
out. What no whole 10-second slot covers (the ends of a range not aligned to 10 seconds) is
left to the raw events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import NamedTuple

from signals.instants import MICROS_PER_SECOND
from signals.store.rollup import FINEST, USER_LEVELS

Run = tuple[int, int]  # [start, end) in epoch seconds, aligned to the level it is asked at


class SlotStates(NamedTuple):
    filled: set[int]  # slot starts (seconds) that hold events
    usable: set[int]  # of those, the ones whose rows are complete and may be read


SlotCheck = Callable[[int, list[Run]], Awaitable[SlotStates]]


class Cover(NamedTuple):
    slots: dict[int, list[int]]  # level -> slot starts in seconds, ascending
    raw: list[tuple[int, int]]  # [start_us, end_us) to read from the events

    @property
    def slot_count(self) -> int:
        return sum(len(starts) for starts in self.slots.values())


async def cover(
    since_us: int, until_us: int, check: SlotCheck, levels: Sequence[int] = USER_LEVELS
) -> Cover:
    """The usable slots (levels coarsest first, ending with FINEST) that cover the range."""
    if levels[-1] != FINEST:
        raise ValueError("the finest level of a cover must be FINEST")
    pending: list[tuple[int, int]] = [(since_us, until_us)] if since_us < until_us else []
    chosen: dict[int, list[int]] = {}
    raw: list[tuple[int, int]] = []
    for level in levels:
        size = level * MICROS_PER_SECOND
        runs: list[Run] = []
        later: list[tuple[int, int]] = []
        for start, end in pending:
            first = -(-start // size) * size
            last = end // size * size
            if first >= last:
                later.append((start, end))
                continue
            if start < first:
                later.append((start, first))
            runs.append((first // MICROS_PER_SECOND, last // MICROS_PER_SECOND))
            if last < end:
                later.append((last, end))
        if runs:
            states = await check(level, runs)
            starts = [s for first, last in runs for s in range(first, last, level)]
            chosen[level] = [s for s in starts if s in states.usable]
            later += [
                (s * MICROS_PER_SECOND, (s + level) * MICROS_PER_SECOND)
                for s in starts
                if s in states.filled and s not in states.usable
            ]
        if level == FINEST:
            raw = _merged(later)
        pending = _merged(later)
    return Cover({level: starts for level, starts in chosen.items() if starts}, raw)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, with touching ranges joined: fewer, longer runs at the next level."""
    joined: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if joined and joined[-1][1] == start:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined
