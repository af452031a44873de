"""Appending: group commit, ordering, callbacks, fsync modes, errors and the lifecycle."""

from __future__ import annotations

import asyncio
import errno
import random
import resource
import shutil
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import pytest
from structlog.testing import capture_logs
from tests.journal.support import file_lines, line, segment_bytes, size, wait_until

from signals.journal import (
    START,
    Journal,
    JournalClosed,
    JournalError,
    JournalPosition,
    in_use,
)
from signals.metrics import Metrics
from signals.settings import JournalSettings


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "journal"


async def test_concurrent_appends_share_fsyncs(directory: Path) -> None:
    metrics = Metrics()
    async with await Journal.open(directory, JournalSettings(), metrics=metrics) as journal:
        positions = await asyncio.gather(*(journal.append([line(i)]) for i in range(500)))
        assert journal.stats.appends == 500
        assert journal.stats.groups <= 50
        assert journal.stats.fsyncs == journal.stats.groups
    assert positions == sorted(positions)
    assert len(set(positions)) == 500
    groups = metrics.registry.get_sample_value("signals_journal_group_lines_count")
    lines = metrics.registry.get_sample_value("signals_journal_group_lines_sum")
    fsyncs = metrics.registry.get_sample_value("signals_journal_fsync_seconds_count")
    assert groups == fsyncs == journal.stats.groups
    assert lines == 500


async def test_concurrent_batches_are_whole_ordered_and_match_on_commit(directory: Path) -> None:
    committed: list[tuple[tuple[int, int], JournalPosition]] = []
    rng = random.Random(7)
    plans = {
        writer: [
            [f"w{writer}-b{batch}-l{n}-".encode() + b"y" * rng.randrange(0, 900) for n in range(k)]
            for batch, k in enumerate(rng.randrange(1, 12) for _ in range(5))
        ]
        for writer in range(200)
    }
    returned: dict[int, list[JournalPosition]] = {}

    async def writer(name: int) -> None:
        for batch_number, batch in enumerate(plans[name]):
            position = await journal.append(batch, payload=(name, batch_number))
            returned.setdefault(name, []).append(position)
            await asyncio.sleep(0)

    def on_commit(payload: object, position: JournalPosition) -> None:
        committed.append((cast(tuple[int, int], payload), position))

    async with await Journal.open(directory, JournalSettings(), on_commit=on_commit) as journal:
        await asyncio.gather(*(writer(name) for name in plans))

    # Each writer's positions grow; on_commit saw every append once, in file order.
    for positions in returned.values():
        assert positions == sorted(positions)
    assert [position for _, position in committed] == sorted(p for _, p in committed)
    assert len(committed) == 200 * 5
    # The file is exactly the batches in on_commit order: whole, never interleaved.
    expected = [text for (name, batch), _ in committed for text in plans[name][batch]]
    assert file_lines(directory) == expected
    # Each on_commit position is the byte offset right after its batch's last line.
    content = segment_bytes(directory, 1)
    for (name, batch), position in committed:
        assert content[: position.offset].endswith(plans[name][batch][-1] + b"\n")


async def test_bad_lines_are_refused(directory: Path) -> None:
    async with await Journal.open(directory, JournalSettings()) as journal:
        with pytest.raises(ValueError, match="newline"):
            await journal.append([b"one", b"two\nthree"])
        with pytest.raises(ValueError):
            await journal.append([])
        assert journal.committed == START
        assert await journal.append([b""]) == JournalPosition(1, 1)


async def test_on_commit_runs_for_cancelled_callers_and_survives_errors(directory: Path) -> None:
    seen: list[object] = []

    def on_commit(payload: object, position: JournalPosition) -> None:
        seen.append(payload)
        if payload == "boom":
            raise RuntimeError("consumer bug")

    async with await Journal.open(directory, JournalSettings(), on_commit=on_commit) as journal:
        cancelled = asyncio.create_task(journal.append([b"a"], payload="cancelled"))
        await asyncio.sleep(0)  # let it queue its lines
        cancelled.cancel()
        with capture_logs() as logs:
            failing = await journal.append([b"b"], payload="boom")
            after = await journal.append([b"c"], payload="after")
        assert cancelled.cancelled()
    assert seen == ["cancelled", "boom", "after"]
    assert failing < after
    failures = [entry for entry in logs if entry["event"] == "journal.on_commit_failed"]
    assert len(failures) == 1
    assert failures[0]["log_level"] == "error"
    assert failures[0]["exc_info"] is True
    assert file_lines(directory) == [b"a", b"b", b"c"]


async def test_aclose_flushes_pending_appends_then_refuses(directory: Path) -> None:
    journal = await Journal.open(directory, JournalSettings())
    tasks = [asyncio.create_task(journal.append([line(i)])) for i in range(50)]
    await asyncio.sleep(0)
    await journal.aclose()
    positions = [task.result() for task in tasks]
    assert positions == sorted(positions)
    assert positions[-1] == journal.committed
    assert file_lines(directory) == [line(i) for i in range(50)]
    with pytest.raises(JournalClosed):
        await journal.append([b"late"])
    with pytest.raises(JournalClosed):
        await journal.check()
    assert not journal.writable()
    await journal.aclose()  # a second close is harmless


async def test_interval_mode_acknowledges_before_fsync(directory: Path) -> None:
    lazy = JournalSettings(fsync="interval", fsync_interval_ms=60_000)
    journal = await Journal.open(directory, lazy)
    await asyncio.gather(*(journal.append([line(i)]) for i in range(20)))
    assert journal.stats.appends == 20
    assert journal.stats.fsyncs == 0
    await journal.aclose()
    assert journal.stats.fsyncs == 1  # the final one on close
    assert len(file_lines(directory)) == 20


async def test_interval_mode_fsyncs_in_the_background(directory: Path) -> None:
    metrics = Metrics()
    quick = JournalSettings(fsync="interval", fsync_interval_ms=20)
    async with await Journal.open(directory, quick, metrics=metrics) as journal:
        await journal.append([b"x"])
        await wait_until(lambda: journal.stats.fsyncs >= 1)
        fsyncs = journal.stats.fsyncs
        await journal.append([b"y"])
        await wait_until(lambda: journal.stats.fsyncs > fsyncs)
    assert metrics.registry.get_sample_value("signals_journal_fsync_seconds_count") == (
        journal.stats.fsyncs
    )


@pytest.fixture
def file_size_limit() -> Iterator[None]:
    """Lets a test lower RLIMIT_FSIZE so writes fail with EFBIG, as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


async def test_failed_group_is_cut_off_and_the_journal_goes_on(
    directory: Path, file_size_limit: None
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    metrics = Metrics()
    journal = await Journal.open(directory, JournalSettings(), metrics=metrics)
    good = [line(i, 1000) for i in range(100)]
    await journal.append(good)
    before = journal.committed
    with capture_logs() as logs:
        resource.setrlimit(resource.RLIMIT_FSIZE, (before.offset + 500, hard))
        results = await asyncio.gather(
            *(journal.append([line(1000 + i)]) for i in range(10)), return_exceptions=True
        )
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert all(isinstance(result, JournalError) for result in results)
    assert {result.errno for result in results if isinstance(result, OSError)} == {errno.EFBIG}
    assert journal.committed == before
    assert size(directory / "segment-000000000001.jsonl") == before.offset
    # one error for the outage, however many groups failed in it
    assert [entry["event"] for entry in logs if entry["log_level"] == "error"] == [
        "journal.unavailable"
    ]
    assert journal.stats.failed_groups >= 1
    assert metrics.registry.get_sample_value("signals_journal_unavailable") == 1
    with pytest.raises(JournalError):
        await journal.check()
    after = await journal.append([b"after"])
    await journal.check()
    assert after == JournalPosition(1, before.offset + len(b"after\n"))
    assert metrics.registry.get_sample_value("signals_journal_unavailable") == 0
    await journal.aclose()
    assert file_lines(directory) == [*good, b"after"]


async def test_directory_is_locked_while_open(directory: Path) -> None:
    journal = await Journal.open(directory, JournalSettings())
    assert in_use(directory)
    with pytest.raises(JournalError, match="in use") as refused:
        await Journal.open(directory, JournalSettings())
    assert refused.value.errno == errno.EBUSY
    await journal.aclose()
    assert not in_use(directory)
    async with await Journal.open(directory, JournalSettings()):
        pass


async def test_check_reports_a_directory_that_is_gone(directory: Path) -> None:
    async with await Journal.open(directory, JournalSettings()) as journal:
        await journal.check()
        assert journal.writable()
        shutil.rmtree(directory)
        assert not journal.writable()
        with pytest.raises(JournalError, match="not writable"):
            await journal.check()


async def test_wait_for_wakes_on_commit_and_on_close(directory: Path) -> None:
    journal = await Journal.open(directory, JournalSettings())
    waiter = asyncio.create_task(journal.wait_for(START))
    await asyncio.sleep(0)
    assert not waiter.done()
    position = await journal.append([b"first"])
    await asyncio.wait_for(waiter, 5)
    await journal.wait_for(START)  # already past: returns at once
    later = asyncio.create_task(journal.wait_for(position))
    await asyncio.sleep(0)
    await journal.aclose()
    with pytest.raises(JournalClosed):
        await later


class Fatal(BaseException):
    """Escapes on_commit's error handling, as a bug in the writer itself would."""


async def test_a_dead_writer_refuses_appends_and_fails_readiness(directory: Path) -> None:
    def on_commit(payload: object, position: JournalPosition) -> None:
        if payload == "fatal":
            raise Fatal

    journal = await Journal.open(directory, JournalSettings(), on_commit=on_commit)
    await journal.append([b"fine"])
    with capture_logs():
        with pytest.raises(JournalClosed, match="unexpectedly"):
            await journal.append([b"last"], payload="fatal")
        with pytest.raises(JournalClosed, match="unexpectedly"):
            await journal.append([b"refused"])
        with pytest.raises(JournalClosed):
            await journal.check()
        with pytest.raises(JournalClosed):
            await journal.wait_for(journal.committed)
        with pytest.raises(Fatal):
            await journal.aclose()
    assert not in_use(directory)


async def test_on_group_sees_each_group_its_time_and_its_failure(
    directory: Path, file_size_limit: None
) -> None:
    groups: list[tuple[list[object], int, int, BaseException | None]] = []

    def on_group(
        payloads: Sequence[object], started: int, ended: int, error: BaseException | None
    ) -> None:
        groups.append((list(payloads), started, ended, error))

    journal = await Journal.open(directory, JournalSettings(), on_group=on_group)
    await asyncio.gather(journal.append([line(1)], "a"), journal.append([line(2)], "b"))
    assert [payloads for payloads, *_ in groups] in ([["a", "b"]], [["a"], ["b"]])
    assert all(started <= ended and error is None for _, started, ended, error in groups)

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (journal.committed.offset + 10, hard))
    try:
        with pytest.raises(JournalError):
            await journal.append([line(3, 1000)], "failed")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    payloads, _, _, error = groups[-1]
    assert payloads == ["failed"]
    assert isinstance(error, OSError)
    assert error.errno == errno.EFBIG
    await journal.aclose()
