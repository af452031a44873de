"""Deriving user minutes, hours and days from finer slots once they have closed.

A pass walks each derived level, finest first (so that hours can be summed from the minutes just
derived), over the slots that ended at least `GRACE_SECONDS` ago and no earlier than its look-back,
and derives every slot that holds events but cannot be used (`signals.store.cover`): never
derived, or changed since (late events). A slot is summed from the best cover of finer slots,
and its rows replace the old ones with a new seal, written last: until then the slot is simply
not used, so a reader never sees it half written.

Derived slots spare the stats their walks over many small slots; correctness never depends on
them. A slot that is not derived yet (the last minute, a sealer that is behind or not running)
is read as its finer slots.
"""

from __future__ import annotations

from typing import Protocol

from signals.instants import MICROS_PER_SECOND
from signals.store.cover import Run, SlotStates
from signals.store.rollup import SEALED_LEVELS, USER_LEVELS

# Slots are derived once they ended this long ago: by then the events of their time, which the
# consumer stores within a second or so, are usually all there, so a slot is derived once.
GRACE_SECONDS = 30
# How far back a routine pass re-checks each level: what a late event may still change. Older
# changes (a replay) are found by a pass over all data (`since_us`), run at start.
LOOKBACK_SECONDS = {60: 2 * 3600, 3600: 2 * 86_400, 86_400: 8 * 86_400}
SLOTS_PER_CHECK = 1440


class SealTarget(Protocol):
    async def check(self, level: int, runs: list[Run]) -> SlotStates: ...

    async def seal_slot(self, level: int, slot: int) -> None:
        """Derive the `level` slot starting at `slot` (epoch seconds) from finer slots."""
        ...


def finer_levels(level: int) -> tuple[int, ...]:
    return tuple(finer for finer in USER_LEVELS if finer < level)


async def seal(target: SealTarget, now_us: int, since_us: int | None) -> int:
    """One pass; returns how many slots were derived. `since_us` None: the routine look-back."""
    now = now_us // MICROS_PER_SECOND
    derived = 0
    for level in reversed(SEALED_LEVELS):
        end = (now - GRACE_SECONDS) // level * level  # slots before this one have closed
        if since_us is None:
            start = end - LOOKBACK_SECONDS[level]
        else:
            start = since_us // MICROS_PER_SECOND // level * level
        step = SLOTS_PER_CHECK * level
        for first in range(start, end, step):
            states = await target.check(level, [(first, min(first + step, end))])
            for slot in sorted(states.filled - states.usable):
                await target.seal_slot(level, slot)
                derived += 1
    return derived
