"""`Stats` from SQLite: rollups for whole slots, raw events only for ragged ends.

Counts (buckets, by signal type, by sentiment) come from `counts_hour`, `counts_quarter`
(15 minutes), `counts_minute` and `counts_10s`; a level is used only when it divides
`bucket_seconds`, so that every rollup slot lies inside one bucket. Top users come from
`signals.store.ranking` over the user rollups. Only a range whose ends are not on a 10-second
boundary (or buckets that are not a multiple of 10 seconds) reads raw events, for what lies
between its ends and the nearest boundaries; the stats endpoint never asks for one.

Run inside one read transaction (`SqliteStore._snapshot`) so that the parts agree.
"""

from __future__ import annotations

import aiosqlite

from signals.instants import MICROS_PER_SECOND
from signals.store.base import Stats
from signals.store.grid import BucketGrid, assemble
from signals.store.ranking import top_users
from signals.store.rollup import COUNT_LEVELS, COUNT_TABLES, RAW, plan
from signals.store.sqlite.rows import EPISODE_COLUMNS, episode_from_row
from signals.store.sqlite.slots import SqliteRollups

RECENT_ANOMALIES = 20


async def read_stats(
    conn: aiosqlite.Connection, since_us: int, until_us: int, bucket_seconds: int
) -> Stats:
    grid = BucketGrid(since_us, until_us, bucket_seconds)
    bucket_counts, type_counts = await _counts(conn, grid)
    ranking = await top_users(SqliteRollups(conn), since_us, until_us)
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
        top_users=ranking.users,
        top_users_exact=ranking.exact,
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
