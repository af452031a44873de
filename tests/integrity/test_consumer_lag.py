"""The consumer's lag and backlog as `/metrics` shows them, read at the scrape: while the store is
stuck (another connection holds SQLite's write lock) they grow, and they fall back to 0 once the
store takes the batch. A gauge set only between batches would show a stuck consumer as idle."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import Live

DEADLINE_SECONDS = 30.0


async def gauge(live: Live, name: str) -> float:
    text = (await live.ingest.get("/metrics")).text
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return float(family.samples[0].value)
    raise AssertionError(f"{name} not in /metrics")


async def wait_for_gauge(live: Live, name: str, holds: str, value: float) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        seen = await gauge(live, name)
        if (seen >= value) if holds == ">=" else (seen == value):
            return
        assert time.monotonic() < deadline, f"{name} is {seen}, never {holds} {value}"
        await asyncio.sleep(0.05)


async def test_lag_and_backlog_grow_while_the_store_is_stuck(live: Live, tmp_path: Path) -> None:
    # The service writes too (its consumer, its upkeep): wait for the lock as long as it takes.
    lock = sqlite3.connect(tmp_path / "data" / "signals.db", isolation_level=None, timeout=60)
    try:
        lock.execute("BEGIN IMMEDIATE")
        answer = await live.ingest.post("/v1/log", json={"user_id": "u", "signal_type": "chat"})
        assert answer.status_code == 202
        await wait_for_gauge(live, "signals_queue_depth", "==", 1)
        await wait_for_gauge(live, "signals_consumer_lag_seconds", ">=", 0.5)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    await wait_for_gauge(live, "signals_consumer_lag_seconds", "==", 0)
    await wait_for_gauge(live, "signals_queue_depth", "==", 0)
