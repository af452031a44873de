"""Segments: rotation, compression, reading back, torn-tail repair and crash leftovers."""

from __future__ import annotations

import asyncio
import gzip
import os
import threading
from pathlib import Path
from typing import Literal

import pytest
from structlog.testing import capture_logs
from tests.journal.support import (
    closed_segments_compressed,
    line,
    names,
    segment_bytes,
    segments,
    size,
    wait_until,
    write_files,
)

from signals.journal import START, Journal, JournalPosition, iter_records
from signals.journal.compression import compress_segment
from signals.settings import JournalSettings

SMALL = JournalSettings(segment_max_bytes=4096)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "journal"


async def fill(
    journal: Journal, count: int, per_append: int = 1
) -> list[tuple[bytes, JournalPosition]]:
    """Append `count` lines, `per_append` at a time (one group each); return lines and positions."""
    written = []
    for first in range(0, count, per_append):
        batch = [line(i) for i in range(first, min(count, first + per_append))]
        written += _positions(batch, await journal.append(batch))
    return written


def _positions(batch: list[bytes], end: JournalPosition) -> list[tuple[bytes, JournalPosition]]:
    at = end.offset - sum(len(text) + 1 for text in batch)
    result = []
    for text in batch:
        at += len(text) + 1
        result.append((text, JournalPosition(end.segment, at)))
    return result


async def read_all(
    journal: Journal, start: JournalPosition = START
) -> list[tuple[bytes, JournalPosition]]:
    return [item async for item in journal.read(start)]


async def test_rotation_at_segment_max_bytes_never_splits_a_group_nor_passes_it(
    directory: Path,
) -> None:
    async with await Journal.open(
        directory, JournalSettings(segment_max_bytes=4096, compress=False)
    ) as journal:
        written = await fill(journal, 120, per_append=5)
    found = segments(directory)
    assert len(found) > 3
    ends = {position.segment: position.offset for _, position in written}
    for segment in found[:-1]:
        # A group that would pass the limit starts the next segment: never split, never over.
        assert 4096 - 5 * 301 < size(segment.path) <= 4096
        assert size(segment.path) == ends[segment.number]
    assert [text for text, _ in written] == [line(i) for i in range(120)]
    assert [segment.number for segment in found] == list(range(1, len(found) + 1))


@pytest.mark.parametrize("fsync", ["always", "interval"])
async def test_compressed_segments_read_back_identically(
    directory: Path, fsync: Literal["always", "interval"]
) -> None:
    settings = JournalSettings(segment_max_bytes=4096, fsync=fsync)
    async with await Journal.open(directory, settings) as journal:
        written = await fill(journal, 100, per_append=3)
        await wait_until(lambda: closed_segments_compressed(directory))
        found = segments(directory)
        assert sum(segment.compressed for segment in found) == len(found) - 1 >= 3
        assert await read_all(journal) == written
    assert list(iter_records(directory)) == written


async def test_reading_from_a_middle_position(directory: Path) -> None:
    async with await Journal.open(directory, SMALL) as journal:
        written = await fill(journal, 60)
        await wait_until(lambda: closed_segments_compressed(directory))
        for index in (0, 13, 14, 29, 58, 59):
            start = written[index][1]
            assert await read_all(journal, start) == written[index + 1 :]
            assert list(iter_records(directory, start)) == written[index + 1 :]
        # A segment's end and the next segment's start are the same place in the journal.
        first_end = max(position for _, position in written if position.segment == 1)
        next_start = JournalPosition(2, 0)
        assert await read_all(journal, first_end) == await read_all(journal, next_start)


async def test_read_stops_at_committed_when_it_was_called(directory: Path) -> None:
    async with await Journal.open(directory, JournalSettings()) as journal:
        await journal.append([b"one"])
        reading = journal.read(START)
        await journal.append([b"two"])
        assert [text async for text, _ in reading] == [b"one"]
        assert [text async for text, _ in journal.read(START)] == [b"one", b"two"]


async def test_read_of_a_fresh_journal_yields_nothing(directory: Path) -> None:
    async with await Journal.open(directory, JournalSettings()) as journal:
        assert journal.committed == START
        assert await read_all(journal) == []


async def test_torn_tail_is_truncated_with_one_warning(directory: Path) -> None:
    async with await Journal.open(directory, JournalSettings()) as journal:
        await journal.append([b'{"a":1}', b'{"a":2}'])
    plain = directory / "segment-000000000001.jsonl"
    kept = size(plain)
    with plain.open("ab") as stream:
        stream.write(b'{"a":3,"te')
    with capture_logs() as logs:
        journal = await Journal.open(directory, JournalSettings())
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert warnings == [
        {
            "event": "journal.torn_tail_truncated",
            "log_level": "warning",
            "file": str(plain),
            "offset": kept,
            "dropped_bytes": len(b'{"a":3,"te'),
        }
    ]
    assert journal.committed == JournalPosition(1, kept)
    assert await journal.append([b'{"a":4}']) == JournalPosition(1, kept + 8)
    await journal.aclose()
    assert plain.read_bytes() == b'{"a":1}\n{"a":2}\n{"a":4}\n'


async def test_a_segment_without_any_newline_is_emptied(directory: Path) -> None:
    write_files(directory, {"segment-000000000001.jsonl": b"garbage" * 1000})
    with capture_logs() as logs:
        async with await Journal.open(directory, JournalSettings()) as journal:
            assert journal.committed == START
            assert await journal.append([b"x"]) == JournalPosition(1, 2)
    assert [
        entry["offset"] for entry in logs if entry["event"] == "journal.torn_tail_truncated"
    ] == [0]


async def test_reopen_continues_after_the_last_closed_segment(directory: Path) -> None:
    async with await Journal.open(directory, SMALL) as journal:
        written = await fill(journal, 30)
    newest = segments(directory)[-1]
    async with await Journal.open(directory, SMALL) as journal:
        assert journal.committed == written[-1][1]
        position = await journal.append([b"more"])
        assert position.segment == newest.number
        assert [text for text, _ in await read_all(journal)] == [*(t for t, _ in written), b"more"]


async def test_an_empty_newest_segment_keeps_committed_at_the_previous_end(directory: Path) -> None:
    async with await Journal.open(
        directory, JournalSettings(segment_max_bytes=13 * 301, compress=False)
    ) as journal:
        written = await fill(
            journal, 13
        )  # 301-byte lines, exactly the limit: rotated, nothing after
    assert size(segments(directory)[-1].path) == 0
    async with await Journal.open(directory, SMALL) as journal:
        # A consumer at the end of the old segment has nothing to wait for, and nothing to read.
        assert journal.committed == written[-1][1]
        assert await read_all(journal, written[-1][1]) == []
        await wait_until(lambda: closed_segments_compressed(directory))


def test_iter_records_skips_a_torn_final_line(directory: Path) -> None:
    write_files(
        directory,
        {
            "segment-000000000001.jsonl.gz": gzip.compress(b"a\nb\n"),
            "segment-000000000002.jsonl": b"c\nd\npart",
        },
    )
    with capture_logs() as logs:
        records = list(iter_records(directory))
    assert records == [
        (b"a", JournalPosition(1, 2)),
        (b"b", JournalPosition(1, 4)),
        (b"c", JournalPosition(2, 2)),
        (b"d", JournalPosition(2, 4)),
    ]
    assert [entry["event"] for entry in logs] == ["journal.torn_line_skipped"]
    assert list(iter_records(directory, JournalPosition(1, 4))) == records[2:]


async def test_crash_leftovers_of_compression_are_removed(directory: Path) -> None:
    leftovers = {
        "segment-000000000001.jsonl": b"a\n",
        "segment-000000000001.jsonl.gz": gzip.compress(b"a\n"),
        "segment-000000000002.jsonl": b"b\n",
        "segment-000000000002.jsonl.gz.tmp": b"half a gzip",
        "segment-000000000003.jsonl": b"c\n",
    }
    write_files(directory, leftovers)
    async with await Journal.open(directory, JournalSettings()) as journal:
        await wait_until(lambda: closed_segments_compressed(directory))
        assert [text async for text, _ in journal.read(START)] == [b"a", b"b", b"c"]
    assert names(directory) == [
        "journal.lock",
        "segment-000000000001.jsonl.gz",
        "segment-000000000002.jsonl.gz",
        "segment-000000000003.jsonl",
    ]


async def test_compression_keeps_the_modification_time(directory: Path) -> None:
    async with await Journal.open(
        directory, JournalSettings(segment_max_bytes=4096, compress=False)
    ) as journal:
        await fill(journal, 20)
    plain = segments(directory)[0].path
    os.utime(plain, (1_000_000, 1_000_000))
    keep = JournalSettings(segment_max_bytes=4096, retention_days=0)
    async with await Journal.open(directory, keep):
        await wait_until(lambda: closed_segments_compressed(directory))
    packed = segments(directory)[0]
    assert packed.compressed
    assert packed.path.stat().st_mtime == 1_000_000
    assert segment_bytes(directory, 1).count(b"\n") == 13  # 301-byte lines: 13 fit in 4096


async def test_a_tailing_reader_sees_every_line_once_in_order(directory: Path) -> None:
    """The router forwarder's loop: read from its position, then wait for more."""
    received: list[tuple[bytes, JournalPosition]] = []

    async def tail(journal: Journal) -> None:
        position = START
        while True:
            async for text, after in journal.read(position):
                received.append((text, after))
                position = after
            if len(received) >= 300:
                return
            await journal.wait_for(position)

    async with await Journal.open(directory, SMALL) as journal:
        tailing = asyncio.create_task(tail(journal))
        written = await fill(journal, 300, per_append=7)
        await asyncio.wait_for(tailing, 30)
    assert received == written
    assert len({position.segment for _, position in written}) > 10


async def test_a_failed_rotation_keeps_appending_and_retries(directory: Path) -> None:
    blocker = directory / "segment-000000000002.jsonl"
    settings = JournalSettings(segment_max_bytes=4096, compress=False)
    async with await Journal.open(directory, settings) as journal:
        write_files(directory, {blocker.name: b""})  # rotation must never overwrite a segment
        with capture_logs() as logs:
            written = await fill(journal, 16)
            # Written after the failed retry that followed line 16: still segment 1.
            written.append((b"still one", await journal.append([b"still one"])))
        assert {position.segment for _, position in written} == {1}
        # retried after every group, logged once until it succeeds
        assert len([e for e in logs if e["event"] == "journal.rotate_failed"]) == 1
        blocker.unlink()
        await journal.append([b"next"])  # segment 1 or 2: a retry may already have run
        assert (await journal.append([b"last"])).segment == 2
        assert [text async for text, _ in journal.read(START)] == [
            *(text for text, _ in written),
            b"next",
            b"last",
        ]


def test_an_aborted_compression_leaves_the_plain_segment(tmp_path: Path) -> None:
    plain = tmp_path / "segment-000000000001.jsonl"
    plain.write_bytes(b"a\n" * 10)
    abort = threading.Event()
    abort.set()
    assert compress_segment(plain, abort) is None
    assert names(tmp_path) == [plain.name]
    assert compress_segment(tmp_path / "segment-000000000009.jsonl", threading.Event()) is None
    packed = compress_segment(plain, threading.Event())
    assert packed == tmp_path / "segment-000000000001.jsonl.gz"
    assert names(tmp_path) == [packed.name]
    assert gzip.decompress(packed.read_bytes()) == b"a\n" * 10


async def test_a_group_bigger_than_the_limit_has_a_segment_of_its_own(directory: Path) -> None:
    async with await Journal.open(
        directory, JournalSettings(segment_max_bytes=4096, compress=False)
    ) as journal:
        small = await fill(journal, 2)
        big = _positions(
            [line(i) for i in range(2, 22)], await journal.append([line(i) for i in range(2, 22)])
        )
        after = await fill(journal, 1)
    assert {position.segment for _, position in small} == {1}
    assert {position.segment for _, position in big} == {2}  # 20 lines: about 6 KB, alone
    assert {position.segment for _, position in after} == {3}
    assert [segment.number for segment in segments(directory)] == [1, 2, 3]
