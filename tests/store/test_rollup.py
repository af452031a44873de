"""`plan` covers a range exactly with aligned slots; `deltas` count what a plain loop counts."""

from __future__ import annotations

import itertools
import random
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from signals.store.rollup import (
    COUNT_LEVELS,
    FINEST,
    RAW,
    USER_LEVELS,
    Fact,
    Segment,
    deltas,
    plan,
)

MICROS = 1_000_000
instants = st.integers(min_value=-(10**16), max_value=10**16)


@given(instants, st.integers(min_value=0, max_value=40 * 86_400 * MICROS), st.sampled_from(
    [USER_LEVELS, COUNT_LEVELS, (60,), (), (86_400, 900, 60)]
))  # fmt: skip
def test_plan_covers_the_range_exactly_with_aligned_slots(
    since: int, length: int, levels: tuple[int, ...]
) -> None:
    until = since + length
    segments = plan(since, until, levels)
    if length == 0:
        assert segments == []
        return
    assert segments[0].start_us == since
    assert segments[-1].end_us == until
    for before, after in itertools.pairwise(segments):
        assert before.end_us == after.start_us
    for segment in segments:
        assert segment.start_us < segment.end_us
        if segment.level != RAW:
            size = segment.level * MICROS
            assert segment.start_us % size == 0
            assert segment.end_us % size == 0
    if levels:
        finest = levels[-1] * MICROS
        for segment in segments:
            if segment.level == RAW:  # raw only where no whole slot of the finest level fits
                first_slot = -(-segment.start_us // finest) * finest
                assert first_slot + finest > segment.end_us


def test_plan_examples() -> None:
    hour, minute = 3600 * MICROS, 60 * MICROS
    assert plan(0, 2 * hour, (3600, 60)) == [Segment(3600, 0, 2 * hour)]
    assert plan(5, 2 * hour + 7, (3600, 60)) == [
        Segment(RAW, 5, minute),
        Segment(60, minute, hour),
        Segment(3600, hour, 2 * hour),
        Segment(RAW, 2 * hour, 2 * hour + 7),
    ]
    assert plan(5, 6, (3600, 60)) == [Segment(RAW, 5, 6)]
    assert plan(6, 5, (3600,)) == []


def test_deltas_match_a_plain_count() -> None:
    rng = random.Random(3)
    facts = [
        Fact(
            rng.randrange(-3 * 86_400 * MICROS, 3 * 86_400 * MICROS),
            rng.choice(["a", "b", "c"]),
            rng.choice(["message", "error"]),
            rng.choice(["stressed", "neutral", "positive"]),
        )
        for _ in range(3000)
    ]
    changes = deltas(facts)
    assert [level for level, _ in changes.counts] == list(COUNT_LEVELS)
    for level, rows in changes.counts:
        size = level * MICROS
        expected = Counter(
            (f.received_us // size * level, f.signal_type, f.sentiment) for f in facts
        )
        assert {(s, t, m): n for s, t, m, n in rows} == expected
        assert len(rows) == len(expected)
    size = FINEST * MICROS
    events = Counter((f.received_us // size * FINEST, f.user_id) for f in facts)
    stressed = Counter(
        (f.received_us // size * FINEST, f.user_id) for f in facts if f.sentiment == "stressed"
    )
    assert {(s, u): (n, k) for s, u, n, k in changes.users} == {
        key: (n, stressed[key]) for key, n in events.items()
    }
    assert len(changes.users) == len(events)
    assert all(type(k) is int for *_, k in changes.users)


def test_deltas_of_nothing() -> None:
    changes = deltas([])
    assert all(rows == [] for _, rows in changes.counts)
    assert changes.users == []
