"""The router forwarder: every journaled record POSTed to `router.url`, at least once, in order.

It is a consumer of the local journal, not of requests: it tails the journal from its own
checkpoint (`router:<instance>`, kept in the store), so a down, failing or hanging router only
makes its lag grow; ingest never waits for it. Records are sent one per request (`router.batch_size
= 1`, a JSON object) or as JSON arrays of up to `batch_size` (`signals.ingest.router_sender`,
which sets the headers, traces and retries a failed send until it succeeds); a failure of the
forwarder itself (a segment it cannot read) is retried too, from the last record the router
took. Nothing is ever skipped. (On JetStream, `signals.ingest.stream_forwarder` forwards
instead.)

The checkpoint is saved at most every `CHECKPOINT_SECONDS` while records flow, within that time
once they stop, and at shutdown; after a crash the records since the last save are sent again
(at-least-once). While it registers its position with the journal, retention keeps every
segment the router has not taken yet.

Visible state: `readiness()` for `/ready` (degraded while deliveries fail and records wait),
`signals_router_lag_seconds` (age of the oldest record not yet delivered, computed at each
scrape) and `signals_router_requests_total` by outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
import structlog

from signals.ingest.router_sender import RouterSender
from signals.journal.position import START, JournalPosition
from signals.journal.writer import Journal
from signals.metrics import Metrics
from signals.settings import RouterSettings
from signals.store.base import Store
from signals.tracing.base import Tracing

log = structlog.get_logger(__name__)

CHECKPOINT_SECONDS = 0.5
STOP_GRACE_SECONDS = 1.0

Line = tuple[bytes, JournalPosition]


def checkpoint_name(instance: str) -> str:
    """The store checkpoint the forwarder of `instance` resumes from."""
    return f"router:{instance}"


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
        tracing: Tracing | None = None,
    ) -> None:
        self._journal = journal
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._checkpoint_name = checkpoint_name(instance)
        self._stopping = asyncio.Event()
        self._sender = RouterSender(
            settings, metrics, self._stopping, client=client, clock=clock, tracing=tracing
        )
        self._task: asyncio.Task[None] | None = None
        self.position = START
        self._saved = START
        self._last_save = time.monotonic()

    @property
    def failures(self) -> int:
        return self._sender.failures

    @property
    def last_error(self) -> str:
        return self._sender.last_error

    async def __aenter__(self) -> Forwarder:
        self.position = self._saved = await self._store.checkpoint(self._checkpoint_name) or START
        self._journal.register_consumer("router", lambda: self.position)
        self._metrics.router_lag.set_function(self.lag_seconds)
        self._task = asyncio.create_task(self._run(), name="router-forwarder")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.aclose()

    async def aclose(self) -> None:
        """Stop (a send in progress gets `STOP_GRACE_SECONDS`), then save the checkpoint."""
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
        await self._save()
        self._journal.unregister_consumer("router")
        await self._sender.aclose()

    def lag_seconds(self) -> float:
        return self._sender.lag_seconds()

    def readiness(self) -> dict[str, Any]:
        behind = self._journal.committed > self.position
        failing = self.failures > 0 and behind
        details: dict[str, Any] = {
            "status": "degraded" if failing else "ok",
            "lag_seconds": round(self.lag_seconds(), 3),
            "consecutive_failures": self.failures,
            "position": [self.position.segment, self.position.offset],
            "journal_end": [self._journal.committed.segment, self._journal.committed.offset],
        }
        if failing:
            details["last_error"] = self.last_error
        return details

    async def _run(self) -> None:
        async def forward() -> None:
            try:
                await self._forward()
            except Exception as exc:
                # A bug or an unreadable segment must not silently end forwarding for good.
                sender = self._sender
                sender.failures += 1
                sender.last_error = f"{type(exc).__name__}: {exc}"
                if sender.failures % 100 == 1:
                    log.exception("router forwarder failed; resuming from its position")
                raise

        await self._sender.retry(forward, Exception)

    async def _forward(self) -> None:
        """Deliver everything after `position`, then wait for more; return once stopping."""
        size = self._settings.batch_size
        while not self._stopping.is_set():
            batch: list[Line] = []
            async for line in self._journal.read(self.position):
                batch.append(line)
                if len(batch) >= size:
                    if not await self._deliver(batch):
                        return
                    batch = []
                    await self._save_if_due()
            if batch and not await self._deliver(batch):
                return
            self._sender.caught_up()
            await self._save_if_due()
            await self._wait_for_more()

    async def _wait_for_more(self) -> None:
        """Return when the journal has more or on stop; save the checkpoint when it falls due."""
        stop = asyncio.ensure_future(self._stopping.wait())
        more = asyncio.ensure_future(self._journal.wait_for(self.position))
        waiting = {stop, more}
        try:
            while not stop.done():
                done, _ = await asyncio.wait(
                    waiting, timeout=self._save_due_in(), return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    await self._save()
                elif more in done:
                    if more.exception() is None:
                        return
                    # The journal is closed (shutdown): nothing more comes; wait for the stop.
                    waiting.discard(more)
        finally:
            for waiter in (stop, more):
                waiter.cancel()
            await asyncio.gather(stop, more, return_exceptions=True)

    async def _deliver(self, batch: list[Line]) -> bool:
        """Send until the router takes it; False when stopping first."""
        if not await self._sender.deliver([line for line, _ in batch]):
            return False
        self.position = batch[-1][1]
        return True

    def _save_due_in(self) -> float | None:
        """Seconds until the checkpoint should be saved; None when it is up to date."""
        if self.position == self._saved:
            return None
        return max(0.0, self._last_save + CHECKPOINT_SECONDS - time.monotonic())

    async def _save_if_due(self) -> None:
        if self._save_due_in() == 0.0:
            await self._save()

    async def _save(self) -> None:
        if self.position == self._saved:
            return
        position = self.position
        self._last_save = time.monotonic()
        try:
            await self._store.save_checkpoint(self._checkpoint_name, position)
        except Exception:
            log.exception("could not save the router checkpoint; it is retried")
            return
        self._saved = position
