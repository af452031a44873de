"""What a stopped service left on disk, read without the service: journal, store, checkpoints, logs.

Every reader here opens the files directly (the journal through `iter_records`, the store with
the sqlite3 module), so a test checks the service against the files, not against itself.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import msgspec

from signals.events import Record, record_decoder
from signals.journal.position import START, JournalPosition
from signals.journal.reader import iter_records
from signals.journal.segments import SegmentFile, list_segments


def journal_dir(data_dir: Path) -> Path:
    return data_dir / "journal"


def journal_lines(data_dir: Path) -> list[tuple[Record, JournalPosition]]:
    """Every record in journal order with the position just after it."""
    return [
        (record_decoder.decode(line), after) for line, after in iter_records(journal_dir(data_dir))
    ]


def journal_ids(data_dir: Path, after: JournalPosition = START) -> list[str]:
    """The event ids in journal order, of the lines that end after `after`."""
    return [record.event_id for record, end in journal_lines(data_dir) if end > after]


def journal_end(data_dir: Path) -> JournalPosition:
    lines = journal_lines(data_dir)
    return lines[-1][1] if lines else START


def segments(data_dir: Path) -> list[SegmentFile]:
    return list_segments(journal_dir(data_dir))


def store_ids(data_dir: Path) -> list[str]:
    with closing(sqlite3.connect(data_dir / "signals.db")) as db:
        return [row[0] for row in db.execute("SELECT event_id FROM events")]


def checkpoint(data_dir: Path, consumer: str) -> JournalPosition | None:
    """The saved position of `consumer` ("store" or "router") for this data dir's instance."""
    name = f"{consumer}:{(data_dir / 'instance_id').read_text().strip()}"
    with closing(sqlite3.connect(data_dir / "signals.db")) as db:
        row = db.execute(
            "SELECT segment, byte_offset FROM checkpoints WHERE name = ?", (name,)
        ).fetchone()
    return None if row is None else JournalPosition(row[0], row[1])


def repeated(ids: list[str]) -> list[str]:
    return [event_id for event_id, count in Counter(ids).items() if count > 1]


def first_seen(ids: list[str]) -> list[str]:
    """`ids` without repeats, each where it first appeared."""
    return list(dict.fromkeys(ids))


def log_lines(text: str) -> list[dict[str, Any]]:
    """The JSON log objects in `text` (lines that are not JSON are skipped)."""
    found = []
    for line in text.splitlines():
        try:
            decoded = msgspec.json.decode(line)
        except msgspec.DecodeError:
            continue
        if isinstance(decoded, dict):
            found.append(decoded)
    return found
