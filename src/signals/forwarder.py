"""The router forwarder: every journaled record POSTed to `router.url`, at least once, in order.

It is a consumer of the journal, not of requests: it tails the journal from its own checkpoint
(kept in the store), so a down, failing or hanging router only makes its lag grow; ingest never
waits for it. Records are sent one per request (`router.batch_size = 1`, a JSON object) or as
JSON arrays of up to `batch_size`, with the first record's `X-Request-ID`. A failed send is
retried, the same batch again, with capped exponential backoff and jitter, until it succeeds.
The checkpoint is saved at most every `CHECKPOINT_SECONDS` and at shutdown; after a crash the
records since the last save are sent again (at-least-once).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
import msgspec
import structlog

from signals.events import epoch_seconds
from signals.journal.position import START, JournalPosition
from signals.journal.writer import Journal
from signals.metrics import Metrics
from signals.settings import RouterSettings
from signals.store.base import Store

log = structlog.get_logger(__name__)

CHECKPOINT_SECONDS = 0.5
FIRST_BACKOFF_SECONDS = 0.1
STOP_GRACE_SECONDS = 1.0


class _Head(msgspec.Struct):
    """The two fields of a record the forwarder reads: for the header and the lag."""

    request_id: str = ""
    received_at: str = ""


_head_decoder = msgspec.json.Decoder(_Head)


def backoff(attempt: int, cap: float, first: float = FIRST_BACKOFF_SECONDS) -> float:
    """Exponential in the attempt number, capped, with full jitter in its upper half."""
    ceiling = min(cap, first * 2.0 ** min(attempt, 30))
    return ceiling / 2 + random.random() * ceiling / 2  # jitter, not security


class Forwarder:
    def __init__(
        self,
        journal: Journal,
        store: Store,
        settings: RouterSettings,
        metrics: Metrics,
        instance: str,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._journal = journal
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._checkpoint_name = f"router:{instance}"
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_seconds)
        self._owns_client = client is None
        self._clock = clock
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.position = START
        self._saved = START
        self._oldest_unsent: float | None = None  # received_at (epoch) of the next record due
        self.failures = 0

    async def __aenter__(self) -> Forwarder:
        self.position = self._saved = await self._store.checkpoint(self._checkpoint_name) or START
        self._journal.register_consumer("router", lambda: self.position)
        self._task = asyncio.create_task(self._run(), name="router-forwarder")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.aclose()

    async def aclose(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                async with asyncio.timeout(STOP_GRACE_SECONDS):
                    await asyncio.shield(self._task)
            except TimeoutError:
                # A hanging router: stop waiting; what it did not confirm is sent next start.
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._save(force=True)
        if self._owns_client:
            await self._client.aclose()

    def lag_seconds(self) -> float:
        oldest = self._oldest_unsent
        return 0.0 if oldest is None else max(0.0, self._clock() - oldest)

    def readiness(self) -> dict[str, Any]:
        lag = self.lag_seconds()
        behind = self._journal.committed > self.position
        return {
            "status": "degraded" if self.failures and behind else "ok",
            "lag_seconds": round(lag, 3),
            "consecutive_failures": self.failures,
            "position": [self.position.segment, self.position.offset],
            "journal_end": [self._journal.committed.segment, self._journal.committed.offset],
        }

    async def _run(self) -> None:
        last_save = time.monotonic()
        while not self._stopping.is_set():
            batch: list[tuple[bytes, JournalPosition]] = []
            async for line, after in self._journal.read(self.position):
                batch.append((line, after))
                if len(batch) >= self._settings.batch_size:
                    if not await self._deliver(batch):
                        return
                    batch = []
                    if time.monotonic() - last_save > CHECKPOINT_SECONDS:
                        await self._save()
                        last_save = time.monotonic()
            if batch and not await self._deliver(batch):
                return
            self._oldest_unsent = None
            self._metrics.router_lag.set(0)
            await self._save()
            last_save = time.monotonic()
            await self._wait_for_more()

    async def _wait_for_more(self) -> None:
        more = asyncio.ensure_future(self._journal.wait_for(self.position))
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([more, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (more, stop):
                waiter.cancel()
            await asyncio.gather(more, stop, return_exceptions=True)

    async def _deliver(self, batch: list[tuple[bytes, JournalPosition]]) -> bool:
        """Send until the router takes it; False when stopping first."""
        head = _head_decoder.decode(batch[0][0])
        if head.received_at:
            self._oldest_unsent = epoch_seconds(head.received_at)
        if len(batch) == 1 and self._settings.batch_size == 1:
            body = batch[0][0]
        else:
            body = b"[" + b",".join(line for line, _ in batch) + b"]"
        headers = {"content-type": "application/json", "x-request-id": head.request_id}
        attempt = 0
        while not self._stopping.is_set():
            outcome = await self._post(body, headers)
            self._metrics.router_outcomes.labels(outcome).inc()
            if outcome == "delivered":
                self.failures = 0
                self.position = batch[-1][1]
                self._metrics.router_lag.set(self.lag_seconds())
                return True
            self.failures += 1
            self._metrics.router_lag.set(self.lag_seconds())
            if self.failures == 1 or self.failures % 100 == 0:
                log.warning(
                    "router delivery failed; retrying",
                    outcome=outcome,
                    consecutive_failures=self.failures,
                    lag_seconds=round(self.lag_seconds(), 3),
                )
            delay = backoff(attempt, self._settings.max_backoff_seconds)
            attempt += 1
            try:
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            except TimeoutError:
                continue
        return False

    async def _post(self, body: bytes, headers: dict[str, str]) -> str:
        try:
            response = await self._client.post(self._settings.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return "timeout"
        except httpx.HTTPError:
            return "unreachable"
        if 200 <= response.status_code < 300:
            return "delivered"
        return f"http_{response.status_code // 100}xx"

    async def _save(self, *, force: bool = False) -> None:
        if self.position == self._saved and not force:
            return
        try:
            await self._store.save_checkpoint(self._checkpoint_name, self.position)
            self._saved = self.position
        except Exception:
            log.exception("could not save the router checkpoint; it is retried")
