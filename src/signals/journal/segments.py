"""Segment files: how they are named, found, opened for reading and repaired.

A segment is `segment-<12 digits>.jsonl` while it may still grow and `segment-<12 digits>.jsonl.gz`
once closed and compressed. Numbers start at 1 and only grow, so the names sort like the journal.
Offsets always count bytes of the uncompressed content, so a position stays valid when its segment
is compressed. A `.gz` appears only by an atomic rename of a complete, fsynced file, so where a
crash left both forms of one segment the `.gz` is whole and the plain file is the leftover.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from pathlib import Path
from typing import NamedTuple

CHUNK_BYTES = 1 << 20
TEMP_SUFFIX = ".tmp"
_NAME = re.compile(r"^segment-(\d{12})\.jsonl(\.gz)?$")


class SegmentFile(NamedTuple):
    number: int
    path: Path
    compressed: bool


def plain_path(directory: Path, number: int) -> Path:
    return directory / f"segment-{number:012d}.jsonl"


def gzip_path(directory: Path, number: int) -> Path:
    return directory / f"segment-{number:012d}.jsonl.gz"


def list_segments(directory: Path) -> list[SegmentFile]:
    """Every segment in journal order, one entry per number (the `.gz` where both forms exist)."""
    found: dict[int, SegmentFile] = {}
    with os.scandir(directory) as entries:
        for entry in entries:
            match = _NAME.match(entry.name)
            if match is None:
                continue
            number, compressed = int(match[1]), match[2] is not None
            if compressed or number not in found:
                found[number] = SegmentFile(number, Path(entry.path), compressed)
    return [found[number] for number in sorted(found)]


def remove_leftovers(directory: Path) -> list[Path]:
    """Delete what an interrupted compression left behind; return what was deleted."""
    removed = []
    for entry in directory.iterdir():
        if entry.name.startswith("segment-") and entry.name.endswith(TEMP_SUFFIX):
            entry.unlink()
            removed.append(entry)
    for segment in list_segments(directory):
        plain = plain_path(directory, segment.number)
        if segment.compressed and plain.exists():
            plain.unlink()
            removed.append(plain)
    if removed:
        fsync_directory(directory)
    return removed


def open_segment(directory: Path, number: int) -> io.BufferedIOBase | None:
    """The uncompressed content of a segment, or None when it no longer exists (pruned).

    The plain file is tried first: a compression that finishes meanwhile renames the `.gz` into
    place before it removes the plain file, so one of the two always opens.
    """
    try:
        return plain_path(directory, number).open("rb")
    except FileNotFoundError:
        pass
    try:
        return gzip.open(gzip_path(directory, number), "rb")
    except FileNotFoundError:
        return None


def content_size(segment: SegmentFile) -> int:
    """Bytes of uncompressed content (a `.gz` is read through: its trailer wraps at 4 GiB)."""
    if not segment.compressed:
        return segment.path.stat().st_size
    size = 0
    with gzip.open(segment.path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            size += len(chunk)
    return size


def repair_tail(path: Path) -> tuple[int, int] | None:
    """Truncate bytes after the last newline; return (kept, original size) if there were any."""
    with path.open("r+b") as stream:
        size = stream.seek(0, os.SEEK_END)
        end, kept = size, 0
        while end > 0:
            start = max(0, end - CHUNK_BYTES)
            stream.seek(start)
            newline = stream.read(end - start).rfind(b"\n")
            if newline >= 0:
                kept = start + newline + 1
                break
            end = start
        if kept == size:
            return None
        stream.truncate(kept)
        stream.flush()
        os.fsync(stream.fileno())
    return kept, size


def fsync_directory(directory: Path) -> None:
    """Make created, renamed or removed names in `directory` survive a power loss."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
