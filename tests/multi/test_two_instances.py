"""Two `signals serve` processes on their own ports and journals, sharing one Redis and one
PostgreSQL database, as behind a load balancer (docs/semantics.md)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from tests.integrity.detection.receiver import Receiver
from tests.integrity.detection.support import (
    all_episodes,
    batch,
    episodes_of,
    event,
    eventually,
    log,
    stored,
    stored_ids,
)
from tests.support.service import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

THRESHOLD = 4  # 5 events in the window: warning; 6: critical


def sections(redis_url: str, prefix: str, pg_url: str, **more: Any) -> dict[str, Any]:
    return {
        "thresholds": {"default": THRESHOLD},
        "windows": {"backend": "redis", "seconds": 60.0, "ttl_seconds": 120},
        "redis": {"url": redis_url, "key_prefix": prefix},
        "store": {"backend": "postgres", "url": pg_url},
        **more,
    }


@contextlib.contextmanager
def stopping(*services: ServiceProcess) -> Iterator[None]:
    try:
        yield
    finally:
        for service in services:
            service.__exit__()


@contextlib.asynccontextmanager
async def clients(service: ServiceProcess) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    async with (
        httpx.AsyncClient(base_url=service.ingest, timeout=10) as ingest,
        httpx.AsyncClient(base_url=service.integrity, timeout=10) as integrity,
    ):
        yield ingest, integrity


def complaints(service: ServiceProcess) -> list[str]:
    """The warnings and errors a service logged, to explain a failure."""
    return [line for line in service.logs().splitlines() if '"level":"info"' not in line]


def two(tmp_path: Path, settings: dict[str, Any]) -> tuple[ServiceProcess, ServiceProcess]:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    return ServiceProcess(tmp_path / "a", settings), ServiceProcess(tmp_path / "b", settings)


async def start(*services: ServiceProcess) -> None:
    await asyncio.gather(*(asyncio.to_thread(service.start) for service in services))


async def test_a_burst_split_across_instances_is_one_episode_and_one_alert(
    tmp_path: Path, redis_url: str, prefix: str, pg_url: str
) -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    user = "split-user"
    async with Receiver() as receiver:
        alerts = {"webhook_url": receiver.url, "secret": secret, "min_severity": "critical"}
        first, second = two(tmp_path, sections(redis_url, prefix, pg_url, alerts=alerts))
        with stopping(first, second):
            await start(first, second)
            async with clients(first) as (a, a_history), clients(second) as (b, b_history):
                # Round robin, as a load balancer would: 12 events, 6 on each instance.
                sent = [(await log(client, user))["event_id"] for client in (a, b) * 6]
                others = await batch(b, [event("someone-else") for _ in range(3)])
                await stored(a, [*sent, *others])
                # Every instance answers over all events, whichever took them.
                assert await stored_ids(a) == await stored_ids(b) == {*sent, *others}

                episodes = await episodes_of(a_history, user)
                assert len(episodes) == 1, (episodes, complaints(first), complaints(second))
                [episode] = episodes
                assert await episodes_of(b_history, user) == [episode]
                assert await all_episodes(b_history) == [episode]
                assert episode["severity"] == "critical"
                assert episode["event_count"] == len(sent) - THRESHOLD
                assert episode["peak_count"] == len(sent)
                # Counted in the order the two consumers reached Redis, not quite the order sent.
                assert len(set(episode["sample_event_ids"]) & set(sent)) == 8
                assert episode["closed_at"] is None

                async def delivered() -> list[Any] | None:
                    response = await b_history.get("/v1/alerts")
                    items: list[Any] = response.json()["items"]
                    return items if items and items[0]["status"] == "delivered" else None

                [delivery] = await eventually(delivered)
                assert delivery["episode_id"] == episode["id"]
                assert (await a_history.get("/v1/alerts")).json()["items"] == [delivery]
            assert await asyncio.to_thread(first.stop) == 0
            assert await asyncio.to_thread(second.stop) == 0
    [hook] = receiver.received  # both dispatchers polled the one outbox; one sent it
    Webhook(secret).verify(hook.body, hook.headers)
    assert hook.json()["type"] == "anomaly.critical"
    assert hook.json()["episode"]["id"] == episode["id"]


async def test_a_killed_instance_catches_up_from_its_journal(
    tmp_path: Path, redis_url: str, prefix: str, pg_url: str
) -> None:
    first, second = two(tmp_path, sections(redis_url, prefix, pg_url))
    with stopping(first, second):
        await start(first, second)
        async with clients(first) as (a, _), clients(second) as (b, _):
            # 202 means journaled and fsynced; the kill may come before the store has them.
            taken = []
            for _ in range(4):
                taken += await batch(a, [event(f"user-{n % 40}") for n in range(500)])
            first.kill()
            while_down = await batch(b, [event("user-b") for _ in range(50)])
            await stored(b, while_down)
        await asyncio.to_thread(first.start)  # the same data_dir: its journal, its checkpoint
        async with clients(first) as (a, _), clients(second) as (b, _):
            await stored(b, [*taken, *while_down], within=30)
            assert await stored_ids(a) == await stored_ids(b) == {*taken, *while_down}
            stats = (await b.get("/v1/stats", params={"range": "1h"})).json()
            assert sum(stats["by_sentiment"].values()) == len(taken) + len(while_down)
        assert await asyncio.to_thread(first.stop) == 0
        assert await asyncio.to_thread(second.stop) == 0

    conn = await asyncpg.connect(pg_url)
    try:
        names = [row[0] for row in await conn.fetch("SELECT name FROM checkpoints ORDER BY 1")]
    finally:
        await conn.close()
    ids = sorted((tmp_path / name / "data" / "instance_id").read_text().strip() for name in "ab")
    assert names == [f"store:{instance}" for instance in ids]
