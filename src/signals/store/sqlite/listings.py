"""The listings of the SQLite store: newest-first keyset pages, and the oldest-first export.

A page asks for `limit + 1` rows in (position DESC, tiebreak DESC) order; the extra row only
says that another page exists, and the cursor is the sort key of the last row shown. Resuming
is `position <= p AND (position < p OR tiebreak < t)`: the first term is a plain range on the
index, so the walk starts right where the last page stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import aiosqlite

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
from signals.store.sqlite.rows import (
    DELIVERY_COLUMNS,
    EPISODE_COLUMNS,
    RECORD_JSON,
    SELECT_RECORD,
    episode_from_row,
    record_from_row,
)

T = TypeVar("T")


async def signal_page(conn: aiosqlite.Connection, query: SignalQuery) -> Page[Record]:
    after = None if query.cursor is None else read_seq_cursor("signals", query.cursor)
    query, after = one_upper_bound(query, after)
    where, params = _signal_filters(query)
    return await _newest_first(
        conn,
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
    conn: aiosqlite.Connection, query: SignalQuery, chunk: int
) -> AsyncIterator[Record]:
    async for rows in _export_chunks(conn, query, chunk, SELECT_RECORD):
        for row in rows:
            yield record_from_row(row)


async def export_lines(
    conn: aiosqlite.Connection, query: SignalQuery, chunk: int
) -> AsyncIterator[bytes]:
    async for rows in _export_chunks(conn, query, chunk, f"received_us, seq, {RECORD_JSON}"):
        if rows:
            yield ("\n".join(row[2] for row in rows) + "\n").encode()


def _export_chunks(
    conn: aiosqlite.Connection, query: SignalQuery, chunk: int, select: str
) -> AsyncIterator[list[Any]]:
    """Chunks of `chunk` rows, each query resuming after the last row of the one before; the
    next chunk is read (on the connection's thread) while this one is decoded and sent."""
    first = _signal_filters(query)
    where, params = _signal_filters(without_since(query))
    resuming = [*where, "received_us >= ? AND (received_us > ? OR seq > ?)"]

    def fetch(after: list[Any]) -> Awaitable[Iterable[Any]]:
        if not after:
            clauses, values = first
        else:  # received_us, received_us, seq
            clauses, values = resuming, [*params, after[0], *after]
        return conn.execute_fetchall(
            f"SELECT {select} FROM events {where_clause(clauses)} "
            "ORDER BY received_us, seq LIMIT ?",
            [*values, chunk],
        )

    return read_ahead(fetch, chunk)


async def anomaly_page(conn: aiosqlite.Connection, query: AnomalyQuery) -> Page[Episode]:
    where, params = _equal(
        user_id=query.user_id, severity=query.severity, signal_type=query.signal_type
    )
    if query.since_us is not None:
        where.append("opened_us >= ?")
        params.append(query.since_us)
    return await _newest_first(
        conn,
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


async def delivery_page(conn: aiosqlite.Connection, query: AlertQuery) -> Page[Delivery]:
    where, params = _equal(status=query.status)
    return await _newest_first(
        conn,
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


async def due_deliveries(conn: aiosqlite.Connection, now: float, limit: int) -> list[Delivery]:
    check_limit(limit)
    rows = await conn.execute_fetchall(
        # Named because the planner, without statistics, prefers the status index and sorts.
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries INDEXED BY deliveries_due "
        "WHERE status = 'pending' AND next_attempt_at <= ? "
        "ORDER BY next_attempt_at, created_us, id LIMIT ?",
        (now, limit),
    )
    return [delivery_from_row(row) for row in rows]


async def _newest_first(
    conn: aiosqlite.Connection,
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
        where = [*where, f"{position} <= ? AND ({position} < ? OR {tiebreak} < ?)"]
        params = [*params, after[0], after[0], after[1]]
    rows = list(
        await conn.execute_fetchall(
            f"{select} {where_clause(where)} ORDER BY {position} DESC, {tiebreak} DESC LIMIT ?",
            [*params, limit + 1],
        )
    )
    return page_of(rows, limit=limit, kind=kind, decode=decode, key_of=key_of)


def _signal_filters(query: SignalQuery) -> tuple[list[str], list[Any]]:
    """WHERE terms for the filters. Only the most selective equality present may use its index;
    the others are written `+column = ?`, which SQLite never answers from an index."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("user_id", query.user_id),
        ("signal_type", query.signal_type),
        ("sentiment", query.sentiment),
    ):
        if value is not None:
            where.append(f"{'+' if where else ''}{column} = ?")
            params.append(value)
    if query.since_us is not None:
        where.append("received_us >= ?")
        params.append(query.since_us)
    if query.until_us is not None:
        where.append("received_us < ?")
        params.append(query.until_us)
    return where, params


def _equal(**filters: str | None) -> tuple[list[str], list[Any]]:
    given = {column: value for column, value in filters.items() if value is not None}
    return [f"{column} = ?" for column in given], list(given.values())
