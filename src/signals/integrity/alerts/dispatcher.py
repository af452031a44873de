"""The webhook dispatcher: drains the store's outbox to `alerts.webhook_url` (docs/semantics.md).

Contract:
- The outbox is the store's deliveries table; the consumer writes new entries in the same
  transaction as the episodes that raised them and then calls `wake()`, which only sets an
  event: a slow or failing receiver never slows the consumer.
- One background task (started by `start`, stopped and awaited by `aclose`) claims due
  deliveries on `wake()`, when a retry falls due, and every `poll_seconds` regardless, and sends
  at most `concurrency` at once, each attempt bounded by `alerts.timeout_seconds` in all, so one
  slow receiver holds one slot for a bounded time and never stalls the others.
- Each attempt is recorded on its delivery (`Attempt`) and saved: 2xx -> delivered; otherwise
  retried after a capped, fully jittered exponential delay (`signals.integrity.alerts.backoff`), and
  after `alerts.max_attempts` attempts -> failed. A restart resumes whatever is still pending.
- Claiming (`Store.claim_deliveries`) leases each delivery for `lease_seconds`: dispatchers of
  several instances sharing one store never send the same delivery at once. Saving the attempt
  ends the lease; an attempt abandoned at shutdown gives it back unchanged; a claimer that dies
  leaves it to whoever claims once its lease runs out.
- Delivery is at least once: an attempt whose answer was lost (or which was abandoned at
  shutdown) is sent again with the same `webhook-id` and body, which receivers dedupe on.
- With an empty `webhook_url`, `enabled` is False: no deliveries should be created and
  `start` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import httpx
import structlog

from signals.integrity.alerts import backoff
from signals.integrity.alerts.sender import WebhookSender, is_success
from signals.integrity.alerts.signing import signing_key
from signals.metrics import Metrics
from signals.records.delivery import Attempt, Delivery
from signals.settings import AlertsSettings
from signals.store.base import Store
from signals.tracing.base import Tracing

log = structlog.get_logger(__name__)

# A lease outlasts the attempt it covers by this much beyond twice the attempt timeout.
LEASE_MARGIN_SECONDS = 10.0


class AlertDispatcher:
    def __init__(
        self,
        store: Store,
        settings: AlertsSettings,
        metrics: Metrics,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        *,
        base_backoff_seconds: float = 1.0,
        poll_seconds: float = 1.0,
        concurrency: int = 4,
        drain_seconds: float = 1.0,
        jitter: Callable[[], float] = random.random,
        lease_seconds: float | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        """`client` is used as given and not closed; without one, `start` opens its own.

        `drain_seconds`: at `aclose`, how long attempts in flight may still finish before they
        are abandoned (their deliveries stay pending, unchanged, for the next start).
        `lease_seconds`: how long a claimed delivery is this dispatcher's alone; by default
        well past the longest attempt (`alerts.timeout_seconds`) and the write that follows.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if base_backoff_seconds <= 0 or poll_seconds <= 0:
            raise ValueError("base_backoff_seconds and poll_seconds must be positive")
        if drain_seconds < 0:
            raise ValueError("drain_seconds must not be negative")
        if lease_seconds is None:
            lease_seconds = 2 * settings.timeout_seconds + LEASE_MARGIN_SECONDS
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.enabled = bool(settings.webhook_url)
        # The settings checked the URL and the secret; the key is decoded once, here.
        self._key = signing_key(settings.secret) if self.enabled else b""
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._client = client
        self._owns_client = client is None
        self._clock = clock
        self._base = base_backoff_seconds
        self._poll = poll_seconds
        self._concurrency = concurrency
        self._drain_seconds = drain_seconds
        self._jitter = jitter
        self._lease = lease_seconds
        self._tracing = tracing
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._sender: WebhookSender | None = None
        self._retries: list[float] = []  # heap: when the retries this dispatcher set fall due

    async def start(self) -> None:
        if not self.enabled or self._task is not None:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._settings.timeout_seconds)
        self._sender = WebhookSender(
            self._client,
            self._settings.webhook_url,
            self._key,
            self._settings.timeout_seconds,
            self._clock,
            tracing=self._tracing,
        )
        self._task = asyncio.create_task(self._run(self._sender), name="alert-dispatcher")

    def wake(self) -> None:
        """New deliveries are committed: look for due ones now rather than at the next poll."""
        self._wakeup.set()

    async def aclose(self) -> None:
        """Stop loading deliveries, let attempts in flight finish or abandon them, close."""
        self._stopping = True
        self._wakeup.set()
        try:
            if self._task is not None:
                await self._task
        finally:
            if self._owns_client and self._client is not None:
                await self._client.aclose()
                self._client = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, sender: WebhookSender) -> None:
        try:
            while not self._stopping:
                self._wakeup.clear()
                now = self._clock()
                while self._retries and self._retries[0] <= now:
                    heapq.heappop(self._retries)
                await self._launch_due(sender)
                await self._sleep()
        finally:
            await self._drain()

    async def _sleep(self) -> None:
        timeout = self._poll
        if self._retries:
            timeout = min(timeout, max(0.0, self._retries[0] - self._clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _launch_due(self, sender: WebhookSender) -> None:
        free = self._concurrency - len(self._in_flight)
        if free <= 0:
            return
        try:
            # Only as many as there are free slots: a claimed delivery is this dispatcher's to
            # send, and one claimed but left unsent would wait for its lease to run out.
            due = await self._store.claim_deliveries(self._clock(), free, self._lease)
        except Exception:
            log.exception("could not load due webhook deliveries; retrying at the next poll")
            return
        for delivery in due:
            if delivery.id in self._in_flight:
                continue  # its lease ran out while its attempt still runs: that one goes on
            task = asyncio.create_task(
                self._deliver(sender, delivery), name=f"webhook {delivery.id}"
            )
            self._in_flight[delivery.id] = task
            task.add_done_callback(functools.partial(self._finished, delivery.id))

    def _finished(self, delivery_id: str, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(delivery_id, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("webhook task crashed", delivery_id=delivery_id, exc_info=exc)
        self._wakeup.set()  # a slot is free: more may be due

    async def _drain(self) -> None:
        tasks = list(self._in_flight.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self._drain_seconds)
        if pending and self._sender is not None:
            self._sender.abandon()
            log.info("webhook attempts abandoned at shutdown", count=len(pending))
        await asyncio.gather(*tasks)

    async def _deliver(self, sender: WebhookSender, delivery: Delivery) -> None:
        try:
            attempt = await sender.send(delivery)
            if attempt is None:
                # Abandoned: give the lease back, so the next start (or another instance) sends
                # it at once rather than when the lease runs out.
                await self._store.save_delivery(delivery)
                return
            self._record(delivery, attempt)
            await self._store.save_delivery(delivery)
        except Exception:
            log.exception("could not record a webhook attempt", delivery_id=delivery.id)

    def _record(self, delivery: Delivery, attempt: Attempt) -> None:
        delivery.attempts = [*delivery.attempts, attempt]
        count = len(delivery.attempts)
        if is_success(attempt.status_code):
            delivery.status = "delivered"
            outcome = "delivered"
            log.info("webhook delivered", delivery_id=delivery.id, attempts=count)
        elif count >= self._settings.max_attempts:
            delivery.status = "failed"
            outcome = "failed"
            log.warning(
                "webhook delivery failed for good",
                delivery_id=delivery.id,
                status_code=attempt.status_code,
                error=attempt.error,
                attempts=count,
            )
        else:
            wait = backoff.delay(
                count, self._base, self._settings.max_backoff_seconds, self._jitter
            )
            delivery.next_attempt_at = self._clock() + wait
            heapq.heappush(self._retries, delivery.next_attempt_at)
            outcome = "retry"
            log.warning(
                "webhook attempt failed; will retry",
                delivery_id=delivery.id,
                status_code=attempt.status_code,
                error=attempt.error,
                attempts=count,
                retry_in_seconds=round(wait, 3),
            )
        self._metrics.webhook_outcomes.labels(outcome=outcome).inc()
