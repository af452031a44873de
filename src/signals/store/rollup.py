"""Rollups: event counts per time slot, kept beside the raw events so stats never scan them.

Each backend keeps two families of rollups at a few slot sizes ("levels", in seconds). A slot
starts at a multiple of its level since the epoch, so the levels nest: a day is 24 whole hours,
an hour 60 minutes, a minute six 10-second slots.

- counts: (slot, signal_type, sentiment) -> events, at every one of `COUNT_LEVELS`, written in
  the transaction that stores the events (a batch adds a few rows per level);
- users: (slot, user_id) -> events, stressed events. Only the finest level, `FINEST`, is written
  with the events: one row per user and 10 seconds, whatever the event rate. The coarser
  `SEALED_LEVELS` are derived from the finer ones once a slot has closed (`signals.store.cover`
  says when such a slot may be used), so the write path pays for one user level, not four.

A time range is answered by `plan()`: the largest aligned run of whole slots at the coarsest
level, its ragged ends at the next level down, and what is left (under 10 seconds at either end
of a range that is not aligned to 10 seconds) from the raw events. The stats endpoint aligns its
ranges to `FINEST`, so it never reads a raw event.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from signals.instants import MICROS_PER_SECOND

COUNT_LEVELS = (3600, 900, 60, 10)
FINEST = 10
SEALED_LEVELS = (86400, 3600, 60)
USER_LEVELS = (*SEALED_LEVELS, FINEST)
RAW = 0
STRESSED = "stressed"

# Both backends' tables, by level. A user slot's total is read from the count table of its
# level (days from hours: counts are not kept by day).
COUNT_TABLES = {3600: "counts_hour", 900: "counts_quarter", 60: "counts_minute", 10: "counts_10s"}
USER_TABLES = {86400: "users_day", 3600: "users_hour", 60: "users_minute", 10: "users_10s"}
TOTAL_TABLES = {86400: "counts_hour", 3600: "counts_hour", 60: "counts_minute", 10: "counts_10s"}


class Fact(NamedTuple):
    """The part of a record the rollups count."""

    received_us: int
    user_id: str
    signal_type: str
    sentiment: str


class Segment(NamedTuple):
    """[start_us, end_us) read from the rollup of slot size `level`, or from raw events (RAW)."""

    level: int
    start_us: int
    end_us: int


def plan(since_us: int, until_us: int, levels: Sequence[int]) -> list[Segment]:
    """Cover [since_us, until_us) exactly, in order, preferring the coarsest level given."""
    if since_us >= until_us:
        return []
    if not levels:
        return [Segment(RAW, since_us, until_us)]
    level, finer = levels[0], levels[1:]
    size = level * MICROS_PER_SECOND
    first = -(-since_us // size) * size
    last = until_us // size * size
    if first >= last:
        return plan(since_us, until_us, finer)
    return [
        *plan(since_us, first, finer),
        Segment(level, first, last),
        *plan(last, until_us, finer),
    ]


CountRow = tuple[int, str, str, int]  # slot, signal_type, sentiment, events
UserRow = tuple[int, str, int, int]  # slot, user_id, events, stressed


class Deltas(NamedTuple):
    """Increments for the rollups the write path keeps."""

    counts: list[tuple[int, list[CountRow]]]  # (level, rows), coarsest level first
    users: list[UserRow]  # at FINEST


def deltas(facts: Iterable[Fact]) -> Deltas:
    """The rollup increments for newly stored events.

    One pass over the events fills the finest levels; each coarser count level is summed from
    the level below it, which holds far fewer rows than there are events (the write path is
    hot: this runs on every batch).
    """
    counts: dict[tuple[int, str, str], int] = {}
    users: dict[tuple[int, str], list[int]] = {}
    size = FINEST * MICROS_PER_SECOND
    for received_us, user_id, signal_type, sentiment in facts:
        slot = received_us // size * FINEST
        key = (slot, signal_type, sentiment)
        counts[key] = counts.get(key, 0) + 1
        tally = users.get((slot, user_id))
        if tally is None:
            users[(slot, user_id)] = [1, sentiment == STRESSED]
        else:
            tally[0] += 1
            tally[1] += sentiment == STRESSED
    count_levels = [counts]
    for level in reversed(COUNT_LEVELS[:-1]):
        coarser: dict[tuple[int, str, str], int] = {}
        for (slot, signal_type, sentiment), n in count_levels[-1].items():
            key = (slot // level * level, signal_type, sentiment)
            coarser[key] = coarser.get(key, 0) + n
        count_levels.append(coarser)
    return Deltas(
        counts=[
            (level, [(*key, n) for key, n in rows.items()])
            for level, rows in zip(COUNT_LEVELS, reversed(count_levels), strict=True)
        ],
        users=[(*key, n, int(stressed)) for key, (n, stressed) in users.items()],
    )
