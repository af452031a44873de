"""The webhook outbox: new deliveries kept once, due ones found, updates saved, pages listed."""

from __future__ import annotations

import msgspec
import pytest

from signals.records.delivery import Attempt, Delivery, DeliveryStatus
from signals.store.base import AlertQuery, BadCursor, Batch, Store

from .samples import BASE_US, at, delivery

NOW = BASE_US / 1_000_000


def updated(original: Delivery, **changes: object) -> Delivery:
    return msgspec.structs.replace(original, **changes)


async def test_an_existing_delivery_is_not_replaced_by_apply(store: Store) -> None:
    first = delivery(1, payload=b"original")
    await store.apply(Batch(records=[], deliveries=[first]))
    await store.apply(
        Batch(records=[], deliveries=[updated(first, payload=b"other", status="failed")])
    )
    assert (await store.deliveries(AlertQuery())).items == [first]


async def test_due_deliveries_are_pending_and_due_longest_overdue_first(store: Store) -> None:
    overdue = delivery(0, next_attempt_at=NOW - 60)
    due_now = delivery(-5, next_attempt_at=NOW)
    later = delivery(0, next_attempt_at=NOW + 0.001)
    done = delivery(0, next_attempt_at=NOW - 100, status="delivered")
    failed = delivery(0, next_attempt_at=NOW - 100, status="failed")
    await store.apply(Batch(records=[], deliveries=[later, due_now, done, overdue, failed]))
    assert await store.due_deliveries(NOW, 10) == [overdue, due_now]
    assert await store.due_deliveries(NOW, 1) == [overdue]
    assert await store.due_deliveries(NOW - 1000, 10) == []


async def test_save_delivery_records_attempts_and_outcome(store: Store) -> None:
    original = delivery(0, payload=b'{"exact": "bytes \\u00e9"}\n\x00\xff')
    await store.apply(Batch(records=[], deliveries=[original]))
    attempts = [
        Attempt(at=at(1), status_code=None, error="connection refused", duration_ms=1.5),
        Attempt(at=at(3), status_code=503, error=None, duration_ms=20.25),
    ]
    retrying = updated(original, attempts=attempts, next_attempt_at=NOW + 30)
    await store.save_delivery(retrying)
    assert await store.due_deliveries(NOW, 10) == []
    assert await store.due_deliveries(NOW + 30, 10) == [retrying]

    sent = updated(
        retrying,
        status="delivered",
        attempts=[*attempts, Attempt(at=at(40), status_code=204, error=None, duration_ms=3.0)],
    )
    await store.save_delivery(sent)
    assert await store.due_deliveries(NOW + 10_000, 10) == []
    assert (await store.deliveries(AlertQuery())).items == [sent]


async def test_save_delivery_changes_only_its_progress(store: Store) -> None:
    original = delivery(0)
    await store.apply(Batch(records=[], deliveries=[original]))
    await store.save_delivery(
        updated(original, payload=b"tampered", type="anomaly.warning", status="failed")
    )
    assert (await store.deliveries(AlertQuery())).items == [updated(original, status="failed")]


async def test_saving_an_unknown_delivery_raises(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.save_delivery(delivery(0))
    assert (await store.deliveries(AlertQuery())).items == []


@pytest.mark.parametrize("status", [None, "pending", "delivered", "failed"])
async def test_deliveries_pages_newest_first_with_a_status_filter(
    store: Store, status: DeliveryStatus | None
) -> None:
    made = [
        delivery(float(n // 2), status=("pending", "delivered", "failed")[n % 3]) for n in range(14)
    ]
    await store.apply(Batch(records=[], deliveries=made))
    expected = sorted(
        (d for d in made if status is None or d.status == status),
        key=lambda d: (d.created_at, d.id),
        reverse=True,
    )
    items: list[Delivery] = []
    cursor = None
    while True:
        page = await store.deliveries(AlertQuery(status=status, limit=3, cursor=cursor))
        items += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert items == expected


async def test_bad_delivery_cursors_are_refused(store: Store) -> None:
    with pytest.raises(BadCursor):
        await store.deliveries(AlertQuery(cursor="%%%"))


@pytest.mark.parametrize("limit", [0, -3])
async def test_delivery_limits_below_one_are_refused(store: Store, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.deliveries(AlertQuery(limit=limit))
    with pytest.raises(ValueError, match="limit"):
        await store.due_deliveries(NOW, limit)
