"""`Stats` from SQLite: rollups for whole slots, raw events only for the ragged ends.

Counts (buckets, by signal type, by sentiment) come from `counts_hour`, `counts_quarter`
(15 minutes) and `counts_minute`; a level is used only when it divides `bucket_seconds`, so
that every rollup slot lies inside one bucket (sub-minute buckets are counted from raw events,
which is cheap over the short ranges that use them). Top users come from `users_day` and
`users_hour`, summed per user over the whole slots of the range (remembered between calls by
`SettledTotals`) plus the raw events of its ragged ends. Each sum is one SQL statement: a
UNION ALL of the segments `rollup.plan` chose, grouped once.
"""

from __future__ import annotations

import heapq

import aiosqlite

from signals.instants import MICROS_PER_SECOND
from signals.store.base import Stats, TopUser
from signals.store.grid import BucketGrid, assemble
from signals.store.rollup import COUNT_LEVELS, RAW, STRESSED, USER_LEVELS, Segment, plan
from signals.store.settled import SettledTotals, Totals
from signals.store.sqlite.rollup import COUNT_TABLES, USER_TABLES
from signals.store.sqlite.rows import EPISODE_COLUMNS, episode_from_row

TOP_USERS = 10
RECENT_ANOMALIES = 20


async def read_stats(
    conn: aiosqlite.Connection,
    since_us: int,
    until_us: int,
    bucket_seconds: int,
    settled: SettledTotals,
) -> Stats:
    grid = BucketGrid(since_us, until_us, bucket_seconds)
    bucket_counts, type_counts = await _counts(conn, grid)
    top_users = await _top_users(conn, since_us, until_us, settled)
    anomaly_counts = await conn.execute_fetchall(
        "SELECT (opened_us - ?) / ?, severity, COUNT(*) FROM episodes "
        "WHERE opened_us >= ? AND opened_us < ? GROUP BY 1, 2",
        (grid.origin_us, grid.bucket_us, since_us, until_us),
    )
    recent = await conn.execute_fetchall(
        f"SELECT {EPISODE_COLUMNS} FROM episodes WHERE opened_us >= ? AND opened_us < ? "
        "ORDER BY opened_us DESC, id DESC LIMIT ?",
        (since_us, until_us, RECENT_ANOMALIES),
    )
    return assemble(
        grid,
        bucket_counts=bucket_counts,
        type_counts=type_counts,
        top_users=top_users,
        anomaly_counts=[(row[0], row[1], row[2]) for row in anomaly_counts],
        recent_anomalies=[episode_from_row(row) for row in recent],
    )


async def _counts(
    conn: aiosqlite.Connection, grid: BucketGrid
) -> tuple[list[tuple[int, str, int]], list[tuple[str, int]]]:
    """(bucket index, sentiment, events) and (signal_type, events): two small results from two
    groupings of the same rows, rather than one large one to be folded in Python."""
    levels = [level for level in COUNT_LEVELS if grid.bucket_seconds % level == 0]
    parts: list[str] = []
    params: list[int] = []
    for segment in plan(grid.since_us, grid.until_us, levels):
        if segment.level == RAW:
            parts.append(
                "SELECT (received_us - ?) / ? AS bucket, signal_type, sentiment, 1 AS n "
                "FROM events WHERE received_us >= ? AND received_us < ?"
            )
            params += [grid.origin_us, grid.bucket_us, segment.start_us, segment.end_us]
        else:
            parts.append(
                "SELECT (slot - ?) / ? AS bucket, signal_type, sentiment, events AS n "
                f"FROM {COUNT_TABLES[segment.level]} WHERE slot >= ? AND slot < ?"
            )
            params += [
                grid.origin_us // MICROS_PER_SECOND,
                grid.bucket_seconds,
                segment.start_us // MICROS_PER_SECOND,
                segment.end_us // MICROS_PER_SECOND,
            ]
    if not parts:
        return [], []
    union = " UNION ALL ".join(parts)
    by_bucket = await conn.execute_fetchall(
        f"SELECT bucket, sentiment, SUM(n) FROM ({union}) GROUP BY 1, 2", params
    )
    by_type = await conn.execute_fetchall(
        f"SELECT signal_type, SUM(n) FROM ({union}) GROUP BY 1", params
    )
    return [(i, sentiment, n) for i, sentiment, n in by_bucket], [(t, n) for t, n in by_type]


async def _top_users(
    conn: aiosqlite.Connection, since_us: int, until_us: int, settled: SettledTotals
) -> list[TopUser]:
    segments = plan(since_us, until_us, USER_LEVELS)
    slots = tuple(segment for segment in segments if segment.level != RAW)
    edges = [segment for segment in segments if segment.level == RAW]
    totals = dict(await settled.get(slots, lambda: _slot_totals(conn, slots))) if slots else {}
    if edges:
        union = " UNION ALL ".join(
            "SELECT user_id, sentiment FROM events WHERE received_us >= ? AND received_us < ?"
            for _ in edges
        )
        rows = await conn.execute_fetchall(
            f"SELECT user_id, COUNT(*), SUM(sentiment = ?) FROM ({union}) GROUP BY user_id",
            [STRESSED, *(bound for edge in edges for bound in (edge.start_us, edge.end_us))],
        )
        for user_id, events, stressed in rows:
            before = totals.get(user_id, (0, 0))
            totals[user_id] = (before[0] + events, before[1] + stressed)
    return _top(totals)


def _top(totals: Totals) -> list[TopUser]:
    """The TOP_USERS largest by events, ties by user_id. Thousands of users reach here: only
    those at or above the tenth largest count are sorted."""
    if not totals:
        return []
    floor = heapq.nlargest(TOP_USERS, (events for events, _ in totals.values()))[-1]
    contenders = [(-e, user, s) for user, (e, s) in totals.items() if e >= floor]
    contenders.sort()
    return [TopUser(user_id=user, events=-e, stressed=s) for e, user, s in contenders[:TOP_USERS]]


async def _slot_totals(conn: aiosqlite.Connection, slots: tuple[Segment, ...]) -> Totals:
    union = " UNION ALL ".join(
        f"SELECT user_id, events, stressed FROM {USER_TABLES[slot.level]} "
        "WHERE slot >= ? AND slot < ?"
        for slot in slots
    )
    rows = await conn.execute_fetchall(
        f"SELECT user_id, SUM(events), SUM(stressed) FROM ({union}) GROUP BY user_id",
        [bound // MICROS_PER_SECOND for slot in slots for bound in (slot.start_us, slot.end_us)],
    )
    return {user_id: (events, stressed) for user_id, events, stressed in rows}
