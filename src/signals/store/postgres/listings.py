"""The listings of the PostgreSQL store: newest-first keyset pages, the oldest-first export, and
the outbox's due deliveries.

As in the SQLite store, a page asks for `limit + 1` rows in (position DESC, tiebreak DESC) order;
the extra row only says that another page exists, and the cursor is the sort key of the last row
shown. Resuming is the row comparison `(position, tiebreak) < (p, t)`, which PostgreSQL answers
as one range of the (filter, position, tiebreak) index.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from signals.events import Record
from signals.records.delivery import Delivery
from signals.records.episode import Episode
from signals.store.base import AlertQuery, AnomalyQuery, Page, SignalQuery
from signals.store.cursor import read_id_cursor, read_seq_cursor
from signals.store.outbox_rows import delivery_from_row
from signals.store.paging import (
    check_limit,
    one_upper_bound,
    page_of,
    read_ahead,
    where_clause,
    without_since,
)
from signals.store.postgres.rows import (
    DELIVERY_COLUMNS,
    EPISODE_COLUMNS,
    SELECT_RECORD,
    episode_from_row,
    record_from_row,
)

T = TypeVar("T")

DUE_ORDER = "ORDER BY next_attempt_at, created_us, id"


async def signal_page(pool: asyncpg.Pool, query: SignalQuery) -> Page[Record]:
    after = None if query.cursor is None else read_seq_cursor("signals", query.cursor)
    query, after = one_upper_bound(query, after)
    where, params = _signal_filters(query)
    return await _newest_first(
        pool,
        kind="signals",
        select=f"SELECT {SELECT_RECORD} FROM events",
        where=where,
        params=params,
        keys=("received_us", "seq"),
        after=after,
        limit=query.limit,
        decode=record_from_row,
        key_of=lambda row: (row[0], row[1]),
    )


async def export_records(
    pool: asyncpg.Pool, query: SignalQuery, chunk: int
) -> AsyncIterator[Record]:
    async for rows in _export_chunks(pool, query, chunk):
        for row in rows:
            yield record_from_row(row)


async def export_lines(pool: asyncpg.Pool, query: SignalQuery, chunk: int) -> AsyncIterator[bytes]:
    """The records' JSON as stored (msgspec wrote it from the record), not decoded at all."""
    async for rows in _export_chunks(pool, query, chunk):
        if rows:
            yield ("\n".join(row[2] for row in rows) + "\n").encode()


def _export_chunks(pool: asyncpg.Pool, query: SignalQuery, chunk: int) -> AsyncIterator[list[Any]]:
    """Each chunk is its own query on a connection borrowed for it alone, so a slow reader of
    the stream holds no connection (and no snapshot) between chunks; the next chunk is read
    while this one is decoded and sent."""
    first = _signal_filters(query)
    where, params = _signal_filters(without_since(query))
    resuming = [*where, f"(received_us, seq) > (${len(params) + 1}, ${len(params) + 2})"]

    def fetch(after: list[Any]) -> Awaitable[list[Any]]:
        clauses, values = (resuming, [*params, *after]) if after else first
        return pool.fetch(
            f"SELECT {SELECT_RECORD} FROM events {where_clause(clauses)} "
            f"ORDER BY received_us, seq LIMIT ${len(values) + 1}",
            *values, chunk,
        )  # fmt: skip

    return read_ahead(fetch, chunk)


async def anomaly_page(pool: asyncpg.Pool, query: AnomalyQuery) -> Page[Episode]:
    where, params = _equal(
        user_id=query.user_id, severity=query.severity, signal_type=query.signal_type
    )
    if query.since_us is not None:
        params.append(query.since_us)
        where.append(f"opened_us >= ${len(params)}")
    return await _newest_first(
        pool,
        kind="anomalies",
        select=f"SELECT {EPISODE_COLUMNS} FROM episodes",
        where=where,
        params=params,
        keys=("opened_us", "id"),
        after=None if query.cursor is None else read_id_cursor("anomalies", query.cursor),
        limit=query.limit,
        decode=episode_from_row,
        key_of=lambda row: (row[9], row[0]),
    )


async def delivery_page(pool: asyncpg.Pool, query: AlertQuery) -> Page[Delivery]:
    where, params = _equal(status=query.status)
    return await _newest_first(
        pool,
        kind="deliveries",
        select=f"SELECT {DELIVERY_COLUMNS} FROM deliveries",
        where=where,
        params=params,
        keys=("created_us", "id"),
        after=None if query.cursor is None else read_id_cursor("deliveries", query.cursor),
        limit=query.limit,
        decode=delivery_from_row,
        key_of=lambda row: (row[6], row[0]),
    )


async def due_deliveries(pool: asyncpg.Pool, now: float, limit: int) -> list[Delivery]:
    check_limit(limit)
    rows = await pool.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries "
        f"WHERE status = 'pending' AND next_attempt_at <= $1 {DUE_ORDER} LIMIT $2",
        now, limit,
    )  # fmt: skip
    return [delivery_from_row(row) for row in rows]


async def claim_deliveries(
    pool: asyncpg.Pool, now: float, limit: int, lease_seconds: float
) -> list[Delivery]:
    """Due deliveries, each leased until now + lease_seconds, as they were before the lease.

    One statement: rows another claim holds locked are skipped rather than waited for, so
    dispatchers on several instances split the due deliveries between them.
    """
    check_limit(limit)
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    rows = await pool.fetch(
        f"""
        WITH due AS (
            SELECT {DELIVERY_COLUMNS} FROM deliveries
            WHERE status = 'pending' AND next_attempt_at <= $1 {DUE_ORDER} LIMIT $2
            FOR UPDATE SKIP LOCKED
        ), leased AS (
            UPDATE deliveries SET next_attempt_at = $3 FROM due WHERE deliveries.id = due.id
        )
        SELECT * FROM due {DUE_ORDER}
        """,
        now, limit, now + lease_seconds,
    )  # fmt: skip
    return [delivery_from_row(row) for row in rows]


async def _newest_first(
    pool: asyncpg.Pool,
    *,
    kind: str,
    select: str,
    where: list[str],
    params: list[Any],
    keys: tuple[str, str],
    after: tuple[int, int] | tuple[int, str] | None,
    limit: int,
    decode: Callable[[Any], T],
    key_of: Callable[[Any], tuple[int, int | str]],
) -> Page[T]:
    check_limit(limit)
    position, tiebreak = keys
    if after is not None:
        params = [*params, *after]
        where = [*where, f"({position}, {tiebreak}) < (${len(params) - 1}, ${len(params)})"]
    rows = await pool.fetch(
        f"{select} {where_clause(where)} ORDER BY {position} DESC, {tiebreak} DESC "
        f"LIMIT ${len(params) + 1}",
        *params, limit + 1,
    )  # fmt: skip
    return page_of(rows, limit=limit, kind=kind, decode=decode, key_of=key_of)


def _signal_filters(query: SignalQuery) -> tuple[list[str], list[Any]]:
    where, params = _equal(
        user_id=query.user_id, signal_type=query.signal_type, sentiment=query.sentiment
    )
    if query.since_us is not None:
        params.append(query.since_us)
        where.append(f"received_us >= ${len(params)}")
    if query.until_us is not None:
        params.append(query.until_us)
        where.append(f"received_us < ${len(params)}")
    return where, params


def _equal(**filters: str | None) -> tuple[list[str], list[Any]]:
    given = [(column, value) for column, value in filters.items() if value is not None]
    where = [f"{column} = ${n}" for n, (column, _) in enumerate(given, start=1)]
    return where, [value for _, value in given]
