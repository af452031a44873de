"""Claiming due deliveries: each one handed out once per lease, until its attempt is saved."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from signals.store.base import AlertQuery, Batch, Store

from .samples import BASE_US, delivery

NOW = BASE_US / 1_000_000
LEASE = 30.0


async def test_a_claim_hands_out_due_deliveries_once_per_lease(store: Store) -> None:
    overdue = delivery(0, next_attempt_at=NOW - 60)
    due_now = delivery(-5, next_attempt_at=NOW)
    later = delivery(0, next_attempt_at=NOW + 1)
    done = delivery(0, next_attempt_at=NOW - 100, status="delivered")
    await store.apply(Batch(records=[], deliveries=[later, due_now, done, overdue]))

    assert await store.claim_deliveries(NOW, 10, LEASE) == [overdue, due_now]  # as they were
    assert await store.claim_deliveries(NOW + 1, 10, LEASE) == [later]
    assert await store.claim_deliveries(NOW + 1, 10, LEASE) == []
    assert await store.due_deliveries(NOW + LEASE - 0.001, 10) == []
    # A claimer that died: its leases run out, and the deliveries are due again from then.
    again = await store.claim_deliveries(NOW + LEASE, 10, LEASE)
    assert again == [
        msgspec.structs.replace(d, next_attempt_at=NOW + LEASE) for d in (due_now, overdue)
    ]


async def test_a_claim_takes_at_most_limit_leaving_the_rest_due(store: Store) -> None:
    made = [delivery(float(n), next_attempt_at=NOW - 10 + n) for n in range(5)]
    await store.apply(Batch(records=[], deliveries=made))
    assert await store.claim_deliveries(NOW, 2, LEASE) == made[:2]
    assert await store.due_deliveries(NOW, 10) == made[2:]


async def test_saving_the_attempt_ends_the_lease(store: Store) -> None:
    first, second = delivery(0, next_attempt_at=NOW), delivery(1, next_attempt_at=NOW)
    await store.apply(Batch(records=[], deliveries=[first, second]))
    await store.claim_deliveries(NOW, 10, LEASE)
    await store.save_delivery(msgspec.structs.replace(first, next_attempt_at=NOW + 2))
    await store.save_delivery(msgspec.structs.replace(second, status="delivered"))
    retry = msgspec.structs.replace(first, next_attempt_at=NOW + 2)
    assert await store.claim_deliveries(NOW + 2, 10, LEASE) == [retry]
    # Released unchanged (an attempt abandoned at shutdown): due again at once.
    await store.save_delivery(retry)
    assert await store.claim_deliveries(NOW + 2, 10, LEASE) == [retry]


async def test_concurrent_claims_never_share_a_delivery(store: Store) -> None:
    made = [delivery(float(n), next_attempt_at=NOW - n) for n in range(40)]
    await store.apply(Batch(records=[], deliveries=made))
    claims = await asyncio.gather(*(store.claim_deliveries(NOW, 3, LEASE) for _ in range(20)))
    claimed = [d.id for claim in claims for d in claim]
    assert sorted(claimed) == sorted(d.id for d in made)
    assert await store.claim_deliveries(NOW, 10, LEASE) == []


async def test_a_claim_of_nothing(store: Store) -> None:
    assert await store.claim_deliveries(NOW, 10, LEASE) == []


@pytest.mark.parametrize(("limit", "lease"), [(0, LEASE), (-1, LEASE), (1, 0.0), (1, -5.0)])
async def test_bad_claims_are_refused_and_change_nothing(
    store: Store, limit: int, lease: float
) -> None:
    due = delivery(0, next_attempt_at=NOW)
    await store.apply(Batch(records=[], deliveries=[due]))
    with pytest.raises(ValueError, match=r"limit|lease"):
        await store.claim_deliveries(NOW, limit, lease)
    assert (await store.deliveries(AlertQuery())).items == [due]
