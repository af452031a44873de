"""The append-only journal: the source of truth every consumer reads from (docs/semantics.md).

`Journal` appends with group commit and reads back; `iter_records` reads a stopped journal's
directory for offline tools. See `signals.journal.writer` for durability per fsync mode.
"""

from signals.errors import JournalClosed, JournalError, JournalUnavailable
from signals.journal.position import START, JournalPosition
from signals.journal.reader import iter_records
from signals.journal.recovery import in_use
from signals.journal.writer import Journal, JournalStats, OnCommit, OnGroup

__all__ = [
    "START",
    "Journal",
    "JournalClosed",
    "JournalError",
    "JournalPosition",
    "JournalStats",
    "JournalUnavailable",
    "OnCommit",
    "OnGroup",
    "in_use",
    "iter_records",
]
