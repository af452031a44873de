"""Background threads run at the lowest CPU priority, so they take what the event loop leaves."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from tests.journal.support import closed_segments_compressed, wait_until

from signals.background import NICENESS, lower_this_thread
from signals.journal import Journal
from signals.settings import JournalSettings

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="Linux keeps a nice value per thread"
)


def niceness(thread_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


def test_only_the_thread_that_asks_is_lowered() -> None:
    before = niceness(threading.get_native_id())
    with ThreadPoolExecutor(1, initializer=lower_this_thread) as pool:
        worker = pool.submit(threading.get_native_id).result()
        assert niceness(worker) == NICENESS
    assert niceness(threading.get_native_id()) == before


async def test_the_journal_compresses_closed_segments_at_the_lowest_priority(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "journal"
    async with await Journal.open(directory, JournalSettings(segment_max_bytes=4096)) as journal:
        for n in range(60):
            await journal.append([b"line %d " % n + b"x" * 200])
        await wait_until(lambda: closed_segments_compressed(directory))
        maintenance = [t for t in threading.enumerate() if t.name.startswith("journal-maint")]
        assert maintenance
        assert all(t.native_id and niceness(t.native_id) == NICENESS for t in maintenance)
        writers = [t for t in threading.enumerate() if t.name.startswith("journal-writer")]
        # The writer's fsync is what every answer waits on: it keeps the service's priority.
        assert writers
        assert all(t.native_id and niceness(t.native_id) < NICENESS for t in writers)
