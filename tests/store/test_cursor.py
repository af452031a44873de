"""Keyset cursors round-trip, anything else is a BadCursor, and the published patterns say
exactly which strings are cursors."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signals.store.base import AlertQuery, AnomalyQuery, BadCursor, SignalQuery, Store
from signals.store.cursor import (
    CURSOR_PATTERNS,
    MAX_CURSOR_CHARS,
    make_cursor,
    read_id_cursor,
    read_seq_cursor,
)

READERS = {"signals": read_seq_cursor, "anomalies": read_id_cursor, "deliveries": read_id_cursor}


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
        read_seq_cursor("signals", make_cursor("deliveries", 1, "2"))
    with pytest.raises(BadCursor):
        read_id_cursor("anomalies", make_cursor("deliveries", 1, "2"))
    with pytest.raises(TypeError):
        make_cursor("signals", 1, "2")
    with pytest.raises(TypeError):
        make_cursor("anomalies", 1, 2)


@pytest.mark.parametrize("cursor", ["", "0", "s", "S" + "0" * 32, "s" + "0" * 31, "a" + "0" * 18])
def test_what_the_pattern_refuses_the_reader_refuses(cursor: str) -> None:
    for kind, read in READERS.items():
        assert not re.search(CURSOR_PATTERNS[kind], cursor)
        with pytest.raises(BadCursor):
            read(kind, cursor)


@given(st.data())
def test_every_string_the_pattern_matches_is_a_cursor(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(READERS)))
    cursor = data.draw(st.from_regex(CURSOR_PATTERNS[kind].removesuffix("$") + r"\Z"))
    assert len(cursor) <= MAX_CURSOR_CHARS
    position, tiebreak = READERS[kind](kind, cursor)
    assert -(2**63) <= position < 2**63
    assert "\x00" not in str(tiebreak)


@pytest.mark.parametrize("kind", sorted(READERS))
def test_every_cursor_made_matches_its_listing_pattern_only(kind: str) -> None:
    tiebreak: int | str = -7 if kind == "signals" else "msg_01J_critical"
    cursor = make_cursor(kind, 1_736_157_600_000_000, tiebreak)
    assert [k for k, pattern in CURSOR_PATTERNS.items() if re.search(pattern, cursor)] == [kind]


# Well-formed but never made: the extremes of each field, and id bytes that are not UTF-8.
FORGED = {
    "signals": ["s" + "0" * 32, "s" + "f" * 32],
    "anomalies": ["a" + "0" * 16, "a" + "f" * 16 + "ff" * 240],
    "deliveries": ["d" + "7" + "f" * 15 + "c3", "d" + "8" + "0" * 15 + "e282ac"],
}


async def test_a_forged_cursor_of_the_right_shape_is_a_resume_point(store: Store) -> None:
    for kind, cursors in FORGED.items():
        for cursor in cursors:
            assert re.search(CURSOR_PATTERNS[kind], cursor), cursor
            if kind == "signals":
                assert (await store.signals(SignalQuery(cursor=cursor))).items == []
            elif kind == "anomalies":
                assert (await store.anomalies(AnomalyQuery(cursor=cursor))).items == []
            else:
                assert (await store.deliveries(AlertQuery(cursor=cursor))).items == []
