"""Keyset cursors: the sort key of the last item of a page, opaque to clients.

A cursor is one letter naming its listing, then lower-case hex: the position (the integer sort
key, epoch microseconds) and the tiebreak that orders items sharing it, either an insertion
sequence number or an id. Integers are 16 hex digits of the 64-bit value plus 2**63, so every
signed 64-bit number has exactly one spelling; an id is the hex of its UTF-8 bytes, NUL excluded
(PostgreSQL text cannot hold it).

So a regular expression (`CURSOR_PATTERNS`, published in the OpenAPI documents) says exactly
which strings are cursors of a listing: every string it matches decodes, and a client generated
from the documents cannot send a well-formed cursor that is refused. A cursor of another listing
or of another shape raises `BadCursor`. Cursors are not signed: they only say where to resume,
and a forged one can reach nothing that the same query without a cursor could not.
"""

from __future__ import annotations

import re

from signals.store.base import BadCursor

MAX_CURSOR_CHARS = 512
MAX_ID_BYTES = 240
_OFFSET = 2**63
_INT = "[0-9a-f]{16}"
_ID = f"(?:0[1-9a-f]|[1-9a-f][0-9a-f]){{0,{MAX_ID_BYTES}}}"
# listing -> (its letter, the type of its tiebreak)
KINDS: dict[str, tuple[str, type[int] | type[str]]] = {
    "signals": ("s", int),
    "anomalies": ("a", str),
    "deliveries": ("d", str),
}
CURSOR_PATTERNS = {
    kind: f"^{letter}{_INT}{_INT if tiebreak is int else _ID}$"
    for kind, (letter, tiebreak) in KINDS.items()
}
_MATCHERS = {
    kind: re.compile(pattern.removesuffix("$") + r"\Z") for kind, pattern in CURSOR_PATTERNS.items()
}


def _hex64(value: int) -> str:
    return format(value + _OFFSET, "016x")


def make_cursor(kind: str, position: int, tiebreak: int | str) -> str:
    letter, expected = KINDS[kind]
    if not isinstance(tiebreak, expected):
        raise TypeError(f"a {kind} cursor takes a {expected.__name__} tiebreak")
    if isinstance(tiebreak, int):
        return letter + _hex64(position) + _hex64(tiebreak)
    raw = tiebreak.encode()
    if len(raw) > MAX_ID_BYTES or b"\x00" in raw:
        raise ValueError(f"{kind} ids in cursors are 0-{MAX_ID_BYTES} bytes without NUL")
    return letter + _hex64(position) + raw.hex()


def is_cursor(kind: str, cursor: str) -> bool:
    """Whether `cursor` is one of `kind`'s cursors (so the store will read it)."""
    return _MATCHERS[kind].match(cursor) is not None


def _read(kind: str, cursor: str) -> tuple[int, str]:
    if not is_cursor(kind, cursor):
        raise BadCursor("not a cursor of this listing")
    return int(cursor[1:17], 16) - _OFFSET, cursor[17:]


def read_seq_cursor(kind: str, cursor: str) -> tuple[int, int]:
    """(position, sequence number) from a cursor of a listing ordered by insertion."""
    position, rest = _read(kind, cursor)
    return position, int(rest, 16) - _OFFSET


def read_id_cursor(kind: str, cursor: str) -> tuple[int, str]:
    """(position, id) from a cursor of a listing ordered by id; bytes that are not UTF-8 (a
    forged cursor) become U+FFFD: the id is only compared, never looked up."""
    position, rest = _read(kind, cursor)
    return position, bytes.fromhex(rest).decode(errors="replace")
