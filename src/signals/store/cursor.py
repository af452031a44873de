"""Keyset cursors: the sort key of the last item of a page, opaque to clients.

A cursor is the urlsafe base64 (unpadded) of a JSON array `[kind, position, tiebreak]`:
`kind` names the listing it belongs to, so a cursor from one listing is refused by another;
`position` is the integer sort key (epoch microseconds); `tiebreak` orders items that share it
(an insertion sequence number or an id). Anything that does not decode to exactly that shape
raises `BadCursor`. Cursors are not signed: they only say where to resume, and a forged one can
reach nothing that the same query without a cursor could not.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from signals.store.base import BadCursor

MAX_CURSOR_CHARS = 512
# Both stores keep keys in signed 64-bit columns; a wider number would fail as a bind error.
Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
Text = Annotated[str, Meta(max_length=256)]


class _Keyset(Struct, array_like=True, frozen=True, forbid_unknown_fields=True):
    kind: str
    position: Int64
    tiebreak: Int64 | Text


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Keyset)


def make_cursor(kind: str, position: int, tiebreak: int | str) -> str:
    raw = _encoder.encode(_Keyset(kind, position, tiebreak))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _read(kind: str, cursor: str) -> _Keyset:
    if not cursor or len(cursor) > MAX_CURSOR_CHARS:
        raise BadCursor("malformed cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        keyset = _decoder.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise BadCursor("malformed cursor") from None
    if keyset.kind != kind:
        raise BadCursor("cursor belongs to another listing")
    return keyset


def read_seq_cursor(kind: str, cursor: str) -> tuple[int, int]:
    """(position, sequence number) from a cursor made with an integer tiebreak."""
    keyset = _read(kind, cursor)
    if not isinstance(keyset.tiebreak, int):
        raise BadCursor("malformed cursor")
    return keyset.position, keyset.tiebreak


def read_id_cursor(kind: str, cursor: str) -> tuple[int, str]:
    """(position, id) from a cursor made with a string tiebreak."""
    keyset = _read(kind, cursor)
    if not isinstance(keyset.tiebreak, str):
        raise BadCursor("malformed cursor")
    return keyset.position, keyset.tiebreak
