"""A batch is one transaction: records, episodes, deliveries and the checkpoint, or nothing."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from signals.journal.position import JournalPosition
from signals.store.base import AlertQuery, AnomalyQuery, Batch, SignalQuery, Store

from .samples import DAY, delivery, episode, record, us


async def test_a_batch_writes_everything_and_its_checkpoint(store: Store) -> None:
    records = [record(1), record(2)]
    batch = Batch(
        records=records,
        episodes=[episode(1)],
        deliveries=[delivery(1)],
        checkpoint_name="store",
        checkpoint=JournalPosition(3, 4096),
    )
    assert await store.apply(batch) == 2
    assert await store.checkpoint("store") == JournalPosition(3, 4096)
    assert len((await store.signals(SignalQuery())).items) == 2
    assert (await store.anomalies(AnomalyQuery())).items == batch.episodes
    assert (await store.deliveries(AlertQuery())).items == batch.deliveries


async def test_a_failing_batch_leaves_no_trace(store: Store) -> None:
    await store.apply(
        Batch(records=[record(0)], checkpoint_name="store", checkpoint=JournalPosition(1, 10))
    )
    doomed = Batch(
        records=[record(1), record(2)],
        episodes=[episode(1)],
        deliveries=[delivery(1)],
        checkpoint_name="store",
        checkpoint=JournalPosition(2**64, 0),  # no store holds this: the write fails last
    )
    with pytest.raises(OverflowError):
        await store.apply(doomed)
    assert len((await store.signals(SignalQuery())).items) == 1
    assert (await store.anomalies(AnomalyQuery())).items == []
    assert (await store.deliveries(AlertQuery())).items == []
    assert await store.checkpoint("store") == JournalPosition(1, 10)
    stats = await store.stats(us(-DAY), us(DAY), DAY)
    assert sum(stats.by_sentiment.values()) == 1
    # The store still works, and the same records can be written once the batch is fixed.
    fixed = Batch(records=doomed.records, checkpoint_name="store", checkpoint=JournalPosition(2, 0))
    assert await store.apply(fixed) == 2
    assert await store.checkpoint("store") == JournalPosition(2, 0)


@pytest.mark.parametrize(
    "fields",
    [{"checkpoint_name": "store"}, {"checkpoint": JournalPosition(1, 2)}],
    ids=["name-only", "position-only"],
)
async def test_a_checkpoint_needs_name_and_position(
    store: Store, fields: dict[str, object]
) -> None:
    batch = msgspec.structs.replace(Batch(records=[record(1)]), **fields)
    with pytest.raises(ValueError, match="checkpoint"):
        await store.apply(batch)
    assert (await store.signals(SignalQuery())).items == []


async def test_checkpoints_are_kept_by_name(store: Store) -> None:
    assert await store.checkpoint("store") is None
    await store.save_checkpoint("store", JournalPosition(1, 100))
    await store.save_checkpoint("router", JournalPosition(0, 7))
    await store.save_checkpoint("store", JournalPosition(2, 0))
    assert await store.checkpoint("store") == JournalPosition(2, 0)
    assert await store.checkpoint("router") == JournalPosition(0, 7)
    assert await store.checkpoint("other") is None


async def test_a_batch_with_only_a_checkpoint(store: Store) -> None:
    assert (
        await store.apply(Batch(records=[], checkpoint_name="s", checkpoint=JournalPosition(5, 6)))
        == 0
    )
    assert await store.checkpoint("s") == JournalPosition(5, 6)


async def test_checkpoint_positions_at_the_limits(store: Store) -> None:
    far = JournalPosition(2**63 - 1, 2**63 - 1)
    await store.save_checkpoint("far", far)
    assert await store.checkpoint("far") == far


async def test_concurrent_writers_do_not_share_a_transaction(store: Store) -> None:
    outbox = delivery(0)
    await store.apply(Batch(records=[], deliveries=[outbox]))
    good = [
        Batch(
            records=[record(i), record(i + 0.5)],
            checkpoint_name=f"c{i}",
            checkpoint=JournalPosition(i, 0),
        )
        for i in range(10)
    ]
    bad = Batch(records=[record(99)], checkpoint_name="bad", checkpoint=JournalPosition(2**64, 0))
    results = await asyncio.gather(
        *(store.apply(batch) for batch in good[:5]),
        store.apply(bad),
        store.save_delivery(msgspec.structs.replace(outbox, status="delivered")),
        store.save_checkpoint("side", JournalPosition(7, 7)),
        *(store.apply(batch) for batch in good[5:]),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [int] * 5 + [OverflowError, type(None), type(None)] + [
        int
    ] * 5
    assert sum(r for r in results if isinstance(r, int)) == 20
    assert len([r async for r in store.export(SignalQuery())]) == 20
    for i in range(10):
        assert await store.checkpoint(f"c{i}") == JournalPosition(i, 0)
    assert await store.checkpoint("side") == JournalPosition(7, 7)
    assert await store.checkpoint("bad") is None
    assert (await store.deliveries(AlertQuery())).items[0].status == "delivered"
