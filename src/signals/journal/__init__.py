"""The append-only journal: the source of truth every consumer reads from (SPEC §6)."""

from signals.journal.position import JournalPosition

__all__ = ["JournalPosition"]
