"""Retention prunes old segments, but never one a consumer's checkpoint still needs."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from tests.durability.evidence import checkpoint, first_seen, journal_ids, segments
from tests.durability.load import post_events, wait_for
from tests.durability.restarts import Restartable
from tests.durability.router_receiver import RouterReceiver

pytestmark = pytest.mark.slow

DAY = 86_400.0


def age_every_segment(data_dir: Path, days: float) -> None:
    then = time.time() - days * DAY
    for segment in segments(data_dir):
        os.utime(segment.path, (then, then))


async def test_segments_a_down_router_still_needs_outlive_retention(tmp_path: Path) -> None:
    async with RouterReceiver() as receiver:
        await receiver.up()
        service = Restartable(
            tmp_path,
            {
                "journal": {"segment_max_bytes": 4096, "retention_days": 1},
                "router": {"url": receiver.url, "max_backoff_seconds": 0.2},
            },
        )
        run = await asyncio.to_thread(service.start)
        try:
            sent = await post_events(run.ingest, [f"a-{i}" for i in range(60)], clients=4)
            await wait_for("a-* delivered", lambda: sent.acked <= set(receiver.event_ids()))
            await receiver.down()
            held = await post_events(run.ingest, [f"b-{i}" for i in range(60)], clients=4)
        finally:
            assert await asyncio.to_thread(run.stop) == 0, run.logs()
        assert len(sent.acked) == len(held.acked) == 60
        in_order = journal_ids(service.data_dir)
        needed = checkpoint(service.data_dir, "router")
        assert needed is not None
        resend = journal_ids(service.data_dir, after=needed)
        delivered_before = len(receiver.delivered)
        numbers = [segment.number for segment in segments(service.data_dir)]
        assert numbers[0] < needed.segment < numbers[-1]  # something to prune, something to keep

        age_every_segment(service.data_dir, days=30)
        run = await asyncio.to_thread(service.start)  # retention runs its first pass at start
        try:
            await wait_for(
                "segments before the router's checkpoint pruned",
                lambda: segments(service.data_dir)[0].number >= needed.segment,
            )
            assert segments(service.data_dir)[0].number == needed.segment
            await receiver.up()
            await wait_for("b-* delivered", lambda: held.acked <= set(receiver.event_ids()))
        finally:
            assert await asyncio.to_thread(run.stop) == 0, run.logs()
    assert first_seen(receiver.event_ids()) == in_order
    # The restart resumed at the router's checkpoint: what was delivered is not sent again.
    resent = [
        str(r["event_id"]) for d in receiver.delivered[delivered_before:] for r in d.records()
    ]
    assert first_seen(resent) == resend
    assert '"journal.segment_pruned"' in service.logs()
