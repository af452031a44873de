"""Helpers shared by the journal tests."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable
from pathlib import Path

from signals.journal.segments import SegmentFile, list_segments


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll `condition` until it holds; fail the test if it does not `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.005)


def closed_segments_compressed(directory: Path) -> bool:
    found = list_segments(directory)
    return all(segment.compressed for segment in found[:-1])


def segments(directory: Path) -> list[SegmentFile]:
    return list_segments(directory)


def file_lines(directory: Path) -> list[bytes]:
    """Every line of every plain segment, read without the journal."""
    lines: list[bytes] = []
    for segment in list_segments(directory):
        assert not segment.compressed
        lines += segment.path.read_bytes().splitlines()
    return lines


def segment_bytes(directory: Path, number: int) -> bytes:
    """The uncompressed content of a segment, whichever form it is in."""
    plain = directory / f"segment-{number:012d}.jsonl"
    if plain.exists():
        return plain.read_bytes()
    return gzip.decompress((directory / f"segment-{number:012d}.jsonl.gz").read_bytes())


def write_files(directory: Path, files: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)


def names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def size(path: Path) -> int:
    return path.stat().st_size


def line(index: int, size: int = 300) -> bytes:
    head = b'{"i":%d,"pad":"' % index
    return head + b"x" * max(0, size - len(head) - 2) + b'"}'
