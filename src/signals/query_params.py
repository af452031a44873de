"""Query strings of the read endpoints, checked strictly and refused together.

Every problem is a 422 `validation_failed` naming the parameter as `loc: ["query", name]`;
`since` is inclusive and `until` exclusive, on `received_at`, on every endpoint that takes them.
Numbers are ASCII digits only. A store that does not answer is 503 `unavailable`
(`store_answers`), never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import Response

from signals.events import parse_instant
from signals.http import ApiError, JSONResponse, unavailable
from signals.instants import us_of
from signals.store.base import BadCursor
from signals.store.cursor import is_cursor
from signals.store.failures import is_store_failure

log = structlog.get_logger(__name__)
_FRACTION = re.compile(r"\.([0-9]+)")


class QueryParams:
    """Collects every problem with the query string, then raises them together."""

    def __init__(self, request: Request, allowed: tuple[str, ...]) -> None:
        self.query = request.query_params
        self.problems: list[dict[str, Any]] = []
        for name in self.query:
            if name not in allowed:
                self.problem(name, "unknown query parameter")
            elif len(self.query.getlist(name)) > 1:
                # Which one would count is a guess either way ("?limit=abc&limit=5"): refused.
                self.problem(name, "given more than once")

    def problem(self, name: str, msg: str) -> None:
        self.problems.append({"loc": ["query", name], "msg": msg})

    def text(self, name: str, type_: Any = str) -> str | None:
        value = self.query.get(name)
        if value is None:
            return None
        try:
            return str(msgspec.convert(value, type_))
        except msgspec.ValidationError as exc:
            self.problem(name, str(exc).split(" - at ")[0])
            return None

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.query.get(name)
        if value is not None and value not in choices:
            self.problem(name, f"must be one of {', '.join(choices)}")
            return None
        return value

    def instant_us(self, name: str) -> int | None:
        value = self.query.get(name)
        if value is None:
            return None
        try:
            us = us_of(parse_instant(value))
        except ValueError:
            self.problem(name, "must be an RFC 3339 date-time with offset")
            return None
        # Times are kept in whole microseconds, and parse_instant drops finer digits; a bound
        # between two microseconds means the later one, for `since` (inclusive) and `until`
        # (exclusive) alike, so it is rounded up rather than down.
        fraction = _FRACTION.search(value)
        return us + 1 if fraction and fraction[1][6:].strip("0") else us

    def limit(self, default: int = 100, maximum: int = 1000) -> int:
        value = self.query.get("limit")
        if value is None:
            return default
        # isdigit() alone also takes other scripts' digits, which int() reads
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= maximum:
            self.problem("limit", f"must be an integer from 1 to {maximum}")
            return default
        return int(value)

    def cursor(self, kind: str) -> str | None:
        """Checked here, not only by the store, so a bad cursor is listed with the other
        problems of the query rather than found alone once they are fixed."""
        value = self.query.get("cursor")
        if value is not None and not is_cursor(kind, value):
            self.problem("cursor", "not a cursor")
            return None
        return value

    def path_text(self, name: str, value: str, type_: Any) -> None:
        """A path parameter, refused together with the query's problems."""
        try:
            msgspec.convert(value, type_)
        except msgspec.ValidationError as exc:
            self.problems.insert(0, {"loc": ["path", name], "msg": str(exc).split(" - at ")[0]})

    def done(self) -> None:
        if not self.problems:
            return
        where = {problem["loc"][0] for problem in self.problems}
        if where == {"path"}:
            message = f"invalid {self.problems[0]['loc'][1]}"
        elif where == {"query"}:
            message = "invalid query parameters"
        else:
            message = "invalid path and query parameters"
        raise ApiError(422, message, details=self.problems)


@contextmanager
def store_answers() -> Iterator[None]:
    """Turn a store that cannot be used now into 503 `unavailable` (logged, without a
    traceback: the store's own outage is not a bug of ours)."""
    try:
        yield
    except Exception as exc:
        if not is_store_failure(exc):
            raise
        log.warning("store did not answer a query", error=f"{type(exc).__name__}: {exc}")
        raise unavailable("the store does not answer now; retry later") from None


async def paged(call: Callable[[], Any]) -> Response:
    try:
        with store_answers():
            page = await call()
    except BadCursor:
        raise ApiError(
            422, "invalid cursor", details=[{"loc": ["query", "cursor"], "msg": "not a cursor"}]
        ) from None
    return JSONResponse(page)
