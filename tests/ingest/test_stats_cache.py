"""`/v1/stats`: ranges aligned to the rollups, and one answer per range and tick for everyone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from tests.store.samples import record

from signals.ingest.history import RANGES, SignalHistory
from signals.ingest.stats_cache import TICK_SECONDS, aligned_window
from signals.instants import to_us
from signals.store.base import Batch
from signals.store.sqlite.store import SqliteStore

START = 1_736_157_601.25  # 2025-01-06T10:00:01.25Z


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with await SqliteStore.open(tmp_path / "signals.db") as opened:
        yield opened


def client_for(history: SignalHistory) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/v1/stats", history.stats)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def events_at(seconds: float, count: int) -> Batch:
    """`count` events `seconds` after 10:00 on the sample Monday."""
    return Batch(records=[record(seconds) for _ in range(count)])


async def total(client: httpx.AsyncClient, name: str = "15m") -> int:
    response = await client.get("/v1/stats", params={"range": name})
    assert response.status_code == 200
    return sum(response.json()["by_sentiment"].values())


async def test_ten_viewers_in_one_tick_share_one_answer(store: SqliteStore) -> None:
    clock = Clock(START)
    async with client_for(SignalHistory(store, clock)) as client:
        await store.apply(events_at(-60, 3))
        bodies = await asyncio.gather(
            *(client.get("/v1/stats", params={"range": "15m"}) for _ in range(10))
        )
        assert len({body.content for body in bodies}) == 1
        await store.apply(events_at(0.5, 4))  # stored within the same tick
        assert await total(client) == 3  # still the tick's answer
        assert await total(client, "1h") == 7  # another range is its own answer
        clock.now += TICK_SECONDS
        assert await total(client) == 7


async def test_ranges_end_with_the_current_ten_seconds(store: SqliteStore) -> None:
    clock = Clock(START)
    async with client_for(SignalHistory(store, clock)) as client:
        await store.apply(events_at(1.2, 1))  # after the clock, in its 10-second slot
        for name, (seconds, bucket) in RANGES.items():
            body = (await client.get("/v1/stats", params={"range": name})).json()
            since, until = to_us(body["since"]), to_us(body["until"])
            assert (since, until) == aligned_window(seconds, START)
            assert until - since == seconds * 1_000_000
            assert since <= START * 1_000_000 < until <= (START + 10) * 1_000_000
            assert body["bucket_seconds"] == bucket and body["range"] == name
            assert sum(body["by_sentiment"].values()) == 1
            assert body["top_users_exact"] is True
