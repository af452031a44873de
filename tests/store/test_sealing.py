"""Derived user slots: sealed once closed, unused once changed, never needed for exact stats."""

from __future__ import annotations

import random

from signals.events import Record
from signals.store.base import Batch, Store, TopUser

from .samples import DAY, HOUR, record, us
from .test_stats import SENTIMENTS, oracle

NOW = us(2 * DAY)


def traffic(seed: int, count: int, start: float, end: float) -> list[Record]:
    rng = random.Random(seed)
    users = [f"u{n:02d}" for n in range(40)]
    weights = [1 / (n + 1) for n in range(40)]
    return [
        record(
            rng.uniform(start, end),
            user_id=rng.choices(users, weights)[0],
            signal_type=rng.choice(["message", "tool_call", "error"]),
            sentiment=rng.choice(SENTIMENTS),
        )
        for _ in range(count)
    ]


async def store_all(store: Store, records: list[Record]) -> None:
    for start in range(0, len(records), 500):
        await store.apply(Batch(records=records[start : start + 500]))


SHAPES = [
    (us(-DAY), us(2 * DAY), 10_800),
    (us(-2 * HOUR - 7), us(2 * HOUR + 3), 900),
    (us(DAY + 61), us(DAY + 3 * HOUR - 59), 60),
    (us(-DAY) + 123_456, us(2 * DAY) - 654_321, 3600),
    (us(2 * DAY - 900), us(2 * DAY), 30),
]


async def assert_exact(store: Store, records: list[Record]) -> None:
    for since, until, bucket in SHAPES:
        got = await store.stats(since, until, bucket)
        assert got == oracle(records, [], since, until, bucket), (since, until, bucket)


async def test_sealed_slots_give_the_same_answers(store: Store) -> None:
    records = traffic(1, 1200, -DAY, 2 * DAY)
    await store_all(store, records)
    await assert_exact(store, records)  # nothing derived yet: read as 10-second slots
    derived = await store.seal(NOW, since_us=0)
    assert derived > 3 * 24  # days, hours and minutes that hold events
    assert await store.seal(NOW, since_us=0) == 0  # all of them still match their counts
    await assert_exact(store, records)


async def test_a_late_event_unseals_its_slots_until_derived_again(store: Store) -> None:
    records = traffic(2, 800, -DAY, 2 * DAY)
    await store_all(store, records)
    await store.seal(NOW, since_us=0)
    late = [record(-5 * HOUR + 17.5, user_id="late", sentiment="stressed") for _ in range(60)]
    await store.apply(Batch(records=late))
    records += late
    await assert_exact(store, records)  # the changed minute, hour and day are not trusted
    assert await store.seal(NOW, since_us=0) == 3  # exactly those three are derived again
    await assert_exact(store, records)
    top = (await store.stats(us(-DAY), us(2 * DAY), 10_800)).top_users
    assert TopUser(user_id="late", events=60, stressed=60) in top


async def test_open_slots_are_left_alone(store: Store) -> None:
    t = 2 * DAY + 1800  # 10:30 on a Wednesday
    await store.apply(Batch(records=[record(t - 5), record(t - 1)]))
    assert await store.seal(us(t)) == 0  # within the grace period of the minute just ended
    assert await store.seal(us(t + 60)) == 1  # the minute has closed
    assert await store.seal(us(t + 60)) == 0
    assert await store.seal(us(t + HOUR)) == 1  # then the hour
    assert await store.seal(us(t + DAY), since_us=0) == 1  # then the day


async def test_a_routine_pass_looks_back_a_bounded_time(store: Store) -> None:
    await store.apply(Batch(records=[record(-3 * DAY + 30.5)]))
    assert await store.seal(NOW) == 1  # three days back: only the day is within its look-back
    assert await store.seal(NOW, since_us=us(-4 * DAY)) == 2  # a full pass: its minute, its hour
    await store.apply(Batch(records=[record(-3 * DAY + 31)]))
    assert await store.seal(NOW) == 1
    assert await store.seal(NOW, since_us=0) == 2
