"""Two `signals serve` processes sharing one Redis count one user's events together
(docs/semantics.md).

Each process has its own journal and SQLite store, so an episode is read from the process that
received the crossing event. (One episode and one alert across instances: tests/multi.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.integrity.detection.support import episodes_of, log, stored
from tests.support.redis_server import drop_keys, unique_prefix
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def stopping(*services: ServiceProcess) -> Iterator[None]:
    try:
        yield
    finally:
        for service in services:
            service.__exit__()


async def test_a_user_split_across_two_processes_is_counted_once_in_redis(
    tmp_path: Path, redis_url: str
) -> None:
    prefix = unique_prefix()
    sections = {
        "thresholds": {"default": 4},
        "windows": {"backend": "redis", "seconds": 30.0},
        "redis": {"url": redis_url, "key_prefix": prefix},
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = ServiceProcess(tmp_path / "a", sections)
    second = ServiceProcess(tmp_path / "b", sections)
    user = "split-user"
    try:
        with stopping(first, second):
            await asyncio.gather(asyncio.to_thread(first.start), asyncio.to_thread(second.start))
            async with (
                httpx.AsyncClient(base_url=first.ingest, timeout=10) as a,
                httpx.AsyncClient(base_url=second.ingest, timeout=10) as b,
                httpx.AsyncClient(base_url=first.integrity, timeout=10) as a_history,
                httpx.AsyncClient(base_url=second.integrity, timeout=10) as b_history,
            ):
                # A, B, A, A, B: each stored (so counted in Redis) before the next is sent.
                # Counts 1..4 are quiet; B's second event is the fifth: 5 > 4, a warning.
                for client in (a, b, a, a, b):
                    accepted = await log(client, user)
                    await stored(client, [accepted["event_id"]], user)
                crossing = accepted
                assert await episodes_of(a_history, user) == []
                [episode] = await episodes_of(b_history, user)
                assert episode["sample_event_ids"] == [crossing["event_id"]]
                assert (episode["severity"], episode["peak_count"]) == ("warning", 5)
                assert episode["opened_at"] == crossing["received_at"]

                # The sixth, on A: 6 >= 1.5 * 4, so A (which saw only four) opens at critical.
                sixth = await log(a, user)
                await stored(a, [sixth["event_id"]], user)
                [on_a] = await episodes_of(a_history, user)
                assert (on_a["severity"], on_a["peak_count"]) == ("critical", 6)
                assert len(await episodes_of(b_history, user)) == 1
            assert await asyncio.to_thread(first.stop) == 0
            assert await asyncio.to_thread(second.stop) == 0
    finally:
        await drop_keys(redis_url, prefix)
