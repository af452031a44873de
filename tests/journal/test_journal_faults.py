"""A disk whose fsync fails: nothing of a failed group is acknowledged, one error per outage,
readiness fails until a write succeeds, and recovery needs no restart. In `interval` mode a
failed fsync is never retried and then trusted: what it may have lost is written again first.

No filesystem fails fsync on demand, so `LosingDisk` stands in for the device through the
journal's fsync seam. It does what Linux does to the file's owner after a failed writeback: the
error is reported once, and the data written since the last good fsync is not on the disk. Since
a test cannot crash the kernel to show that loss, the disk cuts those bytes from the file when
it fails: a journal that trusted a later fsync would then visibly miss acknowledged lines.
"""

from __future__ import annotations

import errno
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from tests.journal.support import closed_segments_compressed, file_lines, line, wait_until

from signals.journal import Journal, JournalPosition, JournalUnavailable
from signals.journal.active import PROBE_NAME
from signals.settings import JournalSettings


class LosingDisk:
    """fsync that fails with EIO while `failing`, losing what was written since the last good
    fsync of the file (by inode, whichever descriptor synced it)."""

    def __init__(self) -> None:
        self.failing = False
        self.failures = 0
        self._synced: dict[tuple[int, int], int] = {}

    def fsync(self, fd: int) -> None:
        stat = os.fstat(fd)
        inode = (stat.st_dev, stat.st_ino)
        if self.failing:
            self.failures += 1
            if inode in self._synced:
                os.ftruncate(fd, self._synced[inode])
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        os.fsync(fd)
        self._synced[inode] = os.fstat(fd).st_size


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "journal"


def errors(logs: list[MutableMapping[str, Any]]) -> list[object]:
    return [entry["event"] for entry in logs if entry["log_level"] == "error"]


async def test_always_mode_acknowledges_nothing_of_a_group_whose_fsync_failed(
    directory: Path,
) -> None:
    disk = LosingDisk()
    journal = await Journal.open(directory, JournalSettings())
    journal.fsync = disk.fsync
    first = await journal.append([line(1)])
    disk.failing = True
    with capture_logs() as logs:
        for attempt in range(3):
            with pytest.raises(JournalUnavailable) as refused:
                await journal.append([line(100 + attempt)])
            assert refused.value.errno == errno.EIO
        assert journal.committed == first
        with pytest.raises(JournalUnavailable):
            await journal.check()
        assert not journal.writable()
        disk.failing = False
        # No append comes (a load balancer stopped sending): the writer's probe finds the disk
        # healthy again, and readiness follows without a restart.
        await wait_until(lambda: journal.unavailable is None)
        await journal.check()
    assert errors(logs) == ["journal.unavailable"]
    assert [entry["event"] for entry in logs if entry["event"] == "journal.available"] == [
        "journal.available"
    ]
    after = await journal.append([line(2)])
    assert after == JournalPosition(1, first.offset + len(line(2)) + 1)
    await journal.aclose()
    assert file_lines(directory) == [line(1), line(2)]
    assert not (directory / PROBE_NAME).exists()


async def test_interval_mode_rewrites_what_a_failed_fsync_lost_before_acknowledging_more(
    directory: Path,
) -> None:
    disk = LosingDisk()
    quick = JournalSettings(fsync="interval", fsync_interval_ms=10)
    journal = await Journal.open(directory, quick)
    journal.fsync = disk.fsync
    await journal.append([line(1)])
    await wait_until(lambda: journal.stats.fsyncs >= 1)
    disk.failing = True
    with capture_logs() as logs:
        # Acknowledged after its write, as interval mode promises; then its fsync fails.
        await journal.append([line(2)])
        await wait_until(lambda: journal.unavailable is not None)
        assert disk.failures >= 1
        # A later fsync would succeed, but line 2 is not on the disk: nothing more may be
        # acknowledged until it has been written again and that write was fsynced.
        with pytest.raises(JournalUnavailable):
            await journal.append([line(3)])
        with pytest.raises(JournalUnavailable):
            await journal.check()
        disk.failing = False
        await wait_until(lambda: journal.unavailable is None)
    assert errors(logs) == ["journal.unavailable"]
    await journal.append([line(4)])
    await journal.aclose()
    # Line 2 was acknowledged: it is there. Line 3 was refused: it is not.
    assert file_lines(directory) == [line(1), line(2), line(4)]


async def test_interval_mode_repairs_on_the_next_append_too(directory: Path) -> None:
    disk = LosingDisk()
    journal = await Journal.open(directory, JournalSettings(fsync="interval", fsync_interval_ms=10))
    journal.fsync = disk.fsync
    await journal.append([line(1)])
    await wait_until(lambda: journal.stats.fsyncs >= 1)
    disk.failing = True
    with capture_logs():
        await journal.append([line(2)])
        await wait_until(lambda: journal.unavailable is not None)
        disk.failing = False
        # Whichever comes first, the background fsync or this append, rewrites line 2 first.
        await journal.append([line(3)])
    await journal.aclose()
    assert file_lines(directory) == [line(1), line(2), line(3)]


async def test_segments_and_the_lock_are_private_whatever_the_umask(directory: Path) -> None:
    previous = os.umask(0)
    try:
        settings = JournalSettings(segment_max_bytes=4096)
        async with await Journal.open(directory, settings) as journal:
            for i in range(30):
                await journal.append([line(i)])
            await wait_until(lambda: closed_segments_compressed(directory))
    finally:
        os.umask(previous)
    modes = {entry.name: entry.stat().st_mode & 0o777 for entry in os.scandir(directory)}
    assert any(name.endswith(".gz") for name in modes)
    assert set(modes.values()) == {0o600}, modes


async def test_a_close_that_cannot_fsync_says_so(directory: Path) -> None:
    disk = LosingDisk()
    journal = await Journal.open(
        directory, JournalSettings(fsync="interval", fsync_interval_ms=60_000)
    )
    journal.fsync = disk.fsync
    await journal.append([line(1)])
    disk.failing = True
    with capture_logs(), pytest.raises(JournalUnavailable, match="could not be made durable"):
        await journal.aclose()
