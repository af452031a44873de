"""Retention: whole days past `retention_days` pruned in small steps, everything else untouched."""

from __future__ import annotations

import asyncio

import pytest

from signals.events import Record
from signals.records.delivery import Delivery
from signals.records.episode import Episode
from signals.store.base import AlertQuery, AnomalyQuery, Batch, SignalQuery, Store
from signals.store.upkeep import PRUNE_STEP, StoreUpkeep, retention_cutoff_us

from .samples import BASE_US, DAY, HOUR, at, delivery, episode, record, us
from .test_stats import oracle

NOW = BASE_US / 1_000_000 + 40 * DAY + 5 * HOUR  # a clock reading, in seconds
CUTOFF = retention_cutoff_us(NOW, 30) or 0
EDGE = (CUTOFF - BASE_US) / 1_000_000  # the cutoff in `samples` seconds


class World:
    """Rows on both sides of the cutoff, and what retention must keep of them."""

    def __init__(self) -> None:
        old_times = [0, 3 * DAY, EDGE - 0.000001, EDGE - HOUR]
        new_times = [EDGE, EDGE + 1, 39 * DAY, 40 * DAY + 4 * HOUR]
        self.old = [record(t, user_id=f"old-{n}") for n, t in enumerate(old_times)]
        self.new = [record(t, user_id=f"new-{n}") for n, t in enumerate(new_times)]
        self.episodes_gone = [episode(EDGE - DAY, closed_at=at(EDGE - DAY + 9))]
        self.episodes_kept: list[Episode] = [
            episode(EDGE - DAY),  # still open: kept whatever its age
            episode(EDGE + HOUR, closed_at=at(EDGE + HOUR + 9)),
        ]
        self.deliveries_gone = [
            delivery(EDGE - DAY, status="delivered"),
            delivery(EDGE - 2 * DAY, status="failed"),
        ]
        self.deliveries_kept: list[Delivery] = [
            delivery(EDGE - DAY, status="pending"),  # not finished: kept
            delivery(EDGE + DAY, status="delivered"),
        ]

    async def store_in(self, store: Store) -> None:
        await store.apply(
            Batch(
                records=[*self.old, *self.new],
                episodes=[*self.episodes_gone, *self.episodes_kept],
                deliveries=[*self.deliveries_gone, *self.deliveries_kept],
            )
        )

    async def assert_pruned(self, store: Store) -> None:
        page = await store.signals(SignalQuery(limit=1000))
        assert {r.event_id for r in page.items} == {r.event_id for r in self.new}
        anomalies = await store.anomalies(AnomalyQuery(limit=1000))
        assert {e.id for e in anomalies.items} == {e.id for e in self.episodes_kept}
        alerts = await store.deliveries(AlertQuery(limit=1000))
        assert {d.id for d in alerts.items} == {d.id for d in self.deliveries_kept}
        for since, until, bucket in (
            (us(-DAY), us(41 * DAY), 86_400),
            (CUTOFF, us(41 * DAY), 10_800),
            (us(EDGE - HOUR), CUTOFF + 1, 60),
        ):
            got = await store.stats(since, until, bucket)
            expected = oracle(self.new, [], since, until, bucket)
            assert (got.buckets, got.by_signal_type, got.top_users) == (
                expected.buckets,
                expected.by_signal_type,
                expected.top_users,
            )


def upkeep(store: Store, days: float = 30, **options: float) -> StoreUpkeep:
    return StoreUpkeep(store, days, clock=lambda: NOW, **options)


async def test_a_pass_prunes_whole_days_past_retention_and_nothing_else(store: Store) -> None:
    world = World()
    await world.store_in(store)
    await upkeep(store).seal(everything=True)  # derived slots of the old days go too
    deleted = await upkeep(store).prune()
    assert deleted >= len(world.old) + 3
    await world.assert_pruned(store)
    assert await upkeep(store).prune() == 0
    assert await store.seal(int(NOW * 1_000_000), since_us=0) == 0  # what is left still matches


async def test_zero_keeps_everything(store: Store) -> None:
    world = World()
    await world.store_in(store)
    assert await upkeep(store, days=0).prune() == 0
    page = await store.signals(SignalQuery(limit=1000))
    assert len(page.items) == len(world.old) + len(world.new)


async def test_the_cutoff_is_the_start_of_a_utc_day() -> None:
    assert retention_cutoff_us(86_400 * 100 + 7, 30) == 86_400 * 70 * 1_000_000
    assert retention_cutoff_us(86_400 * 100, 0.5) == 86_400 * 99 * 1_000_000
    assert retention_cutoff_us(86_400 * 100, 0) is None


@pytest.mark.parametrize(("before_us", "limit"), [(CUTOFF + 1, 10), (CUTOFF, 0)])
async def test_a_ragged_cutoff_or_no_limit_is_refused(
    store: Store, before_us: int, limit: int
) -> None:
    with pytest.raises(ValueError):
        await store.prune(before_us, limit)


async def test_pruning_runs_in_steps_that_let_ingest_through(store: Store) -> None:
    old: list[Record] = [record(EDGE - DAY + n * 7.3, user_id=f"u{n % 300}") for n in range(8000)]
    for start in range(0, len(old), 1000):
        await store.apply(Batch(records=old[start : start + 1000]))
    assert await store.prune(CUTOFF, 10) == 10  # one step is one small transaction
    pruning = asyncio.create_task(upkeep(store).prune())
    await asyncio.sleep(0)  # the pass has taken its first step
    late = record(39 * DAY, user_id="ingest")
    assert await store.apply(Batch(records=[late])) == 1
    assert not pruning.done()  # ingest was not held until the pass ended
    assert await pruning >= len(old) - 10 > PRUNE_STEP
    page = await store.signals(SignalQuery(limit=1000))
    assert [r.event_id for r in page.items] == [late.event_id]


async def test_the_background_task_prunes_on_its_own(store: Store) -> None:
    world = World()
    await world.store_in(store)
    async with upkeep(store, seal_interval=0.01, prune_interval=0.01):
        async with asyncio.timeout(60):  # a guard against a hang, not a measurement
            # Deliveries are the last kind a pass prunes.
            while len((await store.deliveries(AlertQuery())).items) > len(world.deliveries_kept):
                await asyncio.sleep(0.01)
    await world.assert_pruned(store)
