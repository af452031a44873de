"""Durable consumers any instance can continue: leases share the partitions out, each user's
events are handled in order, and what a dead instance pulled and did not acknowledge is handled
by another, first, in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from tests.jetstream.test_journal import append, opened, record

from signals.events import record_decoder
from signals.jetstream.connection import connect
from signals.jetstream.layout import leases_bucket
from signals.jetstream.leases import Leases
from signals.jetstream.partitions import PartitionReaders, open_readers
from signals.jetstream.provision import ensure_consumers, ensure_leases
from signals.settings import JournalSettings


@dataclass
class Instance:
    """One `signals` instance's readers of a group, recording what they handled."""

    name: str
    client: NATS
    readers: PartitionReaders
    handled: list[tuple[str, str]]  # (user_id, event_id), shared by all instances
    hang: asyncio.Event = field(default_factory=asyncio.Event)  # set: handle never returns
    hanging: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, partition: int, batch: list[Msg]) -> bool:
        if self.hang.is_set():
            self.hanging.set()
            await asyncio.Event().wait()  # a process that died mid-batch: never acknowledged
        for message in batch:
            found = record_decoder.decode(message.data)
            self.handled.append((found.user_id, found.event_id))
            await asyncio.sleep(0)  # let the other partitions' readers interleave
        return True


@contextlib.asynccontextmanager
async def instances(
    settings: JournalSettings, names: list[str]
) -> AsyncIterator[tuple[list[Instance], list[tuple[str, str]]]]:
    handled: list[tuple[str, str]] = []
    started: list[Instance] = []
    try:
        for name in names:
            client = await connect(settings)
            js = client.jetstream()
            kv = await ensure_leases(js, settings)
            holder: list[Instance] = []

            async def handle(
                partition: int, batch: list[Msg], holder: list[Instance] = holder
            ) -> bool:
                return await holder[0].handle(partition, batch)

            readers = await open_readers(
                js, kv, settings, group="store", instance=name, handle=handle
            )
            instance = Instance(name, client, readers, handled)
            holder.append(instance)
            started.append(instance)
            readers.start()
        yield started, handled
    finally:
        for instance in started:
            with contextlib.suppress(Exception):
                await instance.readers.aclose(0.5)
            await instance.client.close()


async def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


def in_order_per_user(handled: list[tuple[str, str]], sent: dict[str, list[str]]) -> bool:
    """Each user's events, first handling of each, came in the order they were sent."""
    seen: dict[str, list[str]] = defaultdict(list)
    for user, event in handled:
        if event not in seen[user]:
            seen[user].append(event)
    return dict(seen) == sent


async def publish(
    settings: JournalSettings, users: int, per_user: int, tag: str = "e"
) -> dict[str, list[str]]:
    client, journal = await opened(settings)
    sent: dict[str, list[str]] = defaultdict(list)
    try:
        for round_ in range(per_user):
            batch = [record(f"user-{u}", f"{tag}-{u}-{round_}") for u in range(users)]
            await append(journal, batch)
            for item in batch:
                sent[item.user_id].append(item.event_id)
    finally:
        await client.close()
    return dict(sent)


async def test_two_instances_share_the_partitions_and_keep_each_users_order(
    journal: JournalSettings,
) -> None:
    settings = msgspec.structs.replace(journal, partitions=4)
    await publish(settings, users=1, per_user=1, tag="first")  # the stream exists
    async with instances(settings, ["a", "b"]) as (started, handled):
        a, b = started
        await until(lambda: len(a.readers.partitions) == len(b.readers.partitions) == 2)
        assert set(a.readers.partitions).isdisjoint(b.readers.partitions)
        await until(lambda: len(handled) == 1)
        handled.clear()
        sent = await publish(settings, users=40, per_user=25)
        await until(lambda: len({event for _, event in handled}) == 40 * 25)
        assert in_order_per_user(handled, sent)


async def test_what_a_dead_instance_pulled_and_did_not_acknowledge_goes_to_another_first(
    journal: JournalSettings,
) -> None:
    settings = msgspec.structs.replace(journal, partitions=1)
    await publish(settings, users=1, per_user=1, tag="first")
    async with instances(settings, ["a"]) as (started, handled):
        (a,) = started
        await until(lambda: a.readers.partitions == [0])
        await until(lambda: len(handled) == 1)
        a.hang.set()
        sent = await publish(settings, users=3, per_user=10)
        await until(a.hanging.is_set)
        # The instance dies: no more lease renewals, no acknowledgement, ever.
        await a.client.close()
        async with instances(settings, ["b"]) as (others, handled_after):
            (b,) = others
            await until(lambda: len({event for _, event in handled_after}) == 30, seconds=60)
            assert b.readers.partitions == [0]
            assert in_order_per_user(handled_after, sent)
            # The consumer was remade from its ack floor; a later start takes it as it is.
            await ensure_consumers(b.client.jetstream(), settings, "store")


async def test_a_lease_is_held_by_one_instance_and_freed_when_not_renewed(
    journal: JournalSettings, client: NATS
) -> None:
    settings = msgspec.structs.replace(journal, partitions=4)
    js = client.jetstream()
    kv = await ensure_leases(js, settings)

    def leases(instance: str) -> Leases:
        return Leases(
            js, kv, bucket=leases_bucket(settings.stream), group="g", partitions=4,
            instance=instance, ttl_seconds=settings.lease_seconds,
        )  # fmt: skip

    a, b = leases("a"), leases("b")
    await a.renew()
    assert sorted(await a.take(await a.share())) == [0, 1, 2, 3]
    await b.renew()
    assert await b.share() == 2
    assert await b.take(2) == []  # all held
    await a.renew()
    for partition in a.surplus(await a.share()):
        await a.release(partition)
    assert len(await b.take(2)) == 2
    assert set(a.held).isdisjoint(b.held)
    # `a` stops renewing: its lease and membership run out, and `b` takes the rest.
    deadline = asyncio.get_running_loop().time() + 30
    while len(b.held) < 4:
        assert asyncio.get_running_loop().time() < deadline
        await b.renew()
        await b.take(await b.share())
        await asyncio.sleep(0.2)
    assert sorted(b.held) == [0, 1, 2, 3]
