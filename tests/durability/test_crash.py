"""Crashes lose nothing acknowledged: kill -9 mid-ingestion, `interval` fsync, a torn line."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import httpx
import pytest
from tests.durability.evidence import journal_ids, log_lines, repeated, segments, store_ids
from tests.durability.load import Tally, numbered, post_events, wait_for
from tests.support.service import ServiceProcess

pytestmark = pytest.mark.slow

KILLS = 3
ACKS_BEFORE_KILL = 150


async def kill_during_ingestion(service: ServiceProcess, ids: list[str], prefix: str) -> Tally:
    """Start, post `ids` then fresh ones from 16 clients, kill -9 once enough were acknowledged."""
    await asyncio.to_thread(service.start)
    tally = Tally()
    load = asyncio.create_task(
        post_events(service.ingest, itertools.chain(ids, numbered(prefix)), tally=tally)
    )
    try:
        await wait_for("acknowledgements", lambda: len(tally.acked) >= ACKS_BEFORE_KILL)
        await asyncio.to_thread(service.kill)
    finally:
        await asyncio.to_thread(service.__exit__)
        await load
    return tally


async def test_kill_9_during_ingestion_three_times_loses_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    service = ServiceProcess(tmp_path)
    acked: set[str] = set()
    retry: list[str] = []
    for round_ in range(KILLS):
        # Unacknowledged ids are sent again, as a client would: each must still be kept once.
        tally = await kill_during_ingestion(service, retry, f"k{round_}")
        acked |= tally.acked
        retry = [event_id for event_id in tally.unacked if event_id not in acked]
        in_journal = journal_ids(service.data_dir)
        assert acked <= set(in_journal), f"round {round_}: acknowledged but not journaled"
        assert repeated(in_journal) == [], f"round {round_}: journaled twice"
    assert '"journal.opened"' in service.logs()

    await asyncio.to_thread(service.start)  # catch-up: the store gets what the kills left out
    assert await asyncio.to_thread(service.stop) == 0, service.logs()
    in_journal = journal_ids(service.data_dir)
    in_store = store_ids(service.data_dir)
    assert acked <= set(in_store)
    assert sorted(in_store) == sorted(in_journal)
    assert repeated(in_store) == []


async def test_interval_fsync_acknowledges_and_survives_a_kill(tmp_path: Path) -> None:
    # An fsync interval far longer than the test: whatever survives, survives in the OS's cache.
    service = ServiceProcess(
        tmp_path, {"journal": {"fsync": "interval", "fsync_interval_ms": 60_000}}
    )
    tally = await kill_during_ingestion(service, [], "i")
    assert '"fsync":"interval"' in service.logs()
    in_journal = journal_ids(service.data_dir)
    assert tally.acked <= set(in_journal)
    assert repeated(in_journal) == []


async def test_a_torn_last_line_is_cut_with_one_warning_and_the_rest_kept(tmp_path: Path) -> None:
    service = ServiceProcess(tmp_path)
    await asyncio.to_thread(service.start)
    first = await post_events(service.ingest, [f"t-{i}" for i in range(40)], clients=1)
    assert await asyncio.to_thread(service.stop) == 0
    assert len(first.acked) == 40
    newest = segments(service.data_dir)[-1].path
    intact = newest.stat().st_size
    with newest.open("ab") as segment:  # a crash in the middle of a write
        segment.write(b'{"event_id":"torn-1","user_id":"u","signal_type":"ch')

    logs_before = len(service.logs())
    await asyncio.to_thread(service.start)
    try:
        async with httpx.AsyncClient(base_url=service.ingest) as http:
            after = await post_events(service.ingest, ["after-1", "after-2"], clients=1)
            assert after.acked == {"after-1", "after-2"}
            expected = first.acked | after.acked

            async def all_stored() -> bool:
                page = (await http.get("/v1/signals", params={"limit": 1000})).json()
                return {item["event_id"] for item in page["items"]} == expected

            await wait_for("every event stored and listed", all_stored)
    finally:
        assert await asyncio.to_thread(service.stop) == 0
    warnings = [
        line
        for line in log_lines(service.logs()[logs_before:])
        if line["event"] == "journal.torn_tail_truncated"
    ]
    assert len(warnings) == 1, warnings
    assert warnings[0]["level"] == "warning"
    assert warnings[0]["file"] == str(newest)
    assert warnings[0]["offset"] == intact
    assert journal_ids(service.data_dir) == [*(f"t-{i}" for i in range(40)), "after-1", "after-2"]
