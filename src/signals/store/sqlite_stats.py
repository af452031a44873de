"""`Stats` from SQLite: rollups for whole slots, raw events only for the ragged ends.

Counts (buckets, by signal type, by sentiment) come from `counts_hour`, `counts_quarter`
(15 minutes) and `counts_minute`; a level is used only when it divides `bucket_seconds`, so
that every rollup slot lies inside one bucket (sub-minute buckets are counted from raw events,
which is cheap over the short ranges that use them). Top users come from `users_day` and
`users_hour`. Each family is one SQL statement: a UNION ALL of the segments `rollup.plan`
chose, grouped once.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from signals.store.base import Stats, TopUser
from signals.store.grid import BucketGrid, assemble
from signals.store.instant import MICROS_PER_SECOND
from signals.store.rollup import COUNT_LEVELS, RAW, STRESSED, USER_LEVELS, plan
from signals.store.sqlite_rollup import COUNT_TABLES, USER_TABLES
from signals.store.sqlite_rows import EPISODE_COLUMNS, episode_from_row

TOP_USERS = 10
RECENT_ANOMALIES = 20


async def read_stats(
    conn: aiosqlite.Connection, since_us: int, until_us: int, bucket_seconds: int
) -> Stats:
    grid = BucketGrid(since_us, until_us, bucket_seconds)
    counts = await _counts(conn, grid)
    top_users = await _top_users(conn, since_us, until_us)
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
        [(row[0], row[1], row[2], row[3]) for row in counts],
        top_users,
        [(row[0], row[1], row[2]) for row in anomaly_counts],
        [episode_from_row(row) for row in recent],
    )


async def _counts(conn: aiosqlite.Connection, grid: BucketGrid) -> list[Any]:
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
        return []
    union = " UNION ALL ".join(parts)
    return list(
        await conn.execute_fetchall(
            f"SELECT bucket, signal_type, sentiment, SUM(n) FROM ({union}) GROUP BY 1, 2, 3",
            params,
        )
    )


async def _top_users(conn: aiosqlite.Connection, since_us: int, until_us: int) -> list[TopUser]:
    parts: list[str] = []
    params: list[object] = []
    for segment in plan(since_us, until_us, USER_LEVELS):
        if segment.level == RAW:
            parts.append(
                "SELECT user_id, 1 AS e, sentiment = ? AS s "
                "FROM events WHERE received_us >= ? AND received_us < ?"
            )
            params += [STRESSED, segment.start_us, segment.end_us]
        else:
            parts.append(
                f"SELECT user_id, events AS e, stressed AS s FROM {USER_TABLES[segment.level]} "
                "WHERE slot >= ? AND slot < ?"
            )
            params += [
                segment.start_us // MICROS_PER_SECOND,
                segment.end_us // MICROS_PER_SECOND,
            ]
    if not parts:
        return []
    union = " UNION ALL ".join(parts)
    rows = await conn.execute_fetchall(
        f"SELECT user_id, SUM(e) AS total, SUM(s) FROM ({union}) "
        "GROUP BY user_id ORDER BY total DESC, user_id LIMIT ?",
        [*params, TOP_USERS],
    )
    return [TopUser(user_id=row[0], events=row[1], stressed=row[2]) for row in rows]
