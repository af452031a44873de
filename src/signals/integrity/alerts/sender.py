"""One signed POST of one delivery, reported as an `Attempt`; nothing here touches the store.

Every attempt is bounded by `timeout` in all (connect, send, answer), not only per network
operation, so a receiver that trickles its answer cannot hold a sender forever. Only the status
matters: the answer's body is never read.

`abandon()` (at shutdown) ends attempts in flight at once and makes new ones no-ops; an abandoned
attempt reports None, since it tells nothing about the receiver and must not count against
`alerts.max_attempts`.

Each attempt carries the delivery's `traceparent` (with tracing on: that of its own `webhook
delivery` span, a child of the record's span that raised the alert).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from signals.instants import rfc3339
from signals.integrity.alerts.signing import signed_headers
from signals.records.delivery import Attempt, Delivery
from signals.tracing.base import Tracing


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


class WebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        key: bytes,
        timeout: float,
        clock: Callable[[], float],
        *,
        tracing: Tracing | None = None,
    ) -> None:
        self._client = client
        self._url = url
        self._key = key
        self._timeout = timeout
        self._clock = clock
        self._tracing = tracing or Tracing()
        self._abandoned = False
        self._deadlines: set[asyncio.Timeout] = set()

    def abandon(self) -> None:
        self._abandoned = True
        now = asyncio.get_running_loop().time()
        # Expiring deadlines rather than cancelling tasks: the caller's store write that follows
        # an attempt is never cut halfway.
        for deadline in self._deadlines:
            deadline.reschedule(now)

    async def send(self, delivery: Delivery) -> Attempt | None:
        if self._abandoned:
            return None
        attributes = {
            "signals.webhook_id": delivery.id,
            "signals.webhook_type": delivery.type,
            "signals.attempt": len(delivery.attempts) + 1,
        }
        with self._tracing.call(
            "webhook delivery", delivery.traceparent, attributes=attributes
        ) as call:
            attempt = await self._attempt(delivery, call.headers)
            if attempt is None:
                call.finish(None, "abandoned at shutdown")
            else:
                call.finish(attempt.status_code, attempt.error)
            return attempt

    async def _attempt(self, delivery: Delivery, trace_headers: dict[str, str]) -> Attempt | None:
        started = self._clock()
        began = time.perf_counter()
        headers = signed_headers(self._key, delivery.id, int(started), delivery.payload)
        headers.update(trace_headers)
        status_code: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self._timeout) as deadline:
                self._deadlines.add(deadline)
                try:
                    async with self._client.stream(
                        "POST",
                        self._url,
                        content=delivery.payload,
                        headers=headers,
                        timeout=self._timeout,
                    ) as response:
                        status_code = response.status_code
                finally:
                    self._deadlines.discard(deadline)
        except (TimeoutError, httpx.TimeoutException):
            if self._abandoned:
                return None
            error = f"timed out after {self._timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:
            # Anything else is a failed attempt too, so it ends as `failed` after max_attempts
            # instead of being retried at every poll forever.
            error = f"{type(exc).__name__}: {exc}"
        if status_code is not None and not is_success(status_code):
            error = f"HTTP {status_code}"
        return Attempt(
            at=rfc3339(started),
            status_code=status_code,
            error=error,
            duration_ms=round((time.perf_counter() - began) * 1000, 3),
        )
