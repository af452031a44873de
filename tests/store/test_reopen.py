"""Everything a store holds is there again after it is closed and reopened."""

from __future__ import annotations

from signals.journal.position import JournalPosition
from signals.store.base import AlertQuery, AnomalyQuery, Batch, SignalQuery

from .conftest import StoreOpener
from .samples import DAY, delivery, episode, record, us


async def test_reopening_finds_everything(open_store: StoreOpener) -> None:
    records = [record(i * 60.0, user_id=f"u{i % 3}", sentiment="stressed") for i in range(50)]
    episodes = [episode(30), episode(90, closed_at="2025-01-06T10:02:00.000000Z")]
    deliveries = [delivery(30)]
    async with open_store() as store:
        await store.apply(
            Batch(
                records=records,
                episodes=episodes,
                deliveries=deliveries,
                checkpoint_name="store",
                checkpoint=JournalPosition(4, 1234),
            )
        )
        before = await store.stats(us(-DAY), us(DAY), 3600)
        first_page = await store.signals(SignalQuery(limit=10))

    async with open_store() as store:
        assert await store.checkpoint("store") == JournalPosition(4, 1234)
        assert [r async for r in store.export(SignalQuery())] == records
        assert await store.stats(us(-DAY), us(DAY), 3600) == before
        assert (await store.anomalies(AnomalyQuery())).items == episodes[::-1]
        assert await store.open_episodes() == [episodes[0]]
        assert (await store.deliveries(AlertQuery())).items == deliveries
        # A cursor made before the restart still resumes where it left off.
        rest = await store.signals(SignalQuery(limit=100, cursor=first_page.next_cursor))
        assert first_page.items + rest.items == records[::-1]
        # Idempotency holds across restarts.
        assert await store.apply(Batch(records=records)) == 0
        assert [ids async for ids in store.recent_event_ids(1)] == [[records[-1].event_id]]
