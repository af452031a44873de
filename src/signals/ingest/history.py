"""The ingest port's read endpoints: `/v1/signals`, `/v1/signals/export`, `/v1/stats`.

`/v1/stats` is what the dashboard draws, and the dashboard reaches only this port (its page's
origin), so the stats carry the newest webhook deliveries too (`recent_deliveries`), as
`GET /v1/alerts` on the integrity port lists them, attempts included.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from signals.events import SignalType, UserId
from signals.ingest.stats_cache import StatsCache, aligned_window
from signals.labels import SENTIMENTS
from signals.query_params import QueryParams, paged, store_answers
from signals.store.base import AlertQuery, SignalQuery, Store

# range -> (seconds, bucket seconds): about 15 to 100 buckets whatever the range.
RANGES = {"15m": (900, 30), "1h": (3600, 60), "24h": (86_400, 900), "7d": (604_800, 10_800)}
RECENT_DELIVERIES = 10

_encoder = msgspec.json.Encoder()


class SignalHistory:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._stats = StatsCache(self._compute_stats, clock)

    def _signal_query(self, request: Request, *, paged: bool) -> SignalQuery:
        allowed = ("user_id", "signal_type", "sentiment", "since", "until")
        params = QueryParams(request, (*allowed, "limit", "cursor") if paged else allowed)
        query = SignalQuery(
            user_id=params.text("user_id", UserId),
            signal_type=params.text("signal_type", SignalType),
            sentiment=params.choice("sentiment", SENTIMENTS),
            since_us=params.instant_us("since"),
            until_us=params.instant_us("until"),
            limit=params.limit() if paged else 1000,
            cursor=params.cursor("signals") if paged else None,
        )
        params.done()
        return query

    async def signals(self, request: Request) -> Response:
        query = self._signal_query(request, paged=True)
        return await paged(lambda: self._store.signals(query))

    async def export(self, request: Request) -> Response:
        query = self._signal_query(request, paged=False)
        # Pieces of whole lines, one per chunk the store reads: a send per record would cost
        # more than reading the record. The first piece is read before the response starts, so
        # a store that does not answer is still a 503; past that a failure cuts the stream short.
        pieces = aiter(self._store.export_lines(query))
        with store_answers():
            first = await anext(pieces, None)

        async def lines() -> AsyncIterator[bytes]:
            if first is None:
                return
            yield first
            async for piece in pieces:
                yield piece

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def stats(self, request: Request) -> Response:
        params = QueryParams(request, ("range",))
        name = params.choice("range", tuple(RANGES)) or "1h"
        params.done()
        return Response(await self._stats.get(name), media_type="application/json")

    async def _compute_stats(self, name: str, now: float) -> bytes:
        seconds, bucket = RANGES[name]
        since_us, until_us = aligned_window(seconds, now)
        with store_answers():
            stats = await self._store.stats(since_us, until_us, bucket)
            recent = await self._store.deliveries(AlertQuery(limit=RECENT_DELIVERIES))
        body = msgspec.to_builtins(stats)
        body["range"] = name
        body["recent_deliveries"] = msgspec.to_builtins(recent.items)
        return _encoder.encode(body)
