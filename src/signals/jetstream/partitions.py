"""Reading the partitions this instance holds the lease of: each in order, in a task of its own.

    lease loop   every third of the lease TTL: renew (lost: stop that reader at once), count
                 the members, take free partitions up to the fair share (start their readers),
                 hand back the surplus (its reader stops after its batch, then releases)
    reader p     bind to the durable consumer <group>-<p>; pull up to `FETCH_MAX` -> `handle`
                 -> ack each message; while `handle` runs long, tell JetStream it is in progress
                 so the batch is not redelivered meanwhile

Order: one reader per partition at a time (the lease), each handling a batch before it pulls the
next. A holder that died (or handed the partition over) may leave messages pulled and not
acknowledged, and pulls still open on the server; JetStream would redeliver those after the ack
wait, but in the order their timers ran out, not the stream's. So a new reader that finds any
makes the consumer again from its ack floor (`_rewind`): the first message not acknowledged
comes first, then the rest in stream order, at once.

`handle` returns False when it gave up because the service is stopping: the batch is not
acknowledged, and JetStream redelivers it to whoever reads the partition next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
import nats.js.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from signals.jetstream.layout import FETCH_MAX, consumer_config, consumer_name, leases_bucket
from signals.jetstream.leases import Leases
from signals.jetstream.provision import ensure_consumers
from signals.settings import JournalSettings

log = structlog.get_logger(__name__)

Handler = Callable[[int, list[Msg]], Awaitable[bool]]
T = TypeVar("T")

FETCH_WAIT_SECONDS = 2.0  # a pull waits this long for a first message
GATHER_SECONDS = 0.02  # then takes whatever else is there at once
RETRY_SECONDS = 0.5
NATS_ERRORS = (TimeoutError, nats.errors.Error, nats.js.errors.Error)


class PartitionReaders:
    def __init__(
        self,
        js: JetStreamContext,
        leases: Leases,
        settings: JournalSettings,
        group: str,
        handle: Handler,
    ) -> None:
        self._js = js
        self._leases = leases
        self._settings = settings
        self._stream = settings.stream
        self._ack_wait = settings.ack_wait_seconds
        self._group = group
        self._handle = handle
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._leaving: set[int] = set()
        self._pulling: set[int] = set()  # waiting in a pull, holding no batch
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._failing: dict[str, int] = {}  # what failed ("leases", "pull 3", ...) -> times
        self.failures = 0  # consecutive failed pulls or lease rounds
        self.last_error = ""

    @property
    def partitions(self) -> list[int]:
        return sorted(self._tasks)

    def start(self) -> None:
        self._loop = asyncio.create_task(self._lease_loop(), name=f"leases-{self._group}")

    async def aclose(self, grace_seconds: float) -> None:
        """Stop pulling; let each reader finish its batch within `grace_seconds`, then release
        every lease so that another instance takes over at once."""
        self._stopping.set()
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        for partition in self._pulling:
            self._cancel(partition)  # nothing in hand: no need to wait for the pull to end
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(*NATS_ERRORS):
            await self._leases.leave()

    async def _lease_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                for partition in await self._leases.renew():
                    log.warning("jetstream.lease_lost", group=self._group, partition=partition)
                    self._cancel(partition)
                share = await self._leases.share()
                await self._leases.take(share)
                self._leaving.update(self._leases.surplus(share))
                for partition in self._leases.held:
                    # Newly taken, or held with its reader gone (it broke): read it.
                    if partition not in self._tasks and partition not in self._leaving:
                        self._start(partition)
                self._recovered("leases")
            except NATS_ERRORS as exc:
                self._failed(exc, "leases")
                if not self._leases.trusted():
                    for partition in self._leases.forget():
                        self._cancel(partition)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._leases.renew_seconds):
                    await self._stopping.wait()

    def _start(self, partition: int) -> None:
        self._leaving.discard(partition)
        log.info("jetstream.reading", group=self._group, partition=partition)
        self._tasks[partition] = asyncio.create_task(
            self._read(partition), name=f"{self._group}-{partition}"
        )

    def _cancel(self, partition: int) -> None:
        task = self._tasks.get(partition)
        if task is not None:
            task.cancel()

    def _failed(self, exc: BaseException, what: str) -> None:
        """Logged when `what` starts failing, then every hundredth time, until it recovers."""
        self.failures += 1
        self.last_error = f"{what}: {type(exc).__name__}"
        times = self._failing[what] = self._failing.get(what, 0) + 1
        if times % 100 == 1:
            log.error("jetstream.read_failed", group=self._group, what=what,
                      error=self.last_error, times=times)  # fmt: skip

    def _recovered(self, what: str) -> None:
        if self._failing.pop(what, 0):
            log.info("jetstream.read_recovered", group=self._group, what=what)
            if not self._failing:
                self.failures = 0

    async def _read(self, partition: int) -> None:
        me = asyncio.current_task()
        try:
            await self._read_until_told(partition)
        except asyncio.CancelledError:
            pass  # the lease was lost or dropped (the lease loop knows), or we are stopping
        except Exception:
            # The lease stays held: the lease loop starts a new reader at its next round.
            log.exception("jetstream.reader_failed", group=self._group, partition=partition)
        finally:
            log.info("jetstream.stopped_reading", group=self._group, partition=partition)
            if self._tasks.get(partition) is me:  # not a newer reader of it
                del self._tasks[partition]
                if partition in self._leaving:
                    # Handed back: free it for whoever comes next.
                    self._leaving.discard(partition)
                    with contextlib.suppress(*NATS_ERRORS):
                        await self._leases.release(partition)

    async def _read_until_told(self, partition: int) -> None:
        name = consumer_name(self._group, partition)
        subscription = await self._retry(
            lambda: self._js.pull_subscribe_bind(durable=name, stream=self._stream), name
        )
        try:
            await self._after_the_previous_reader(subscription, partition)
            while not self._stopping.is_set() and partition not in self._leaving:
                self._pulling.add(partition)
                try:
                    batch = await self._pull(partition, subscription)
                finally:
                    self._pulling.discard(partition)
                if not batch:
                    continue
                if not await self._handle_alive(partition, batch):
                    return
                try:
                    for message in batch:
                        await message.ack()
                except NATS_ERRORS as exc:
                    # Handled, not acknowledged: redelivered later, and handled again (the
                    # store and the router take a record twice without harm).
                    self._failed(exc, f"ack {partition}")
                    continue
                self.failures = 0
        finally:
            with contextlib.suppress(*NATS_ERRORS):
                await subscription.unsubscribe()

    async def _after_the_previous_reader(
        self, subscription: JetStreamContext.PullSubscription, partition: int
    ) -> None:
        """Make what an earlier reader of the partition pulled and did not acknowledge come
        first, in stream order.

        JetStream would redeliver it after the ack wait, but not necessarily in order: messages
        that reached the earlier reader at different times expire at different times (and a
        pull of its may still be open, delivering to a reader that is gone). So when anything
        is pending or a pull is open, the consumer is made again from its ack floor: delivery
        resumes at the first message not acknowledged, in stream order, at once.
        """
        name = consumer_name(self._group, partition)
        info = await self._retry(subscription.consumer_info, name)
        if not info.num_ack_pending and not info.num_waiting:
            return
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        log.info("jetstream.rewinding", consumer=name, pending=info.num_ack_pending,
                 open_pulls=info.num_waiting, from_seq=floor + 1)  # fmt: skip
        await self._retry(lambda: self._rewind(partition, floor + 1), name)

    async def _rewind(self, partition: int, start: int) -> None:
        name = consumer_name(self._group, partition)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await self._js.delete_consumer(self._stream, name)
        config = consumer_config(self._settings, self._group, partition)
        config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = start
        await self._js.add_consumer(self._stream, config)

    async def _retry(self, call: Callable[[], Awaitable[T]], name: str) -> T:
        while True:
            try:
                found = await call()
            except NATS_ERRORS as exc:
                self._failed(exc, f"bind {name}")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self._recovered(f"bind {name}")
            return found

    async def _pull(
        self, partition: int, subscription: JetStreamContext.PullSubscription
    ) -> list[Msg]:
        what = f"pull {partition}"
        try:
            batch = await subscription.fetch(1, timeout=FETCH_WAIT_SECONDS)
        except nats.errors.TimeoutError:
            self._recovered(what)
            return []
        except NATS_ERRORS as exc:
            self._failed(exc, what)
            await asyncio.sleep(RETRY_SECONDS)
            return []
        self._recovered(what)
        with contextlib.suppress(*NATS_ERRORS):
            batch += await subscription.fetch(FETCH_MAX - 1, timeout=GATHER_SECONDS)
        return batch

    async def _handle_alive(self, partition: int, batch: list[Msg]) -> bool:
        handling = asyncio.ensure_future(self._handle(partition, batch))
        try:
            while True:
                done, _ = await asyncio.wait({handling}, timeout=self._ack_wait / 3)
                if done:
                    return handling.result()
                with contextlib.suppress(*NATS_ERRORS):
                    for message in batch:
                        await message.in_progress()
        finally:
            if not handling.done():
                handling.cancel()
                await asyncio.gather(handling, return_exceptions=True)


async def open_readers(
    js: JetStreamContext,
    kv: KeyValue,
    settings: JournalSettings,
    *,
    group: str,
    instance: str,
    handle: Handler,
) -> PartitionReaders:
    """The readers of `group`, its consumers created when missing; `start()` them."""
    await ensure_consumers(js, settings, group)
    status = await kv.status()
    leases = Leases(
        js, kv, bucket=leases_bucket(settings.stream), group=group,
        partitions=settings.partitions, instance=instance,
        # The bucket's own TTL rules, should it have been made with another lease_seconds.
        ttl_seconds=status.stream_info.config.max_age or settings.lease_seconds,
    )  # fmt: skip
    return PartitionReaders(js, leases, settings, group, handle)
