"""Sending journaled records to `router.url` until the router takes them: both journals' forwarders.

A batch of lines (each a JSON record) goes as one POST: the line itself with `router.batch_size
= 1`, else a JSON array, with the first record's `X-Request-ID` and `traceparent` (the trace the
record was accepted in; with tracing on, that of a `router forward` span, the child of that
record's span and linked to the batch's others). A failed send (refused, timed out, non-2xx) is
retried, the same batch again, with stamina's capped exponential backoff and
jitter (`signals.retrying`) until it succeeds or the forwarder stops. One warning when deliveries
start failing, then one every hundredth failure; one line when they recover.

`lag_seconds` is the age of the oldest record not yet delivered (its `received_at`), for
`signals_router_lag_seconds`, over every lane that delivers through the sender at once (the
JetStream forwarder's partitions; the local forwarder is one lane).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx
import msgspec
import structlog

from signals.events import epoch_seconds
from signals.metrics import Metrics
from signals.retrying import retry_until_stopped
from signals.settings import RouterSettings
from signals.tracing.base import Tracing

log = structlog.get_logger(__name__)

FIRST_BACKOFF_SECONDS = 0.1


class _Head(msgspec.Struct):
    """The fields of a record the sender reads: for the headers and the lag."""

    request_id: str = ""
    received_at: str = ""
    traceparent: str | None = None


_head_decoder = msgspec.json.Decoder(_Head)


class RouterRefused(Exception):
    """The router did not take a delivery: refused, an error status, or no answer in time."""


class RouterSender:
    def __init__(
        self,
        settings: RouterSettings,
        metrics: Metrics,
        stopping: asyncio.Event,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        tracing: Tracing | None = None,
    ) -> None:
        self._settings = settings
        self._tracing = tracing or Tracing()
        self._metrics = metrics
        self._stopping = stopping
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._owns_client = client is None
        self._clock = clock
        # Per lane, the received_at (epoch) of the next record due; a lane caught up has none.
        self._oldest_unsent: dict[int, float] = {}
        self.failures = 0  # consecutive: reset by the next delivery
        self.last_error = ""

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def lag_seconds(self) -> float:
        oldest = min(self._oldest_unsent.values(), default=None)
        return 0.0 if oldest is None else max(0.0, self._clock() - oldest)

    def caught_up(self, lane: int = 0) -> None:
        """`lane` has delivered all it had: it holds no record back any more."""
        self._oldest_unsent.pop(lane, None)

    async def retry(
        self, attempt: Callable[[], Awaitable[None]], retry_on: type[Exception]
    ) -> bool:
        return await retry_until_stopped(
            attempt, retry_on=retry_on, stopping=self._stopping,
            first_wait=FIRST_BACKOFF_SECONDS, max_wait=self._settings.max_backoff_seconds,
        )  # fmt: skip

    async def deliver(self, lines: Sequence[bytes], lane: int = 0) -> bool:
        """Send until the router takes `lines`; False when stopping first."""
        head = _head_decoder.decode(lines[0])
        if head.received_at:
            self._oldest_unsent[lane] = epoch_seconds(head.received_at)
        body = lines[0] if self._settings.batch_size == 1 else b"[" + b",".join(lines) + b"]"
        headers = {"content-type": "application/json", "x-request-id": head.request_id}
        links: list[str | None] = []
        if self._tracing.enabled and len(lines) > 1:
            links = [_head_decoder.decode(line).traceparent for line in lines[1:]]
        attributes = {"signals.records": len(lines), "signals.request_id": head.request_id}

        async def send() -> None:
            with self._tracing.call("router forward", head.traceparent, links, attributes) as call:
                outcome, status_code = await self._post(body, {**headers, **call.headers})
                call.finish(status_code, None if outcome == "delivered" else outcome)
            self._metrics.router_outcomes.labels(outcome).inc()
            if outcome != "delivered":
                self.failed(outcome)
                raise RouterRefused(outcome)

        if not await self.retry(send, RouterRefused):
            return False
        if self.failures:
            log.info("router delivery recovered", failed_attempts=self.failures)
        self.failures = 0
        return True

    def failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        if self.failures == 1 or self.failures % 100 == 0:
            log.warning(
                "router delivery failed; retrying",
                outcome=error,
                consecutive_failures=self.failures,
                lag_seconds=round(self.lag_seconds(), 3),
            )

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[str, int | None]:
        """The outcome (a metric label) and the status code, None without an answer."""
        try:
            response = await self._client.post(self._settings.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return "timeout", None
        except httpx.HTTPError:
            return "unreachable", None
        if 200 <= response.status_code < 300:
            return "delivered", response.status_code
        return f"http_{response.status_code // 100}xx", response.status_code
