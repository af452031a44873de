"""`Stats` from PostgreSQL: rollups for whole slots, raw events only for ragged ends.

The same plan as the SQLite store (`signals.store.rollup.plan`): counts from `counts_hour`,
`counts_quarter`, `counts_minute` and `counts_10s` (a level only when it divides
`bucket_seconds`), one statement over a UNION ALL of the segments, grouped both ways (per bucket
and sentiment, per signal type) in one pass with GROUPING SETS; top users from
`signals.store.ranking` over the user rollups. Run in one REPEATABLE READ snapshot, so that the
parts agree.
"""

from __future__ import annotations

from typing import Any

from signals.instants import MICROS_PER_SECOND
from signals.store.base import Stats
from signals.store.grid import BucketGrid, assemble
from signals.store.postgres.rows import EPISODE_COLUMNS, episode_from_row
from signals.store.postgres.schema import PgConnection
from signals.store.postgres.slots import PostgresRollups
from signals.store.ranking import top_users
from signals.store.rollup import COUNT_LEVELS, COUNT_TABLES, RAW, plan

RECENT_ANOMALIES = 20


class _Params:
    """Numbered placeholders for a statement assembled from parts."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


async def read_stats(
    conn: PgConnection, since_us: int, until_us: int, bucket_seconds: int
) -> Stats:
    grid = BucketGrid(since_us, until_us, bucket_seconds)
    bucket_counts, type_counts = await _counts(conn, grid)
    ranking = await top_users(PostgresRollups(conn), since_us, until_us)
    anomaly_counts = await conn.fetch(
        "SELECT (opened_us - $1) / $2, severity, COUNT(*) FROM episodes "
        "WHERE opened_us >= $3 AND opened_us < $4 GROUP BY 1, 2",
        grid.origin_us, grid.bucket_us, since_us, until_us,
    )  # fmt: skip
    recent = await conn.fetch(
        f"SELECT {EPISODE_COLUMNS} FROM episodes WHERE opened_us >= $1 AND opened_us < $2 "
        "ORDER BY opened_us DESC, id DESC LIMIT $3",
        since_us, until_us, RECENT_ANOMALIES,
    )  # fmt: skip
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
    conn: PgConnection, grid: BucketGrid
) -> tuple[list[tuple[int, str, int]], list[tuple[str, int]]]:
    """(bucket index, sentiment, events) and (signal_type, events)."""
    levels = [level for level in COUNT_LEVELS if grid.bucket_seconds % level == 0]
    p = _Params()
    parts: list[str] = []
    for segment in plan(grid.since_us, grid.until_us, levels):
        if segment.level == RAW:
            parts.append(
                f"SELECT (received_us - {p(grid.origin_us)}) / {p(grid.bucket_us)} AS bucket, "
                "signal_type, sentiment, 1::bigint AS n FROM events "
                f"WHERE received_us >= {p(segment.start_us)} AND received_us < {p(segment.end_us)}"
            )
        else:
            origin = grid.origin_us // MICROS_PER_SECOND
            parts.append(
                f"SELECT (slot - {p(origin)}) / {p(grid.bucket_seconds)} AS bucket, "
                f"signal_type, sentiment, events AS n FROM {COUNT_TABLES[segment.level]} "
                f"WHERE slot >= {p(segment.start_us // MICROS_PER_SECOND)} "
                f"AND slot < {p(segment.end_us // MICROS_PER_SECOND)}"
            )
    if not parts:
        return [], []
    rows = await conn.fetch(
        "SELECT bucket, sentiment, signal_type, SUM(n)::bigint, GROUPING(bucket) "
        f"FROM ({' UNION ALL '.join(parts)}) AS counted "
        "GROUP BY GROUPING SETS ((bucket, sentiment), (signal_type))",
        *p.values,
    )
    by_bucket = [(row[0], row[1], row[3]) for row in rows if row[4] == 0]
    by_type = [(row[2], row[3]) for row in rows if row[4] == 1]
    return by_bucket, by_type
