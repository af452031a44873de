"""Read endpoints over the store: signals, export, stats (ingest); anomalies, alerts (integrity).

Query parameters are validated here and refused with 422 `validation_failed`, naming the
parameter as `loc: ["query", name]`. `since` is inclusive and `until` exclusive, on `received_at`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from signals.events import SignalType, UserId, parse_instant
from signals.http import ApiError, JSONResponse
from signals.store.base import AlertQuery, AnomalyQuery, BadCursor, SignalQuery, Store

SENTIMENTS = ("stressed", "uncertain", "positive", "neutral")
SEVERITIES = ("warning", "critical")
DELIVERY_STATUSES = ("pending", "delivered", "failed")
# range -> (seconds, bucket seconds): about 15 to 100 buckets whatever the range.
RANGES = {"15m": (900, 30), "1h": (3600, 60), "24h": (86_400, 900), "7d": (604_800, 10_800)}

_encoder = msgspec.json.Encoder()


class _Params:
    """Collects every problem with the query string, then raises them together."""

    def __init__(self, request: Request, allowed: tuple[str, ...]) -> None:
        self.query = request.query_params
        self.problems: list[dict[str, Any]] = []
        for name in self.query:
            if name not in allowed:
                self.problem(name, "unknown query parameter")

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
            return int(parse_instant(value).timestamp() * 1_000_000)
        except ValueError:
            self.problem(name, "must be an RFC 3339 date-time with offset")
            return None

    def limit(self, default: int = 100, maximum: int = 1000) -> int:
        value = self.query.get("limit")
        if value is None:
            return default
        if not value.isdigit() or not 1 <= int(value) <= maximum:
            self.problem("limit", f"must be an integer from 1 to {maximum}")
            return default
        return int(value)

    def done(self) -> None:
        if self.problems:
            raise ApiError(422, "invalid query parameters", details=self.problems)


async def _paged(call: Callable[[], Any]) -> Response:
    try:
        page = await call()
    except BadCursor:
        raise ApiError(
            422, "invalid cursor", details=[{"loc": ["query", "cursor"], "msg": "not a cursor"}]
        ) from None
    return JSONResponse(page)


class History:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def _signal_query(self, request: Request, *, paged: bool) -> SignalQuery:
        allowed = ("user_id", "signal_type", "sentiment", "since", "until")
        params = _Params(request, (*allowed, "limit", "cursor") if paged else allowed)
        query = SignalQuery(
            user_id=params.text("user_id", UserId),
            signal_type=params.text("signal_type", SignalType),
            sentiment=params.choice("sentiment", SENTIMENTS),
            since_us=params.instant_us("since"),
            until_us=params.instant_us("until"),
            limit=params.limit() if paged else 1000,
            cursor=params.query.get("cursor") if paged else None,
        )
        params.done()
        return query

    async def signals(self, request: Request) -> Response:
        query = self._signal_query(request, paged=True)
        return await _paged(lambda: self._store.signals(query))

    async def export(self, request: Request) -> Response:
        query = self._signal_query(request, paged=False)

        async def lines() -> AsyncIterator[bytes]:
            async for record in self._store.export(query):
                yield _encoder.encode(record) + b"\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def stats(self, request: Request) -> Response:
        params = _Params(request, ("range",))
        name = params.choice("range", tuple(RANGES)) or "1h"
        params.done()
        seconds, bucket = RANGES[name]
        until_us = int(self._clock() * 1_000_000)
        since_us = until_us - seconds * 1_000_000
        stats = await self._store.stats(since_us, until_us, bucket)
        body = msgspec.to_builtins(stats)
        body["range"] = name
        return JSONResponse(body)

    def _anomaly_query(self, request: Request, user_id: str | None) -> AnomalyQuery:
        params = _Params(request, ("severity", "signal_type", "since", "limit", "cursor"))
        severity = params.choice("severity", SEVERITIES)
        query = AnomalyQuery(
            user_id=user_id,
            severity=severity,  # type: ignore[arg-type]  # checked against SEVERITIES above
            signal_type=params.text("signal_type", SignalType),
            since_us=params.instant_us("since"),
            limit=params.limit(),
            cursor=params.query.get("cursor"),
        )
        params.done()
        return query

    async def anomalies(self, request: Request) -> Response:
        query = self._anomaly_query(request, None)
        return await _paged(lambda: self._store.anomalies(query))

    async def anomalies_of_user(self, request: Request) -> Response:
        user_id = request.path_params["user_id"]
        try:
            msgspec.convert(user_id, UserId)
        except msgspec.ValidationError as exc:
            detail = str(exc).split(" - at ")[0]
            details = [{"loc": ["path", "user_id"], "msg": detail}]
            raise ApiError(422, "invalid user_id", details=details) from None
        query = self._anomaly_query(request, user_id)
        return await _paged(lambda: self._store.anomalies(query))

    async def alerts(self, request: Request) -> Response:
        params = _Params(request, ("status", "limit", "cursor"))
        status = params.choice("status", DELIVERY_STATUSES)
        query = AlertQuery(
            status=status,  # type: ignore[arg-type]  # checked against DELIVERY_STATUSES above
            limit=params.limit(),
            cursor=params.query.get("cursor"),
        )
        params.done()
        page = await _paged(lambda: self._store.deliveries(query))
        return page
