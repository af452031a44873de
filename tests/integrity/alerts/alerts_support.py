"""Helpers shared by the alert tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from signals.records.delivery import Delivery
from signals.records.episode import Episode
from signals.store.base import AlertQuery, Store


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    """Poll `check` until it holds; fail the test if it does not `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


async def all_deliveries(store: Store) -> dict[str, Delivery]:
    page = await store.deliveries(AlertQuery(limit=1000))
    return {delivery.id: delivery for delivery in page.items}


async def delivery(store: Store, delivery_id: str) -> Delivery:
    return (await all_deliveries(store))[delivery_id]


def settled(store: Store, delivery_id: str, status: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await delivery(store, delivery_id)).status == status

    return check


def make_episode(episode_id: str = "ep_1", severity: str = "critical") -> Episode:
    return Episode(
        id=episode_id,
        user_id="user-7",
        signal_type="chat",
        severity="critical" if severity == "critical" else "warning",
        threshold=10,
        window_seconds=5.0,
        peak_count=16,
        event_count=6,
        opened_at="2025-01-02T03:04:05.000000Z",
        last_seen_at="2025-01-02T03:04:07.500000Z",
        sample_event_ids=["evt_1", "evt_2"],
        alerted=[],
    )
