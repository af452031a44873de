"""The journal: every accepted event is appended durably before anyone is told it was accepted.

One writer task owns the active segment. `append` queues its lines and waits. The writer takes
every append waiting when it starts a write, joins them into one buffer, and writes and fsyncs
it in a single hop to its one thread, while new appends queue for the next group: group commit,
one fsync for every request in the group (a lone append may wait for company: `gathering`). Once
the group is durable the writer calls `on_commit(payload, position)` for each of its appends in
journal order (even for a caller that was cancelled meanwhile), then answers the callers with
the same positions.

Faults (a full disk, an I/O error). A group whose write or fsync fails is cut off the file again
and each of its callers gets a `JournalError`: nothing of it was acknowledged. That starts an
outage: one error log, `check()` (readiness) raises `JournalUnavailable`, and while no append
comes the writer probes the disk every `PROBE_SECONDS` (`ActiveSegment.probe`). The first group
or probe that succeeds ends it, with one info log; no restart is needed. In `interval` mode a
failed background fsync starts an outage too, and no group is acknowledged until the groups
written since the last good fsync were written again and fsynced (see `signals.journal.active`).

What a crash can lose (docs/semantics.md, Durability): with `fsync = "always"` nothing
acknowledged; with "interval" up to `fsync_interval_ms` of acknowledged appends on a power loss.
An append not acknowledged may still be there after a crash (consumers deduplicate by event_id).

Positions are byte offsets in a segment's uncompressed content. `committed` is the position
after the last acknowledged group; `read` never goes past it, so it never sees part of a group.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import structlog

from signals.errors import JournalClosed, JournalError, JournalUnavailable
from signals.journal.active import Fsync
from signals.journal.appends import Append, JournalStats
from signals.journal.gathering import GATHER_SECONDS, Gathering
from signals.journal.maintenance import Maintenance
from signals.journal.outage import Outage
from signals.journal.position import START, JournalPosition
from signals.journal.reader import read_committed
from signals.journal.recovery import Recovered, recover
from signals.journal.retention import PositionGetter, Retention
from signals.metrics import Metrics
from signals.settings import JournalSettings

log = structlog.get_logger(__name__)

OnCommit = Callable[[object, JournalPosition], None]
# While the journal is unavailable and no append comes, how often the writer tries the disk.
PROBE_SECONDS = 1.0
# After each group, durable or failed: its appends' payloads, when its write began and ended
# (time.time_ns()), and the error that failed it (None: durable). The commit span is made of it.
OnGroup = Callable[[Sequence[object], int, int, BaseException | None], None]


class Journal:
    """Open with `await Journal.open(...)`; close with `aclose()` or use `async with`."""

    def __init__(
        self,
        directory: Path,
        settings: JournalSettings,
        recovered: Recovered,
        on_commit: OnCommit | None,
        metrics: Metrics | None,
        *,
        on_group: OnGroup | None = None,
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.stats = JournalStats()
        self._lock = recovered.lock
        self._active = recovered.active
        self._committed = recovered.committed
        self._on_commit = on_commit
        self._on_group = on_group
        self._metrics = metrics
        self._fsync_each_group = settings.fsync == "always"
        self._loop = asyncio.get_running_loop()
        self._accepting = True
        self._outage = Outage(metrics)
        self._rotate_failing = False
        self._pending: list[Append] = []
        self._in_flight: list[Append] = []
        self._wake = asyncio.Event()
        self.gathering = Gathering(GATHER_SECONDS if self._fsync_each_group else 0.0)
        self._advanced = asyncio.Event()
        self._stop_syncing = asyncio.Event()
        # Write and fsync block; one dedicated thread runs both, one hop per group, while the
        # next group gathers. Not aiofiles: it would take a hop for the write and one for the fsync.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="journal-writer")
        self._retention = Retention(settings.retention_days)
        self._maintenance = Maintenance(directory, self._retention, self._active_number)
        self._maintenance.start(recovered.uncompressed if settings.compress else [])
        self._writer = asyncio.create_task(self._write_loop(), name="journal-writer")
        self._syncer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        if not self._fsync_each_group:
            self._syncer = asyncio.create_task(self._sync_loop(), name="journal-fsync")

    @classmethod
    async def open(
        cls,
        directory: Path,
        settings: JournalSettings,
        *,
        on_commit: OnCommit | None = None,
        metrics: Metrics | None = None,
        on_group: OnGroup | None = None,
    ) -> Journal:
        """Open (creating if needed) the journal kept in `directory` (`<data_dir>/journal`)."""
        recovered = await asyncio.to_thread(recover, directory)
        committed = recovered.committed
        log.info(
            "journal.opened",
            directory=str(directory),
            segment=committed.segment,
            offset=committed.offset,
        )
        return cls(directory, settings, recovered, on_commit, metrics, on_group=on_group)

    @property
    def committed(self) -> JournalPosition:
        return self._committed

    @property
    def fsync(self) -> Fsync:
        """How the writer makes a file durable (`os.fsync`); a test seam for a failing disk."""
        return self._active.fsync

    @fsync.setter
    def fsync(self, function: Fsync) -> None:
        self._active.fsync = function

    @property
    def unavailable(self) -> JournalUnavailable | None:
        """Why appends fail now (a failed write or fsync not yet followed by a good one)."""
        return self._outage.error

    async def append(self, lines: Sequence[bytes], payload: object = None) -> JournalPosition:
        """Journal `lines` (each without its newline) together; return the position after them."""
        return await self.submit(lines, payload)

    def submit(
        self, lines: Sequence[bytes], payload: object = None
    ) -> asyncio.Future[JournalPosition]:
        """`append` without a coroutine: the future the writer settles once the lines are
        durable (or failed). Cancelling it does not take the lines back."""
        if not self._accepting:
            raise self._refusal()
        data = b"\n".join(lines)
        # Counting newlines in the joined bytes checks every line without a Python loop.
        if not lines or data.count(b"\n") != len(lines) - 1:
            raise ValueError("append needs at least one line and no line may contain a newline")
        future: asyncio.Future[JournalPosition] = self._loop.create_future()
        self._pending.append(Append(data, len(lines), payload, future))
        self._wake.set()
        return future

    def read(self, start: JournalPosition = START) -> AsyncIterator[tuple[bytes, JournalPosition]]:
        """Each complete line after `start` up to `committed` as it is now, with the position
        just after it, through every segment (compressed ones too)."""
        return read_committed(self.directory, start, self._committed)

    async def wait_for(self, position: JournalPosition) -> None:
        """Return once `committed` is past `position`; raise JournalClosed if it never will be."""
        while not self._committed > position:
            if self._writer.done():
                raise self._refusal()
            await self._advanced.wait()

    def register_consumer(self, name: str, position: PositionGetter) -> None:
        """Retention keeps every segment from the one `position()` is in (called on this loop)."""
        self._retention.register_consumer(name, position)

    def unregister_consumer(self, name: str) -> None:
        self._retention.unregister_consumer(name)

    async def prune(self, now: float | None = None) -> list[Path]:
        """Delete expired closed segments no consumer needs (also done every few minutes)."""
        return await self._maintenance.prune(now)

    def writable(self) -> bool:
        return self._accepting and not self.unavailable and os.access(self.directory, os.W_OK)

    async def check(self) -> None:
        """For readiness: raise unless appends are accepted, the last write or fsync succeeded
        and the directory is writable."""
        if not self._accepting:
            raise self._refusal()
        if self._outage.error is not None:
            raise self._outage.error
        if not await asyncio.to_thread(os.access, self.directory, os.W_OK):
            raise JournalError(errno.EACCES, f"journal directory {self.directory} is not writable")

    async def aclose(self) -> None:
        """Refuse new appends, write and fsync the pending ones, stop, close the files.

        Closing runs in a task of its own: a caller cancelled meanwhile (a shutdown timeout)
        does not leave the journal half closed, and every caller awaits the same close.
        """
        if self._closer is None:
            self._accepting = False
            self._wake.set()
            self._closer = asyncio.create_task(self._close(), name="journal-close")
        await asyncio.shield(self._closer)

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _close(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            # Undone in reverse: stop the fsync timer, then upkeep, then close the files.
            stack.callback(os.close, self._lock)
            stack.callback(self._thread.shutdown)
            stack.push_async_callback(self._close_active)
            stack.push_async_callback(self._maintenance.aclose)
            if self._syncer is not None:
                stack.push_async_callback(_awaited, self._syncer)
                stack.callback(self._stop_syncing.set)
            await self._writer
        log.info("journal.closed", segment=self._committed.segment, offset=self._committed.offset)

    def _refusal(self) -> JournalClosed:
        if self._closer is None:
            return JournalClosed("journal writer stopped unexpectedly")
        return JournalClosed("journal is closed")

    def _active_number(self) -> int:
        return self._active.number

    async def _close_active(self) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._active.close)
        except OSError as exc:
            # The last fsync failed: in interval mode what was acknowledged since the previous
            # one may not be on the disk. Said once, as the error the CLI reports (exit 1).
            raise JournalUnavailable.wrapping(
                exc, f"journal segment {self._active.number} could not be made durable at close"
            ) from exc

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            busy = False  # what is pending came while the last group was being written
            while self._pending or self._accepting:
                if not self._pending:
                    busy = False
                    self._wake.clear()
                    if self._outage.error is None:
                        await self._wake.wait()
                    else:
                        await self._probe_unless_woken(loop)
                    continue
                if hold := self.gathering.hold(len(self._pending), busy):
                    await asyncio.sleep(hold)
                self._in_flight, self._pending = self._pending, []
                self.gathering.taken(len(self._in_flight), loop.time())
                await self._commit(loop, self._in_flight)
                self._in_flight, busy = [], True
                if self._active.size >= self.settings.segment_max_bytes:
                    await self._rotate(loop)
        except Exception:
            log.exception("journal.writer_failed")  # /ready turns false; aclose re-raises it
            self._outage.gauge(True)
            raise
        finally:
            # However the loop ended, nobody may wait forever on an append or on new data.
            self._accepting = False
            for item in (*self._in_flight, *self._pending):
                if not item.future.done():
                    item.future.set_exception(self._refusal())
            self._in_flight, self._pending = [], []
            self._advanced.set()

    async def _commit(self, loop: asyncio.AbstractEventLoop, group: list[Append]) -> None:
        parts = [item.data for item in group]
        parts.append(b"")  # the last line's newline, without copying the buffer again
        data = b"\n".join(parts)
        await self._make_room(loop, len(data))
        started = time.time_ns() if self._on_group is not None else 0
        try:
            segment, at, seconds = await loop.run_in_executor(
                self._thread, self._active.write, data, self._fsync_each_group
            )
        except OSError as exc:
            self._group_done(group, started, exc)
            self.stats.failed_groups += 1
            refusal = self._outage.failed(exc, "journal write failed", appends=len(group))
            for item in group:
                if not item.future.done():
                    item.future.set_exception(refusal)
            return
        self._outage.ended()
        for item in group:
            at += len(item.data) + 1
            item.position = JournalPosition(segment, at)
        self._committed = group[-1].position
        self._group_done(group, started, None)
        self.stats.appends += len(group)
        self.stats.groups += 1
        if self._fsync_each_group:
            self.stats.fsyncs += 1
        if self._metrics is not None:
            self._metrics.group_size.observe(sum([item.lines for item in group]))
            if self._fsync_each_group:
                self._metrics.fsync_latency.observe(seconds)
        if self._on_commit is not None:
            for item in group:
                try:
                    self._on_commit(item.payload, item.position)
                except Exception:
                    log.exception(
                        "journal.on_commit_failed",
                        segment=item.position.segment,
                        offset=item.position.offset,
                    )
        for item in group:
            if not item.future.done():
                item.future.set_result(item.position)
        self._advanced.set()
        self._advanced = asyncio.Event()

    def _group_done(self, group: list[Append], started: int, error: OSError | None) -> None:
        if self._on_group is None:
            return
        try:
            self._on_group([item.payload for item in group], started, time.time_ns(), error)
        except Exception:
            log.exception("journal.on_group_failed", appends=len(group))

    async def _make_room(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        """As Kafka rolls its segments: a group of `size` bytes that would take the segment past
        the limit starts the next one, so a segment outgrows it only by a group alone."""
        if self._active.size and self._active.size + size > self.settings.segment_max_bytes:
            await self._rotate(loop)

    async def _rotate(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            closed = await loop.run_in_executor(self._thread, self._active.rotate)
        except OSError as exc:
            # Appends go on in the current segment; rotation is tried again after the next group,
            # logged once until it succeeds.
            if not self._rotate_failing:
                log.error("journal.rotate_failed", segment=self._active.number, error=str(exc))
            self._rotate_failing = True
            return
        self._rotate_failing = False
        log.info("journal.segment_rotated", closed=closed, segment=closed + 1)
        if self.settings.compress:
            self._maintenance.compress_later(closed)

    async def _sync_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.settings.fsync_interval_ms / 1000
        while not self._stop_syncing.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stop_syncing.wait()
            try:
                seconds = await loop.run_in_executor(self._thread, self._active.sync)
            except OSError as exc:
                # The groups since the last good fsync are written again before any other group
                # is acknowledged (the active segment's repair); until then appends fail.
                self._outage.failed(exc, "journal fsync failed", segment=self._active.number)
                continue
            if seconds is not None:
                self.stats.fsyncs += 1
                if self._metrics is not None:
                    self._metrics.fsync_latency.observe(seconds)

    async def _probe_unless_woken(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait for an append; after `PROBE_SECONDS` without one, try the disk instead."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PROBE_SECONDS):
                await self._wake.wait()
                return
        try:
            await loop.run_in_executor(self._thread, self._active.probe)
        except OSError as exc:
            log.debug("journal.probe_failed", error=str(exc))
            return
        self._outage.ended()


async def _awaited(task: asyncio.Task[None]) -> None:
    await task
