"""Graceful shutdown under load: exit 0, nothing acknowledged lost, every checkpoint saved."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.durability.evidence import (
    checkpoint,
    first_seen,
    journal_end,
    journal_ids,
    repeated,
    store_ids,
)
from tests.durability.load import Tally, numbered, post_events, wait_for
from tests.durability.restarts import Restartable
from tests.durability.router_receiver import RouterReceiver
from tests.support.service import ServiceProcess

from signals.journal.position import START

pytestmark = pytest.mark.slow

SHUTDOWN_TIMEOUT_SECONDS = 10.0


async def caught_up(http: httpx.AsyncClient) -> bool:
    check: dict[str, Any] = (await http.get("/ready")).json()["checks"]["router"]
    return bool(check["position"] == check["journal_end"])


async def test_sigterm_under_load_saves_the_router_checkpoint_and_resumes_from_it(
    tmp_path: Path,
) -> None:
    async with RouterReceiver() as receiver:
        await receiver.up()
        service = Restartable(
            tmp_path,
            {
                "router": {"url": receiver.url, "batch_size": 10, "max_backoff_seconds": 0.2},
                "server": {"shutdown_timeout_seconds": SHUTDOWN_TIMEOUT_SECONDS},
            },
        )
        run = await asyncio.to_thread(service.start)
        tally = Tally()
        load = asyncio.create_task(post_events(run.ingest, numbered("s"), clients=8, tally=tally))
        try:
            await wait_for(
                "the router receiving under load", lambda: len(receiver.event_ids()) > 50
            )
            code = await asyncio.to_thread(run.stop, signal.SIGTERM, SHUTDOWN_TIMEOUT_SECONDS)
        finally:
            await asyncio.to_thread(run.__exit__)
            await load
        assert code == 0, run.logs()
        assert '"signals stopped"' in run.logs()
        in_journal = journal_ids(service.data_dir)
        assert tally.acked and tally.acked <= set(in_journal)
        assert repeated(in_journal) == []
        assert sorted(store_ids(service.data_dir)) == sorted(in_journal)
        assert checkpoint(service.data_dir, "store") == journal_end(service.data_dir)

        saved = checkpoint(service.data_dir, "router")
        assert saved is not None and saved > START
        delivered_before = set(receiver.event_ids())
        assert set(in_journal) - set(journal_ids(service.data_dir, after=saved)) <= (
            delivered_before
        )
        receiver.delivered.clear()

        run = await asyncio.to_thread(service.start)
        try:
            async with httpx.AsyncClient(base_url=run.ingest) as http:
                await wait_for("the router caught up", lambda: caught_up(http))
        finally:
            assert await asyncio.to_thread(run.stop) == 0, run.logs()
    # Resumed at the checkpoint: not a replay from the start, and nothing skipped.
    assert first_seen(receiver.event_ids()) == journal_ids(service.data_dir, after=saved)
    assert delivered_before | set(receiver.event_ids()) == set(in_journal)


async def test_a_second_signal_under_load_exits_fast_and_keeps_every_acknowledged_event(
    tmp_path: Path,
) -> None:
    async with RouterReceiver(mode="hang") as receiver:  # a forwarder stuck mid-send, too
        await receiver.up()
        service = ServiceProcess(
            tmp_path,
            {
                "router": {"url": receiver.url, "timeout_seconds": 30.0},
                "server": {"shutdown_timeout_seconds": SHUTDOWN_TIMEOUT_SECONDS},
            },
        )
        await asyncio.to_thread(service.start)
        tally = Tally()
        load = asyncio.create_task(post_events(service.ingest, numbered("f"), tally=tally))
        try:
            await wait_for("acknowledgements", lambda: len(tally.acked) >= 50)
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
            # Sent at once, the kernel may merge both into one: wait until the first is handled.
            await wait_for("the first signal handled", lambda: '"shutting down"' in service.logs())
            service.process.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(service.process.wait, SHUTDOWN_TIMEOUT_SECONDS)
        finally:
            await asyncio.to_thread(service.__exit__)
            await load
    assert code == 0, service.logs()
    assert '"second signal: forcing exit"' in service.logs()
    in_journal = journal_ids(service.data_dir)
    assert tally.acked <= set(in_journal)
    assert repeated(in_journal) == []
    assert sorted(store_ids(service.data_dir)) == sorted(in_journal)
