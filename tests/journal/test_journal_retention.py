"""Retention: old closed segments go, unless a registered consumer still needs them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from tests.journal.support import closed_segments_compressed, line, segments, wait_until

from signals.journal import START, Journal, JournalPosition
from signals.settings import JournalSettings

DAY = 86_400.0
KEEP_A_WEEK = JournalSettings(segment_max_bytes=4096, retention_days=7)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "journal"


async def five_segments(journal: Journal) -> None:
    """Fill segments 1..4 (closed, compressed) and start segment 5."""
    for i in range(4 * 14 + 1):
        await journal.append([line(i)])
    await wait_until(lambda: closed_segments_compressed(journal.directory))
    assert [segment.number for segment in segments(journal.directory)] == [1, 2, 3, 4, 5]


def age(directory: Path, numbers: list[int], days: float) -> None:
    then = time.time() - days * DAY
    for segment in segments(directory):
        if segment.number in numbers:
            os.utime(segment.path, (then, then))


def numbers(directory: Path) -> list[int]:
    return [segment.number for segment in segments(directory)]


async def test_old_closed_segments_are_deleted_never_the_active_one(directory: Path) -> None:
    async with await Journal.open(directory, KEEP_A_WEEK) as journal:
        await five_segments(journal)
        age(directory, [1, 2, 3, 4, 5], days=30)
        removed = await journal.prune()
        assert [path.name for path in removed] == [
            f"segment-00000000000{n}.jsonl.gz" for n in (1, 2, 3, 4)
        ]
        assert numbers(directory) == [5]
        # What is left still reads, and appends go on.
        await journal.append([b"after"])
        assert [text async for text, _ in journal.read(START)][-1] == b"after"


async def test_recent_segments_stay_and_deletion_stops_at_the_first_kept(directory: Path) -> None:
    async with await Journal.open(directory, KEEP_A_WEEK) as journal:
        await five_segments(journal)
        age(directory, [1, 3, 4], days=30)  # 2 is recent: 3 and 4 must wait for it
        assert [path.name for path in await journal.prune()] == ["segment-000000000001.jsonl.gz"]
        assert numbers(directory) == [2, 3, 4, 5]
        # Judged against a later `now`, segment 2 is old too.
        assert len(await journal.prune(now=time.time() + 8 * DAY)) == 3


async def test_a_segment_a_consumer_still_needs_is_kept(directory: Path) -> None:
    async with await Journal.open(directory, KEEP_A_WEEK) as journal:
        await five_segments(journal)
        age(directory, [1, 2, 3, 4], days=30)
        slow = JournalPosition(3, 0)
        done_with_two = JournalPosition(2, 4214)  # at the very end of segment 2: still in it
        journal.register_consumer("store", lambda: slow)
        journal.register_consumer("router", lambda: done_with_two)
        await journal.prune()
        assert numbers(directory) == [2, 3, 4, 5]
        journal.unregister_consumer("router")
        await journal.prune()
        assert numbers(directory) == [3, 4, 5]
        with pytest.raises(ValueError, match="already registered"):
            journal.register_consumer("store", lambda: START)


async def test_a_failing_consumer_keeps_everything(directory: Path) -> None:
    def broken() -> JournalPosition:
        raise RuntimeError("consumer bug")

    async with await Journal.open(directory, KEEP_A_WEEK) as journal:
        await five_segments(journal)
        age(directory, [1, 2, 3, 4], days=30)
        journal.register_consumer("broken", broken)
        with capture_logs() as logs:
            assert await journal.prune() == []
        # (Filtered: a compression that just finished may log meanwhile.)
        assert [e["event"] for e in logs if e["log_level"] == "error"] == [
            "journal.consumer_position_failed"
        ]
        assert numbers(directory) == [1, 2, 3, 4, 5]


async def test_zero_retention_keeps_everything(directory: Path) -> None:
    forever = JournalSettings(segment_max_bytes=4096, retention_days=0)
    async with await Journal.open(directory, forever) as journal:
        await five_segments(journal)
        age(directory, [1, 2, 3, 4], days=3650)
        assert await journal.prune() == []
        assert numbers(directory) == [1, 2, 3, 4, 5]


async def test_reading_from_a_pruned_segment_resumes_at_the_oldest_kept(directory: Path) -> None:
    async with await Journal.open(directory, KEEP_A_WEEK) as journal:
        await five_segments(journal)
        age(directory, [1, 2], days=30)
        await journal.prune()
        with capture_logs() as logs:
            lines = [position async for _, position in journal.read(JournalPosition(1, 301))]
        assert lines[0] == JournalPosition(3, 301)
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["journal.gap"]
        with capture_logs() as logs:
            assert [p async for _, p in journal.read(START)] == lines
        assert [e for e in logs if e["log_level"] == "warning"] == []
