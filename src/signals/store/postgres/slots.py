"""Reading the PostgreSQL user rollups for `signals.store.ranking` and `signals.store.cover`.

The same reads as `signals.store.sqlite.slots`, with arrays for lists: runs of slots are
`unnest`ed and joined to each table's key, the per-slot walks are LATERAL subqueries on the rank
index, the exact sums are lookups by (slot = ANY, user_id = ANY) on the primary key.
"""

from __future__ import annotations

from signals.store.cover import Run, SlotStates
from signals.store.postgres.schema import PgConnection
from signals.store.ranking import Leader, SlotKey, Totals
from signals.store.rollup import FINEST, STRESSED, TOTAL_TABLES, USER_TABLES

_RUNS = "unnest($1::bigint[], $2::bigint[]) AS runs (first, last)"


def _columns(runs: list[Run]) -> tuple[list[int], list[int]]:
    return [first for first, _ in runs], [last for _, last in runs]


class PostgresRollups:
    """`signals.store.ranking.UserRollups` on one PostgreSQL connection."""

    def __init__(self, conn: PgConnection) -> None:
        self._conn = conn

    async def check(self, level: int, runs: list[Run]) -> SlotStates:
        rows = await self._conn.fetch(
            f"SELECT t.slot - ((t.slot % {level}) + {level}) % {level}, SUM(t.events)::bigint "
            f"FROM {_RUNS} JOIN {TOTAL_TABLES[level]} AS t "
            "ON t.slot >= runs.first AND t.slot < runs.last GROUP BY 1",
            *_columns(runs),
        )
        totals = {row[0]: row[1] for row in rows}
        filled = {slot for slot, events in totals.items() if events}
        if level == FINEST:
            return SlotStates(filled, filled)
        seals = await self._conn.fetch(
            f"SELECT s.slot, s.events FROM {_RUNS} JOIN user_seals AS s "
            "ON s.level = $3 AND s.slot >= runs.first AND s.slot < runs.last",
            *_columns(runs),
            level,
        )
        return SlotStates(filled, {row[0] for row in seals if totals.get(row[0]) == row[1]})

    async def leaders(self, slots: dict[int, list[int]], depth: int) -> dict[SlotKey, list[Leader]]:
        walks = " UNION ALL ".join(
            f"SELECT {level}, k.slot, t.user_id, t.events, t.stressed "
            f"FROM unnest(${n}::bigint[]) AS k (slot) CROSS JOIN LATERAL "
            f"(SELECT user_id, events, stressed FROM {USER_TABLES[level]} AS u "
            "WHERE u.slot = k.slot ORDER BY events DESC, user_id LIMIT $1) AS t"
            for n, level in enumerate(slots, start=2)
        )
        found: dict[SlotKey, list[Leader]] = {
            (level, slot): [] for level, starts in slots.items() for slot in starts
        }
        # Ordered here, not in SQL: each walk's rows come out in index order, but UNION ALL
        # promises no order for the whole.
        rows = await self._conn.fetch(walks, depth + 1, *slots.values())
        for level, slot, user, events, stressed in sorted(
            rows, key=lambda row: (row[0], row[1], -row[3], row[2])
        ):
            found[(level, slot)].append((user, events, stressed))
        return found

    async def totals(self, pairs: dict[int, list[tuple[int, str]]]) -> Totals:
        if not pairs:
            return {}
        # LIMIT 1 (a pair has one row at most) keeps each a lookup by primary key: without it
        # the planner pulls the subquery up and hashes whole tables.
        union = " UNION ALL ".join(
            f"SELECT t.user_id, t.events, t.stressed FROM unnest(${2 * n + 1}::bigint[], "
            f"${2 * n + 2}::text[]) AS k (slot, user_id) CROSS JOIN LATERAL "
            f"(SELECT user_id, events, stressed FROM {USER_TABLES[level]} AS u "
            "WHERE u.slot = k.slot AND u.user_id = k.user_id LIMIT 1) AS t"
            for n, level in enumerate(pairs)
        )
        params: list[object] = []
        for level_pairs in pairs.values():
            params += [[slot for slot, _ in level_pairs], [user for _, user in level_pairs]]
        return await self._grouped(union, params)

    async def raw_totals(self, ranges: list[tuple[int, int]]) -> Totals:
        union = (
            "SELECT user_id, 1 AS events, (sentiment = $3)::int AS stressed "
            f"FROM {_RUNS} JOIN events ON received_us >= runs.first AND received_us < runs.last"
        )
        return await self._grouped(union, [*_columns(ranges), STRESSED])

    async def sums(self, slots: dict[int, list[int]]) -> Totals:
        if not slots:
            return {}
        union = " UNION ALL ".join(
            f"SELECT user_id, events, stressed FROM {USER_TABLES[level]} "
            f"WHERE slot = ANY(${n}::bigint[])"
            for n, level in enumerate(slots, start=1)
        )
        return await self._grouped(union, list(slots.values()))

    async def _grouped(self, union: str, params: list[object]) -> Totals:
        rows = await self._conn.fetch(
            "SELECT user_id, SUM(events)::bigint, SUM(stressed)::bigint "
            f"FROM ({union}) AS parts GROUP BY user_id",
            *params,
        )
        return {row[0]: (row[1], row[2]) for row in rows}
