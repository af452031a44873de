"""Reading the SQLite user rollups for `signals.store.ranking` and `signals.store.cover`.

Slot lists go to SQLite as JSON arrays (`json_each`), so a statement's text and its number of
bound variables stay the same whatever their length. The per-slot walks of `leaders` are one
UNION ALL of small `ORDER BY events DESC LIMIT n` subqueries on each table's rank index
(slot, events DESC, user_id, stressed), in chunks under SQLite's limit on compound selects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import aiosqlite

from signals.store.cover import Run, SlotStates
from signals.store.ranking import Leader, SlotKey, Totals
from signals.store.rollup import FINEST, STRESSED, TOTAL_TABLES, USER_TABLES

WALKS_PER_STATEMENT = 200  # SQLite refuses compound selects of more than 500 parts


def _runs(runs: Sequence[Run]) -> str:
    """The runs as a JSON array of [start, end] pairs, for `_IN_RUNS`."""
    return json.dumps(runs)


# Joined against a table keyed by slot: one range of its key per run, however many runs
# (CROSS JOIN keeps SQLite from putting the table in the outer loop).
_IN_RUNS = (
    "(SELECT json_extract(value, '$[0]') AS first, json_extract(value, '$[1]') AS last "
    "FROM json_each(?)) AS runs CROSS JOIN {table} ON slot >= runs.first AND slot < runs.last"
)


def _floor(column: str, level: int) -> str:
    """The start of the `level` slot holding `column`; `/` truncates toward zero in SQL."""
    return f"({column} - (({column} % {level}) + {level}) % {level})"


class SqliteRollups:
    """`signals.store.ranking.UserRollups` on one SQLite connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def check(self, level: int, runs: list[Run]) -> SlotStates:
        in_runs = _IN_RUNS.format(table=TOTAL_TABLES[level])
        rows = await self._conn.execute_fetchall(
            f"SELECT {_floor('slot', level)}, SUM(events) FROM {in_runs} GROUP BY 1",
            (_runs(runs),),
        )
        totals: dict[int, int] = {slot: events for slot, events in rows}
        filled = {slot for slot, events in totals.items() if events}
        if level == FINEST:
            return SlotStates(filled, filled)
        seals = await self._conn.execute_fetchall(
            f"SELECT slot, events FROM {_IN_RUNS.format(table='user_seals')} WHERE level = ?",
            (_runs(runs), level),
        )
        return SlotStates(filled, {slot for slot, events in seals if totals.get(slot) == events})

    async def leaders(self, slots: dict[int, list[int]], depth: int) -> dict[SlotKey, list[Leader]]:
        walks = [(level, slot) for level, starts in slots.items() for slot in starts]
        found: dict[SlotKey, list[Leader]] = {key: [] for key in walks}
        for start in range(0, len(walks), WALKS_PER_STATEMENT):
            chunk = walks[start : start + WALKS_PER_STATEMENT]
            union = " UNION ALL ".join(
                f"SELECT * FROM (SELECT {level}, slot, user_id, events, stressed "
                f"FROM {USER_TABLES[level]} WHERE slot = ? ORDER BY events DESC, user_id LIMIT ?)"
                for level, _ in chunk
            )
            params = [value for _, slot in chunk for value in (slot, depth + 1)]
            for level, slot, user, events, stressed in await self._conn.execute_fetchall(
                union, params
            ):
                found[(level, slot)].append((user, events, stressed))
        return found

    async def totals(self, pairs: dict[int, list[tuple[int, str]]]) -> Totals:
        if not pairs:
            return {}
        union = " UNION ALL ".join(
            "SELECT u.user_id, u.events, u.stressed FROM json_each(?) AS p "
            f"CROSS JOIN {USER_TABLES[level]} AS u ON u.slot = json_extract(p.value, '$[0]') "
            "AND u.user_id = json_extract(p.value, '$[1]')"
            for level in pairs
        )
        return await self._grouped(union, [json.dumps(pairs[level]) for level in pairs])

    async def raw_totals(self, ranges: list[tuple[int, int]]) -> Totals:
        union = " UNION ALL ".join(
            "SELECT user_id, 1 AS events, sentiment = ? AS stressed FROM events "
            "WHERE received_us >= ? AND received_us < ?"
            for _ in ranges
        )
        return await self._grouped(union, [v for r in ranges for v in (STRESSED, *r)])

    async def sums(self, slots: dict[int, list[int]]) -> Totals:
        if not slots:
            return {}
        union = " UNION ALL ".join(
            f"SELECT user_id, events, stressed FROM {USER_TABLES[level]} "
            "WHERE slot IN (SELECT value FROM json_each(?))"
            for level in slots
        )
        return await self._grouped(union, [json.dumps(starts) for starts in slots.values()])

    async def _grouped(self, union: str, params: list[object]) -> Totals:
        rows = await self._conn.execute_fetchall(
            f"SELECT user_id, SUM(events), SUM(stressed) FROM ({union}) GROUP BY user_id", params
        )
        return {user: (events, stressed) for user, events, stressed in rows}
