"""What the journal writer keeps per append while it waits for its group, and its counters."""

from __future__ import annotations

import asyncio

from signals.journal.position import START, JournalPosition


class JournalStats:
    """Counters since open, for tests and benchmarks (the histograms are in `Metrics`)."""

    __slots__ = ("appends", "failed_groups", "fsyncs", "groups")

    def __init__(self) -> None:
        self.appends = self.groups = self.fsyncs = self.failed_groups = 0


class Append:
    """One `Journal.submit`: its lines, the caller's payload, and the future it waits on."""

    __slots__ = ("data", "future", "lines", "payload", "position")

    def __init__(
        self, data: bytes, lines: int, payload: object, future: asyncio.Future[JournalPosition]
    ) -> None:
        self.data = data  # the lines joined, without the final newline
        self.lines = lines
        self.payload = payload
        self.future = future
        self.position = START
