"""Reading segments back as complete lines with the position just after each one.

`LineReader` reads one segment a chunk at a time (memory stays flat on any segment size) and
blocks: `read_committed` (behind `Journal.read`) calls it through `asyncio.to_thread`, offline
tools call `iter_records`, and `count_lines` counts what it would yield (a progress total). A
start in a segment that retention already deleted resumes at the oldest segment left, with a
`journal.gap` warning.
Bytes after the last newline of a segment are a torn line: they are never returned, and the
reader reports how many there were in `torn`.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import structlog

from signals.journal.position import START, JournalPosition
from signals.journal.segments import CHUNK_BYTES, list_segments, open_segment

log = structlog.get_logger(__name__)

Line = tuple[bytes, JournalPosition]


class LineReader:
    """The complete lines of one segment from `offset` up to `end` (None: to the end of file)."""

    def __init__(
        self,
        stream: io.BufferedIOBase,
        segment: int,
        offset: int,
        end: int | None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.segment = segment
        self.torn = 0  # bytes of a torn last line, known once the segment is exhausted
        self._stream = stream
        self._end = end
        self._chunk_bytes = chunk_bytes
        self._pieces: list[bytes] = []  # the unfinished line so far (it holds no newline)
        self._carried = 0
        # A gzip stream seeks by decompressing: that is why readers are built in a thread too.
        self._read_to = stream.seek(offset)

    def batch(self) -> list[Line]:
        """The next chunk's complete lines; an empty list once the segment is exhausted."""
        while True:
            want = self._chunk_bytes
            if self._end is not None:
                want = min(want, self._end - self._read_to)
            chunk = self._stream.read(want) if want > 0 else b""
            if not chunk:
                self.torn, self._pieces, self._carried = self._carried, [], 0
                return []
            base = self._read_to - self._carried
            self._read_to += len(chunk)
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                # Pieces are joined once a newline comes: a huge line costs no quadratic copying.
                self._pieces.append(chunk)
                self._carried += len(chunk)
                continue
            head = chunk[:cut]
            data = b"".join([*self._pieces, head]) if self._pieces else head
            self._pieces = [chunk[cut:]] if cut < len(chunk) else []
            self._carried = len(chunk) - cut
            lines = data.split(b"\n")
            lines.pop()  # the empty string after the final newline
            found: list[Line] = []
            at, segment = base, self.segment
            for line in lines:
                at += len(line) + 1
                found.append((line, JournalPosition(segment, at)))
            return found

    def close(self) -> None:
        self._stream.close()


def open_reader(
    directory: Path, segment: int, offset: int, committed: JournalPosition
) -> LineReader | None:
    """A reader of `segment` from `offset`, else of the oldest later segment from its start
    (`segment` was pruned, or is 0), bounded by `committed`; None past `committed`."""
    stream = open_segment(directory, segment) if segment > 0 else None
    while stream is None:
        later = [found.number for found in list_segments(directory) if found.number > segment]
        if not later:
            return None
        segment, offset = later[0], 0
        # None again only if pruning removed it after the listing: look further.
        stream = open_segment(directory, segment)
    if segment > committed.segment:
        stream.close()
        return None
    end = committed.offset if segment == committed.segment else None
    try:
        return LineReader(stream, segment, offset, end)
    except BaseException:
        stream.close()
        raise


async def read_committed(
    directory: Path, start: JournalPosition, committed: JournalPosition
) -> AsyncIterator[Line]:
    """Every complete line after `start` up to `committed`, reading in a thread."""
    segment, offset = start.segment, start.offset
    while JournalPosition(segment, offset) < committed:
        reader = await asyncio.to_thread(open_reader, directory, segment, offset, committed)
        if reader is None:
            return
        if reader.segment != segment and segment > 0:
            log.warning("journal.gap", missing_from=segment, resumed_at=reader.segment)
        try:
            while lines := await asyncio.to_thread(reader.batch):
                for line in lines:
                    yield line
        finally:
            reader.close()
        if reader.torn:
            log.warning("journal.torn_line_skipped", segment=reader.segment, bytes=reader.torn)
        segment, offset = reader.segment + 1, 0


def iter_records(directory: Path, start: JournalPosition = START) -> Iterator[Line]:
    """Every complete line after `start` in every segment, for tools run while the service is
    stopped (`signals replay`). A torn line is skipped with a warning."""
    for segment in list_segments(directory):
        if segment.number < start.segment:
            continue
        offset = start.offset if segment.number == start.segment else 0
        stream = open_segment(directory, segment.number)
        if stream is None:
            continue
        reader = LineReader(stream, segment.number, offset, None)
        try:
            while lines := reader.batch():
                yield from lines
        finally:
            reader.close()
        if reader.torn:
            log.warning("journal.torn_line_skipped", file=str(segment.path), bytes=reader.torn)


def count_lines(
    directory: Path, start: JournalPosition = START, stop: threading.Event | None = None
) -> int | None:
    """How many complete lines `iter_records(directory, start)` yields, counted without decoding
    any (a `.gz` segment is decompressed, nothing more); None once `stop` is set. Blocking."""
    count = 0
    for segment in list_segments(directory):
        if segment.number < start.segment:
            continue
        stream = open_segment(directory, segment.number)
        if stream is None:
            continue
        with stream:
            if segment.number == start.segment:
                stream.seek(start.offset)
            while chunk := stream.read(CHUNK_BYTES):
                if stop is not None and stop.is_set():
                    return None
                count += chunk.count(b"\n")
    return count
