"""Journal lines back into records, refusing damage by name: the file and the byte offset.

A torn last line is repaired when the journal opens; a complete line that does not decode sits
in the middle of the journal, where guessing would lose or invent events, so reading stops there.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from signals.errors import JournalCorrupt
from signals.events import Record, record_decoder
from signals.journal.position import JournalPosition
from signals.journal.segments import gzip_path, plain_path


def decode_record(line: bytes, after: JournalPosition, directory: Path) -> Record:
    """The record on `line`, which ends (newline included) at `after`."""
    try:
        return record_decoder.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        path = plain_path(directory, after.segment)
        if not path.exists():
            path = gzip_path(directory, after.segment)
        offset = after.offset - len(line) - 1
        raise JournalCorrupt(path, offset, str(exc)) from None
