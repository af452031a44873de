"""Rollups: event counts per time slot, kept beside the raw events so stats never scan them.

Each backend keeps, in the same transaction as the events themselves and for newly inserted
events only, two families of rollups at a few slot sizes ("levels", in seconds):

- counts: (slot, signal_type, sentiment) -> events, at `COUNT_LEVELS`;
- users: (slot, user_id) -> events, stressed events, at `USER_LEVELS`.

A slot starts at a multiple of its level since the epoch. A time range is answered exactly by
`plan()`: the largest aligned run of whole slots at the coarsest level, its ragged ends at the next
level down, and what is left (under a minute or an hour) from the raw events. So a day of stats
reads about a thousand rollup rows plus a few minutes of raw events, whatever the event rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from signals.instants import MICROS_PER_SECOND

COUNT_LEVELS = (3600, 900, 60)
USER_LEVELS = (86400, 3600)
RAW = 0
STRESSED = "stressed"


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
    """Increments for each rollup table, as (level, rows) pairs, coarsest level first."""

    counts: list[tuple[int, list[CountRow]]]
    users: list[tuple[int, list[UserRow]]]


def deltas(facts: Iterable[Fact]) -> Deltas:
    """The rollup increments for newly stored events.

    One pass over the events fills the finest level; each coarser level is summed from the level
    below it, which holds fewer rows than there are events (the write path is hot: this runs on
    every batch).
    """
    count_size = COUNT_LEVELS[-1] * MICROS_PER_SECOND
    user_size = USER_LEVELS[-1] * MICROS_PER_SECOND
    counts: dict[tuple[int, str, str], int] = {}
    users: dict[tuple[int, str], list[int]] = {}
    for received_us, user_id, signal_type, sentiment in facts:
        key = (received_us // count_size * COUNT_LEVELS[-1], signal_type, sentiment)
        counts[key] = counts.get(key, 0) + 1
        user_key = (received_us // user_size * USER_LEVELS[-1], user_id)
        tally = users.get(user_key)
        if tally is None:
            users[user_key] = [1, sentiment == STRESSED]
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
    user_levels = [users]
    for level in reversed(USER_LEVELS[:-1]):
        coarse_users: dict[tuple[int, str], list[int]] = {}
        for (slot, user_id), (n, stressed) in user_levels[-1].items():
            coarse_key = (slot // level * level, user_id)
            tally = coarse_users.get(coarse_key)
            if tally is None:
                coarse_users[coarse_key] = [n, stressed]
            else:
                tally[0] += n
                tally[1] += stressed
        user_levels.append(coarse_users)
    return Deltas(
        counts=[
            (level, [(*key, n) for key, n in rows.items()])
            for level, rows in zip(COUNT_LEVELS, reversed(count_levels), strict=True)
        ],
        users=[
            (level, [(*key, n, int(stressed)) for key, (n, stressed) in rows.items()])
            for level, rows in zip(USER_LEVELS, reversed(user_levels), strict=True)
        ],
    )
