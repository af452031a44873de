"""Crashes lose nothing acknowledged: kill -9 mid-ingestion, a torn last line, `interval` fsync."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from tests.durability.evidence import journal_ids, log_lines, repeated, segments, store_ids
from tests.durability.load import Tally, numbered, post_events, wait_for
from tests.durability.restarts import Restartable

pytestmark = pytest.mark.slow

KILLS = 3
ACKS_BEFORE_KILL = 80


async def kill_during_ingestion(service: Restartable, ids: list[str], prefix: str) -> Tally:
    """Start, post `ids` then fresh ones from 16 clients, kill -9 once enough were acknowledged."""
    run = await asyncio.to_thread(service.start)
    tally = Tally()
    load = asyncio.create_task(
        post_events(run.ingest, itertools.chain(ids, numbered(prefix)), tally=tally)
    )
    try:
        await wait_for("acknowledgements", lambda: len(tally.acked) >= ACKS_BEFORE_KILL)
        await asyncio.to_thread(run.kill)
    finally:
        await asyncio.to_thread(run.__exit__)
        await load
    return tally


async def test_three_kills_mid_ingestion_and_a_torn_line_lose_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    service = Restartable(tmp_path)
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

    before = journal_ids(service.data_dir)
    newest = segments(service.data_dir)[-1].path
    intact = newest.read_bytes().rfind(b"\n") + 1  # a kill mid-write may have torn it already
    with newest.open("ab") as segment:  # as if the last kill came in the middle of a write
        segment.write(b'{"event_id":"torn-1","user_id":"u","signal_type":"ch')
    run = await asyncio.to_thread(service.start)  # catch-up: the store gets what kills left out
    try:
        after = await post_events(run.ingest, ["after-1", "after-2"], clients=1)
    finally:
        assert await asyncio.to_thread(run.stop) == 0, run.logs()
    warnings = [
        line for line in log_lines(run.logs()) if line["event"] == "journal.torn_tail_truncated"
    ]
    assert len(warnings) == 1, warnings
    assert warnings[0]["level"] == "warning"
    assert (warnings[0]["file"], warnings[0]["offset"]) == (str(newest), intact)
    assert after.acked == {"after-1", "after-2"}

    in_journal = journal_ids(service.data_dir)
    assert in_journal == [*before, "after-1", "after-2"]  # all before the torn line is intact
    in_store = store_ids(service.data_dir)
    assert sorted(in_store) == sorted(in_journal)
    assert repeated(in_store) == []


async def test_interval_fsync_acknowledges_and_survives_a_kill(tmp_path: Path) -> None:
    # An fsync interval far longer than the test: what survives the kill is in the OS's cache.
    service = Restartable(tmp_path, {"journal": {"fsync": "interval", "fsync_interval_ms": 60_000}})
    tally = await kill_during_ingestion(service, [], "i")
    assert '"fsync":"interval"' in service.logs()
    in_journal = journal_ids(service.data_dir)
    assert tally.acked <= set(in_journal)
    assert repeated(in_journal) == []
