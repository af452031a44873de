"""A place in the journal: a segment number and a byte offset in its uncompressed content."""

from __future__ import annotations

from msgspec import Struct


class JournalPosition(Struct, frozen=True, order=True, array_like=True):
    """Positions order like the journal: later segment, or same segment and further in."""

    segment: int
    offset: int


START = JournalPosition(0, 0)
