"""LineReader: lines and positions are the same whatever the chunk boundaries."""

from __future__ import annotations

import gzip
import random
import threading
from pathlib import Path

import pytest

from signals.journal import JournalPosition, iter_records
from signals.journal.reader import LineReader, count_lines
from signals.journal.segments import open_segment


def expected(
    lines: list[bytes], segment: int, start: int = 0
) -> list[tuple[bytes, JournalPosition]]:
    at, result = start, []
    for text in lines:
        at += len(text) + 1
        result.append((text, JournalPosition(segment, at)))
    return result


def read(
    path: Path, segment: int, offset: int, end: int | None, chunk: int
) -> tuple[list[tuple[bytes, JournalPosition]], int]:
    stream = open_segment(path.parent, segment)
    assert stream is not None
    reader = LineReader(stream, segment, offset, end, chunk)
    found = []
    try:
        while batch := reader.batch():
            found += batch
    finally:
        reader.close()
    return found, reader.torn


@pytest.fixture
def lines() -> list[bytes]:
    rng = random.Random(3)
    made = [b"x" * rng.randrange(0, 40) for _ in range(200)]
    made[57] = b"h" * 5000  # longer than any chunk below
    made[58] = b""
    return made


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 4096, 1 << 20])
@pytest.mark.parametrize("compressed", [False, True])
def test_chunk_boundaries_change_nothing(
    tmp_path: Path, lines: list[bytes], chunk: int, compressed: bool
) -> None:
    content = b"".join(text + b"\n" for text in lines) + b"torn"
    if compressed:
        (tmp_path / "segment-000000000004.jsonl.gz").write_bytes(gzip.compress(content))
    else:
        (tmp_path / "segment-000000000004.jsonl").write_bytes(content)
    path = tmp_path / "segment-000000000004.jsonl"
    assert read(path, 4, 0, None, chunk) == (expected(lines, 4), 4)
    # From a line's end up to another line's end (as a read bounded by `committed`).
    whole = expected(lines, 4)
    start, end = whole[9][1].offset, whole[120][1].offset
    assert read(path, 4, start, end, chunk) == (whole[10:121], 0)


def test_iter_records_reads_a_segment_larger_than_a_chunk(tmp_path: Path) -> None:
    lines = [b'{"n":%d,"pad":"%s"}' % (n, b"p" * (n % 500)) for n in range(12_000)]
    (tmp_path / "segment-000000000001.jsonl").write_bytes(b"".join(t + b"\n" for t in lines))
    assert (tmp_path / "segment-000000000001.jsonl").stat().st_size > 3 << 20
    assert list(iter_records(tmp_path)) == expected(lines, 1)


def test_a_progress_total_counts_what_a_replay_reads_from_any_position(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "segment-000000000001.jsonl").write_bytes(b"a\nb\nc\n")
    with gzip.open(journal / "segment-000000000002.jsonl.gz", "wb") as packed:
        packed.write(b"d\ne\n")
    (journal / "segment-000000000003.jsonl").write_bytes(b"f\ntorn")
    assert count_lines(journal) == 6 == len(list(iter_records(journal)))
    middle = JournalPosition(2, 2)
    assert count_lines(journal, middle) == 2 == len(list(iter_records(journal, middle)))
    stop = threading.Event()
    stop.set()
    assert count_lines(journal, stop=stop) is None
