"""What both stores' listings share beyond their SQL: the limit check, the WHERE join, and
turning the `limit + 1` rows of a newest-first query into a page and its next cursor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from signals.store.base import Page
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
