"""`cover`: usable slots, coarsest first, replacing unusable ones by finer ones, exactly."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from signals.store.cover import Run, SlotStates, cover
from signals.store.rollup import FINEST, USER_LEVELS

S = 1_000_000
DAY = 86_400


class States:
    """Which slots hold events and which are usable, decided by a seeded hash of the slot."""

    def __init__(self, seed: int, empty_every: int, unusable_every: int) -> None:
        self.seed = seed
        self.empty_every = empty_every
        self.unusable_every = unusable_every
        self.asked: list[tuple[int, list[Run]]] = []

    def _draw(self, level: int, slot: int, every: int) -> bool:
        return every > 0 and zlib.crc32(f"{self.seed}:{level}:{slot}".encode()) % every == 0

    def empty(self, level: int, slot: int) -> bool:
        return self._draw(level, slot, self.empty_every) and level == FINEST

    def usable(self, level: int, slot: int) -> bool:
        return level == FINEST or not self._draw(level, slot, self.unusable_every)

    async def check(self, level: int, runs: list[Run]) -> SlotStates:
        self.asked.append((level, runs))
        starts = [s for first, last in runs for s in range(first, last, level)]
        filled = {s for s in starts if not self._all_empty(level, s)}
        return SlotStates(filled, {s for s in filled if self.usable(level, s)})

    def _all_empty(self, level: int, slot: int) -> bool:
        if level == FINEST:
            return self.empty(level, slot)
        return all(self.empty(FINEST, s) for s in range(slot, slot + level, FINEST))


@given(
    st.integers(1_700_000_000 * S, 1_700_000_000 * S + 30 * DAY * S),
    st.integers(0, 9 * DAY * S),
    st.integers(0, 2**16),
    st.sampled_from([0, 2, 3, 7]),
    st.sampled_from([0, 2, 5]),
)
async def test_the_cover_is_exact_and_uses_only_usable_slots(
    since: int, length: int, seed: int, empty_every: int, unusable_every: int
) -> None:
    until = since + length
    states = States(seed, empty_every, unusable_every)
    covered = await cover(since, until, states.check)
    parts = [(start, end) for start, end in covered.raw]
    for level, starts in covered.slots.items():
        for slot in starts:
            assert states.usable(level, slot)
            parts.append((slot * S, (slot + level) * S))
    parts.sort()
    # What is not covered is only 10-second slots without events.
    position = since
    for start, end in parts:
        assert start >= position
        for gap in range(position, start, FINEST * S):
            assert gap % (FINEST * S) == 0
            assert states.empty(FINEST, gap // S)
        position = end
    assert position <= until
    for gap in range(position, until, FINEST * S):
        assert states.empty(FINEST, gap // S)
    step = FINEST * S
    for start, end in covered.raw:  # raw only at the ends, and never a whole 10-second slot
        assert -(-start // step) * step + step > end
        assert start == since or end == until
    assert len(states.asked) <= len(USER_LEVELS)  # one question per level


async def test_a_week_all_derived_walks_about_two_hundred_slots() -> None:
    since = 1_700_000_123 * S + 456_789
    states = States(0, 0, 0)
    covered = await cover(since, since + 7 * DAY * S, states.check)
    assert sorted(covered.slots) == [10, 60, 3600, 86400]
    assert len(covered.slots[86400]) == 6
    assert covered.slot_count <= 6 + 2 * 23 + 2 * 59 + 2 * 5
    assert [end - start < FINEST * S for start, end in covered.raw] == [True, True]


async def test_an_unusable_day_is_read_as_its_hours() -> None:
    day = 1_700_006_400  # a UTC midnight
    assert day % DAY == 0

    class OneBadDay(States):
        def usable(self, level: int, slot: int) -> bool:
            return not (level == 86400 and slot == day)

    states = OneBadDay(0, 0, 0)
    covered = await cover((day - DAY) * S, (day + 2 * DAY) * S, states.check)
    assert covered.slots == {86400: [day - DAY, day + DAY], 3600: list(range(day, day + DAY, 3600))}
    assert covered.raw == []
