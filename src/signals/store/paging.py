"""What both stores' listings share beyond their SQL: the limit check, the WHERE join,
turning the `limit + 1` rows of a newest-first query into a page and its next cursor, and the
export's chunked read."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import msgspec

from signals.store.base import Page, SignalQuery
from signals.store.cursor import make_cursor

T = TypeVar("T")


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError("limit must be at least 1")


def where_clause(clauses: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def page_of(
    rows: Sequence[Any],
    *,
    limit: int,
    kind: str,
    decode: Callable[[Any], T],
    key_of: Callable[[Any], tuple[int, int | str]],
) -> Page[T]:
    """The extra row (asked for as `limit + 1`) only says that another page exists."""
    shown = rows[:limit]
    more = len(rows) > limit
    return Page(
        items=[decode(row) for row in shown],
        next_cursor=make_cursor(kind, *key_of(shown[-1])) if more else None,
    )


async def read_ahead(
    fetch: Callable[[list[Any]], Awaitable[Iterable[Any]]], chunk: int
) -> AsyncIterator[list[Any]]:
    """The chunks of an oldest-first keyset read, each asked for as soon as the one before it
    has arrived, so the database works on the next while the caller handles this one (two
    chunks in memory at most). `fetch([])` reads the first chunk, `fetch([received_us, seq])`
    the one after that row; rows start with (received_us, seq)."""
    pending: asyncio.Future[Iterable[Any]] = asyncio.ensure_future(fetch([]))
    try:
        while True:
            rows = list(await pending)
            full = len(rows) == chunk
            if full:
                pending = asyncio.ensure_future(fetch([rows[-1][0], rows[-1][1]]))
            yield rows
            if not full:
                return
    finally:
        if not pending.done():  # the caller stopped early: the read ahead is not wanted
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending


def one_upper_bound(
    query: SignalQuery, after: tuple[int, int] | None
) -> tuple[SignalQuery, tuple[int, int] | None]:
    """A newest-first page bounded above by its cursor or by `until`, whichever is lower: the
    other one is implied. Given both, a database may walk its time index from the wrong one,
    through every row in between."""
    if after is None or query.until_us is None:
        return query, after
    if after[0] < query.until_us:
        return msgspec.structs.replace(query, until_us=None), after
    return query, None


def without_since(query: SignalQuery) -> SignalQuery:
    """For the chunks after the first of an oldest-first read: their resume key (a row already
    sent, so at or after `since`) is the only lower bound then, for the same reason."""
    return msgspec.structs.replace(query, since_us=None)
