"""Keyset cursors round-trip, and anything else is a BadCursor."""

from __future__ import annotations

import pytest

from signals.store.base import BadCursor
from signals.store.cursor import make_cursor, read_id_cursor, read_seq_cursor


@pytest.mark.parametrize("position", [0, -1, 1_736_157_600_000_000, 2**63 - 1, -(2**63)])
def test_cursors_round_trip(position: int) -> None:
    assert read_seq_cursor("signals", make_cursor("signals", position, 42)) == (position, 42)
    cursor = make_cursor("anomalies", position, "ep:01J/é")
    assert read_id_cursor("anomalies", cursor) == (position, "ep:01J/é")


def test_a_cursor_is_url_safe() -> None:
    cursor = make_cursor("anomalies", 2**62, "?&=/+ ~~~ ÿÿÿ")
    assert cursor.isascii()
    assert not set(cursor) & set("+/=?&")


def test_a_cursor_belongs_to_one_listing_and_one_tiebreak_type() -> None:
    with pytest.raises(BadCursor):
        read_seq_cursor("signals", make_cursor("deliveries", 1, 2))
    with pytest.raises(BadCursor):
        read_seq_cursor("signals", make_cursor("signals", 1, "2"))
    with pytest.raises(BadCursor):
        read_id_cursor("anomalies", make_cursor("anomalies", 1, 2))
